/**
 * SVCCA (Raghu et al. 2017): keep the top singular directions of each centred representation,
 * then CCA between the reduced ones. The singular directions come from the eigenvectors of the
 * p × p covariance (XᵀX = V S² Vᵀ), and the reduced blocks follow without revisiting the rows:
 * (XV)ᵀ(XV) = S², (XV)ᵀ(YW) = Vᵀ XᵀY W.
 */
import type { Tensor } from "../../src/tensor.js";
import { exampleShape } from "../../src/numeric/gram.js";
import { symmetricEigen } from "../../src/numeric/linalg.js";
import { canonicalSolution, covarianceBlocks, means, requireFewerFeatures, type CovarianceBlocks } from "./cca.js";

/** Options of {@link svcca}. */
export interface SVCCAOptions {
  /**
   * Keep the fewest top directions whose share of the variance (Σ of the kept s², over Σ s²)
   * reaches this fraction (default 0.99, the paper's), separately for X and Y.
   */
  variance?: number;
  /** Keep exactly this many directions of each instead (overrides `variance`). */
  keep?: number;
}

/** SVCCA between two representations, stamped with the settings used. */
export interface SVCCAResult {
  /** Canonical correlations of the reduced representations, descending, min(keptX, keptY). */
  correlations: Float64Array;
  /** Mean ρ: the SVCCA similarity of Raghu et al. 2017. */
  meanRho: number;
  /** Mean ρ². */
  meanR2: number;
  /** Directions kept of X and of Y. */
  keptX: number;
  keptY: number;
  /** Share of the variance the kept directions explain. */
  varianceX: number;
  varianceY: number;
  p: number;
  q: number;
  m: number;
  settings: { variance: number; keep: number | null; centre: true };
}

interface Reduction {
  kept: number;
  share: number;
  /** p × kept: the kept right singular vectors as columns. */
  vectors: Float64Array;
  /** The kept s² (variances × m). */
  values: Float64Array;
}

function reduction(cov: Float64Array, p: number, variance: number, keep: number | undefined, name: string): Reduction {
  const { values, vectors } = symmetricEigen({ data: cov, shape: [p, p] });
  let total = 0;
  for (const v of values) total += Math.max(v, 0);
  let kept = keep ?? 0;
  if (keep === undefined) {
    let acc = 0;
    while (kept < p && acc < variance * total) acc += Math.max(values[kept++], 0);
  }
  if (kept > p) throw new RangeError(`invalid keep: ${kept} directions of ${name}, which has ${p} features`);
  // A kept direction without variance would enter CCA as noise scaled up to unit variance.
  if (kept > 0 && !(values[kept - 1] > total * 1e-12)) throw new RangeError(`invalid keep: ${kept} directions of ${name}, whose centred features have rank below ${kept}`);
  let share = 0;
  const V = new Float64Array(p * kept);
  for (let c = 0; c < kept; c++) {
    share += Math.max(values[c], 0);
    for (let r = 0; r < p; r++) V[r * kept + c] = vectors.data[r * p + c];
  }
  return { kept, share: share / total, vectors: V, values: values.slice(0, kept) };
}

/** Aᵀ B C for A (p × a), B (p × q), C (q × c). */
function sandwich(A: Float64Array, B: Float64Array, C: Float64Array, p: number, q: number, a: number, c: number): Float64Array {
  const BC = new Float64Array(p * c);
  for (let i = 0; i < p; i++) for (let t = 0; t < q; t++) {
    const b = B[i * q + t];
    if (b === 0) continue;
    for (let j = 0; j < c; j++) BC[i * c + j] += b * C[t * c + j];
  }
  const out = new Float64Array(a * c);
  for (let i = 0; i < p; i++) for (let r = 0; r < a; r++) {
    const v = A[i * a + r];
    if (v === 0) continue;
    for (let j = 0; j < c; j++) out[r * c + j] += v * BC[i * c + j];
  }
  return out;
}

function diagonal(values: Float64Array): Float64Array {
  const k = values.length;
  const d = new Float64Array(k * k);
  for (let i = 0; i < k; i++) d[i * k + i] = values[i];
  return d;
}

/**
 * SVCCA between X (m × p) and Y (m × q), example axis first, each example flattened; always on
 * centred features. p and q may exceed m (the reduction is recorded in keptX, keptY); `keep`
 * beyond the rank of the centred features (at most m − 1) is a RangeError. Symmetric; invariant to
 * orthogonal maps and isotropic scaling of either side, not to general invertible maps (they
 * change which directions carry the variance).
 * @example svcca(x, y).meanRho // mean canonical correlation over the directions keeping 99% of the variance
 * @example svcca(x, y, {keep: 20}).keptX // 20
 */
export function svcca(x: Tensor, y: Tensor, options: SVCCAOptions = {}): SVCCAResult {
  const variance = options.variance ?? 0.99;
  const keep = options.keep;
  if (!(variance > 0 && variance <= 1)) throw new RangeError(`invalid variance: ${variance} (a fraction in (0, 1])`);
  if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) throw new RangeError(`invalid keep: ${keep} (a positive integer)`);
  const [m, p] = exampleShape(x);
  const [my, q] = exampleShape(y);
  if (m !== my) throw new RangeError(`invalid example counts: ${m} and ${my}`);
  const b = covarianceBlocks(x, y, true);
  const rx = reduction(b.xx, p, variance, keep, "X");
  const ry = reduction(b.yy, q, variance, keep, "Y");
  requireFewerFeatures(rx.kept, ry.kept, m, "svcca (kept directions)");
  const reduced: CovarianceBlocks = {
    xx: diagonal(rx.values),
    yy: diagonal(ry.values),
    xy: sandwich(rx.vectors, b.xy, ry.vectors, p, q, rx.kept, ry.kept),
    p: rx.kept,
    q: ry.kept,
    m,
    centre: true,
  };
  const { correlations } = canonicalSolution(reduced);
  return {
    correlations,
    ...means(correlations),
    keptX: rx.kept,
    keptY: ry.kept,
    varianceX: rx.share,
    varianceY: ry.share,
    p,
    q,
    m,
    settings: { variance, keep: keep ?? null, centre: true },
  };
}
