/**
 * PWCCA (Morcos, Raghu & Bengio 2018): the mean of the canonical correlations weighted by how
 * much of the representation each canonical variate accounts for, αᵢ ∝ Σⱼ |⟨hᵢ, xⱼ⟩|, with hᵢ
 * the unit-norm canonical variates of X and xⱼ the (centred) activation vector of feature j.
 * From the CCA solution of cca.ts: with X scaled to correlations by D = diag(√(XᵀX)ⱼⱼ) and
 * whitened by Lx, hᵢ = X D⁻¹ Lx⁻ᵀ uᵢ (uᵢ the i-th left singular vector of the whitened
 * cross-covariance M), so ⟨hᵢ, xⱼ⟩ = Dⱼ (Lx uᵢ)ⱼ and no m-vector is ever formed.
 */
import type { Tensor } from "../../src/tensor.js";
import { exampleShape } from "../../src/numeric/gram.js";
import { symmetricEigen } from "../../src/numeric/linalg.js";
import { canonicalSolution, covarianceBlocks, means, outerGram, requireFewerFeatures, transpose } from "./cca.js";

/** Options of {@link pwcca}. */
export interface PWCCAOptions {
  /** Subtract the column means first (default true), as in {@link cca}. */
  centre?: boolean;
}

/** PWCCA between two representations, both directions, stamped with the settings used. */
export interface PWCCAResult {
  /** PWCCA weighted by X's canonical variates (X is the first argument): Σ αᵢ ρᵢ. */
  pwcca: number;
  /** The same weighted by Y's canonical variates. */
  pwccaYX: number;
  /** Canonical correlations ρ₁ ≥ … ≥ ρ_k, k = min(p, q). */
  correlations: Float64Array;
  /** αᵢ from X's and from Y's variates, each summing to 1, in the order of `correlations`. */
  weightsX: Float64Array;
  weightsY: Float64Array;
  /** The unweighted mean ρ, for comparison. */
  meanRho: number;
  p: number;
  q: number;
  m: number;
  settings: { centre: boolean };
}

/** αᵢ = Σⱼ Dⱼ |(L uᵢ)ⱼ|, normalised; U holds the top k eigenvectors of the n × n Gram as columns. */
function projectionWeights(gram: Float64Array, L: Float64Array, D: Float64Array, n: number, k: number): Float64Array {
  const U = symmetricEigen({ data: gram, shape: [n, n] }).vectors.data;
  const w = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) {
      let lu = 0;
      for (let t = 0; t <= j; t++) lu += L[j * n + t] * U[t * n + i];
      s += D[j] * Math.abs(lu);
    }
    w[i] = s;
    total += s;
  }
  for (let i = 0; i < k; i++) w[i] /= total;
  return w;
}

function weighted(w: Float64Array, rho: Float64Array): number {
  let s = 0;
  for (let i = 0; i < rho.length; i++) s += w[i] * rho[i];
  return s;
}

/**
 * PWCCA between X (m × p) and Y (m × q), example axis first, each example flattened; needs
 * p < m and q < m. Asymmetric: `pwcca` weights by X's variates, `pwccaYX` by Y's (Morcos et al.
 * weight by the side with fewer features; pick the field that matches). When p ≠ q only the k =
 * min(p, q) paired variates are weighted. Invariant to isotropic scaling, feature permutations
 * and sign flips; not to rotations of the features (the weights are L1 over features), nor to
 * general invertible maps. Repeated canonical correlations leave the variates, hence the
 * weights, undetermined within their subspace.
 * @example pwcca(x, y).pwcca // projection-weighted mean canonical correlation, X's variates
 */
export function pwcca(x: Tensor, y: Tensor, options: PWCCAOptions = {}): PWCCAResult {
  const centre = options.centre ?? true;
  const [m, p] = exampleShape(x);
  const [my, q] = exampleShape(y);
  if (m !== my) throw new RangeError(`invalid example counts: ${m} and ${my}`);
  requireFewerFeatures(p, q, m, "pwcca");
  const s = canonicalSolution(covarianceBlocks(x, y, centre));
  const k = Math.min(p, q);
  const weightsX = projectionWeights(outerGram(s.whitened, p, q), s.lx, s.scaleX, p, k);
  const weightsY = projectionWeights(outerGram(transpose(s.whitened, p, q), q, p), s.ly, s.scaleY, q, k);
  return {
    pwcca: weighted(weightsX, s.correlations),
    pwccaYX: weighted(weightsY, s.correlations),
    correlations: s.correlations,
    weightsX,
    weightsY,
    meanRho: means(s.correlations).meanRho,
    p,
    q,
    m,
    settings: { centre },
  };
}
