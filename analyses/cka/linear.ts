import type { FloatArray, Tensor } from "../../src/tensor.js";
import { gram, exampleShape } from "../../src/numeric/gram.js";
import { gramSide, hsic0, hsic1, uCentre } from "../../src/numeric/hsic.js";
import { matmulTransB, rowsOf } from "../../src/numeric/matmul.js";

/** CKA estimator ids (METHODS.md §1). */
export type Estimator = "minibatch-unbiased" | "full-biased" | "full-debiased";

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
