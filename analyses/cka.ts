/**
 * Linear CKA (METHODS.md §1): a one-shot `linearCKA` on tensors and the mergeable CKA reducer
 * that builds intra-model (L×L) and cross-model (L₁×L₂) heatmaps from per-batch Grams
 * (Raghu et al. 2021 Figs. 1, 2; Nguyen, Raghu & Kornblith 2021 minibatch estimator).
 *
 * How the engine calls the reducer:
 * - `minibatch-unbiased`: for each repeat r = 0..repeats−1, shuffle the m examples with a
 *   per-repeat permutation (`batchOrder(m, seed, r)`), cut them into consecutive batches of
 *   `batch` examples (drop the remainder), and for each batch call
 *   `update(state, {gramsA, gramsB, repeat: r})` with one n×n Gram per site (K = XXᵀ of that
 *   batch's flattened activations; float32 from an ONNX Gemm with centred features is fine).
 *   A Gram belongs to one batch partition: for repeats > 1 the data must be re-batched, a Gram
 *   can never be reused across repeats. Each repeat yields a ratio of sums; the result is the
 *   mean over repeats (Raghu average 20 reshuffles), with the spread across repeats.
 * - `full-biased` / `full-debiased`: the estimate needs the full m×m Gram per site. Sufficient
 *   statistics like XᵀX are p×p, hopeless for p ≫ m, so the state keeps each site's m×m Gram
 *   and fills it block by block: `update` without `block` places the batch's Gram on the
 *   diagonal at the running offset; the off-diagonal blocks X_b X_cᵀ (see `crossGram`) come as
 *   `update(state, {gramsA, gramsB, block: {row, col, rows, cols}})`. Blocks of one full Gram
 *   must share one origin, so features may be centred per batch only when there is a single
 *   batch. Simplest: one batch of all m examples. Memory is L·m² float64: small m only.
 * Each minibatch update also accumulates a shuffled-pairing control (`control`, default true):
 * HSIC₁ of A's Grams against B's (or A's) with the examples deranged within the batch, which
 * should give CKA ≈ 0 (see analyses/sanity.ts).
 */
import type { FloatArray, Tensor } from "../src/tensor.js";
import { gram, exampleShape } from "../src/numeric/gram.js";
import { centre, gramSide, hsic0, hsic1, uCentre, uCentredRows, uMeans } from "../src/numeric/hsic.js";
import { matmulTransB, rowsOf, type RowSet } from "../src/numeric/matmul.js";
import { derangement, permutation } from "../src/numeric/random.js";
import { tokenMode, type TokenMode } from "./flatten.js";
import type { Reducer } from "./reducer.js";

/** CKA estimator ids (METHODS.md §1). */
export type Estimator = "minibatch-unbiased" | "full-biased" | "full-debiased";
/** Every estimator id, default first. */
/**
 * The CKA estimator ids (METHODS.md §1); the first is the default.
 * @example estimators.includes("full-biased") // true
 */
export const estimators: readonly Estimator[] = ["minibatch-unbiased", "full-biased", "full-debiased"];

/** Throws a RangeError unless `id` is a known estimator. */
export function estimatorId(id: string): Estimator {
  if (!(estimators as readonly string[]).includes(id)) throw new RangeError(`invalid estimator: ${id}`);
  return id as Estimator;
}

/** Options of {@link linearCKA}. */
export interface LinearCKAOptions {
  /** Default `minibatch-unbiased`. */
  estimator?: Estimator;
  /** Batch size n for `minibatch-unbiased` (default: all m examples in one batch). */
  batch?: number;
  /** Centre each batch's features before its Gram (default true; no effect on the value). */
  centre?: boolean;
}

/** One CKA value with the HSIC sums it is the ratio of. */
export interface CKAValue {
  cka: number;
  /** Σ_b HSIC(K_b, L_b), Σ_b HSIC(K_b, K_b), Σ_b HSIC(L_b, L_b). */
  hsicXY: number;
  hsicXX: number;
  hsicYY: number;
  estimator: Estimator;
  batch: number;
  batches: number;
  examples: number;
  /** Examples left out because they did not fill a last batch. */
  dropped: number;
}

