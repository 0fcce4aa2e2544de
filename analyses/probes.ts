/**
 * Linear probes (METHODS.md §6; Raghu et al. 2021 Figs. 11, 13; ViT paper "few-shot linear"):
 * closed-form regularised least squares to {−1, +1}^C targets on standardised features with a
 * constant bias feature, as big_vision's `fewshot_lsr` evaluator, predicting the argmax.
 *
 * Design of λ selection (honest and streamable):
 * - A training example with sample index i is *held out* when i % holdoutEvery === holdoutEvery − 1
 *   (default every 5th, 20%); the rest is the *fit part*. Indices are the sample order the data
 *   layer produced (shuffled by its seed), so the split is deterministic and shard-independent.
 * - Full data: float64 sums of the fit part (count, Σx, XᵀX, per-class Σx) are accumulated; the
 *   holdout and test features are stored (their predictions need W, known only at finalize).
 *   For each λ of the grid, W is solved from the fit part's standardised Gram and scored on the
 *   holdout; the best λ (ties: the larger λ) is refit on the whole training split (fit sums plus
 *   the holdout's), standardised with the whole split's statistics, and scored on the test split.
 * - k-shot: the shots are the k fit-part examples of each class with the smallest sample index
 *   (never holdout examples); λ is chosen on the same holdout; the final model is the k-shot fit
 *   at that λ (the k-shot training set is the whole of its training data).
 * Memory: stored holdout and test features cost 8·D bytes per example per block.
 */
import type { Tensor } from "../src/tensor.js";
import { choleskySolve, type Matrix } from "../src/numeric/linalg.js";
import { columnMoments } from "../src/numeric/stats.js";
import { matmulTransB, rowSet } from "../src/numeric/matmul.js";
import type { Reducer } from "./reducer.js";

/** big_vision's bias feature value: large, so the bias is almost unregularised. */
export const BIAS_CONSTANT = 100;
/** Added to the standard deviation before dividing (big_vision `std + 1e-5`). */
export const STD_EPSILON = 1e-5;
/** Default λ grid: 2^k for k = −5 … 15 (contains big_vision's fixed 2¹⁰). */
export const DEFAULT_LAMBDAS: readonly number[] = Array.from({ length: 21 }, (_, i) => 2 ** (i - 5));
/** Default k-shot settings (examples per class), as Raghu et al. and the ViT paper. */
export const DEFAULT_SHOTS: readonly number[] = [1, 5, 10, 25];

// ---------------------------------------------------------------------------------------------
// Pooling

/** `cls` (token 0), `mean` (mean of spatial tokens; of H·W for [B, C, H, W]), `token:i` (absolute token index), `gap` (global average pool), `none` (already [B, D]). */
export type PoolMode = "cls" | "mean" | "gap" | "none" | `token:${number}`;

/**
 * Pooled features [B, D] of a site's activation: ViT [B, T, D], CNN [B, C, H, W], or already
 * pooled [B, D] with mode `none`. Spatial tokens are those after `prefixTokens` (default 1).
 * @example pool(blockOut, "cls").shape // [B, D]
 */
export function pool(x: Tensor, mode: PoolMode, { prefixTokens = 1 }: { prefixTokens?: number } = {}): Matrix {
  const s = x.shape;
  const X = x.data;
  if (!Number.isInteger(prefixTokens) || prefixTokens < 0) throw new RangeError(`invalid prefixTokens: ${prefixTokens}`);
  if (mode === "none") {
    if (s.length !== 2) throw new RangeError(`invalid pool: mode none needs [B, D], got [${s}]`);
    return { data: Float64Array.from(X), shape: [s[0], s[1]] };
  }
  if (s.length === 4) {
    if (mode !== "gap" && mode !== "mean") throw new RangeError(`invalid pool mode for [B, C, H, W]: ${mode}`);
    const [B, C, H, W] = s;
    const HW = H * W;
    const out = new Float64Array(B * C);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
      let sum = 0;
      const o = (b * C + c) * HW;
      for (let p = 0; p < HW; p++) sum += X[o + p];
      out[b * C + c] = sum / HW;
    }
    return { data: out, shape: [B, C] };
  }
  if (s.length !== 3) throw new RangeError(`invalid pool input shape [${s}]: expected [B, T, D], [B, C, H, W] or [B, D]`);
  const [B, T, D] = s;
  const out = new Float64Array(B * D);
  let token = -1;
  if (mode === "cls") {
    if (prefixTokens < 1) throw new RangeError(`invalid pool mode cls: the model has no prefix token`);
    token = 0;
  } else if (typeof mode === "string" && mode.startsWith("token:")) {
    token = Number(mode.slice(6));
    if (!Number.isInteger(token) || token < 0 || token >= T) throw new RangeError(`invalid pool mode: ${mode} (T = ${T})`);
  } else if (mode !== "mean" && mode !== "gap") {
    throw new RangeError(`invalid pool mode: ${mode}`);
  }
  if (token >= 0) {
    for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) out[b * D + d] = X[(b * T + token) * D + d];
    return { data: out, shape: [B, D] };
  }
  const spatial = T - prefixTokens;
  if (spatial < 1) throw new RangeError(`invalid prefixTokens: ${prefixTokens} leaves no spatial token of ${T}`);
  for (let b = 0; b < B; b++) {
    for (let t = prefixTokens; t < T; t++) {
      const o = (b * T + t) * D;
      for (let d = 0; d < D; d++) out[b * D + d] += X[o + d];
    }
    for (let d = 0; d < D; d++) out[b * D + d] /= spatial;
  }
  return { data: out, shape: [B, D] };
}

