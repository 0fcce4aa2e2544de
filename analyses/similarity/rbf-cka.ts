/**
 * RBF-kernel CKA (Kornblith et al. 2019): each site's linear Gram turned into a Gaussian-kernel
 * Gram R = exp(−D²/(2σ²)) with σ from the median pairwise distance of the same batch, then the
 * HSIC estimators of linear CKA (METHODS.md §1) on the R's. A pure function from Grams, one
 * from feature tensors, and a mergeable reducer shaped like analyses/cka's.
 */
import type { FloatArray, Tensor } from "../../src/tensor.js";
import { gram, exampleShape } from "../../src/numeric/gram.js";
import { centre, gramSide, uCentre, uCentredRows } from "../../src/numeric/hsic.js";
import { matmulTransB, rowsOf } from "../../src/numeric/matmul.js";
import { estimatorId, linearCKABatch, linearCKAOfGrams, type CKAValue, type Estimator } from "../cka/linear.js";
import { bySite, diagonal, labelled, ratio, warn, type CKAMatrix, type PerSite } from "../cka/state.js";
import type { Reducer } from "../reducer.js";
import { tokenMode, type TokenMode } from "../vocabulary.js";
import { squaredDistances } from "./distances.js";

/**
 * Which median σ is taken from. `all`: σ² = f²·median of D² over all m² entries, the diagonal
 * zeros included (Kornblith et al.'s `gram_rbf`; gives their 0.65483 on the demo arrays).
 * `pairs`: σ = f·median of the distances √D² over the pairs i < j (0.65401 on the same arrays).
 */
export type MedianOver = "all" | "pairs";

/** Options of {@link rbfGram}. */
export interface RbfGramOptions {
  /** f in σ = f × median distance; default 0.5 (Kornblith et al.'s demo). */
  sigmaFactor?: number;
  /** Default `all` (Kornblith et al.'s code); see {@link MedianOver}. */
  medianOver?: MedianOver;
}

/** An RBF Gram with the bandwidth it was made with. */
export interface RbfGram {
  gram: Float64Array;
  sigma: number;
  sigmaFactor: number;
  medianOver: MedianOver;
}

function sigmaFactorOf(f: number | undefined): number {
  const v = f ?? 0.5;
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`invalid sigmaFactor: ${v} (needs a finite f > 0)`);
  return v;
}

function medianOverOf(v: string | undefined): MedianOver {
  const id = v ?? "all";
  if (id !== "all" && id !== "pairs") throw new RangeError(`invalid medianOver: ${id} (all or pairs)`);
  return id;
}

