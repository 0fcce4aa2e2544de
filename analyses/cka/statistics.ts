/**
 * Statistics on minibatch CKA matrices (issue 16 item 7): bootstrap intervals over batches,
 * a permutation null per cell, and the spread across repeats (already the matrices' `std`).
 *
 * The minibatch estimator is a ratio of sums of per-batch HSIC₁ terms, so resampling the
 * batches resamples the terms: CKA* = Σ xy* / √(Σ xx* · Σ yy*) needs no features, only each
 * batch's terms, which the state keeps (opt-in `perBatch`) keyed by the batch's first sample.
 * Entries are held sorted by key, so shards and resumed runs hold the same list in the same
 * order and every sum over it is bit-exact whatever the merge order.
 *
 * The permutation null needs the batch's U-centred Grams, which exist only at update time: for
 * each of R permutations the pairing of A's and B's examples is shuffled within the batch and
 * the cross HSIC₁ terms summed into the state (R × LA × LB per repeat, mergeable by addition).
 */
import type { FloatArray } from "../../src/tensor.js";
import type { RowSet } from "../../src/numeric/matmul.js";
import { permutation, uniform } from "../../src/numeric/random.js";
import { uCentredRows } from "../../src/numeric/hsic.js";

/** The statistics settings of a CKA config; all are recorded in the state and the result. */
export interface StatisticsConfig {
  /** Keep every batch's HSIC₁ terms (needed for bootstrap intervals). Default false. */
  perBatch?: boolean;
  /** Bootstrap resamples of the batches. Default 1000. */
  resamples?: number;
  /** Two-sided level of the percentile interval. Default 0.95. */
  level?: number;
  /** Permutations R of the within-batch pairing for the null (0 = off). Default 0. */
  permutations?: number;
}

/** The settings as stored, with defaults filled in. */
export interface StatisticsSettings {
  perBatch: boolean;
  resamples: number;
  level: number;
  permutations: number;
}

/** One batch's HSIC₁ terms: AA and BB as packed upper triangles (row-major, i ≤ j), AB full. */
export interface BatchTerms {
  key: number;
  aa: Float64Array;
  bb: Float64Array;
  ab: Float64Array;
}

/** The statistics part of a CKA state; the keys exist only when statistics were asked for. */
export interface StatisticsState {
  statistics?: StatisticsSettings;
  /** Per repeat, the batches' terms sorted by key (empty lists when perBatch is false). */
  batchTerms?: BatchTerms[][];
  /** repeats × R × LA × (LB or LA) Σ_b HSIC₁(K_i, P_bk L_j P_bkᵀ). */
  sumNull?: Float64Array;
}

/**
 * Validated statistics settings, or undefined when none is asked for (the state then keeps no
 * statistics keys at all, so it encodes to the same bytes as before).
 * @example statisticsSettings({ perBatch: true }) // { perBatch: true, resamples: 1000, level: 0.95, permutations: 0 }
 */