/**
 * Space-to-depth of a feature map [B, C, H, W] to a coarser grid [gh, gw]: each (H/gh) × (W/gw)
 * block becomes channels, output [B, C·bh·bw, gh, gw] with channel (dy·bw + dx)·C + c
 * (TensorFlow `space_to_depth` order). Pool with `gap` afterwards for Raghu's ResNet probes.
 * @example spaceToDepth(stage1, [7, 7]).shape // [B, 256·8·8, 7, 7] for a 56 × 56 map
 */
export function spaceToDepth(x: Tensor, targetGrid: [number, number]): Tensor<Float64Array> {
  const s = x.shape;
  if (s.length !== 4) throw new RangeError(`invalid spaceToDepth input shape [${s}]: expected [B, C, H, W]`);
  const [B, C, H, W] = s;
  const [gh, gw] = targetGrid;
  if (!Number.isInteger(gh) || !Number.isInteger(gw) || gh < 1 || gw < 1 || H % gh !== 0 || W % gw !== 0) {
    throw new RangeError(`invalid targetGrid: ${targetGrid} does not divide ${H} × ${W}`);
  }
  const bh = H / gh;
  const bw = W / gw;
  const C2 = C * bh * bw;
  const X = x.data;
  const out = new Float64Array(B * C2 * gh * gw);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
    const c2 = ((y % bh) * bw + (xx % bw)) * C + c;
    const gy = Math.floor(y / bh);
    const gx = Math.floor(xx / bw);
    out[((b * C2 + c2) * gh + gy) * gw + gx] = X[((b * C + c) * H + y) * W + xx];
  }
  return { data: out, shape: [B, C2, gh, gw] };
}

// ---------------------------------------------------------------------------------------------
// Ridge regression

/**
 * {−1, +1} one-vs-rest targets, n × C.
 * @example ridgeTargets([1, 0], 2).data // [-1, 1, 1, -1]
 */
export function ridgeTargets(labels: ArrayLike<number>, classes: number): Matrix {
  const n = labels.length;
  const Y = new Float64Array(n * classes).fill(-1);
  for (let i = 0; i < n; i++) {
    const c = labels[i];
    if (!Number.isInteger(c) || c < 0 || c >= classes) throw new RangeError(`invalid label: ${c} at ${i} (classes = ${classes})`);
    Y[i * classes + c] = 1;
  }
  return { data: Y, shape: [n, classes] };
}

/** Feature standardisation: (x − mean) / scale, then a bias feature `bias`. */
export interface Standardiser {
  mean: Float64Array;
  /** std + 1e-5. */
  scale: Float64Array;
  bias: number;
}

/**
 * Standardiser from a training matrix [n, D]: column mean and population std + 1e-5.
 * @example standardiser(train).scale
 */
export function standardiser(x: Matrix, bias = BIAS_CONSTANT): Standardiser {
  const [n, D] = x.shape;
  const { mean, std } = columnMoments(x.data, n, D);
  for (let j = 0; j < D; j++) std[j] += STD_EPSILON;
  return { mean, scale: std, bias };
}

/**
 * Standardised design matrix [n, D + 1] with the bias feature last.
 * @example design(test, standardiser(train)).shape // [n, D + 1]
 */