/**
 * Linear CKA between two tensors of the same m examples (example axis first, any shape,
 * flattened per example). `minibatch-unbiased` splits the examples into consecutive batches of
 * `batch` (n ≥ 4), dropping a remainder (counted in `dropped`), and returns
 * Σ HSIC₁(K,L) / √(Σ HSIC₁(K,K) · Σ HSIC₁(L,L)); negative values are kept.
 * @example linearCKA(x, y, {estimator: "full-biased"}).cka // 0.55761 on Kornblith's demo
 */
export function linearCKA(x: Tensor, y: Tensor, options: LinearCKAOptions = {}): CKAValue {
  const est = estimatorId(options.estimator ?? "minibatch-unbiased");
  const [m, p] = exampleShape(x);
  const [my, q] = exampleShape(y);
  if (m !== my) throw new RangeError(`invalid example counts: ${m} and ${my}`);
  const doCentre = options.centre ?? true;
  const n = linearCKABatch(est, m, options.batch);
  const batches = Math.floor(m / n);
  const ks: Float64Array[] = [];
  const ls: Float64Array[] = [];
  for (let b = 0; b < batches; b++) {
    ks.push(gram({ data: x.data.subarray(b * n * p, (b + 1) * n * p), shape: [n, p] }, { centre: doCentre }));
    ls.push(gram({ data: y.data.subarray(b * n * q, (b + 1) * n * q), shape: [n, q] }, { centre: doCentre }));
  }
  return linearCKAOfGrams(ks, ls, { estimator: est, examples: m });
}

/**
 * The batch size linearCKA uses for m examples: all m for the full estimators (which refuse any
 * other), `batch` (default m, at least 4, at most m) for `minibatch-unbiased`.
 * @example linearCKABatch("minibatch-unbiased", 100, 32) // 32
 */
export function linearCKABatch(estimator: Estimator, m: number, batch?: number): number {
  if (estimator !== "minibatch-unbiased") {
    if (batch !== undefined && batch !== m) throw new RangeError(`invalid batch: ${batch} (${estimator} uses one batch of all ${m} examples)`);
    return m;
  }
  const n = batch ?? m;
  if (!Number.isInteger(n) || n < 4) throw new RangeError(`invalid batch: ${n} (minibatch-unbiased needs n ≥ 4)`);
  if (n > m) throw new RangeError(`invalid batch: ${n} (only ${m} examples)`);
  return n;
}

/**
 * Linear CKA from the Grams of consecutive batches of two representations (K_b and L_b of the
 * same examples; one batch of all m for the full estimators), however they were computed: the
 * JS kernel (linearCKA) or onnxruntime's (`seelike cka`). `examples` is m, for `dropped`.
 * @example linearCKAOfGrams([gram(x)], [gram(y)], {estimator: "full-biased", examples: 100}).cka
 */
export function linearCKAOfGrams(ks: readonly FloatArray[], ls: readonly FloatArray[], options: { estimator: Estimator; examples: number }): CKAValue {
  const est = options.estimator;
  if (ks.length === 0 || ks.length !== ls.length) throw new RangeError(`invalid Grams: ${ks.length} and ${ls.length} batches`);
  const n = gramSide(ks[0]);
  let xy = 0, xx = 0, yy = 0;
  for (let b = 0; b < ks.length; b++) {
    const k = ks[b], l = ls[b];
    if (gramSide(k) !== n || gramSide(l) !== n) throw new RangeError(`invalid Grams: batch ${b} is not ${n}×${n}`);
    if (est === "full-biased") {
      xy += hsic0(k, l); xx += hsic0(k, k); yy += hsic0(l, l);
    } else {
      const uk = uCentre(k), ul = uCentre(l);
      xy += hsic1(uk, ul); xx += hsic1(uk, uk); yy += hsic1(ul, ul);
    }
  }
  const examples = ks.length * n;
  return { cka: xy / Math.sqrt(xx * yy), hsicXY: xy, hsicXX: xx, hsicYY: yy, estimator: est, batch: n, batches: ks.length, examples, dropped: options.examples - examples };
}

