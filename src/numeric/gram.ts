import type { Tensor } from "../tensor.js";
import { matmulTransB, rowSet } from "./matmul.js";

/** Options of {@link gram}. */
export interface GramOptions {
  /**
   * Subtract the batch's column means from the features first. HSIC₁ and centred HSIC are
   * shift invariant (METHODS.md §1), so this changes no CKA value; it reduces cancellation.
   */
  centre?: boolean;
}

/** Rows (examples) and flattened features of a tensor whose first axis is the example axis. */
export function exampleShape(x: Tensor): [number, number] {
  if (x.shape.length < 1) throw new RangeError(`invalid shape [${x.shape}]: needs an example axis`);
  const n = x.shape[0];
  const p = n === 0 ? 0 : x.data.length / n;
  if (!Number.isInteger(p)) throw new RangeError(`invalid shape [${x.shape}] for ${x.data.length} elements`);
  return [n, p];
}

/**
 * Column means of the n × p matrix of flattened examples, in float64.
 * @example columnMeans({data: new Float64Array([1, 2, 3, 4]), shape: [2, 2]}) // [2, 3]
 */
export function columnMeans(x: Tensor): Float64Array {
  const [n, p] = exampleShape(x);
  const m = new Float64Array(p);
  const d = x.data;
  for (let i = 0; i < n; i++) {
    const o = i * p;
    for (let j = 0; j < p; j++) m[j] += d[o + j];
  }
  for (let j = 0; j < p; j++) m[j] /= n;
  return m;
}

/**
 * Linear Gram matrix K = X Xᵀ (n × n, float64, row-major) of a tensor whose first axis is the
 * example axis; every example is flattened. Blocked float64 kernel (see matmul.ts); the engine
 * may compute the same product with onnxruntime's Gemm instead.
 * @example gram({data: new Float32Array([1, 0, 0, 1]), shape: [2, 2]}) // [1, 0, 0, 1]
 */
export function gram(x: Tensor, options: GramOptions = {}): Float64Array {
  const [n, p] = exampleShape(x);
  const means = options.centre ? columnMeans(x) : undefined;
  return matmulTransB(rowSet(x.data, n, p), undefined, { means });
}

/**
 * Cross Gram X Yᵀ (n₁ × n₂, float64) between two batches of the same site, e.g. an off-diagonal
 * block of the full m × m Gram. No centring: a per-batch shift would not be shared by both.
 * @example crossGram(x, y) // Float64Array of length x.shape[0] * y.shape[0]
 */
export function crossGram(x: Tensor, y: Tensor): Float64Array {
  const [n1, p1] = exampleShape(x);
  const [n2, p2] = exampleShape(y);
  if (p1 !== p2) throw new RangeError(`invalid feature sizes: ${p1} and ${p2}`);
  return matmulTransB(rowSet(x.data, n1, p1), rowSet(y.data, n2, p2));
}
