/**
 * The full-data probe: float64 sums of the fit part (count, Σx, XᵀX, per-class Σx), the
 * standardised normal equations built from them without revisiting the rows, and the λ chosen
 * on the holdout then refit on the whole training split.
 */
import type { Matrix } from "../../src/numeric/linalg.js";
import type { FloatArray } from "../../src/tensor.js";
import { columnGram, type RowSet } from "../../src/numeric/matmul.js";
import { accuracy, bestLambda, BIAS_CONSTANT, design, predictions, solveWithLambda, STD_EPSILON, type Standardiser } from "./ridge.js";
import { blockState, type ProbeBlockState, type ProbeFit } from "./state.js";

/** Adds fit-part rows into the sums; the Gram update XᵀX runs on the blocked float64 kernel. */
export function addFit(s: ProbeBlockState, X: FloatArray, rows: number[], labels: ArrayLike<number>): void {
  const D = s.dim;
  const m = rows.length;
  if (m === 0) return;
  if (s.fitCount === 0) {
    s.shift.fill(0);
    for (const r of rows) for (let j = 0; j < D; j++) s.shift[j] += X[r * D + j];
    for (let j = 0; j < D; j++) s.shift[j] /= m;
  }
  for (const r of rows) {
    const c = labels[r];
    for (let j = 0; j < D; j++) {
      const x = X[r * D + j] - s.shift[j];
      s.fitSum[j] += x;
      s.classSum[c * D + j] += x;
    }
    s.classCount[c]++;
  }
  const picked: RowSet = { arrays: rows.map(() => X), offsets: rows.map((r) => r * D), cols: D };
  const G = columnGram(picked, { shift: s.shift });
  for (let i = 0; i < G.length; i++) s.fitGram[i] += G[i];
  s.fitCount += m;
}

/**
 * Adds b's fit sums into a's, re-expressed in a's shift: with δ = shift_b − shift_a,
 * Σ(x − s_a) = Σ_b + n_b δ and Σ(x − s_a)(x − s_a)ᵀ = G_b + Σ_b δᵀ + δ Σ_bᵀ + n_b δδᵀ.
 */
export function addShiftedSums(a: ProbeBlockState, b: ProbeBlockState): void {
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

/**
 * Full-data fit from the fit-part sums (of shifted rows): the standardised normal equations,
 * built without revisiting the rows. With μ, σ̃ the part's (shifted) mean and std + 1e-5, bias b:
 * (XsᵀXs)ᵢⱼ = (Gᵢⱼ − n μᵢ μⱼ)/(σ̃ᵢ σ̃ⱼ), Xsᵢᵀ1·b = b(Σxᵢ − nμᵢ)/σ̃ᵢ, 1ᵀ1·b² = n b²;
 * (XsᵀY)ᵢc = (2 Σ_{class c} xᵢ − Σxᵢ − μᵢ(2n_c − n))/σ̃ᵢ, bias row b(2n_c − n).
 */
function normalEquations(s: ProbeBlockState, C: number): { A: Float64Array; B: Float64Array; st: Standardiser } {
  const { fitCount: n, shift, fitSum: sum, fitGram: gram, classSum, classCount, dim: D } = s;
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

/** A copy of the block's fit sums (the stored rows stay behind). */
function copySums(s: ProbeBlockState, C: number): ProbeBlockState {
  const all = blockState(s.block, s.dim, C);
  all.fitCount = s.fitCount;
  all.shift.set(s.shift);
  all.fitSum.set(s.fitSum);
  all.fitGram.set(s.fitGram);
  all.classSum.set(s.classSum);
  all.classCount.set(s.classCount);
  return all;
}

/**
 * The full-data fit: λ chosen on the holdout from the fit-part sums, then refit at that λ on the
 * whole training split (fit sums plus the holdout's), scored on the test split.
 */
export function fullFit(
  s: ProbeBlockState, lambdas: readonly number[], C: number,
  hold: { x: Matrix; labels: Float64Array }, test: { x: Matrix; labels: Float64Array },
): ProbeFit {
  const model = fullModel(s, lambdas, C, hold);
  return { ...model, testAccuracy: accuracy(predictions(design(test.x, model.standardiser), model.weights), test.labels) };
}

/** The full-data model (λ chosen on the holdout, refit on the whole training split), not yet scored. */
export function fullModel(s: ProbeBlockState, lambdas: readonly number[], C: number, hold: { x: Matrix; labels: Float64Array }): Omit<ProbeFit, "testAccuracy"> {
  const p = s.dim + 1;
  const fit = normalEquations(s, C);
  const holdX = design(hold.x, fit.st);
  const holdoutAccuracy = new Float64Array(lambdas.length);
  lambdas.forEach((l, k) => {
    holdoutAccuracy[k] = accuracy(predictions(holdX, solveWithLambda(fit.A, fit.B, p, C, l)), hold.labels);
  });
  const best = bestLambda(lambdas, holdoutAccuracy);
  const all = copySums(s, C);
  addFit(all, hold.x.data, Array.from({ length: hold.labels.length }, (_, i) => i), hold.labels);
  const whole = normalEquations(all, C);
  const W = solveWithLambda(whole.A, whole.B, p, C, lambdas[best]);
  return {
    shots: "full",
    lambda: lambdas[best],
    holdoutAccuracy,
    trainExamples: all.fitCount,
    complete: true,
    standardiser: whole.st,
    weights: W,
  };
}