/** Median of a Float64Array (sorted in place); the mean of the two middle values for even length. */
function medianInPlace(v: Float64Array): number {
  v.sort();
  const h = v.length >> 1;
  return v.length % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

/**
 * The RBF Gram R = exp(−D²/(2σ²)) of a batch from its linear Gram K (n×n, features centred or
 * not: distances are shift invariant), with σ = f × the batch's median distance
 * (see {@link MedianOver}). Throws a RangeError when that median is 0 (σ = 0).
 * @example rbfGram(gram(x), {sigmaFactor: 0.5}).sigma
 */
export function rbfGram(k: FloatArray, options: RbfGramOptions = {}): RbfGram {
  const sigmaFactor = sigmaFactorOf(options.sigmaFactor);
  const medianOver = medianOverOf(options.medianOver);
  const n = gramSide(k);
  if (n < 2) throw new RangeError(`invalid Gram: ${n}×${n} (σ needs two examples)`);
  const d2 = squaredDistances(k);
  let median: number;
  if (medianOver === "all") {
    median = Math.sqrt(medianInPlace(Float64Array.from(d2)));
  } else {
    const pairs = new Float64Array((n * (n - 1)) / 2);
    let t = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs[t++] = Math.sqrt(d2[i * n + j]);
    median = medianInPlace(pairs);
  }
  const sigma = sigmaFactor * median;
  if (!(sigma > 0 && Number.isFinite(sigma))) throw new RangeError(`invalid Gram: median distance ${median} gives σ = ${sigma}`);
  const scale = -1 / (2 * sigma * sigma);
  const out = new Float64Array(n * n);
  for (let i = 0; i < out.length; i++) out[i] = Math.exp(d2[i] * scale);
  return { gram: out, sigma, sigmaFactor, medianOver };
}

/** Options of {@link rbfCKAOfGrams}. */
export interface RbfCKAOfGramsOptions extends RbfGramOptions {
  estimator: Estimator;
  /** m, the examples available (for `dropped`). */
  examples: number;
}

/** One RBF CKA value: the HSIC sums and counts of linear CKA, plus the bandwidths used. */
export interface RbfCKAValue extends CKAValue {
  kernel: "rbf";
  sigma: "per-batch median";
  sigmaFactor: number;
  medianOver: MedianOver;
  /** σ of each batch for the first and the second representation. */
  sigmasX: Float64Array;
  sigmasY: Float64Array;
}

/**
 * RBF CKA from the linear Grams of consecutive batches of two representations (one batch of all
 * m for the full estimators): each Gram becomes an RBF Gram with its own batch's σ, then
 * `full-biased` (HSIC₀), `full-debiased` (U-centred HSIC₁) or `minibatch-unbiased`
 * (Σ_b HSIC₁(R_b, S_b) / √(Σ_b HSIC₁(R_b, R_b) · Σ_b HSIC₁(S_b, S_b))).
 * @example rbfCKAOfGrams([gram(x)], [gram(y)], {estimator: "full-biased", examples: 100}).cka // 0.65483 on Kornblith's demo
 */
export function rbfCKAOfGrams(ks: readonly FloatArray[], ls: readonly FloatArray[], options: RbfCKAOfGramsOptions): RbfCKAValue {
  const est = estimatorId(options.estimator);
  if (est !== "minibatch-unbiased" && ks.length !== 1) throw new RangeError(`invalid Grams: ${ks.length} batches (${est} takes one batch of all examples)`);
  const rx = ks.map((k) => rbfGram(k, options));
  const ry = ls.map((l) => rbfGram(l, options));
  const value = linearCKAOfGrams(rx.map((r) => r.gram), ry.map((r) => r.gram), { estimator: est, examples: options.examples });
  return {
    ...value,
    kernel: "rbf",
    sigma: "per-batch median",
    sigmaFactor: sigmaFactorOf(options.sigmaFactor),
    medianOver: medianOverOf(options.medianOver),
    sigmasX: Float64Array.from(rx, (r) => r.sigma),
    sigmasY: Float64Array.from(ry, (r) => r.sigma),
  };
}

/** Options of {@link rbfCKA}. */
export interface RbfCKAOptions extends RbfGramOptions {
  /** Default `minibatch-unbiased`. */
  estimator?: Estimator;
  /** Batch size n for `minibatch-unbiased` (default: all m examples in one batch). */
  batch?: number;
}

/**
 * RBF CKA between two tensors of the same m examples (example axis first, flattened per
 * example), batched as linearCKA does (a remainder that does not fill a batch is dropped).
 * @example rbfCKA(x, y, {estimator: "full-biased", sigmaFactor: 0.5}).cka // 0.65483 on Kornblith's demo
 */
export function rbfCKA(x: Tensor, y: Tensor, options: RbfCKAOptions = {}): RbfCKAValue {
  const est = estimatorId(options.estimator ?? "minibatch-unbiased");
  const [m, p] = exampleShape(x);
  const [my, q] = exampleShape(y);
  if (m !== my) throw new RangeError(`invalid example counts: ${m} and ${my}`);
  const n = linearCKABatch(est, m, options.batch);
  const ks: Float64Array[] = [];
  const ls: Float64Array[] = [];
  for (let b = 0; b < Math.floor(m / n); b++) {
    // Centring changes no distance; it only keeps K's entries small, so D² loses less to cancellation.
    ks.push(gram({ data: x.data.subarray(b * n * p, (b + 1) * n * p), shape: [n, p] }, { centre: true }));
    ls.push(gram({ data: y.data.subarray(b * n * q, (b + 1) * n * q), shape: [n, q] }, { centre: true }));
  }
  return rbfCKAOfGrams(ks, ls, { ...options, estimator: est, examples: m });
}

// --- the reducer ---------------------------------------------------------------------------------

/** Settings of the RBF CKA reducer; all are recorded in the result. */
export interface RbfCKAConfig extends RbfGramOptions {
  sitesA: readonly string[];
  /** Sites of a second model; omit for an intra-model heatmap only. */
  sitesB?: readonly string[];
  estimator?: Estimator;
  tokens?: TokenMode;
  /** Batch size n of every Gram passed to update. */
  batch: number;
  /** m, required by the full estimators (the side of the full Gram). */
  examples?: number;
}

/** One batch's per-site LINEAR Grams (as fed to ckaReducer); `block` for the full estimators. */
export interface RbfCKAGrams {
  gramsA: PerSite<FloatArray>;
  gramsB?: PerSite<FloatArray>;
  /** Full estimators only: offsets (in examples) of this block in the m×m linear Gram. */
  block?: { row: number; col: number; rows: number; cols: number };
}

/**
 * Plain-data state. Minibatch: one Float64Array per accepted batch holding that batch's HSIC₁
 * terms [AA | BB | AB] and σ's [A | B]; finalize sums each cell over the batches in sorted
 * order, so the result depends only on the multiset of batches, never on the order of updates
 * and merges (bit-exact). That costs LA²+LB²+LA·LB doubles per batch, far below the L·m² of
 * the full estimators. Full: each site's m×m linear Gram (NaN where no block has arrived yet);
 * the RBF Grams need the whole Gram's median, so they are made at finalize.
 */
export interface RbfCKAState {
  analysis: "rbf-cka";
  estimator: Estimator;
  tokens: TokenMode;
  batch: number;
  sigmaFactor: number;
  medianOver: MedianOver;
  sitesA: string[];
  sitesB: string[] | null;
  terms: Float64Array[];
  batches: number;
  examples: number;
  droppedBatches: number;
  droppedExamples: number;
  m: number;
  fullA: Float64Array[];
  fullB: Float64Array[];
  offset: number;
  warnings: string[];
}

/** Finalized RBF CKA result: CKAResult's shape plus the kernel settings. */
export interface RbfCKAResult {
  analysis: "rbf-cka";
  kernel: "rbf";
  estimator: Estimator;
  tokens: TokenMode;
  /** σ of every site from each batch's own median distance (all m for the full estimators). */
  sigma: "per-batch median";
  sigmaFactor: number;
  medianOver: MedianOver;
  batch: number;
  examples: number;
  batches: number;
  droppedExamples: number;
  matrices: { AA: CKAMatrix; BB?: CKAMatrix; AB?: CKAMatrix };
  /** Mean per-batch self-HSIC of every site's RBF Gram. */
  hsicDiag: { A: Float64Array; B?: Float64Array };
  /** Mean σ over batches of every site. */
  sigmas: { A: Float64Array; B?: Float64Array };
  warnings: string[];
}

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`invalid ${what}: ${v}`);
  return v;
}

