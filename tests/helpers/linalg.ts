/** Plain matrix products for checking factorisations in tests (the product code never needs them). */
import type { Matrix } from "../../src/numeric/linalg.js";

/**
 * The product A B of an m × k and a k × n matrix.
 * @example product(matrix(1, 2, [1, 2]), matrix(2, 1, [3, 4])).data // [11]
 */
export function product(a: Matrix, b: Matrix): Matrix {
  const [m, k] = a.shape;
  const [kb, n] = b.shape;
  if (k !== kb) throw new RangeError(`invalid product: [${a.shape}] × [${b.shape}]`);
  const A = a.data;
  const B = b.data;
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const x = A[i * k + p];
      if (x === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) C[ci + j] += x * B[bp + j];
    }
  }
  return { data: C, shape: [m, n] };
}

/**
 * Transpose of a matrix.
 * @example transpose(matrix(1, 2, [1, 2])).shape // [2, 1]
 */
export function transpose(a: Matrix): Matrix {
  const [m, n] = a.shape;
  const T = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) T[j * m + i] = a.data[i * n + j];
  return { data: T, shape: [n, m] };
}
