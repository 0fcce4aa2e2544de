/**
 * Linear predictivity: how much of B's variance a ridge regression from A explains (the
 * "linear encoding" score of Yamins et al. 2014 and Schrimpf et al.'s Brain-Score, here between
 * two sites). Follows the probes' conventions (analyses/probes): features standardised with the
 * fit part's mean and std + 1e-5, every `holdoutEvery`-th training example held out to choose λ,
 * ties to the larger λ. Unlike the probes the intercept is left unpenalised: the standardised
 * features have zero mean on the rows fitted, so it is exactly the targets' mean there.
 */
import type { Tensor } from "../../src/tensor.js";
import { exampleShape } from "../../src/numeric/gram.js";
import { choleskySolve } from "../../src/numeric/linalg.js";
import { columnGram, matmulTransB, rowSet } from "../../src/numeric/matmul.js";
import { columnMoments } from "../../src/numeric/stats.js";
import { bestLambda, solveWithLambda, STD_EPSILON } from "../probes/ridge.js";

/** 10⁻⁶, 10⁻⁵, …, 10⁶. */
export const DEFAULT_LAMBDAS: readonly number[] = Array.from({ length: 13 }, (_, i) => Number(`1e${i - 6}`));

/** Options of {@link predictivity}. */
export interface PredictivityOptions {
  /** Ridge penalties to choose from on the holdout (default 10⁻⁶ … 10⁶, 13 values). */
  lambdas?: readonly number[];
  /** Hold out training examples whose index i has i % holdoutEvery = holdoutEvery − 1 (default 5, as the probes). */
  holdoutEvery?: number;
  /** A separate test split to score on (same sites, other examples). */
  test?: { x: Tensor; y: Tensor };
}

/** Linear predictivity of Y from X, stamped with the settings used. */
export interface PredictivityResult {
  /** 1 − Σ‖Y − Ŷ‖² / Σ‖Y − Ȳ‖² on the split named by `scoredOn` (Ȳ: that split's mean). */
  r2: number;
  /**
   * `test`: the model refit at the chosen λ on the whole training split, scored on `test`.
   * `holdout` (no test given): the fit-part model at the chosen λ scored on the holdout, since
   * the refit model has seen the holdout; optimistic only by the choice of λ.
   */
  scoredOn: "test" | "holdout";
  /** The chosen λ and the holdout R² of every λ tried. */
  lambda: number;
  holdoutR2: Float64Array;
  /** Examples fitted when choosing λ, held out, and scored on the test split (0 without one). */
  fitExamples: number;
  holdoutExamples: number;
  testExamples: number;
  p: number;
  q: number;
  settings: { lambdas: number[]; holdoutEvery: number; standardise: "fit-mean-std+1e-5"; intercept: "unpenalised"; r2: "pooled-over-outputs" };
}

/** A ridge model: standardisation, intercept and the normal equations to solve at any λ. */
interface RidgeProblem {
  mean: Float64Array;
  scale: Float64Array;
  yMean: Float64Array;
  weights(lambda: number): Float64Array;
}

function gather(data: ArrayLike<number>, cols: number, rows: readonly number[]): Float64Array {
  const out = new Float64Array(rows.length * cols);
  rows.forEach((r, i) => {
    for (let j = 0; j < cols; j++) out[i * cols + j] = data[r * cols + j];
  });
  return out;
}

function ridgeProblem(X: Float64Array, Y: Float64Array, n: number, p: number, q: number): RidgeProblem {
  const { mean, std: scale } = columnMoments(X, n, p);
  for (let j = 0; j < p; j++) scale[j] += STD_EPSILON;
  const yMean = columnMoments(Y, n, q).mean;
  const Xs = standardised(X, n, p, mean, scale);
  const Yc = new Float64Array(n * q);
  for (let i = 0; i < n; i++) for (let c = 0; c < q; c++) Yc[i * q + c] = Y[i * q + c] - yMean[c];
  if (p <= n) {
    const A = columnGram(rowSet(Xs, n, p));
    const B = new Float64Array(p * q);
    for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) {
      const x = Xs[i * p + j];
      for (let c = 0; c < q; c++) B[j * q + c] += x * Yc[i * q + c];
    }
    return { mean, scale, yMean, weights: (l) => solveWithLambda(A, B, p, q, l).data };
  }
  // More features than rows: the dual system (XXᵀ + λI)α = Y is the smaller one, W = Xᵀα.
  const K = matmulTransB(rowSet(Xs, n, p));
  return {
    mean, scale, yMean,
    weights(l) {
      const Kl = K.slice();
      for (let i = 0; i < n; i++) Kl[i * n + i] += l;
      const alpha = choleskySolve({ data: Kl, shape: [n, n] }, { data: Yc, shape: [n, q] }).data;
      const W = new Float64Array(p * q);
      for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) {
        const x = Xs[i * p + j];
        for (let c = 0; c < q; c++) W[j * q + c] += x * alpha[i * q + c];
      }
      return W;
    },
  };
}

function standardised(X: ArrayLike<number>, n: number, p: number, mean: Float64Array, scale: Float64Array): Float64Array {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) out[i * p + j] = (X[i * p + j] - mean[j]) / scale[j];
  return out;
}