export function design(x: Matrix, s: Standardiser): Matrix {
  const [n, D] = x.shape;
  if (s.mean.length !== D) throw new RangeError(`invalid features: ${D} columns, standardiser has ${s.mean.length}`);
  const D1 = D + 1;
  const out = new Float64Array(n * D1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < D; j++) out[i * D1 + j] = (x.data[i * D + j] - s.mean[j]) / s.scale[j];
    out[i * D1 + D] = s.bias;
  }
  return { data: out, shape: [n, D1] };
}

/** `primal`: (XᵀX + λI)⁻¹XᵀY; `dual`: Xᵀ(XXᵀ + λI)⁻¹Y; `auto`: dual when columns exceed rows. */
export type RidgeForm = "primal" | "dual" | "auto";

/**
 * Ridge weights [p, C] for a design matrix X [n, p] and targets Y [n, C] (Cholesky solves).
 * The primal and dual forms are algebraically equal; `auto` picks the smaller system.
 * @example ridgeWeights(design(train, s), ridgeTargets(labels, 10), 1024)
 */
export function ridgeWeights(x: Matrix, y: Matrix, lambda: number, form: RidgeForm = "auto"): Matrix {
  const [n, p] = x.shape;
  const [ny, C] = y.shape;
  if (ny !== n) throw new RangeError(`invalid targets: ${ny} rows for ${n} examples`);
  if (!(lambda > 0)) throw new RangeError(`invalid lambda: ${lambda}`);
  const X = x.data;
  const Y = y.data;
  const useDual = form === "dual" || (form === "auto" && p > n);
  if (form !== "primal" && form !== "dual" && form !== "auto") throw new RangeError(`invalid form: ${form}`);
  if (!useDual) {
    const A = new Float64Array(p * p);
    const B = new Float64Array(p * C);
    for (let r = 0; r < n; r++) {
      const o = r * p;
      for (let i = 0; i < p; i++) {
        const xi = X[o + i];
        if (xi === 0) continue;
        for (let j = 0; j <= i; j++) A[i * p + j] += xi * X[o + j];
        for (let c = 0; c < C; c++) B[i * C + c] += xi * Y[r * C + c];
      }
    }
    for (let i = 0; i < p; i++) A[i * p + i] += lambda;
    return choleskySolve({ data: A, shape: [p, p] }, { data: B, shape: [p, C] });
  }
  const K = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b <= a; b++) {
    let s = 0;
    for (let j = 0; j < p; j++) s += X[a * p + j] * X[b * p + j];
    K[a * n + b] = s;
  }
  for (let a = 0; a < n; a++) K[a * n + a] += lambda;
  const alpha = choleskySolve({ data: K, shape: [n, n] }, y).data;
  const W = new Float64Array(p * C);
  for (let r = 0; r < n; r++) for (let j = 0; j < p; j++) {
    const xj = X[r * p + j];
    if (xj === 0) continue;
    for (let c = 0; c < C; c++) W[j * C + c] += xj * alpha[r * C + c];
  }
  return { data: W, shape: [p, C] };
}

/**
 * Predicted classes: argmax over X W (first maximum on ties).
 * @example predictions(design(test, s), W)
 */
export function predictions(x: Matrix, w: Matrix): Int32Array {
  const [n, p] = x.shape;
  const [pw, C] = w.shape;
  if (pw !== p) throw new RangeError(`invalid weights: [${w.shape}] for design [${x.shape}]`);
  const out = new Int32Array(n);
  const score = new Float64Array(C);
  for (let r = 0; r < n; r++) {
    score.fill(0);
    for (let j = 0; j < p; j++) {
      const xj = x.data[r * p + j];
      for (let c = 0; c < C; c++) score[c] += xj * w.data[j * C + c];
    }
    let best = 0;
    for (let c = 1; c < C; c++) if (score[c] > score[best]) best = c;
    out[r] = best;
  }
  return out;
}

function accuracy(pred: Int32Array, labels: ArrayLike<number>): number {
  let hit = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) hit++;
  return pred.length ? hit / pred.length : NaN;
}