export function statisticsSettings(config: StatisticsConfig): StatisticsSettings | undefined {
  const perBatch = config.perBatch ?? false;
  const permutations = config.permutations ?? 0;
  const resamples = config.resamples ?? 1000;
  const level = config.level ?? 0.95;
  if (typeof perBatch !== "boolean") throw new RangeError(`invalid perBatch: ${perBatch}`);
  if (!Number.isInteger(permutations) || permutations < 0) throw new RangeError(`invalid permutations: ${permutations}`);
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`invalid resamples: ${resamples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`invalid level: ${level}`);
  if (!perBatch && permutations === 0) {
    if (config.resamples !== undefined || config.level !== undefined) throw new RangeError("invalid resamples/level: bootstrap intervals need perBatch: true");
    return undefined;
  }
  return { perBatch, resamples, level, permutations };
}

/**
 * The statistics keys of a fresh state (none when `settings` is undefined).
 * @example Object.assign(state, statisticsState(statisticsSettings({ permutations: 20 }), 1, 12, 12))
 */
export function statisticsState(settings: StatisticsSettings | undefined, repeats: number, la: number, lb: number): StatisticsState {
  if (!settings) return {};
  return {
    statistics: settings,
    batchTerms: Array.from({ length: repeats }, () => []),
    sumNull: new Float64Array(repeats * settings.permutations * la * (lb || la)),
  };
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Seed of permutation k of the batch with key `key` in repeat `repeat`: a function of the key,
 * not of arrival order, so shards draw the same permutations as one pass.
 * @example permutation(n, permutationSeed(0, 0, 4096, 3))
 */
export function permutationSeed(seed: number, repeat: number, key: number, k: number): number {
  let h = Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(repeat + 1, 0x85ebca6b);
  h = fmix(h ^ Math.imul(key | 0, 0x27d4eb2f));
  return fmix(h ^ Math.imul(k + 1, 0x165667b1));
}

/**
 * Seed of repeat `repeat`'s bootstrap resamples, from the CKA seed.
 * @example bootstrapIndices(40, 1000, bootstrapSeed(0, 0))
 */
export function bootstrapSeed(seed: number, repeat: number): number {
  return fmix(Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(repeat + 1, 0x85ebca6b) ^ 0x5bd1e995);
}

/**
 * `resamples` × `batches` batch indices drawn uniformly with replacement (row t = resample t).
 * @example bootstrapIndices(3, 2, 7) // Uint32Array(6), values in 0..2
 */
export function bootstrapIndices(batches: number, resamples: number, seed: number): Uint32Array {
  if (!Number.isInteger(batches) || batches < 1) throw new RangeError(`invalid batches: ${batches}`);
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`invalid resamples: ${resamples}`);
  const u = uniform(seed);
  const idx = new Uint32Array(batches * resamples);
  for (let i = 0; i < idx.length; i++) idx[i] = Math.floor(u() * batches);
  return idx;
}

/** Length of a packed upper triangle of an l × l matrix. */
function packedLength(l: number): number {
  return (l * (l + 1)) / 2;
}

/**
 * Upper triangle (i ≤ j, row-major) of a symmetric l × l matrix.
 * @example packUpper(new Float64Array([1, 2, 2, 3]), 2) // [1, 2, 3]
 */
export function packUpper(m: Float64Array, l: number): Float64Array {
  const out = new Float64Array(packedLength(l));
  let t = 0;
  for (let i = 0; i < l; i++) for (let j = i; j < l; j++) out[t++] = m[i * l + j];
  return out;
}

/** The full symmetric l × l matrix of a packed upper triangle, written into out at `at`. */
function unpackUpper(p: Float64Array, l: number, out: Float64Array, at: number): void {
  let t = 0;
  for (let i = 0; i < l; i++) {
    for (let j = i; j < l; j++) {
      out[at + i * l + j] = p[t];
      out[at + j * l + i] = p[t];
      t++;
    }
  }
}

/** Index of the first entry whose key is ≥ key (entries sorted by key). */
function lowerBound(list: BatchTerms[], key: number): number {
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Inserts one batch's terms in key order (a no-op unless perBatch); a key seen twice means
 * overlapping shards or a batch fed twice, and is refused before anything is recorded.
 * @example recordBatch(state, 0, view.batch.indices[0], aa, 12, bb, 12, ab)
 */
export function recordBatch(state: StatisticsState, repeat: number, key: number, aa: Float64Array, la: number, bb: Float64Array, lb: number, ab: Float64Array): void {
  if (!state.statistics?.perBatch) return;
  if (!Number.isSafeInteger(key)) throw new RangeError(`invalid batchKey: ${key}`);
  const list = state.batchTerms![repeat];
  const at = lowerBound(list, key);
  if (list[at]?.key === key) throw new RangeError(`invalid batchKey: ${key} already recorded in repeat ${repeat}`);
  list.splice(at, 0, { key, aa: packUpper(aa, la), bb: lb ? packUpper(bb, lb) : new Float64Array(0), ab: Float64Array.from(ab) });
}

/**
 * Stacked rows vec(U(P_k L_j P_kᵀ)) for k < R (row k·L + j) of B's Grams (or A's when there is
 * no B), one seeded permutation per batch key and k: one product of A's rows against these
 * gives every permutation's cross terms, A's rows generated once per panel.
 * @example matmulTransB(uCentredRows(gramsA), nullRows(gramsB, gramsB.map(uMeans), 0, 0, key, 20)) // LA × 20·LB
 */
export function nullRows(grams: readonly FloatArray[], means: readonly Float64Array[], seed: number, repeat: number, key: number, permutations: number): RowSet {
  const n = Math.round(Math.sqrt(grams[0].length));
  const sets = Array.from({ length: permutations }, (_, k) => uCentredRows(grams, permutation(n, permutationSeed(seed, repeat, key, k)), means));
  const l = grams.length;
  const arrays: FloatArray[] = [];
  for (let k = 0; k < permutations; k++) arrays.push(...grams);
  return {
    arrays,
    offsets: arrays.map(() => 0),
    cols: n * n,
    gather: (i, k0, w, out, at) => sets[Math.floor(i / l)].gather!(i % l, k0, w, out, at),
  };
}

/**
 * Adds an LA × (R·L) product (A's rows against {@link nullRows}, already scaled to HSIC₁) into
 * repeat `repeat`'s null sums, laid out R × LA × L.
 * @example addNull(state, 0, product, 12, 12)
 */
export function addNull(state: StatisticsState, repeat: number, product: Float64Array, la: number, l: number): void {
  const R = state.statistics!.permutations;
  const sum = state.sumNull!;
  const base = repeat * R * la * l;
  for (let i = 0; i < la; i++) {
    for (let k = 0; k < R; k++) {
      const src = i * R * l + k * l;
      const dst = base + k * la * l + i * l;
      for (let j = 0; j < l; j++) sum[dst + j] += product[src + j];
    }
  }
}

/**
 * Throws unless both states carry the same statistics settings.
 * @example sameStatistics(shard0, shard1)
 */
export function sameStatistics(a: StatisticsState, b: StatisticsState): void {
  const sa = a.statistics, sb = b.statistics;
  for (const k of ["perBatch", "resamples", "level", "permutations"] as const) {
    if (sa?.[k] !== sb?.[k]) throw new Error(`cannot merge CKA states: statistics ${k} differs (${sa?.[k]} vs ${sb?.[k]})`);
  }
}

/**
 * Merges b's batch lists (in key order) and null sums into a's; a batch in both is refused.
 * @example statisticsMerge(shard0, shard1)
 */
export function statisticsMerge(a: StatisticsState, b: StatisticsState): void {
  if (!a.statistics) return;
  const sum = a.sumNull!, add = b.sumNull!;
  for (let i = 0; i < sum.length; i++) sum[i] += add[i];
  a.batchTerms!.forEach((list, r) => {
    const other = b.batchTerms![r];
    const merged: BatchTerms[] = [];
    let i = 0, j = 0;
    while (i < list.length || j < other.length) {
      if (j === other.length || (i < list.length && list[i].key < other[j].key)) merged.push(list[i++]);
      else if (i === list.length || other[j].key < list[i].key) merged.push(copyTerms(other[j++]));
      else throw new Error(`cannot merge CKA states: batch ${list[i].key} of repeat ${r} is in both`);
    }
    a.batchTerms![r] = merged;
  });
}

function copyTerms(t: BatchTerms): BatchTerms {
  return { key: t.key, aa: t.aa.slice(), bb: t.bb.slice(), ab: t.ab.slice() };
}

/**
 * Per-batch terms of one CKA matrix (rows × cols cells): cell (i, j) of batch b is
 * xy[b, i, j] / √(dx[b, i] · dy[b, j]) summed over batches.
 */
export interface RatioTerms {
  batches: number;
  rows: number;
  cols: number;
  /** batches × rows × cols */
  xy: Float64Array;
  /** batches × rows (the row sites' self-HSIC₁) */
  dx: Float64Array;
  /** batches × cols */
  dy: Float64Array;
}

/**
 * The terms of matrix AA, BB or AB of one repeat's batch list (in key order).
 * @example ratioTerms(state.batchTerms[0], "AB", 12, 12).xy // nb × 12 × 12
 */
export function ratioTerms(list: readonly BatchTerms[], which: "AA" | "BB" | "AB", la: number, lb: number): RatioTerms {
  const nb = list.length;
  const rows = which === "BB" ? lb : la;
  const cols = which === "AA" ? la : lb;
  const xy = new Float64Array(nb * rows * cols);
  const dx = new Float64Array(nb * rows);
  const dy = new Float64Array(nb * cols);
  const diag = (p: Float64Array, l: number, out: Float64Array, at: number) => {
    // (i, i) of a packed upper triangle sits after rows 0..i−1 of lengths l, l−1, …
    for (let i = 0; i < l; i++) out[at + i] = p[i * l - (i * (i - 1)) / 2];
  };
  list.forEach((t, b) => {
    if (which === "AB") xy.set(t.ab, b * rows * cols);
    else unpackUpper(which === "AA" ? t.aa : t.bb, rows, xy, b * rows * cols);
    diag(which === "BB" ? t.bb : t.aa, rows, dx, b * rows);
    diag(which === "AA" ? t.aa : t.bb, cols, dy, b * cols);
  });
  return { batches: nb, rows, cols, xy, dx, dy };
}

/**
 * Bootstrap replicates of a ratio-of-sums CKA matrix: for resample t, the batches
 * indices[t·nb .. (t+1)·nb) (with repetition) are summed in that order and
 * CKA*[i, j] = Σ xy / √(Σ dx_i · Σ dy_j). The identity indices give the point estimate.
 * @example bootstrapCKA(terms, bootstrapIndices(terms.batches, 1000, 0)) // 1000 × rows × cols
 */
export function bootstrapCKA(terms: RatioTerms, indices: Uint32Array): Float64Array {
  const { batches: nb, rows, cols, xy, dx, dy } = terms;
  if (nb < 1) throw new RangeError(`invalid terms: ${nb} batches`);
  if (indices.length % nb !== 0) throw new RangeError(`invalid indices length: ${indices.length} is not a multiple of ${nb} batches`);
  const B = indices.length / nb;
  const cells = rows * cols;
  const out = new Float64Array(B * cells);
  const sxy = new Float64Array(cells), sx = new Float64Array(rows), sy = new Float64Array(cols);
  for (let t = 0; t < B; t++) {
    sxy.fill(0); sx.fill(0); sy.fill(0);
    for (let q = 0; q < nb; q++) {
      const b = indices[t * nb + q];
      if (b >= nb) throw new RangeError(`invalid index: ${b} for ${nb} batches`);
      const o = b * cells;
      for (let c = 0; c < cells; c++) sxy[c] += xy[o + c];
      for (let i = 0; i < rows; i++) sx[i] += dx[b * rows + i];
      for (let j = 0; j < cols; j++) sy[j] += dy[b * cols + j];
    }
    const at = t * cells;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[at + i * cols + j] = sxy[i * cols + j] / Math.sqrt(sx[i] * sy[j]);
  }
  return out;
}

/**
 * The percentile interval of each cell of `replicates` (resamples × cells): quantiles
 * (1 − level)/2 and (1 + level)/2 with numpy's default linear interpolation. A cell with a NaN
 * replicate (a resample whose self-HSIC sum is negative) gets NaN bounds.
 * @example percentileInterval(bootstrapCKA(terms, idx), 0.95) // { lower, upper } per cell
 */
export function percentileInterval(replicates: Float64Array, cells: number, level = 0.95): { lower: Float64Array; upper: Float64Array } {
  if (!(level > 0 && level < 1)) throw new RangeError(`invalid level: ${level}`);
  if (!Number.isInteger(cells) || cells < 1 || replicates.length % cells !== 0) throw new RangeError(`invalid cells: ${cells} for ${replicates.length} values`);
  const B = replicates.length / cells;
  const lower = new Float64Array(cells), upper = new Float64Array(cells);
  const col = new Float64Array(B);
  const quantile = (sorted: Float64Array, q: number) => {
    const h = (B - 1) * q;
    const lo = Math.floor(h);
    const hi = Math.min(lo + 1, B - 1);
    return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
  };
  for (let c = 0; c < cells; c++) {
    let nan = false;
    for (let t = 0; t < B; t++) {
      col[t] = replicates[t * cells + c];
      if (Number.isNaN(col[t])) nan = true;
    }
    if (nan) {
      lower[c] = NaN;
      upper[c] = NaN;
      continue;
    }
    col.sort();
    lower[c] = quantile(col, (1 - level) / 2);
    upper[c] = quantile(col, (1 + level) / 2);
  }
  return { lower, upper };
}

/** What {@link ckaIntervals} needs of a CKA state. */
export interface IntervalSource extends StatisticsState {
  seed: number;
  repeats: number;
  sitesA: readonly string[];
  sitesB: readonly string[] | null;
}

/** Bootstrap intervals of the CKA matrices, with the settings used. */
export interface CKAIntervals {
  resamples: number;
  level: number;
  AA: { lower: Float64Array; upper: Float64Array };
  BB?: { lower: Float64Array; upper: Float64Array };
  AB?: { lower: Float64Array; upper: Float64Array };
}

/**
 * Percentile bootstrap intervals of every CKA matrix of a perBatch state. Each repeat's batches
 * are resampled with replacement (seeded by the CKA seed and the repeat); a replicate of the
 * reported value is the mean over repeats of the per-repeat ratio-of-sums CKA*, as the point
 * estimate is that mean. Repeats without batches are skipped, as in ckaFinalize.
 * @example ckaIntervals(state, { resamples: 2000 }).AB.lower
 */
export function ckaIntervals(state: IntervalSource, options: { resamples?: number; level?: number } = {}): CKAIntervals {
  if (!state.statistics?.perBatch) throw new RangeError("invalid state: bootstrap intervals need perBatch: true");
  const resamples = options.resamples ?? state.statistics.resamples;
  const level = options.level ?? state.statistics.level;
  if (!Number.isInteger(resamples) || resamples < 1) throw new RangeError(`invalid resamples: ${resamples}`);
  if (!(level > 0 && level < 1)) throw new RangeError(`invalid level: ${level}`);
  const la = state.sitesA.length, lb = state.sitesB?.length ?? 0;
  const used = state.batchTerms!.map((l, r) => [l, r] as const).filter(([l]) => l.length > 0);
  if (used.length === 0) throw new Error("cannot compute CKA intervals: no batches");
  const interval = (which: "AA" | "BB" | "AB") => {
    let mean: Float64Array | undefined;
    for (const [list, r] of used) {
      const rep = bootstrapCKA(ratioTerms(list, which, la, lb), bootstrapIndices(list.length, resamples, bootstrapSeed(state.seed, r)));
      if (!mean) mean = new Float64Array(rep.length);
      for (let i = 0; i < rep.length; i++) mean[i] += rep[i] / used.length;
    }
    return percentileInterval(mean!, mean!.length / resamples, level);
  };
  const out: CKAIntervals = { resamples, level, AA: interval("AA") };
  if (lb) {
    out.BB = interval("BB");
    out.AB = interval("AB");
  }
  return out;
}

/**
 * Permutation p-values of one CKA matrix: null value k of cell (i, j) is the mean over repeats
 * of Σ_b null_k / √(dx_r[i] · dy_r[j]) (the repeat's self-HSIC₁ sums, which a permutation leaves
 * as they are), and p = (1 + #{null ≥ observed}) / (R + 1).
 * @example permutationPValues(sumNull, 20, [0], dx, dy, observed, 12, 12)
 */
export function permutationPValues(
  sumNull: Float64Array, permutations: number, repeats: readonly number[], dx: readonly Float64Array[], dy: readonly Float64Array[],
  observed: Float64Array, rows: number, cols: number,
): { p: Float64Array; permutationNull: Float64Array } {
  const R = permutations, cells = rows * cols;
  const nul = new Float64Array(R * cells);
  repeats.forEach((r, u) => {
    for (let k = 0; k < R; k++) {
      const base = (r * R + k) * cells;
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) nul[k * cells + i * cols + j] += sumNull[base + i * cols + j] / Math.sqrt(dx[u][i] * dy[u][j]) / repeats.length;
      }
    }
  });
  const p = new Float64Array(cells);
  for (let c = 0; c < cells; c++) {
    let count = 0;
    for (let k = 0; k < R; k++) if (nul[k * cells + c] >= observed[c]) count++;
    p[c] = (count + 1) / (R + 1);
  }
  return { p, permutationNull: nul };
}

/**
 * Σ over a repeat's batch list in key order of one matrix's terms (the canonical sums of a
 * perBatch state, equal to the bootstrap's identity resample).
 * @example canonicalSum(state.batchTerms[0], "AB", 12, 12) // 12 × 12 Σ_b HSIC₁
 */
export function canonicalSum(list: readonly BatchTerms[], which: "AA" | "BB" | "AB", la: number, lb: number): Float64Array {
  const t = ratioTerms(list, which, la, lb);
  const cells = t.rows * t.cols;
  const out = new Float64Array(cells);
  for (let b = 0; b < t.batches; b++) for (let c = 0; c < cells; c++) out[c] += t.xy[b * cells + c];
  return out;
}