/** R² of the model's predictions of Y (n × q) from X (n × p). */
function score(model: RidgeProblem, W: Float64Array, X: ArrayLike<number>, Y: ArrayLike<number>, n: number, p: number, q: number, split: string): number {
  const Xs = standardised(X, n, p, model.mean, model.scale);
  const yBar = columnMoments(Y, n, q).mean;
  let sse = 0;
  let sst = 0;
  const pred = new Float64Array(q);
  for (let i = 0; i < n; i++) {
    pred.set(model.yMean);
    for (let j = 0; j < p; j++) {
      const x = Xs[i * p + j];
      if (x === 0) continue;
      for (let c = 0; c < q; c++) pred[c] += x * W[j * q + c];
    }
    for (let c = 0; c < q; c++) {
      const y = Y[i * q + c];
      sse += (y - pred[c]) ** 2;
      sst += (y - yBar[c]) ** 2;
    }
  }
  if (!(sst > 0)) throw new RangeError(`invalid targets: Y has zero variance on the ${split} split (R² undefined)`);
  return 1 - sse / sst;
}

/**
 * Linear predictivity R² of Y (m × q) from X (m × p), example axis first, each example flattened:
 * ridge Y ≈ X W + b with λ chosen on the holdout, scored on `test` (or the holdout; see
 * `scoredOn`). p may exceed m (dual form). Asymmetric: see {@link predictivityBoth}. Invariant to
 * per-feature affine maps of X (the standardisation); to invertible linear maps of X only as
 * λ → 0. Not invariant to rescaling one column of Y (R² pools the outputs' residuals).
 * @example predictivity(x, y).r2 // share of Y's variance a linear read-out of X explains
 * @example predictivity(x, y, {test: {x: xTest, y: yTest}}).scoredOn // "test"
 */
export function predictivity(x: Tensor, y: Tensor, options: PredictivityOptions = {}): PredictivityResult {
  const lambdas = [...(options.lambdas ?? DEFAULT_LAMBDAS)];
  const every = options.holdoutEvery ?? 5;
  if (lambdas.length === 0) throw new RangeError("invalid lambdas: empty");
  for (const l of lambdas) if (!(l > 0 && Number.isFinite(l))) throw new RangeError(`invalid lambda: ${l}`);
  if (!(Number.isInteger(every) && every >= 2)) throw new RangeError(`invalid holdoutEvery: ${every} (an integer ≥ 2)`);
  const [m, p] = exampleShape(x);
  const [my, q] = exampleShape(y);
  if (m !== my) throw new RangeError(`invalid example counts: ${m} and ${my}`);
  const held: number[] = [];
  const fit: number[] = [];
  for (let i = 0; i < m; i++) (i % every === every - 1 ? held : fit).push(i);
  if (held.length === 0 || fit.length < 2) throw new RangeError(`invalid examples: m = ${m} leaves ${fit.length} to fit and ${held.length} held out (holdoutEvery = ${every})`);
  const hx = gather(x.data, p, held);
  const hy = gather(y.data, q, held);
  const part = ridgeProblem(gather(x.data, p, fit), gather(y.data, q, fit), fit.length, p, q);
  const holdoutR2 = new Float64Array(lambdas.length);
  lambdas.forEach((l, k) => {
    holdoutR2[k] = score(part, part.weights(l), hx, hy, held.length, p, q, "holdout");
  });
  const best = bestLambda(lambdas, holdoutR2);
  const lambda = lambdas[best];
  let r2 = holdoutR2[best];
  let testExamples = 0;
  if (options.test) {
    const [mt, pt] = exampleShape(options.test.x);
    const [mty, qt] = exampleShape(options.test.y);
    if (mt !== mty) throw new RangeError(`invalid test example counts: ${mt} and ${mty}`);
    if (pt !== p || qt !== q) throw new RangeError(`invalid test features: [${pt}, ${qt}], training has [${p}, ${q}]`);
    const whole = ridgeProblem(Float64Array.from(x.data), Float64Array.from(y.data), m, p, q);
    r2 = score(whole, whole.weights(lambda), options.test.x.data, options.test.y.data, mt, p, q, "test");
    testExamples = mt;
  }
  return {
    r2,
    scoredOn: options.test ? "test" : "holdout",
    lambda,
    holdoutR2,
    fitExamples: fit.length,
    holdoutExamples: held.length,
    testExamples,
    p,
    q,
    settings: { lambdas, holdoutEvery: every, standardise: "fit-mean-std+1e-5", intercept: "unpenalised", r2: "pooled-over-outputs" },
  };
}

/** Predictivity both ways between two sites. */
export interface PredictivityBoth {
  /** Y predicted from X. */
  xToY: PredictivityResult;
  /** X predicted from Y. */
  yToX: PredictivityResult;
}

/**
 * {@link predictivity} in both directions, with the same options (a test split is swapped too).
 * @example const {xToY, yToX} = predictivityBoth(x, y); // usually xToY.r2 ≠ yToX.r2
 */
export function predictivityBoth(x: Tensor, y: Tensor, options: PredictivityOptions = {}): PredictivityBoth {
  const back = options.test ? { ...options, test: { x: options.test.y, y: options.test.x } } : options;
  return { xToY: predictivity(x, y, options), yToX: predictivity(y, x, back) };
}