/** Index of the best holdout accuracy; ties go to the larger λ (more regularisation). */
function bestLambda(lambdas: readonly number[], acc: Float64Array): number {
  let best = 0;
  for (let i = 1; i < lambdas.length; i++) {
    if (acc[i] > acc[best] || (acc[i] === acc[best] && lambdas[i] > lambdas[best])) best = i;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Reducer

/** Probe settings. */
export interface ProbeConfig {
  classes: number;
  /** k-shot settings (examples per class); default [1, 5, 10, 25]. */
  shots?: number[];
  /** Also fit on the whole training split; default true. */
  full?: boolean;
  /** λ grid; default 2^−5 … 2^15. */
  lambdas?: number[];
  /** Every n-th training example (by sample index) is held out for λ selection; default 5. */
  holdoutEvery?: number;
  /** Block names in depth order; default first-seen order. */
  blocks?: string[];
  /** Form of the k-shot solves; default `auto` (the full-data fit is always primal, from Gram sums). */
  form?: RidgeForm;
}

/** Stored rows (features, labels, sample indices) in chunks, so updates never copy. */
export interface StoredRows {
  features: Float64Array[];
  labels: Float64Array[];
  indices: Float64Array[];
}

/** Float64 state of one block. */
export interface ProbeBlockState {
  block: string;
  dim: number;
  /**
   * Fit part, on shifted rows x − shift: count, Σ [D], Gram [D × D] (full, symmetric),
   * per-class Σ [C × D] and counts [C]. The shift is the mean of the first fit rows seen, so
   * the standardised Gram G − nμμᵀ does not cancel for features with a large mean (the
   * standardisation itself is shift invariant).
   */
  shift: Float64Array;
  fitCount: number;
  fitSum: Float64Array;
  fitGram: Float64Array;
  classSum: Float64Array;
  classCount: Float64Array;
  /** Fit-part candidates for the shots: per class, the max(shots) smallest sample indices. */
  shotRows: StoredRows;
  holdout: StoredRows;
  test: StoredRows;
}

/** Plain-data reducer state: one float64 sum set and stored rows per block, in first-seen order. */
export interface ProbeState {
  analysis: "linear-probe";
  settings: Required<ProbeConfig>;
  blocks: ProbeBlockState[];
}

/** One batch of one block's pooled features. */
export interface ProbeInput {
  block: string;
  split: "train" | "test";
  /** Pooled features [B, D] (see {@link pool}). */
  features: Matrix | Tensor;
  labels: ArrayLike<number>;
  /** Sample indices in the data layer's order (define the holdout and the shots). */
  indices: ArrayLike<number>;
}

/** One fitted variant (full data or k shots). */
export interface ProbeFit {
  /** `full` or the shots per class. */
  shots: "full" | number;
  testAccuracy: number;
  lambda: number;
  /** Holdout accuracy per λ of the grid. */
  holdoutAccuracy: Float64Array;
  trainExamples: number;
  /** False when some class had fewer fit-part examples than the shots asked for. */
  complete: boolean;
  /** The final model: standardiser and weights [D + 1, C] (bias row last). */
  standardiser: Standardiser;
  weights: Matrix;
}

/** Probe fits of one block. */
export interface ProbeBlockResult {
  block: string;
  /** Normalised depth: block position / (blocks − 1), 0 for a single block. */
  depth: number;
  dim: number;
  fits: ProbeFit[];
}

/** Finalized result: blocks in depth order with normalised depth, each with its fits. */
export interface ProbeResult {
  analysis: "linear-probe";
  settings: Required<ProbeConfig> & { targets: "pm1"; standardise: "train-mean-std+1e-5"; biasConstant: number; selection: "holdout" };
  blocks: ProbeBlockResult[];
}

function emptyRows(): StoredRows {
  return { features: [], labels: [], indices: [] };
}

function rowsCount(r: StoredRows): number {
  return r.labels.reduce((a, l) => a + l.length, 0);
}

function flatRows(r: StoredRows, dim: number): { x: Matrix; labels: Float64Array; indices: Float64Array } {
  const n = rowsCount(r);
  const x = new Float64Array(n * dim);
  const labels = new Float64Array(n);
  const indices = new Float64Array(n);
  let o = 0;
  for (let k = 0; k < r.labels.length; k++) {
    x.set(r.features[k], o * dim);
    labels.set(r.labels[k], o);
    indices.set(r.indices[k], o);
    o += r.labels[k].length;
  }
  return { x: { data: x, shape: [n, dim] }, labels, indices };
}

/** Keeps, per class, the `keep` rows with the smallest sample indices. */
function pruneShots(r: StoredRows, dim: number, classes: number, keep: number): StoredRows {
  const { x, labels, indices } = flatRows(r, dim);
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => indices[a] - indices[b]);
  const taken = new Float64Array(classes);
  const kept: number[] = [];
  for (const i of order) {
    const c = labels[i];
    if (taken[c] < keep) {
      taken[c]++;
      kept.push(i);
    }
  }
  const f = new Float64Array(kept.length * dim);
  const l = new Float64Array(kept.length);
  const ix = new Float64Array(kept.length);
  kept.forEach((i, k) => {
    f.set(x.data.subarray(i * dim, (i + 1) * dim), k * dim);
    l[k] = labels[i];
    ix[k] = indices[i];
  });
  return { features: [f], labels: [l], indices: [ix] };
}

function blockState(block: string, dim: number, classes: number): ProbeBlockState {
  return {
    block,
    dim,
    shift: new Float64Array(dim),
    fitCount: 0,
    fitSum: new Float64Array(dim),
    fitGram: new Float64Array(dim * dim),
    classSum: new Float64Array(classes * dim),
    classCount: new Float64Array(classes),
    shotRows: emptyRows(),
    holdout: emptyRows(),
    test: emptyRows(),
  };
}

/** Adds fit-part rows into the sums; the Gram update XᵀX runs on the blocked float64 kernel. */
function addFit(s: ProbeBlockState, X: ArrayLike<number>, rows: number[], labels: ArrayLike<number>): void {
  const D = s.dim;
  const m = rows.length;
  if (m === 0) return;
  if (s.fitCount === 0) {
    s.shift.fill(0);
    for (const r of rows) for (let j = 0; j < D; j++) s.shift[j] += X[r * D + j];
    for (let j = 0; j < D; j++) s.shift[j] /= m;
  }
  const Xt = new Float64Array(D * m);
  rows.forEach((r, k) => {
    const c = labels[r];
    for (let j = 0; j < D; j++) {
      const x = X[r * D + j] - s.shift[j];
      Xt[j * m + k] = x;
      s.fitSum[j] += x;
      s.classSum[c * D + j] += x;
    }
    s.classCount[c]++;
  });
  const G = matmulTransB(rowSet(Xt, D, m));
  for (let i = 0; i < G.length; i++) s.fitGram[i] += G[i];
  s.fitCount += m;
}

function pushRows(dst: StoredRows, X: ArrayLike<number>, D: number, rows: number[], labels: ArrayLike<number>, indices: ArrayLike<number>): void {
  if (rows.length === 0) return;
  const f = new Float64Array(rows.length * D);
  const l = new Float64Array(rows.length);
  const ix = new Float64Array(rows.length);
  rows.forEach((r, k) => {
    for (let j = 0; j < D; j++) f[k * D + j] = X[r * D + j];
    l[k] = labels[r];
    ix[k] = indices[r];
  });
  dst.features.push(f);
  dst.labels.push(l);
  dst.indices.push(ix);
}

function validateConfig(config: ProbeConfig): Required<ProbeConfig> {
  const { classes } = config;
  if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`invalid classes: ${classes}`);
  const shots = [...(config.shots ?? DEFAULT_SHOTS)];
  for (const k of shots) if (!Number.isInteger(k) || k < 1) throw new RangeError(`invalid shots: ${k}`);
  const lambdas = [...(config.lambdas ?? DEFAULT_LAMBDAS)];
  if (lambdas.length === 0) throw new RangeError(`invalid lambdas: empty grid`);
  for (const l of lambdas) if (!(l > 0) || !Number.isFinite(l)) throw new RangeError(`invalid lambda: ${l}`);
  const holdoutEvery = config.holdoutEvery ?? 5;
  if (!Number.isInteger(holdoutEvery) || holdoutEvery < 2) throw new RangeError(`invalid holdoutEvery: ${holdoutEvery}`);
  const form = config.form ?? "auto";
  if (!["primal", "dual", "auto"].includes(form)) throw new RangeError(`invalid form: ${form}`);
  return { classes, shots, full: config.full ?? true, lambdas, holdoutEvery, blocks: [...(config.blocks ?? [])], form };
}