/**
 * The HSIC₁ cross terms of all site pairs of one batch as ONE matrix product (as in Nguyen et
 * al.'s code): rows vec(U(K_i)) stacked into an L₁ × n² matrix A (and B), HSIC = A·Bᵀ/(n(n−3)).
 * Omit `b` for the symmetric intra-model L×L matrix.
 * @example hsicMatrix([uCentre(k1), uCentre(k2)]) // 2×2 Float64Array
 */
export function hsicMatrix(a: readonly Float64Array[], b?: readonly Float64Array[]): Float64Array {
  if (a.length === 0) return new Float64Array(0);
  const n = gramSide(a[0]);
  const out = matmulTransB(rowsOf(a), b ? rowsOf(b) : undefined);
  const scale = 1 / (n * (n - 3));
  for (let i = 0; i < out.length; i++) out[i] *= scale;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reducer

/** Settings of the CKA reducer; all are recorded in the result (METHODS.md §8). */
export interface CKAConfig {
  sitesA: readonly string[];
  /** Sites of a second model; omit for an intra-model heatmap only. */
  sitesB?: readonly string[];
  estimator?: Estimator;
  tokens?: TokenMode;
  /** Reshuffles (Raghu: 20); each repeat has its own accumulators. Default 1. */
  repeats?: number;
  seed?: number;
  /** Batch size n of every Gram passed to update. */
  batch: number;
  /** m, required by the full estimators (the side of the full Gram). */
  examples?: number;
  /** Accumulate the shuffled-pairing control (default true; minibatch only). */
  control?: boolean;
}

/** Per-site Grams (or features) of one batch: an array in site order or a record by site name. */
export type PerSite<T> = readonly T[] | Readonly<Record<string, T>>;

/** One batch's Grams; see the module comment for `repeat` and `block`. */
export interface CKAGrams {
  gramsA: PerSite<FloatArray>;
  gramsB?: PerSite<FloatArray>;
  repeat?: number;
  /**
   * Seed of this batch's shuffled-pairing permutation. The engine derives it from the batch's
   * first sample, so shards and resumed runs draw the same permutations as one run; without it
   * the seed follows the batch count (stable only for a single uninterrupted stream).
   */
  controlSeed?: number;
  /** Full estimators only: offsets (in examples) of this block in the m×m Gram. */
  block?: { row: number; col: number; rows: number; cols: number };
}

/** One batch's per-site feature tensors (example axis first); Grams are computed here. */
export interface CKAFeatures {
  featuresA: PerSite<Tensor>;
  featuresB?: PerSite<Tensor>;
  repeat?: number;
}

/**
 * The example order of repeat r (a seeded permutation of 0..m−1): the engine cuts it into
 * consecutive batches of n for that repeat, so a recorded seed reproduces every reshuffle.
 * @example batchOrder(10240, 0, 3).subarray(0, 1024) // examples of repeat 3's first batch
 */
export function batchOrder(m: number, seed: number, repeat: number): Uint32Array {
  if (!Number.isInteger(repeat) || repeat < 0) throw new RangeError(`invalid repeat: ${repeat}`);
  return permutation(m, (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(repeat + 1, 0x85ebca6b)) >>> 0);
}

/** Plain-data state: Float64Array sums, per repeat, row-major. */
export interface CKAState {
  analysis: "cka";
  estimator: Estimator;
  tokens: TokenMode;
  batch: number;
  repeats: number;
  seed: number;
  control: boolean;
  sitesA: string[];
  sitesB: string[] | null;
  /** repeats × LA × LA Σ_b HSIC₁ (minibatch) */
  sumAA: Float64Array;
  sumBB: Float64Array;
  sumAB: Float64Array;
  /** Shuffled-pairing control: repeats × LA × (LB or LA) Σ_b HSIC₁(K_i, P L_j Pᵀ). */
  sumControl: Float64Array;
  /** Batches and examples per repeat. */
  batches: Float64Array;
  examples: Float64Array;
  droppedBatches: number;
  droppedExamples: number;
  /** Full estimators: m and each site's m×m Gram (NaN where no block has arrived yet). */
  m: number;
  fullA: Float64Array[];
  fullB: Float64Array[];
  offset: number;
  warnings: string[];
}

/** A labelled matrix of the result. */
export interface CKAMatrix {
  data: Float64Array;
  shape: [number, number];
  rows: string[];
  cols: string[];
  /** Standard deviation across repeats (present when repeats > 1). */
  std?: Float64Array;
}

/** Finalized CKA result. */
export interface CKAResult {
  analysis: "cka";
  estimator: Estimator;
  tokens: TokenMode;
  batch: number;
  /** Examples used per repeat (batches × n; m for the full estimators). */
  examples: number;
  batches: number;
  repeats: number;
  seed: number;
  droppedExamples: number;
  matrices: { AA: CKAMatrix; BB?: CKAMatrix; AB?: CKAMatrix };
  /** Mean per-batch self-HSIC of every site (averaged over repeats); ≤ 0 flags a degenerate site. */
  hsicDiag: { A: Float64Array; B?: Float64Array };
  /** CKA with B's (or A's) examples permuted within each batch; ≈ 0 when all is well. */
  shuffled?: CKAMatrix;
  warnings: string[];
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`invalid ${what}: ${v}`);
  return v;
}

