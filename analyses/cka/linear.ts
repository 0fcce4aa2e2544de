import type { Tensor } from "../../src/tensor.js";
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
  if (est !== "minibatch-unbiased") {
    if (options.batch !== undefined && options.batch !== m) {
      throw new RangeError(`invalid batch: ${options.batch} (${est} uses one batch of all ${m} examples)`);
    }
    const k = gram(x, { centre: doCentre });
    const l = gram(y, { centre: doCentre });
    let xy: number, xx: number, yy: number;
    if (est === "full-biased") {
      xy = hsic0(k, l); xx = hsic0(k, k); yy = hsic0(l, l);
    } else {
      const uk = uCentre(k), ul = uCentre(l);
      xy = hsic1(uk, ul); xx = hsic1(uk, uk); yy = hsic1(ul, ul);
    }
    return { cka: xy / Math.sqrt(xx * yy), hsicXY: xy, hsicXX: xx, hsicYY: yy, estimator: est, batch: m, batches: 1, examples: m, dropped: 0 };
  }
  const n = options.batch ?? m;
  if (!Number.isInteger(n) || n < 4) throw new RangeError(`invalid batch: ${n} (minibatch-unbiased needs n ≥ 4)`);
  const batches = Math.floor(m / n);
  if (batches === 0) throw new RangeError(`invalid batch: ${n} (only ${m} examples)`);
  let xy = 0, xx = 0, yy = 0;
  for (let b = 0; b < batches; b++) {
    const xb = { data: x.data.subarray(b * n * p, (b + 1) * n * p), shape: [n, p] };
    const yb = { data: y.data.subarray(b * n * q, (b + 1) * n * q), shape: [n, q] };
    const uk = uCentre(gram(xb, { centre: doCentre }));
    const ul = uCentre(gram(yb, { centre: doCentre }));
    xy += hsic1(uk, ul); xx += hsic1(uk, uk); yy += hsic1(ul, ul);
  }
  return { cka: xy / Math.sqrt(xx * yy), hsicXY: xy, hsicXX: xx, hsicYY: yy, estimator: est, batch: n, batches, examples: batches * n, dropped: m - batches * n };
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