/**
 * A fresh RBF CKA state.
 * @example const s = rbfCkaInit({sitesA: ["blocks.0.out"], sitesB: ["layer1"], batch: 256})
 */
export function rbfCkaInit(config: RbfCKAConfig): RbfCKAState {
  const estimator = estimatorId(config.estimator ?? "minibatch-unbiased");
  const batch = positiveInt(config.batch, "batch");
  const sitesA = [...config.sitesA];
  const sitesB = config.sitesB ? [...config.sitesB] : null;
  if (sitesA.length === 0) throw new RangeError("invalid sitesA: empty");
  if (sitesB && sitesB.length === 0) throw new RangeError("invalid sitesB: empty");
  const full = estimator !== "minibatch-unbiased";
  if (!full && batch < 4) throw new RangeError(`invalid batch: ${batch} (minibatch-unbiased needs n ≥ 4)`);
  const m = full ? positiveInt(config.examples ?? NaN, "examples") : 0;
  if (estimator === "full-debiased" && m < 4) throw new RangeError(`invalid examples: ${m} (full-debiased needs m ≥ 4)`);
  const nanGram = () => new Float64Array(m * m).fill(NaN);
  return {
    analysis: "rbf-cka", estimator, tokens: tokenMode(config.tokens ?? "all"), batch,
    sigmaFactor: sigmaFactorOf(config.sigmaFactor), medianOver: medianOverOf(config.medianOver),
    sitesA, sitesB, terms: [], batches: 0, examples: 0, droppedBatches: 0, droppedExamples: 0,
    m, fullA: full ? sitesA.map(nanGram) : [], fullB: full && sitesB ? sitesB.map(nanGram) : [], offset: 0,
    warnings: [],
  };
}