/**
 * A fresh CKA state.
 * @example const s = ckaInit({sitesA: ["blocks.0.out", "blocks.1.out"], batch: 256})
 */
export function ckaInit(config: CKAConfig): CKAState {
  const estimator = estimatorId(config.estimator ?? "minibatch-unbiased");
  const tokens = tokenMode(config.tokens ?? "all");
  const repeats = positiveInt(config.repeats ?? 1, "repeats");
  const batch = positiveInt(config.batch, "batch");
  const seed = config.seed ?? 0;
  if (!Number.isInteger(seed)) throw new RangeError(`invalid seed: ${seed}`);
  const sitesA = [...config.sitesA];
  const sitesB = config.sitesB ? [...config.sitesB] : null;
  if (sitesA.length === 0) throw new RangeError("invalid sitesA: empty");
  if (sitesB && sitesB.length === 0) throw new RangeError("invalid sitesB: empty");
  const la = sitesA.length;
  const lb = sitesB?.length ?? 0;
  const full = estimator !== "minibatch-unbiased";
  if (!full && batch < 4) throw new RangeError(`invalid batch: ${batch} (minibatch-unbiased needs n ≥ 4)`);
  if (full && repeats !== 1) throw new RangeError(`invalid repeats: ${repeats} (${estimator} uses all examples once)`);
  const m = full ? positiveInt(config.examples ?? NaN, "examples") : 0;
  const control = !full && (config.control ?? true);
  const nanGram = () => new Float64Array(m * m).fill(NaN);
  return {
    analysis: "cka", estimator, tokens, batch, repeats, seed, control, sitesA, sitesB,
    sumAA: new Float64Array(full ? 0 : repeats * la * la),
    sumBB: new Float64Array(full ? 0 : repeats * lb * lb),
    sumAB: new Float64Array(full ? 0 : repeats * la * lb),
    sumControl: new Float64Array(control ? repeats * la * (lb || la) : 0),
    batches: new Float64Array(repeats),
    examples: new Float64Array(repeats),
    droppedBatches: 0, droppedExamples: 0,
    m,
    fullA: full ? sitesA.map(nanGram) : [],
    fullB: full && sitesB ? sitesB.map(nanGram) : [],
    offset: 0,
    warnings: [],
  };
}

function warn(state: CKAState, message: string): void {
  if (!state.warnings.includes(message)) state.warnings.push(message);
}

/** The per-site values of `input` in the order of `sites`. */
export function bySite<T>(sites: readonly string[], input: PerSite<T>, what: string): T[] {
  if (Array.isArray(input)) {
    if (input.length !== sites.length) throw new RangeError(`invalid ${what}: ${input.length} entries for ${sites.length} sites`);
    return [...input];
  }
  const rec = input as Readonly<Record<string, T>>;
  return sites.map((s) => {
    const v = rec[s];
    if (v === undefined) throw new RangeError(`invalid ${what}: no entry for site ${s}`);
    return v;
  });
}

/**
 * Adds one batch's per-site Grams (n×n, float32 or float64). Minibatch: U-centres each Gram
 * once, then all intra- and cross-model HSIC₁ terms come from three matrix products.
 * `repeat` (input field or third argument) selects the accumulator of a reshuffle.
 * @example ckaUpdate(state, {gramsA: [k0, k1], gramsB: [l0], repeat: 0})
 */
