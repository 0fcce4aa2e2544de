import type { FloatArray } from "../../src/tensor.js";
import { gramSide } from "../../src/numeric/hsic.js";

/**
 * Unbiased HSIC₁ by the trace formula of Song et al. 2012 / Nguyen et al. 2021 (eq. 3):
 * [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − (2/(n−2)) 1ᵀK̃L̃1] / (n(n−3)), K̃, L̃ with zero
 * diagonals. Same value as `hsic1` (src/numeric/hsic.ts) on U-centred Grams; the independent form tests check it against.
 * @example hsic1Trace(gram(x), gram(y))
 */
export function hsic1Trace(k: FloatArray, l: FloatArray): number {
  const n = gramSide(k);
  if (gramSide(l) !== n) throw new RangeError(`invalid Gram sizes: ${n} and ${gramSide(l)}`);
  if (n < 4) throw new RangeError(`invalid batch size: ${n} (the unbiased HSIC needs n ≥ 4)`);
  let trace = 0;
  let sumK = 0;
  let sumL = 0;
  const rowK = new Float64Array(n);
  const rowL = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const kij = k[i * n + j];
      const lij = l[i * n + j];
      trace += kij * l[j * n + i];
      rowK[i] += kij;
      rowL[i] += lij;
    }
    sumK += rowK[i];
    sumL += rowL[i];
  }
  // 1ᵀK̃L̃1 = Σ_j (K̃1)_j (L̃1)_j for symmetric K̃.
  let cross = 0;
  for (let i = 0; i < n; i++) cross += rowK[i] * rowL[i];
  return (trace + (sumK * sumL) / ((n - 1) * (n - 2)) - (2 / (n - 2)) * cross) / (n * (n - 3));
}
