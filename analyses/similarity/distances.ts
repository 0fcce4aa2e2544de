/**
 * Squared Euclidean distances between examples from their linear Gram, shared by the RBF kernel
 * and the nearest-neighbour measures: no feature matrix is needed, so in-graph Grams work too.
 */
import type { FloatArray } from "../../src/tensor.js";
import { gramSide } from "../../src/numeric/hsic.js";

/**
 * D²[i, j] = K[i, i] + K[j, j] − 2·K[i, j] (m×m, float64) of a linear Gram K = X·Xᵀ, of
 * features centred or not (distances are shift invariant). The diagonal is exactly 0.
 * @example squaredDistances(gram(x))[0 * m + 1] // ‖x₀ − x₁‖²
 */
export function squaredDistances(k: FloatArray): Float64Array {
  const m = gramSide(k);
  const d = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    const kii = k[i * m + i];
    for (let j = 0; j < m; j++) {
      const v = kii + k[j * m + j] - 2 * k[i * m + j];
      // For near-duplicate examples the three terms nearly cancel and rounding can leave a tiny
      // negative value; a squared distance is never negative, and its square root must not be NaN.
      d[i * m + j] = v > 0 ? v : 0;
    }
    d[i * m + i] = 0;
  }
  return d;
}