export function ckaUpdate(state: CKAState, input: CKAGrams, repeat = input.repeat ?? 0): CKAState {
  if (!Number.isInteger(repeat) || repeat < 0 || repeat >= state.repeats) {
    throw new RangeError(`invalid repeat: ${repeat} (repeats: ${state.repeats})`);
  }
  const ga = bySite(state.sitesA, input.gramsA, "gramsA");
  const gb = state.sitesB ? bySite(state.sitesB, input.gramsB ?? [], "gramsB") : [];
  if (!state.sitesB && input.gramsB !== undefined) throw new RangeError("invalid gramsB: the state has no sitesB");
  if (state.estimator !== "minibatch-unbiased") return fullUpdate(state, ga, gb, input.block);
  if (input.block) throw new RangeError("invalid block: only the full estimators take Gram blocks");
  const n = gramSide(ga[0]);
  for (const g of [...ga, ...gb]) {
    if (g.length !== n * n) throw new RangeError(`invalid Gram length: ${g.length}, expected ${n}×${n}`);
  }
  if (n !== state.batch) {
    if (n > state.batch) throw new RangeError(`invalid Gram size: ${n}×${n} for batch ${state.batch}`);
    // A short last batch: HSIC₁ sums are only combined over equal n (METHODS.md §1).
    state.droppedBatches += 1;
    state.droppedExamples += n;
    warn(state, `dropped batches smaller than batch = ${state.batch}`);
    return state;
  }
  // Rows vec(U(K_i)) are generated panel by panel inside the products (never all held at
  // once: L·n² float64 per model would reach gigabytes at n = 1024 with ~100 sites).
  const meansA = ga.map(uMeans);
  const meansB = gb.map(uMeans);
  const ra = uCentredRows(ga, undefined, meansA);
  const rb = uCentredRows(gb, undefined, meansB);
  const la = ga.length, lb = gb.length;
  addInto(state.sumAA, repeat * la * la, hsicProduct(ra, undefined, n));
  if (lb) {
    addInto(state.sumBB, repeat * lb * lb, hsicProduct(rb, undefined, n));
    addInto(state.sumAB, repeat * la * lb, hsicProduct(ra, rb, n));
  }
  if (state.control) {
    // U(PLPᵀ) = P U(L) Pᵀ, so permuting the U-centred Gram equals permuting the examples.
    const seed = input.controlSeed !== undefined ? input.controlSeed | 0 : (state.seed * 1_000_003 + repeat * 7919 + state.batches[repeat]) | 0;
    const perm = derangement(n, seed);
    addInto(state.sumControl, repeat * la * (lb || la), hsicProduct(ra, lb ? uCentredRows(gb, perm, meansB) : uCentredRows(ga, perm, meansA), n));
  }
  state.batches[repeat] += 1;
  state.examples[repeat] += n;
  return state;
}

/**
 * Adds one batch given per-site feature tensors (example axis first, flattened per example);
 * Grams are computed with the JS kernel (features centred per batch for the minibatch
 * estimator, uncentred for the full ones, whose blocks must share one origin).
 * @example ckaUpdateFeatures(state, {featuresA: [x0, x1]})
 */
export function ckaUpdateFeatures(state: CKAState, input: CKAFeatures, repeat = input.repeat ?? 0): CKAState {
  const centreFeatures = state.estimator === "minibatch-unbiased";
  const fa = bySite(state.sitesA, input.featuresA, "featuresA");
  const fb = state.sitesB ? bySite(state.sitesB, input.featuresB ?? [], "featuresB") : [];
  const gramsA = fa.map((x) => gram(x, { centre: centreFeatures }));
  const gramsB = fb.map((x) => gram(x, { centre: centreFeatures }));
  return ckaUpdate(state, { gramsA, gramsB: state.sitesB ? gramsB : undefined }, repeat);
}

function addInto(target: Float64Array, at: number, values: Float64Array): void {
  for (let i = 0; i < values.length; i++) target[at + i] += values[i];
}