/**
 * Full-data fit from the fit-part sums (of shifted rows): the standardised normal equations,
 * built without revisiting the rows. With μ, σ̃ the part's (shifted) mean and std + 1e-5, bias b:
 * (XsᵀXs)ᵢⱼ = (Gᵢⱼ − n μᵢ μⱼ)/(σ̃ᵢ σ̃ⱼ), Xsᵢᵀ1·b = b(Σxᵢ − nμᵢ)/σ̃ᵢ, 1ᵀ1·b² = n b²;
 * (XsᵀY)ᵢc = (2 Σ_{class c} xᵢ − Σxᵢ − μᵢ(2n_c − n))/σ̃ᵢ, bias row b(2n_c − n).
 */
function normalEquations(
  n: number, shift: Float64Array, sum: Float64Array, gram: Float64Array, classSum: Float64Array, classCount: Float64Array, D: number, C: number,
): { A: Float64Array; B: Float64Array; st: Standardiser } {
  const mean = new Float64Array(D);
  const scale = new Float64Array(D);
  for (let i = 0; i < D; i++) {
    mean[i] = sum[i] / n;
    const v = gram[i * D + i] / n - mean[i] * mean[i];
    scale[i] = Math.sqrt(Math.max(v, 0)) + STD_EPSILON;
  }
  const b = BIAS_CONSTANT;
  const p = D + 1;
  const A = new Float64Array(p * p);
  for (let i = 0; i < D; i++) {
    for (let j = 0; j <= i; j++) {
      const a = (gram[i * D + j] - n * mean[i] * mean[j]) / (scale[i] * scale[j]);
      A[i * p + j] = a;
      A[j * p + i] = a;
    }
    const bi = (b * (sum[i] - n * mean[i])) / scale[i];
    A[D * p + i] = bi;
    A[i * p + D] = bi;
  }
  A[D * p + D] = n * b * b;
  const B = new Float64Array(p * C);
  for (let c = 0; c < C; c++) {
    const ySum = 2 * classCount[c] - n;
    for (let i = 0; i < D; i++) B[i * C + c] = (2 * classSum[c * D + i] - sum[i] - mean[i] * ySum) / scale[i];
    B[D * C + c] = b * ySum;
  }
  for (let i = 0; i < D; i++) mean[i] += shift[i];
  return { A, B, st: { mean, scale, bias: b } };
}

