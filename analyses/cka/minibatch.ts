/**
 * The minibatch-unbiased estimator (Nguyen, Raghu & Kornblith 2021): per repeat, Σ_b HSIC₁ of
 * every site pair over equal-sized batches, and CKA as a ratio of those sums (never a mean of
 * per-batch CKA), then the mean and spread over repeats. Also the shuffled-pairing control.
 */
import type { FloatArray } from "../../src/tensor.js";
import { gramSide, uCentredRows, uMeans } from "../../src/numeric/hsic.js";
import { matmulTransB, type RowSet } from "../../src/numeric/matmul.js";
import { derangement, permutation } from "../../src/numeric/random.js";
import { addInto, diagonal, labelled, ratio, warn, type CKAMatrix, type CKAResult, type CKAState } from "./state.js";
import { addNull, canonicalSum, ckaIntervals, nullRows, permutationPValues, recordBatch } from "./statistics.js";

/** The minibatch part of a CKA state (empty arrays for the full estimators). */
export interface MinibatchSums {
  /** repeats × LA × LA Σ_b HSIC₁ (minibatch) */
  sumAA: Float64Array;
  sumBB: Float64Array;
  sumAB: Float64Array;
  /** Shuffled-pairing control: repeats × LA × (LB or LA) Σ_b HSIC₁(K_i, P L_j Pᵀ). */
  sumControl: Float64Array;
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

/** Zeroed sums for `repeats` repeats of la (and lb) sites; all empty when `used` is false. */
export function minibatchSums(used: boolean, control: boolean, repeats: number, la: number, lb: number): MinibatchSums {
  return {
    sumAA: new Float64Array(used ? repeats * la * la : 0),
    sumBB: new Float64Array(used ? repeats * lb * lb : 0),
    sumAB: new Float64Array(used ? repeats * la * lb : 0),
    sumControl: new Float64Array(control ? repeats * la * (lb || la) : 0),
  };
}

/** A·Bᵀ/(n(n−3)) of stacked vec(U(K)) rows (A·Aᵀ when `b` is omitted). */
function hsicProduct(a: RowSet, b: RowSet | undefined, n: number): Float64Array {
  const out = matmulTransB(a, b);
  const scale = 1 / (n * (n - 3));
  for (let i = 0; i < out.length; i++) out[i] *= scale;
  return out;
}

/**
 * Adds one batch of per-site n×n Grams to repeat `repeat`: U-centres each Gram once, then all
 * intra- and cross-model HSIC₁ terms come from three matrix products.
 */
export function minibatchUpdate(state: CKAState, ga: FloatArray[], gb: FloatArray[], repeat: number, controlSeed?: number, batchKey?: number): CKAState {
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
  const aa = hsicProduct(ra, undefined, n);
  const bb = lb ? hsicProduct(rb, undefined, n) : new Float64Array(0);
  const ab = lb ? hsicProduct(ra, rb, n) : new Float64Array(0);
  if (state.statistics) {
    const key = batchKey ?? state.batches[repeat];
    recordBatch(state, repeat, key, aa, la, bb, lb, ab);
    const R = state.statistics.permutations;
    if (R > 0) {
      const rows = lb ? nullRows(gb, meansB, state.seed, repeat, key, R) : nullRows(ga, meansA, state.seed, repeat, key, R);
      addNull(state, repeat, hsicProduct(ra, rows, n), la, lb || la);
    }
  }
  // After recordBatch, which refuses a repeated key before anything is added.
  addInto(state.sumAA, repeat * la * la, aa);
  if (lb) {
    addInto(state.sumBB, repeat * lb * lb, bb);
    addInto(state.sumAB, repeat * la * lb, ab);
  }
  if (state.control) {
    // U(PLPᵀ) = P U(L) Pᵀ, so permuting the U-centred Gram equals permuting the examples.
    const seed = controlSeed !== undefined ? controlSeed | 0 : (state.seed * 1_000_003 + repeat * 7919 + state.batches[repeat]) | 0;
    const perm = derangement(n, seed);
    addInto(state.sumControl, repeat * la * (lb || la), hsicProduct(ra, lb ? uCentredRows(gb, perm, meansB) : uCentredRows(ga, perm, meansA), n));
  }
  state.batches[repeat] += 1;
  state.examples[repeat] += n;
  return state;
}

/** Adds b's sums into a's (same settings, checked by the caller). */
export function minibatchMerge(a: MinibatchSums, b: MinibatchSums): void {
  for (const k of ["sumAA", "sumBB", "sumAB", "sumControl"] as const) addInto(a[k], 0, b[k]);
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

/**
 * The CKA matrices: per repeat a ratio of HSIC₁ sums, then the mean over repeats. Negative
 * HSIC and CKA values are reported as they are.
 */
export function minibatchFinalize(state: CKAState): CKAResult {
  const la = state.sitesA.length;
  const lb = state.sitesB?.length ?? 0;
  const used: number[] = [];
  const warnings = [...state.warnings];
  for (let r = 0; r < state.repeats; r++) {
    if (state.batches[r] > 0) used.push(r);
    else warnings.push(`repeat ${r} received no batches`);
  }
  if (used.length === 0) throw new Error("cannot finalize CKA: no batches");
  // With perBatch, the sums are re-added over the key-sorted batch list: bit-exact whatever
  // order shards were merged in, and equal to the bootstrap's identity resample.
  const sums = state.statistics?.perBatch ? canonicalSums(state) : state;
  const aa: Float64Array[] = [], bb: Float64Array[] = [], ab: Float64Array[] = [], ctl: Float64Array[] = [];
  const dA: Float64Array[] = [], dB: Float64Array[] = [];
  const sumDiagA: Float64Array[] = [], sumDiagB: Float64Array[] = [];
  for (const r of used) {
    const da = diagonal(sums.sumAA, r * la * la, la);
    aa.push(ratio(sums.sumAA, r * la * la, la, la, da, da));
    dA.push(da.map((v) => v / state.batches[r]));
    sumDiagA.push(da);
    if (lb) {
      const db = diagonal(sums.sumBB, r * lb * lb, lb);
      bb.push(ratio(sums.sumBB, r * lb * lb, lb, lb, db, db));
      ab.push(ratio(sums.sumAB, r * la * lb, la, lb, da, db));
      dB.push(db.map((v) => v / state.batches[r]));
      sumDiagB.push(db);
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
    matrices: { AA: labelled(mAA.mean, A, A, mAA.std) },
    hsicDiag: { A: meanStd(dA).mean },
    warnings,
  };
  if (used.some((r) => state.batches[r] !== result.batches)) result.warnings.push("repeats received different numbers of batches");
  if (lb) {
    const mBB = meanStd(bb), mAB = meanStd(ab);
    result.matrices.BB = labelled(mBB.mean, B, B, mBB.std);
    result.matrices.AB = labelled(mAB.mean, A, B, mAB.std);
    result.hsicDiag.B = meanStd(dB).mean;
  }
  if (ctl.length) {
    const mc = meanStd(ctl);
    result.shuffled = labelled(mc.mean, A, lb ? B : A, mc.std);
  }
  if (state.statistics) attachStatistics(state, result, used, sumDiagA, sumDiagB);
  return result;
}

/** The sums of a perBatch state re-added over each repeat's key-sorted batch list. */
function canonicalSums(state: CKAState): Pick<CKAState, "sumAA" | "sumBB" | "sumAB"> {
  const la = state.sitesA.length, lb = state.sitesB?.length ?? 0;
  const out = { sumAA: new Float64Array(state.sumAA.length), sumBB: new Float64Array(state.sumBB.length), sumAB: new Float64Array(state.sumAB.length) };
  state.batchTerms!.forEach((list, r) => {
    if (list.length === 0) return;
    out.sumAA.set(canonicalSum(list, "AA", la, lb), r * la * la);
    if (lb) {
      out.sumBB.set(canonicalSum(list, "BB", la, lb), r * lb * lb);
      out.sumAB.set(canonicalSum(list, "AB", la, lb), r * la * lb);
    }
  });
  return out;
}

/** Bootstrap intervals on every matrix and permutation p-values on AB (or AA without B). */
function attachStatistics(state: CKAState, result: CKAResult, used: number[], sumDiagA: Float64Array[], sumDiagB: Float64Array[]): void {
  const settings = state.statistics!;
  result.statistics = { ...settings };
  const la = state.sitesA.length, lb = state.sitesB?.length ?? 0;
  if (settings.perBatch) {
    const iv = ckaIntervals(state);
    for (const k of ["AA", "BB", "AB"] as const) {
      const m: CKAMatrix | undefined = result.matrices[k];
      if (m && iv[k]) Object.assign(m, iv[k]);
    }
  }
  if (settings.permutations > 0) {
    const target = lb ? result.matrices.AB! : result.matrices.AA;
    const dy = lb ? sumDiagB : sumDiagA;
    Object.assign(target, permutationPValues(state.sumNull!, settings.permutations, used, sumDiagA, dy, target.data, la, lb || la));
  }
}
