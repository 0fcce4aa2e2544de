/**
 * Canonical correlation analysis between two representations of the same m examples, from
 * their covariance blocks only (p × p, q × q, p × q), so the engine can later merge the blocks
 * across batches without keeping the examples. Route: each block scaled to a correlation matrix
 * (CCA is invariant to it, and it keeps the Cholesky pivots near 1), Cholesky whitening
 * M = Lx⁻¹ Rxy Ly⁻ᵀ, and the canonical correlations as the square roots of the eigenvalues of
 * the smaller Gram of M (Kornblith et al. 2019 §3; Hotelling 1936).
 */
import type { Tensor } from "../../src/tensor.js";
import { exampleShape, columnMeans } from "../../src/numeric/gram.js";
import { cholesky, symmetricEigen } from "../../src/numeric/linalg.js";
import { columnGram, rowSet } from "../../src/numeric/matmul.js";

/** Second-moment blocks of two representations (centred or not), float64 row-major. */
export interface CovarianceBlocks {
  /** Xᵀ X, p × p. */
  xx: Float64Array;
  /** Yᵀ Y, q × q. */
  yy: Float64Array;
  /** Xᵀ Y, p × q. */
  xy: Float64Array;
  p: number;
  q: number;
  m: number;
  centre: boolean;
}

/** A CCA solution: correlations, and the whitening factors the variates are built from. */
export interface CanonicalSolution {
  /** ρ₁ ≥ … ≥ ρ_k, k = min(p, q). */
  correlations: Float64Array;
  /** √diag(Xᵀ X) and √diag(Yᵀ Y): the scaling to correlation matrices. */
  scaleX: Float64Array;
  scaleY: Float64Array;
  /** Cholesky factors of the correlation-scaled Xᵀ X and Yᵀ Y. */
  lx: Float64Array;
  ly: Float64Array;
  /** The whitened cross-covariance M = Lx⁻¹ Rxy Ly⁻ᵀ, p × q. */
  whitened: Float64Array;
}

/**
 * The blocks Xᵀ X, Yᵀ Y, Xᵀ Y of two tensors (example axis first, flattened per example), after
 * subtracting the column means when `centre`. One Gram of the joined columns [X | Y] on the
 * blocked kernel gives all three.
 * @example covarianceBlocks(x, y, true).xy // p × q
 */
export function covarianceBlocks(x: Tensor, y: Tensor, centre: boolean): CovarianceBlocks {
  const [m, p] = exampleShape(x);
  const [my, q] = exampleShape(y);
  if (m !== my) throw new RangeError(`invalid example counts: ${m} and ${my}`);
  const w = p + q;
  const joined = new Float64Array(m * w);
  const mx = centre ? columnMeans(x) : new Float64Array(p);
  const mY = centre ? columnMeans(y) : new Float64Array(q);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < p; j++) joined[i * w + j] = x.data[i * p + j] - mx[j];
    for (let j = 0; j < q; j++) joined[i * w + p + j] = y.data[i * q + j] - mY[j];
  }
  const G = columnGram(rowSet(joined, m, w));
  const xx = new Float64Array(p * p);
  const yy = new Float64Array(q * q);
  const xy = new Float64Array(p * q);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j < p; j++) xx[i * p + j] = G[i * w + j];
    for (let j = 0; j < q; j++) xy[i * q + j] = G[i * w + p + j];
  }
  for (let i = 0; i < q; i++) for (let j = 0; j < q; j++) yy[i * q + j] = G[(p + i) * w + p + j];
  return { xx, yy, xy, p, q, m, centre };
}

/** L⁻¹ B for lower-triangular L (n × n) and B (n × c), by forward substitution. */
export function solveLower(L: Float64Array, B: Float64Array, n: number, c: number): Float64Array {
  const X = Float64Array.from(B);
  // In blocks of 64 columns, so a block's n rows stay in cache through the n²/2 row updates; each
  // column sees the same operations in the same order as unblocked, so the result is bit for bit.
  for (let t0 = 0; t0 < c; t0 += 64) {
    const t1 = Math.min(c, t0 + 64);
    for (let i = 0; i < n; i++) {
      const ri = i * c;
      for (let k = 0; k < i; k++) {
        const l = L[i * n + k];
        if (l === 0) continue;
        const rk = k * c;
        for (let t = t0; t < t1; t++) X[ri + t] -= l * X[rk + t];
      }
      const d = L[i * n + i];
      for (let t = t0; t < t1; t++) X[ri + t] /= d;
    }
  }
  return X;
}

/** √diag of a square block; a zero-variance feature makes CCA undefined, so it is an error. */
function diagonalScale(a: Float64Array, n: number, name: string): Float64Array {
  const s = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const v = a[j * n + j];
    if (!(v > 0)) throw new RangeError(`invalid ${name}: feature ${j} has zero variance (CCA needs full-rank features)`);
    s[j] = Math.sqrt(v);
  }
  return s;
}

function whiteningFactor(a: Float64Array, s: Float64Array, n: number, name: string): Float64Array {
  const R = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) R[i * n + j] = a[i * n + j] / (s[i] * s[j]);
  try {
    return cholesky({ data: R, shape: [n, n] }).data;
  } catch (e) {
    if (e instanceof RangeError) throw new RangeError(`invalid ${name}: its ${n} features are linearly dependent (rank-deficient covariance); reduce them first, e.g. with svcca`);
    throw e;
  }
}