function solveWithLambda(A: Float64Array, B: Float64Array, p: number, C: number, lambda: number): Matrix {
  const Al = A.slice();
  for (let i = 0; i < p; i++) Al[i * p + i] += lambda;
  return choleskySolve({ data: Al, shape: [p, p] }, { data: B, shape: [p, C] });
}

function finalizeBlock(s: ProbeBlockState, settings: Required<ProbeConfig>): ProbeFit[] {
  const { classes: C, lambdas } = settings;
  const D = s.dim;
  const p = D + 1;
  const hold = flatRows(s.holdout, D);
  const test = flatRows(s.test, D);
  const fits: ProbeFit[] = [];
  if (test.labels.length === 0) throw new Error(`linear-probe: block ${s.block} has no test examples`);
  if (hold.labels.length === 0) throw new Error(`linear-probe: block ${s.block} has no holdout examples (holdoutEvery = ${settings.holdoutEvery})`);
  if (settings.full) {
    if (s.fitCount < 1) throw new Error(`linear-probe: block ${s.block} has no training examples`);
    const fit = normalEquations(s.fitCount, s.shift, s.fitSum, s.fitGram, s.classSum, s.classCount, D, C);
    const holdX = design(hold.x, fit.st);
    const holdoutAccuracy = new Float64Array(lambdas.length);
    lambdas.forEach((l, k) => {
      holdoutAccuracy[k] = accuracy(predictions(holdX, solveWithLambda(fit.A, fit.B, p, C, l)), hold.labels);
    });
    const best = bestLambda(lambdas, holdoutAccuracy);
    // Refit on the whole training split: add the holdout rows to the fit sums.
    const all = blockState(s.block, D, C);
    all.fitCount = s.fitCount;
    all.shift.set(s.shift);
    all.fitSum.set(s.fitSum);
    all.fitGram.set(s.fitGram);
    all.classSum.set(s.classSum);
    all.classCount.set(s.classCount);
    addFit(all, hold.x.data, Array.from({ length: hold.labels.length }, (_, i) => i), hold.labels);
    const whole = normalEquations(all.fitCount, all.shift, all.fitSum, all.fitGram, all.classSum, all.classCount, D, C);
    const W = solveWithLambda(whole.A, whole.B, p, C, lambdas[best]);
    fits.push({
      shots: "full",
      testAccuracy: accuracy(predictions(design(test.x, whole.st), W), test.labels),
      lambda: lambdas[best],
      holdoutAccuracy,
      trainExamples: all.fitCount,
      complete: true,
      standardiser: whole.st,
      weights: W,
    });
  }
  const cand = flatRows(s.shotRows, D);
  for (const k of settings.shots) {
    const rows: number[] = [];
    const taken = new Float64Array(C);
    const order = Array.from({ length: cand.labels.length }, (_, i) => i).sort((a, b) => cand.indices[a] - cand.indices[b]);
    for (const i of order) if (taken[cand.labels[i]] < k) {
      taken[cand.labels[i]]++;
      rows.push(i);
    }
    const x = new Float64Array(rows.length * D);
    const labels = new Float64Array(rows.length);
    rows.forEach((r, i) => {
      x.set(cand.x.data.subarray(r * D, (r + 1) * D), i * D);
      labels[i] = cand.labels[r];
    });
    const complete = taken.every((t) => t === k);
    if (rows.length === 0) {
      throw new Error(`linear-probe: block ${s.block} has no fit-part training examples for ${k}-shot`);
    }
    const train: Matrix = { data: x, shape: [rows.length, D] };
    const st = standardiser(train);
    const X = design(train, st);
    const Y = ridgeTargets(labels, C);
    const holdX = design(hold.x, st);
    const holdoutAccuracy = new Float64Array(lambdas.length);
    const weights = lambdas.map((l, i) => {
      const W = ridgeWeights(X, Y, l, settings.form);
      holdoutAccuracy[i] = accuracy(predictions(holdX, W), hold.labels);
      return W;
    });
    const best = bestLambda(lambdas, holdoutAccuracy);
    fits.push({
      shots: k,
      testAccuracy: accuracy(predictions(design(test.x, st), weights[best]), test.labels),
      lambda: lambdas[best],
      holdoutAccuracy,
      trainExamples: rows.length,
      complete,
      standardiser: st,
      weights: weights[best],
    });
  }
  return fits;
}