/** A·Bᵀ/(n(n−3)) of stacked vec(U(K)) rows (A·Aᵀ when `b` is omitted). */
function hsicProduct(a: RowSet, b: RowSet | undefined, n: number): Float64Array {
  const out = matmulTransB(a, b);
  const scale = 1 / (n * (n - 3));
  for (let i = 0; i < out.length; i++) out[i] *= scale;
  return out;
}

function fullUpdate(
  state: CKAState, ga: FloatArray[], gb: FloatArray[], block?: CKAGrams["block"],
): CKAState {
  const m = state.m;
  let row: number, col: number, rows: number, cols: number;
  if (block) {
    ({ row, col, rows, cols } = block);
  } else {
    rows = cols = gramSide(ga[0]);
    row = col = state.offset;
  }
  if (![row, col, rows, cols].every((v) => Number.isInteger(v) && v >= 0) || row + rows > m || col + cols > m) {
    throw new RangeError(`invalid block: rows ${row}+${rows}, cols ${col}+${cols} in a ${m}×${m} Gram`);
  }
  for (const g of [...ga, ...gb]) {
    if (g.length !== rows * cols) throw new RangeError(`invalid Gram block length: ${g.length}, expected ${rows}×${cols}`);
  }
  const place = (full: Float64Array, g: FloatArray) => {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const v = g[i * cols + j];
        full[(row + i) * m + col + j] = v;
        full[(col + j) * m + row + i] = v;
      }
    }
  };
  ga.forEach((g, s) => place(state.fullA[s], g));
  gb.forEach((g, s) => place(state.fullB[s], g));
  if (row === col) {
    // A diagonal block (implicit or explicit) moves the running offset past it.
    state.offset = Math.max(state.offset, row + rows);
    state.batches[0] += 1;
    state.examples[0] += rows;
  }
  return state;
}

/** Throws unless two states were made with the same settings (METHODS.md §8). */
function sameSettings(a: CKAState, b: CKAState): void {
  const keys = ["estimator", "tokens", "batch", "repeats", "seed", "control", "m"] as const;
  for (const k of keys) {
    if (a[k] !== b[k]) throw new Error(`cannot merge CKA states: ${k} differs (${a[k]} vs ${b[k]})`);
  }
  if (a.sitesA.join("\n") !== b.sitesA.join("\n")) throw new Error("cannot merge CKA states: sitesA differ");
  if ((a.sitesB ?? []).join("\n") !== (b.sitesB ?? []).join("\n")) throw new Error("cannot merge CKA states: sitesB differ");
}

/**
 * Merges two states of the same settings (shards or resumed runs) into `a`.
 * @example ckaMerge(shard0, shard1)
 */
export function ckaMerge(a: CKAState, b: CKAState): CKAState {
  sameSettings(a, b);
  for (const k of ["sumAA", "sumBB", "sumAB", "sumControl", "batches", "examples"] as const) addInto(a[k], 0, b[k]);
  a.droppedBatches += b.droppedBatches;
  a.droppedExamples += b.droppedExamples;
  const fill = (x: Float64Array, y: Float64Array) => {
    for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) x[i] = y[i];
  };
  a.fullA.forEach((g, s) => fill(g, b.fullA[s]));
  a.fullB.forEach((g, s) => fill(g, b.fullB[s]));
  // Diagonal blocks of a full Gram arrive in order of the running offset; shards must place
  // theirs with explicit blocks, so only the larger offset is meaningful here.
  a.offset = Math.max(a.offset, b.offset);
  for (const w of b.warnings) warn(a, w);
  return a;
}

/** CKA[i,j] = S[i,j] / √(dX[i]·dY[j]) for one repeat's sums. */
function ratio(sum: Float64Array, at: number, r: number, c: number, dx: Float64Array, dy: Float64Array): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i * c + j] = sum[at + i * c + j] / Math.sqrt(dx[i] * dy[j]);
  return out;
}

function diagonal(sum: Float64Array, at: number, l: number): Float64Array {
  const d = new Float64Array(l);
  for (let i = 0; i < l; i++) d[i] = sum[at + i * l + i];
  return d;
}

