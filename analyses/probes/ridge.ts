import { choleskySolve, type Matrix } from "../../src/numeric/linalg.js";
import { columnMoments } from "../../src/numeric/stats.js";
import { columnGram, matmulTransB, rowSet } from "../../src/numeric/matmul.js";

/** big_vision's bias feature value: large, so the bias is almost unregularised. */
export const BIAS_CONSTANT = 100;
/** Added to the standard deviation before dividing (big_vision `std + 1e-5`). */
export const STD_EPSILON = 1e-5;

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
    const A = columnGram(rowSet(X, n, p));
    const B = new Float64Array(p * C);
    for (let r = 0; r < n; r++) {
      const o = r * p;
      for (let i = 0; i < p; i++) {
        const xi = X[o + i];
        if (xi === 0) continue;
        for (let c = 0; c < C; c++) B[i * C + c] += xi * Y[r * C + c];
      }
    }
    for (let i = 0; i < p; i++) A[i * p + i] += lambda;
    return choleskySolve({ data: A, shape: [p, p] }, { data: B, shape: [p, C] });
  }
  const K = matmulTransB(rowSet(X, n, p));
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

/** Weights [p, C] of the normal equations A W = B regularised by λ (A is left untouched). */
export function solveWithLambda(A: Float64Array, B: Float64Array, p: number, C: number, lambda: number): Matrix {
  const Al = A.slice();
  for (let i = 0; i < p; i++) Al[i * p + i] += lambda;
  return choleskySolve({ data: Al, shape: [p, p] }, { data: B, shape: [p, C] });
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

/** Share of predictions equal to the labels (NaN for no predictions). */
export function accuracy(pred: Int32Array, labels: ArrayLike<number>): number {
  let hit = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) hit++;
  return pred.length ? hit / pred.length : NaN;
}

/** Index of the best holdout accuracy; ties go to the larger λ (more regularisation). */
export function bestLambda(lambdas: readonly number[], acc: Float64Array): number {
  let best = 0;
  for (let i = 1; i < lambdas.length; i++) {
    if (acc[i] > acc[best] || (acc[i] === acc[best] && lambdas[i] > lambdas[best])) best = i;
  }
  return best;
}