/** A·Bᵀ/(n(n−3)) of U-centred RBF Grams made on the fly (A·Aᵀ when `b` is omitted). */
function hsic1Matrix(a: Float64Array[], b: Float64Array[] | undefined, n: number): Float64Array {
  const out = matmulTransB(uCentredRows(a), b ? uCentredRows(b) : undefined);
  const scale = 1 / (n * (n - 3));
  for (let i = 0; i < out.length; i++) out[i] *= scale;
  return out;
}

function placeBlock(state: RbfCKAState, ga: FloatArray[], gb: FloatArray[], block?: RbfCKAGrams["block"]): RbfCKAState {
  const m = state.m;
  const { row, col, rows, cols } = block ?? { row: state.offset, col: state.offset, rows: gramSide(ga[0]), cols: gramSide(ga[0]) };
  if (![row, col, rows, cols].every((v) => Number.isInteger(v) && v >= 0) || row + rows > m || col + cols > m) {
    throw new RangeError(`invalid block: rows ${row}+${rows}, cols ${col}+${cols} in a ${m}×${m} Gram`);
  }
  for (const g of [...ga, ...gb]) {
    if (g.length !== rows * cols) throw new RangeError(`invalid Gram block length: ${g.length}, expected ${rows}×${cols}`);
  }
  const place = (full: Float64Array, g: FloatArray) => {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) {
      full[(row + i) * m + col + j] = g[i * cols + j];
      full[(col + j) * m + row + i] = g[i * cols + j];
    }
  };
  ga.forEach((g, s) => place(state.fullA[s], g));
  gb.forEach((g, s) => place(state.fullB[s], g));
  if (row === col) {
    state.offset = Math.max(state.offset, row + rows);
    state.batches += 1;
    state.examples += rows;
  }
  return state;
}

/**
 * Adds one batch's per-site linear Grams (n×n). Minibatch: each becomes an RBF Gram with its
 * own σ, and the batch's HSIC₁ terms of all site pairs are kept; a batch smaller than `batch`
 * is dropped (HSIC₁ sums are combined over equal n only). Full: the block is placed.
 * @example rbfCkaUpdate(state, {gramsA: [k0, k1], gramsB: [l0]})
 */
export function rbfCkaUpdate(state: RbfCKAState, input: RbfCKAGrams): RbfCKAState {
  const ga = bySite(state.sitesA, input.gramsA, "gramsA");
  if (!state.sitesB && input.gramsB !== undefined) throw new RangeError("invalid gramsB: the state has no sitesB");
  const gb = state.sitesB ? bySite(state.sitesB, input.gramsB ?? [], "gramsB") : [];
  if (state.estimator !== "minibatch-unbiased") return placeBlock(state, ga, gb, input.block);
  if (input.block) throw new RangeError("invalid block: only the full estimators take Gram blocks");
  const n = gramSide(ga[0]);
  for (const g of [...ga, ...gb]) if (g.length !== n * n) throw new RangeError(`invalid Gram length: ${g.length}, expected ${n}×${n}`);
  if (n !== state.batch) {
    if (n > state.batch) throw new RangeError(`invalid Gram size: ${n}×${n} for batch ${state.batch}`);
    state.droppedBatches += 1;
    state.droppedExamples += n;
    warn(state, `dropped batches smaller than batch = ${state.batch}`);
    return state;
  }
  const options = { sigmaFactor: state.sigmaFactor, medianOver: state.medianOver };
  const ra = ga.map((g) => rbfGram(g, options));
  const rb = gb.map((g) => rbfGram(g, options));
  const A = ra.map((r) => r.gram), B = rb.map((r) => r.gram);
  const parts = [hsic1Matrix(A, undefined, n)];
  if (B.length) parts.push(hsic1Matrix(B, undefined, n), hsic1Matrix(A, B, n));
  parts.push(Float64Array.from([...ra, ...rb], (r) => r.sigma));
  const terms = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    terms.set(p, at);
    at += p.length;
  }
  state.terms.push(terms);
  state.batches += 1;
  state.examples += n;
  return state;
}