/** Mean and standard deviation (n−1) over repeats of equally shaped matrices. */
function meanStd(list: Float64Array[]): { mean: Float64Array; std?: Float64Array } {
  const len = list[0].length;
  const mean = new Float64Array(len);
  for (const x of list) for (let i = 0; i < len; i++) mean[i] += x[i] / list.length;
  if (list.length < 2) return { mean };
  const std = new Float64Array(len);
  for (const x of list) for (let i = 0; i < len; i++) std[i] += (x[i] - mean[i]) ** 2 / (list.length - 1);
  for (let i = 0; i < len; i++) std[i] = Math.sqrt(std[i]);
  return { mean, std };
}

function matrix(data: Float64Array, rows: string[], cols: string[], std?: Float64Array): CKAMatrix {
  const m: CKAMatrix = { data, shape: [rows.length, cols.length], rows: [...rows], cols: [...cols] };
  if (std) m.std = std;
  return m;
}

/**
 * The CKA matrices: per repeat a ratio of HSIC₁ sums (never a mean of per-batch CKA), then the
 * mean over repeats. Negative HSIC and CKA values are reported as they are.
 * @example ckaFinalize(state).matrices.AA.data // LA×LA Float64Array
 */
export function ckaFinalize(state: CKAState): CKAResult {
  if (state.estimator !== "minibatch-unbiased") return fullFinalize(state);
  const la = state.sitesA.length;
  const lb = state.sitesB?.length ?? 0;
  const used: number[] = [];
  const warnings = [...state.warnings];
  for (let r = 0; r < state.repeats; r++) {
    if (state.batches[r] > 0) used.push(r);
    else warnings.push(`repeat ${r} received no batches`);
  }
  if (used.length === 0) throw new Error("cannot finalize CKA: no batches");
  const aa: Float64Array[] = [], bb: Float64Array[] = [], ab: Float64Array[] = [], ctl: Float64Array[] = [];
  const dA: Float64Array[] = [], dB: Float64Array[] = [];
  for (const r of used) {
    const da = diagonal(state.sumAA, r * la * la, la);
    aa.push(ratio(state.sumAA, r * la * la, la, la, da, da));
    dA.push(da.map((v) => v / state.batches[r]));
    if (lb) {
      const db = diagonal(state.sumBB, r * lb * lb, lb);
      bb.push(ratio(state.sumBB, r * lb * lb, lb, lb, db, db));
      ab.push(ratio(state.sumAB, r * la * lb, la, lb, da, db));
      dB.push(db.map((v) => v / state.batches[r]));
      if (state.control) ctl.push(ratio(state.sumControl, r * la * lb, la, lb, da, db));
    } else if (state.control) {
      ctl.push(ratio(state.sumControl, r * la * la, la, la, da, da));
    }
  }
  const A = state.sitesA, B = state.sitesB ?? [];
  const mAA = meanStd(aa);
  const result: CKAResult = {
    analysis: "cka", estimator: state.estimator, tokens: state.tokens, batch: state.batch,
    examples: state.examples[used[0]], batches: state.batches[used[0]],
    repeats: state.repeats, seed: state.seed, droppedExamples: state.droppedExamples,
    matrices: { AA: matrix(mAA.mean, A, A, mAA.std) },
    hsicDiag: { A: meanStd(dA).mean },
    warnings,
  };
  if (used.some((r) => state.batches[r] !== result.batches)) result.warnings.push("repeats received different numbers of batches");
  if (lb) {
    const mBB = meanStd(bb), mAB = meanStd(ab);
    result.matrices.BB = matrix(mBB.mean, B, B, mBB.std);
    result.matrices.AB = matrix(mAB.mean, A, B, mAB.std);
    result.hsicDiag.B = meanStd(dB).mean;
  }
  if (ctl.length) {
    const mc = meanStd(ctl);
    result.shuffled = matrix(mc.mean, A, lb ? B : A, mc.std);
  }
  return result;
}

