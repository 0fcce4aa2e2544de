/**
 * Orthogonal Procrustes distance and the angular shape metric (Williams et al. 2021; Ding et al.
 * 2021) from the examples' Grams alone: ‖XᵀY‖_* = Σ √λᵢ(K^{1/2} L K^{1/2}), since the squared
 * singular values of XᵀY are the non-zero eigenvalues of K·L. No p×q matrix is ever formed,
 * so p and q may be far larger than m.
 */
import type { FloatArray } from "../../src/tensor.js";
import { centre, gramSide } from "../../src/numeric/hsic.js";
import { symmetricEigen, type SymmetricEigen } from "../../src/numeric/linalg.js";
import { matmulTransB, rowSet } from "../../src/numeric/matmul.js";

/** Options of {@link procrustes}. */
export interface ProcrustesOptions {
  /**
   * Double-centre the Grams first (HKH, the Gram of column-centred features). Default true; a
   * Gram already centred is left as it is up to rounding. Williams et al. centre the features.
   */
  centre?: boolean;
}

/** Procrustes distance, angle and the norms they come from, with the settings used. */
export interface ProcrustesValue {
  /** √(2 − 2ρ), ρ = ‖XᵀY‖_* ÷ (‖X‖_F‖Y‖_F): the Procrustes distance of unit-Frobenius X and Y, in [0, 2]. */
  distance: number;
  /** arccos ρ in radians, in [0, π/2] for ρ ≥ 0: the angular shape metric. */
  angle: number;
  /** ‖XᵀY‖_*, the nuclear norm. */
  nuclear: number;
  /** ‖X‖_F = √tr K and ‖Y‖_F = √tr L. */
  normX: number;
  normY: number;
  centre: boolean;
  examples: number;
}

/**
 * Eigenvalues below m·ε·λ_max are treated as 0: rounding leaves the null space of a rank-p
 * Gram with eigenvalues of order ε·λ_max (either sign), and their square roots (~√ε) would
 * otherwise swamp the nuclear norm.
 */
function floor(e: SymmetricEigen, m: number): Float64Array {
  const top = Math.max(0, e.values[0] ?? 0);
  const tol = m * Number.EPSILON * top;
  return e.values.map((v) => (v > tol ? v : 0));
}

/**
 * Orthogonal Procrustes distance and angular shape metric of two representations of the same m
 * examples, from their m×m Grams K = XXᵀ and L = YYᵀ of column-centred features (centred here
 * unless `centre: false`). ‖XᵀY‖_* comes from the eigenvalues of K^{1/2}·L·K^{1/2}, K^{1/2} from
 * K's eigendecomposition (negative eigenvalues from rounding set to 0). The Gram route squares
 * the singular values, so a singular value of XᵀY below about √(mε)·σ_max is lost.
 * @example procrustes(gram(x), gram(y)).distance // 0 when Y = c·X·Q, Q orthogonal
 */
export function procrustes(k: FloatArray, l: FloatArray, options: ProcrustesOptions = {}): ProcrustesValue {
  const m = gramSide(k);
  if (gramSide(l) !== m) throw new RangeError(`invalid Grams: ${m}×${m} and ${gramSide(l)}×${gramSide(l)}`);
  if (m < 1) throw new RangeError("invalid Grams: no examples");
  const doCentre = options.centre ?? true;
  const K = doCentre ? centre(k) : Float64Array.from(k);
  const L = doCentre ? centre(l) : Float64Array.from(l);
  let trK = 0, trL = 0;
  for (let i = 0; i < m; i++) {
    trK += K[i * m + i];
    trL += L[i * m + i];
  }
  if (!(trK > 0) || !(trL > 0)) throw new RangeError(`invalid Grams: trace ${trK} and ${trL} (a representation with ‖X‖_F = 0 has no shape)`);
  const ek = symmetricEigen({ data: K, shape: [m, m] });
  const roots = floor(ek, m).map(Math.sqrt);
  // K^{1/2} = V·diag(√λ)·Vᵀ: the rows of V·diag(√λ) times Vᵀ, an A·Bᵀ product with B = V.
  const V = ek.vectors.data;
  const VS = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) VS[i * m + j] = V[i * m + j] * roots[j];
  const half = matmulTransB(rowSet(VS, m, m), rowSet(V, m, m));
  // K^{1/2}·L·K^{1/2}: both factors symmetric, so each product is an A·Bᵀ of the kernel.
  const hl = matmulTransB(rowSet(half, m, m), rowSet(L, m, m));
  const mid = matmulTransB(rowSet(hl, m, m), rowSet(half, m, m));
  const em = symmetricEigen({ data: mid, shape: [m, m] });
  let nuclear = 0;
  for (const v of floor(em, m)) nuclear += Math.sqrt(v);
  const normX = Math.sqrt(trK), normY = Math.sqrt(trL);
  const rho = nuclear / (normX * normY);
  return {
    distance: Math.sqrt(Math.max(0, 2 - 2 * rho)),
    angle: Math.acos(Math.min(1, Math.max(-1, rho))),
    nuclear, normX, normY, centre: doCentre, examples: m,
  };
}