/**
 * Merges two states of the same settings into `a`; any order of merges gives bit-identical
 * results (see {@link RbfCKAState}).
 * @example rbfCkaMerge(shard0, shard1)
 */
export function rbfCkaMerge(a: RbfCKAState, b: RbfCKAState): RbfCKAState {
  for (const k of ["estimator", "tokens", "batch", "sigmaFactor", "medianOver", "m"] as const) {
    if (a[k] !== b[k]) throw new Error(`cannot merge RBF CKA states: ${k} differs (${a[k]} vs ${b[k]})`);
  }
  if (a.sitesA.join("\n") !== b.sitesA.join("\n")) throw new Error("cannot merge RBF CKA states: sitesA differ");
  if ((a.sitesB ?? []).join("\n") !== (b.sitesB ?? []).join("\n")) throw new Error("cannot merge RBF CKA states: sitesB differ");
  a.terms.push(...b.terms.map((t) => Float64Array.from(t)));
  for (const k of ["batches", "examples", "droppedBatches", "droppedExamples"] as const) a[k] += b[k];
  const fill = (x: Float64Array, y: Float64Array) => {
    for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) x[i] = y[i];
  };
  a.fullA.forEach((g, s) => fill(g, b.fullA[s]));
  a.fullB.forEach((g, s) => fill(g, b.fullB[s]));
  a.offset = Math.max(a.offset, b.offset);
  for (const w of b.warnings) warn(a, w);
  return a;
}

/**
 * Σ of cell `c` over all batches' terms, added in ascending order of value (with Neumaier's
 * compensation), so the sum is a function of the multiset of terms alone.
 */
function orderFreeSums(terms: readonly Float64Array[], len: number): Float64Array {
  const out = new Float64Array(len);
  const column = new Float64Array(terms.length);
  for (let c = 0; c < len; c++) {
    for (let b = 0; b < terms.length; b++) column[b] = terms[b][c];
    column.sort();
    let s = 0, comp = 0;
    for (let b = 0; b < column.length; b++) {
      const v = column[b];
      const t = s + v;
      comp += Math.abs(s) >= Math.abs(v) ? s - t + v : v - t + s;
      s = t;
    }
    out[c] = s + comp;
  }
  return out;
}

function minibatchResult(state: RbfCKAState): Pick<RbfCKAResult, "matrices" | "hsicDiag" | "sigmas"> {
  if (state.terms.length === 0) throw new Error("cannot finalize RBF CKA: no batches");
  const la = state.sitesA.length, lb = state.sitesB?.length ?? 0;
  const sums = orderFreeSums(state.terms, la * la + lb * lb + la * lb + la + lb);
  const A = state.sitesA, B = state.sitesB ?? [];
  const sAA = sums.subarray(0, la * la);
  const da = diagonal(sAA, 0, la);
  const perBatch = (v: Float64Array) => v.map((x) => x / state.terms.length);
  const sig = perBatch(sums.slice(la * la + lb * lb + la * lb));
  const out: Pick<RbfCKAResult, "matrices" | "hsicDiag" | "sigmas"> = {
    matrices: { AA: labelled(ratio(sAA, 0, la, la, da, da), A, A) },
    hsicDiag: { A: perBatch(da) },
    sigmas: { A: sig.slice(0, la) },
  };
  if (lb) {
    const sBB = sums.subarray(la * la, la * la + lb * lb);
    const sAB = sums.subarray(la * la + lb * lb, la * la + lb * lb + la * lb);
    const db = diagonal(sBB, 0, lb);
    out.matrices.BB = labelled(ratio(sBB, 0, lb, lb, db, db), B, B);
    out.matrices.AB = labelled(ratio(sAB, 0, la, lb, da, db), A, B);
    out.hsicDiag.B = perBatch(db);
    out.sigmas.B = sig.slice(la);
  }
  return out;
}