/**
 * Adds b's fit sums into a's, re-expressed in a's shift: with δ = shift_b − shift_a,
 * Σ(x − s_a) = Σ_b + n_b δ and Σ(x − s_a)(x − s_a)ᵀ = G_b + Σ_b δᵀ + δ Σ_bᵀ + n_b δδᵀ.
 */
function addShiftedSums(a: ProbeBlockState, b: ProbeBlockState): void {
  if (b.fitCount === 0) return;
  if (a.fitCount === 0) a.shift.set(b.shift);
  const D = a.dim;
  const delta = new Float64Array(D);
  for (let i = 0; i < D; i++) delta[i] = b.shift[i] - a.shift[i];
  const nb = b.fitCount;
  for (let i = 0; i < D; i++) {
    for (let j = 0; j < D; j++) {
      a.fitGram[i * D + j] += b.fitGram[i * D + j] + b.fitSum[i] * delta[j] + delta[i] * b.fitSum[j] + nb * delta[i] * delta[j];
    }
    a.fitSum[i] += b.fitSum[i] + nb * delta[i];
  }
  const C = b.classCount.length;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < D; i++) a.classSum[c * D + i] += b.classSum[c * D + i] + b.classCount[c] * delta[i];
    a.classCount[c] += b.classCount[c];
  }
  a.fitCount += nb;
}

function featureMatrix(f: Matrix | Tensor): { data: ArrayLike<number>; n: number; D: number } {
  if (f.shape.length !== 2) throw new RangeError(`invalid features shape [${f.shape}]: expected pooled [B, D] (see pool)`);
  const [n, D] = f.shape;
  if (f.data.length !== n * D) throw new RangeError(`invalid features: ${f.data.length} elements for [${f.shape}]`);
  return { data: f.data, n, D };
}

function findBlock(state: ProbeState, block: string, dim: number): ProbeBlockState {
  let s = state.blocks.find((b) => b.block === block);
  if (!s) {
    s = blockState(block, dim, state.settings.classes);
    state.blocks.push(s);
  } else if (s.dim !== dim) {
    throw new RangeError(`invalid features for block ${block}: ${dim} columns, earlier batches had ${s.dim}`);
  }
  return s;
}

/**
 * Streaming linear probes per block: `update` with pooled features of the train and test
 * splits (with sample indices), `merge` shards, `finalize` to test accuracy per block against
 * normalised depth, per shot setting, with the chosen λ. See the module comment for the design.
 * @example
 * let s = probeReducer.init({ classes: 10 });
 * s = probeReducer.update(s, { block: "blocks.0", split: "train", features, labels, indices });
 * probeReducer.finalize(s).blocks[0].fits
 */