function fullFinalize(state: CKAState): CKAResult {
  const m = state.m;
  for (const [s, g] of [...state.fullA, ...state.fullB].entries()) {
    const missing = g.reduce((c, v) => c + (Number.isNaN(v) ? 1 : 0), 0);
    if (missing) throw new Error(`cannot finalize CKA (${state.estimator}): site ${s} misses ${missing} of ${m * m} Gram entries`);
  }
  // Biased: HSIC = ⟨HKH, HLH⟩/(m−1)²; debiased: ⟨U(K), U(L)⟩/(m(m−3)) — one product either way.
  const biased = state.estimator === "full-biased";
  if (!biased && m < 4) throw new RangeError(`invalid examples: ${m} (full-debiased needs m ≥ 4)`);
  const prep = biased ? centre : uCentre;
  const scale = biased ? 1 / ((m - 1) * (m - 1)) : 1 / (m * (m - 3));
  const ca = state.fullA.map(prep);
  const cb = state.fullB.map(prep);
  const la = ca.length, lb = cb.length;
  const sAA = matmulTransB(rowsOf(ca)).map((v) => v * scale);
  const da = diagonal(sAA, 0, la);
  const A = state.sitesA, B = state.sitesB ?? [];
  const result: CKAResult = {
    analysis: "cka", estimator: state.estimator, tokens: state.tokens, batch: state.batch,
    examples: m, batches: state.batches[0], repeats: 1, seed: state.seed, droppedExamples: state.droppedExamples,
    matrices: { AA: matrix(ratio(sAA, 0, la, la, da, da), A, A) },
    hsicDiag: { A: da },
    warnings: [...state.warnings],
  };
  if (lb) {
    const sBB = matmulTransB(rowsOf(cb)).map((v) => v * scale);
    const sAB = matmulTransB(rowsOf(ca), rowsOf(cb)).map((v) => v * scale);
    const db = diagonal(sBB, 0, lb);
    result.matrices.BB = matrix(ratio(sBB, 0, lb, lb, db, db), B, B);
    result.matrices.AB = matrix(ratio(sAB, 0, la, lb, da, db), A, B);
    result.hsicDiag.B = db;
  }
  return result;
}

/**
 * The CKA reducer (id "cka"); see the module comment for how the engine drives it.
 * @example
 * let s = ckaReducer.init({ sitesA: ["a0", "a1"], sitesB: ["b0"], batch: 64 });
 * s = ckaReducer.update(s, { gramsA: [k0, k1], gramsB: [l0] });
 * ckaReducer.finalize(s).matrices.AB.data; // CKA of a0 and a1 with b0
 */
export const ckaReducer: Reducer<CKAConfig, CKAState, CKAGrams, CKAResult> & {
  updateFeatures: typeof ckaUpdateFeatures;
} = {
  id: "cka",
  init: ckaInit,
  update: (state, input) => ckaUpdate(state, input),
  merge: ckaMerge,
  finalize: ckaFinalize,
  updateFeatures: ckaUpdateFeatures,
};

/** Per-block CKA of checkpoints against a reference (Raghu Fig. 12). */
export interface BlockwiseCKA {
  reference: string;
  blocks: string[];
  series: { name: string; values: Float64Array }[];
}

/**
 * Per-block CKA of several checkpoints against a reference (data-scale comparison, Raghu
 * Fig. 12): from each cross result (A = reference, B = checkpoint) takes AB[i, j] where the row
 * and column carry the same block name; blocks are those present in every result.
 * @example blockwiseCKA("ref", {"10%": r10, "100%": r100}).series[0].values
 */
export function blockwiseCKA(reference: string, others: Readonly<Record<string, CKAResult>>): BlockwiseCKA {
  const names = Object.keys(others);
  if (names.length === 0) throw new RangeError("invalid others: no results");
  const lookups = names.map((name) => {
    const ab = others[name].matrices.AB;
    if (!ab) throw new RangeError(`invalid result ${name}: no cross-model matrix AB`);
    const col = new Map(ab.cols.map((c, j) => [c, j] as const));
    return { name, ab, col };
  });
  const blocks = lookups[0].ab.rows.filter((b) => lookups.every((l) => l.col.has(b) && l.ab.rows.includes(b)));
  if (blocks.length === 0) throw new RangeError("invalid others: no block name common to rows and columns");
  const series = lookups.map(({ name, ab, col }) => {
    const values = new Float64Array(blocks.length);
    blocks.forEach((b, k) => {
      values[k] = ab.data[ab.rows.indexOf(b) * ab.shape[1] + (col.get(b) as number)];
    });
    return { name, values };
  });
  return { reference, blocks, series };
}