function fullResult(state: RbfCKAState): Pick<RbfCKAResult, "matrices" | "hsicDiag" | "sigmas"> {
  const m = state.m;
  for (const [s, g] of [...state.fullA, ...state.fullB].entries()) {
    const missing = g.reduce((c, v) => c + (Number.isNaN(v) ? 1 : 0), 0);
    if (missing) throw new Error(`cannot finalize RBF CKA (${state.estimator}): site ${s} misses ${missing} of ${m * m} Gram entries`);
  }
  const biased = state.estimator === "full-biased";
  const prep = biased ? centre : uCentre;
  const scale = biased ? 1 / ((m - 1) * (m - 1)) : 1 / (m * (m - 3));
  const options = { sigmaFactor: state.sigmaFactor, medianOver: state.medianOver };
  const ra = state.fullA.map((g) => rbfGram(g, options));
  const rb = state.fullB.map((g) => rbfGram(g, options));
  const ca = ra.map((r) => prep(r.gram)), cb = rb.map((r) => prep(r.gram));
  const la = ca.length, lb = cb.length;
  const A = state.sitesA, B = state.sitesB ?? [];
  const sAA = matmulTransB(rowsOf(ca)).map((v) => v * scale);
  const da = diagonal(sAA, 0, la);
  const out: Pick<RbfCKAResult, "matrices" | "hsicDiag" | "sigmas"> = {
    matrices: { AA: labelled(ratio(sAA, 0, la, la, da, da), A, A) },
    hsicDiag: { A: da },
    sigmas: { A: Float64Array.from(ra, (r) => r.sigma) },
  };
  if (lb) {
    const sBB = matmulTransB(rowsOf(cb)).map((v) => v * scale);
    const sAB = matmulTransB(rowsOf(ca), rowsOf(cb)).map((v) => v * scale);
    const db = diagonal(sBB, 0, lb);
    out.matrices.BB = labelled(ratio(sBB, 0, lb, lb, db, db), B, B);
    out.matrices.AB = labelled(ratio(sAB, 0, la, lb, da, db), A, B);
    out.hsicDiag.B = db;
    out.sigmas.B = Float64Array.from(rb, (r) => r.sigma);
  }
  return out;
}

/**
 * The RBF CKA matrices (ratios of HSIC sums, never a mean of per-batch CKA), stamped with the
 * kernel settings. Negative values are reported as they are.
 * @example rbfCkaFinalize(state).matrices.AB.data // LA×LB Float64Array
 */
export function rbfCkaFinalize(state: RbfCKAState): RbfCKAResult {
  const parts = state.estimator === "minibatch-unbiased" ? minibatchResult(state) : fullResult(state);
  return {
    analysis: "rbf-cka", kernel: "rbf", estimator: state.estimator, tokens: state.tokens,
    sigma: "per-batch median", sigmaFactor: state.sigmaFactor, medianOver: state.medianOver,
    batch: state.batch, examples: state.estimator === "minibatch-unbiased" ? state.examples : state.m,
    batches: state.batches, droppedExamples: state.droppedExamples,
    ...parts,
    warnings: [...state.warnings],
  };
}

/**
 * The RBF CKA reducer (id "rbf-cka"): fed the same per-batch linear Grams as ckaReducer.
 * @example
 * let s = rbfCkaReducer.init({ sitesA: ["a0", "a1"], sitesB: ["b0"], batch: 64 });
 * s = rbfCkaReducer.update(s, { gramsA: [k0, k1], gramsB: [l0] });
 * rbfCkaReducer.finalize(s).matrices.AB.data; // RBF CKA of a0 and a1 with b0
 */
export const rbfCkaReducer: Reducer<RbfCKAConfig, RbfCKAState, RbfCKAGrams, RbfCKAResult> = {
  id: "rbf-cka",
  init: rbfCkaInit,
  update: rbfCkaUpdate,
  merge: rbfCkaMerge,
  finalize: rbfCkaFinalize,
};