export const probeReducer: Reducer<ProbeConfig, ProbeState, ProbeInput, ProbeResult> = {
  id: "linear-probe",
  init(config) {
    return { analysis: "linear-probe", settings: validateConfig(config), blocks: [] };
  },
  update(state, { block, split, features, labels, indices }) {
    const { data, n, D } = featureMatrix(features);
    if (labels.length !== n || indices.length !== n) throw new RangeError(`invalid batch for ${block}: ${n} rows, ${labels.length} labels, ${indices.length} indices`);
    const C = state.settings.classes;
    for (let i = 0; i < n; i++) {
      const c = labels[i];
      if (!Number.isInteger(c) || c < 0 || c >= C) throw new RangeError(`invalid label: ${c} (classes = ${C})`);
      if (!Number.isInteger(indices[i]) || indices[i] < 0) throw new RangeError(`invalid sample index: ${indices[i]}`);
    }
    const s = findBlock(state, block, D);
    const all = Array.from({ length: n }, (_, i) => i);
    if (split === "test") {
      pushRows(s.test, data, D, all, labels, indices);
      return state;
    }
    if (split !== "train") throw new RangeError(`invalid split: ${split}`);
    const every = state.settings.holdoutEvery;
    const held = all.filter((i) => indices[i] % every === every - 1);
    const fit = all.filter((i) => indices[i] % every !== every - 1);
    pushRows(s.holdout, data, D, held, labels, indices);
    if (state.settings.full) addFit(s, data, fit, labels);
    if (state.settings.shots.length) {
      pushRows(s.shotRows, data, D, fit, labels, indices);
      s.shotRows = pruneShots(s.shotRows, D, C, Math.max(...state.settings.shots));
    }
    return state;
  },
  merge(a, b) {
    const x = a.settings;
    const y = b.settings;
    if (JSON.stringify(x) !== JSON.stringify(y)) throw new RangeError(`invalid merge: settings differ (${JSON.stringify(x)} vs ${JSON.stringify(y)})`);
    for (const sb of b.blocks) {
      const sa = findBlock(a, sb.block, sb.dim);
      addShiftedSums(sa, sb);
      for (const key of ["holdout", "test", "shotRows"] as const) {
        sa[key].features.push(...sb[key].features.map((f) => f.slice()));
        sa[key].labels.push(...sb[key].labels.map((f) => f.slice()));
        sa[key].indices.push(...sb[key].indices.map((f) => f.slice()));
      }
      if (x.shots.length) sa.shotRows = pruneShots(sa.shotRows, sa.dim, x.classes, Math.max(...x.shots));
    }
    return a;
  },
  finalize(state) {
    if (state.blocks.length === 0) throw new Error("linear-probe: no features were seen");
    const order = state.settings.blocks;
    const known = new Set(order);
    const names = [...order.filter((b) => state.blocks.some((s) => s.block === b)), ...state.blocks.map((s) => s.block).filter((b) => !known.has(b))];
    const L = names.length;
    return {
      analysis: "linear-probe",
      settings: { ...state.settings, targets: "pm1", standardise: "train-mean-std+1e-5", biasConstant: BIAS_CONSTANT, selection: "holdout" },
      blocks: names.map((name, i) => {
        const s = state.blocks.find((b) => b.block === name)!;
        return { block: name, depth: L > 1 ? i / (L - 1) : 0, dim: s.dim, fits: finalizeBlock(s, state.settings) };
      }),
    };
  },
};

/**
 * One-shot probe of one block: train and test pooled features [N, D] with labels; training
 * sample indices are the row order (so every `holdoutEvery`-th row is held out).
 * @example linearProbe({ features: tr, labels: ytr }, { features: te, labels: yte }, { classes: 10 }).fits
 */
export function linearProbe(
  train: { features: Matrix | Tensor; labels: ArrayLike<number> },
  test: { features: Matrix | Tensor; labels: ArrayLike<number> },
  config: ProbeConfig,
): ProbeBlockResult {
  let s = probeReducer.init({ ...config, blocks: ["probe"] });
  const range = (n: number) => Float64Array.from({ length: n }, (_, i) => i);
  s = probeReducer.update(s, { block: "probe", split: "train", features: train.features, labels: train.labels, indices: range(train.labels.length) });
  s = probeReducer.update(s, { block: "probe", split: "test", features: test.features, labels: test.labels, indices: range(test.labels.length) });
  return probeReducer.finalize(s).blocks[0];
}