/** Mᵀ of a p × q matrix. */
export function transpose(a: Float64Array, r: number, c: number): Float64Array {
  const t = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) t[j * r + i] = a[i * c + j];
  return t;
}

/** A Aᵀ of an r × c matrix (r × r). */
export function outerGram(a: Float64Array, r: number, c: number): Float64Array {
  const g = new Float64Array(r * r);
  for (let i = 0; i < r; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let t = 0; t < c; t++) s += a[i * c + t] * a[j * c + t];
    g[i * r + j] = s;
    g[j * r + i] = s;
  }
  return g;
}

/** Square roots of the top k eigenvalues of a Gram, clipped into [0, 1] against rounding. */
export function correlationsOf(values: Float64Array, k: number): Float64Array {
  const rho = new Float64Array(k);
  for (let i = 0; i < k; i++) rho[i] = Math.sqrt(Math.min(1, Math.max(0, values[i])));
  return rho;
}

/**
 * Canonical correlations from covariance blocks (see the module comment for the route).
 * @example canonicalSolution(covarianceBlocks(x, y, true)).correlations
 */
export function canonicalSolution(b: CovarianceBlocks): CanonicalSolution {
  const { p, q } = b;
  const scaleX = diagonalScale(b.xx, p, "X");
  const scaleY = diagonalScale(b.yy, q, "Y");
  const lx = whiteningFactor(b.xx, scaleX, p, "X");
  const ly = whiteningFactor(b.yy, scaleY, q, "Y");
  const Rxy = new Float64Array(p * q);
  for (let i = 0; i < p; i++) for (let j = 0; j < q; j++) Rxy[i * q + j] = b.xy[i * q + j] / (scaleX[i] * scaleY[j]);
  const T = solveLower(lx, Rxy, p, q);
  // M = T Ly⁻ᵀ, i.e. Mᵀ = Ly⁻¹ Tᵀ.
  const whitened = transpose(solveLower(ly, transpose(T, p, q), q, p), q, p);
  const k = Math.min(p, q);
  const gram = p <= q ? outerGram(whitened, p, q) : outerGram(transpose(whitened, p, q), q, p);
  const values = symmetricEigen({ data: gram, shape: [k, k] }).values;
  return { correlations: correlationsOf(values, k), scaleX, scaleY, lx, ly, whitened };
}

/** Throws the RangeError CCA needs when p ≥ m or q ≥ m. */
export function requireFewerFeatures(p: number, q: number, m: number, measure: string): void {
  if (p >= m || q >= m) {
    throw new RangeError(`invalid ${measure}: p = ${p}, q = ${q} features for m = ${m} examples; CCA needs p < m and q < m (it is degenerate otherwise: every ρ is 1). Pool the representation (cls, gap) or reduce it first`);
  }
}

/** Options of {@link cca}. */
export interface CCAOptions {
  /**
   * Subtract the column means first (default true). `false` reproduces Kornblith et al.'s demo,
   * which runs CCA on the raw X and Y: the QR factors of the uncentred matrices, i.e. the
   * second moments Xᵀ X, Yᵀ Y, Xᵀ Y in place of covariances (0.54312 against 0.54540 centred).
   */
  centre?: boolean;
}

/** CCA between two representations, stamped with the settings used. */
export interface CCAResult {
  /** ρ₁ ≥ … ≥ ρ_k, k = min(p, q). */
  correlations: Float64Array;
  /** Mean of ρᵢ² over the k directions ("mean CCA R²", Kornblith et al. 2019). */
  meanR2: number;
  /** Mean of ρᵢ over the k directions. */
  meanRho: number;
  p: number;
  q: number;
  m: number;
  settings: { centre: boolean };
}

/**
 * Canonical correlations between X (m × p) and Y (m × q), example axis first, each example
 * flattened. Needs p < m and q < m (RangeError otherwise) and full-rank features. Symmetric in
 * X and Y; invariant to invertible linear maps of either (and to shifts when centred).
 * @example cca(x, y).meanR2 // 0.5454 on Kornblith's demo arrays; cca(x, y, {centre: false}).meanR2 // 0.54312
 */
export function cca(x: Tensor, y: Tensor, options: CCAOptions = {}): CCAResult {
  const centre = options.centre ?? true;
  const [m, p] = exampleShape(x);
  const [my, q] = exampleShape(y);
  if (m !== my) throw new RangeError(`invalid example counts: ${m} and ${my}`);
  requireFewerFeatures(p, q, m, "cca");
  const { correlations } = canonicalSolution(covarianceBlocks(x, y, centre));
  return { correlations, ...means(correlations), p, q, m, settings: { centre } };
}

/** Mean ρ² and mean ρ of a list of canonical correlations. */
export function means(rho: Float64Array): { meanR2: number; meanRho: number } {
  let s = 0;
  let s2 = 0;
  for (const r of rho) {
    s += r;
    s2 += r * r;
  }
  return { meanR2: s2 / rho.length, meanRho: s / rho.length };
}
