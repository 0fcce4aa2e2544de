import { uniform } from "../../src/numeric/random.js";
import type { Tensor } from "../../src/tensor.js";

/** Seeded standard-normal samples (Box–Muller) as a Float64 tensor of the given shape. Test helper. */
export function gaussian(shape: number[], seed: number): Tensor<Float64Array> {
  const u = uniform(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const t = 2 * Math.PI * u();
    data[i] = r * Math.cos(t);
    if (i + 1 < n) data[i + 1] = r * Math.sin(t);
  }
  return { data, shape };
}

/** A seeded random p×p orthogonal matrix (row-major): Gram–Schmidt on Gaussian columns. Test helper. */
export function orthogonal(p: number, seed: number): Float64Array {
  const g = gaussian([p, p], seed).data;
  const q = new Float64Array(p * p);
  for (let c = 0; c < p; c++) {
    for (let r = 0; r < p; r++) q[r * p + c] = g[r * p + c];
    for (let d = 0; d < c; d++) {
      let dot = 0;
      for (let r = 0; r < p; r++) dot += q[r * p + c] * q[r * p + d];
      for (let r = 0; r < p; r++) q[r * p + c] -= dot * q[r * p + d];
    }
    let n = 0;
    for (let r = 0; r < p; r++) n += q[r * p + c] ** 2;
    for (let r = 0; r < p; r++) q[r * p + c] /= Math.sqrt(n);
  }
  return q;
}

/** |a − b| ≤ tol·max(|b|, tiny): relative closeness for typed arrays or numbers. */
export function relErr(a: ArrayLike<number> | number, b: ArrayLike<number> | number): number {
  const x = typeof a === "number" ? [a] : Array.from(a);
  const y = typeof b === "number" ? [b] : Array.from(b);
  if (x.length !== y.length) return Infinity;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]) / Math.max(Math.abs(y[i]), 1e-300));
  return m;
}
