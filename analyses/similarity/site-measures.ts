/**
 * Site × site matrices of the measures beyond CKA from pooled features (pooled.ts): mean CCA R²,
 * SVCCA, PWCCA, Procrustes distance and angular shape metric, RSA, mutual kNN and linear
 * predictivity. Each site is decomposed once and each pair of sites then costs products of the
 * small per-site factors, never an m×m eigendecomposition per pair (at m = 1,000 one costs ~5 s
 * in JS):
 *
 * - CCA family and Procrustes: an orthonormal basis Q (m × r) of the centred features' column
 *   space, from the p×p covariance's eigenvectors (Q₁ = X_c V S⁻¹, then one Cholesky-QR step so
 *   Q is orthonormal to rounding), or from the m×m Gram when p ≥ m. The canonical correlations
 *   are the singular values of P = Q_xᵀ Q_y (Björck & Golub 1973); SVCCA's are those of P's
 *   leading block (Q is ordered by variance, and the triangular QR step keeps the span of each
 *   leading block); PWCCA's ⟨hᵢ, xⱼ⟩ = aᵢᵀ (Q_xᵀ X_c)ⱼ; and ‖X_cᵀ Y_c‖_* = ‖T_xᵀ P T_y‖_* with
 *   Q_xᵀ X_c = T_x V_xᵀ (Williams et al. 2021). P is computed once per pair and shared.
 * - RSA: each site's RDM upper triangle, centred (and its average ranks for Spearman), so a
 *   model's correlations are one Gram of the sites' stacked rows divided by their norms.
 * - Mutual kNN: each site's k nearest neighbours once; a pair counts shared ones.
 * - Predictivity: the fit part's XᵀX = V Λ Vᵀ once per predictor site; the holdout SSE of every
 *   λ then follows from r×q products (see `ridgeSite`), or n_f × n_f ones when q > n_f; when those
 *   go to the injected product, a group of sites' are one product of their stacked factors (`tiles`).
 *
 * Every product goes through `Steps` generators: `matrix` answers them with the JS kernel,
 * `matrixAsync` hands those of at least INJECTED_MIN multiply-adds to an injected float64 product
 * (the pipeline passes onnxruntime's Gemm, 10–20× the JS kernel's speed), one code path for both.
 * What stays in JS are the small eigendecompositions (tred2/tql2), Jacobi sweeps and RSA's ranks.
 * Measured (the finish alone on 12 synthetic sites of p = 64, m = 1,000, as the zoo's vit-tiny),
 * those are most of what is left: ranks ~40 ms a site, ~400 eigendecompositions of 64 × 64.
 */
import { cholesky, symmetricEigen, symmetricEigenvalues } from "../../src/numeric/linalg.js";
import { columnGram, matmulTransB, rowSet } from "../../src/numeric/matmul.js";
import { columnMoments } from "../../src/numeric/stats.js";
import { bestLambda, STD_EPSILON } from "../probes/ridge.js";
import { transpose } from "./cca.js";
import { averageRanks } from "./rsa.js";
import { DEFAULT_LAMBDAS } from "./predictivity.js";
import type { SiteFeatures } from "./pooled.js";

/** One product C = A·Bᵀ of dense row-major float64 matrices (A: rows × k, B: cols × k; B null: A·Aᵀ). */
export interface ProductRequest {
  a: Float64Array;
  rows: number;
  b: Float64Array | null;
  cols: number;
  k: number;
}

/**
 * A faster float64 product injected by the pipeline layer (onnxruntime's Gemm there; analyses stay
 * free of Node APIs, and without one the JS kernel of matmul.ts answers).
 */
export type Products = (request: ProductRequest) => Promise<Float64Array>;

/**
 * Products below this many multiply-adds stay on the JS kernel: an injected call costs ~0.1 ms
 * of overhead, the JS kernel ~1 ms per million.
 */
export const INJECTED_MIN = 1_000_000;

/** A computation that yields the products it needs and receives each C in turn. */
type Steps<T> = Generator<ProductRequest, T, Float64Array>;

function jsProduct(q: ProductRequest): Float64Array {
  return q.b === null ? matmulTransB(rowSet(q.a, q.rows, q.k)) : matmulTransB(rowSet(q.a, q.rows, q.k), rowSet(q.b, q.cols, q.k));
}

function* product(a: Float64Array, rows: number, b: Float64Array | null, cols: number, k: number): Steps<Float64Array> {
  return yield { a, rows, b, cols, k };
}

function runSteps<T>(g: Steps<T>): T {
  let r = g.next();
  while (!r.done) r = g.next(jsProduct(r.value));
  return r.value;
}

async function runStepsAsync<T>(g: Steps<T>, products: Products, minimum: number): Promise<T> {
  let r = g.next();
  while (!r.done) {
    const q = r.value;
    r = g.next(q.rows * q.cols * q.k >= minimum ? await products(q) : jsProduct(q));
  }
  return r.value;
}

/** The measures, by registered analysis id. */
export const MEASURES = ["cca", "svcca", "pwcca", "procrustes", "rsa", "mutual-knn", "predictivity"] as const;
export type Measure = (typeof MEASURES)[number];

/** The values each measure writes (one matrix each); the first is the one a report shows first. */
export const MEASURE_VALUES: Record<Measure, readonly string[]> = {
  cca: ["mean-r2"],
  svcca: ["mean-rho"],
  pwcca: ["pwcca"],
  procrustes: ["angle", "distance"],
  rsa: ["spearman", "pearson"],
  "mutual-knn": ["alignment"],
  predictivity: ["r2", "lambda"],
};

/** Asymmetric measures: M[i][j] is read "row i against (or predicting) column j". */
export const ASYMMETRIC: ReadonlySet<Measure> = new Set(["pwcca", "predictivity"]);

/** Options of the measures. */
export interface MeasureOptions {
  /** SVCCA: share of the variance kept (default 0.99) or exactly `svccaKeep` directions. */
  svccaVariance?: number;
  svccaKeep?: number | null;
  /** Mutual kNN: neighbours per example (default 10). */
  k?: number;
  /** Predictivity: ridge penalties and the holdout (every `holdoutEvery`-th example; default 5). */
  lambdas?: readonly number[];
  holdoutEvery?: number;
}

/**
 * The CCA family's numerical rank: directions below this share of the largest variance (an
 * amplitude of 1e-5, well above float32 activations' rounding) are left out, since CCA scales
 * every direction to unit variance. Procrustes keeps every direction above the rounding of the
 * p×p Gram (BASIS_TOLERANCE): its directions count by their size, so dropping small ones biases it.
 */
const RANK_TOLERANCE = 1e-10;
const BASIS_TOLERANCE = 1e-13;

/** A site's orthonormal basis and factors (see the module comment). */
interface Basis {
  m: number;
  p: number;
  /** Directions of Q (above BASIS_TOLERANCE) and the numerical rank (above RANK_TOLERANCE). */
  r: number;
  rank: number;
  /** Qᵀ, r × m. */
  qt: Float64Array;
  /** Variance s² of each direction, descending. */
  variances: Float64Array;
  /** ‖X_c‖²_F. */
  total: number;
  /** Qᵀ X_c, r × p. */
  loadings: Float64Array;
  /** T with Qᵀ X_c = T Vᵀ (V orthonormal columns), r × r; diagonal when Q came from the m × m Gram. */
  t: Float64Array;
  diagonal: boolean;
}

function centred(x: SiteFeatures): Float64Array {
  const { m, p, data } = x;
  const mean = columnMoments(data, m, p).mean;
  const c = new Float64Array(m * p);
  for (let i = 0; i < m; i++) for (let j = 0; j < p; j++) c[i * p + j] = data[i * p + j] - mean[j];
  return c;
}

function rankOf(values: Float64Array, tolerance = RANK_TOLERANCE): number {
  let r = 0;
  const top = Math.max(values[0] ?? 0, 0);
  while (r < values.length && values[r] > tolerance * top) r++;
  return r;
}

/** The first r columns of an n×n eigenvector matrix as rows (r × n). */
function leadingRows(vectors: Float64Array, n: number, r: number): Float64Array {
  const out = new Float64Array(r * n);
  for (let c = 0; c < r; c++) for (let i = 0; i < n; i++) out[c * n + i] = vectors[i * n + c];
  return out;
}

function* basis(x: SiteFeatures): Steps<Basis> {
  const { m, p } = x;
  if (m < 3) throw new RangeError(`invalid examples: ${m} (the measures need at least 3)`);
  const xc = centred(x);
  let total = 0;
  for (let i = 0; i < xc.length; i++) total += xc[i] * xc[i];
  if (!(total > 0)) throw new RangeError(`invalid site ${x.name}: its pooled features are constant over the examples`);
  const xct = transpose(xc, m, p);
  if (p < m) {
    const e = symmetricEigen({ data: yield* product(xct, p, null, p, m), shape: [p, p] });
    const r = rankOf(e.values, BASIS_TOLERANCE);
    const vt = leadingRows(e.vectors.data, p, r);
    const q1 = yield* product(vt, r, xc, m, p);
    for (let c = 0; c < r; c++) {
      const s = Math.sqrt(e.values[c]);
      for (let i = 0; i < m; i++) q1[c * m + i] /= s;
    }
    // One Cholesky-QR step: Q₁ is orthonormal only to ~ε·κ²; Q = Q₁ L⁻ᵀ keeps each leading span.
    // Q = L⁻¹ Q₁ as one product with the inverse (r³/6 in JS, then r²·m where the injected product
    // is fast): L is near I, since Q₁ is nearly orthonormal, so the inverse loses nothing.
    const l = cholesky({ data: yield* product(q1, r, null, r, m), shape: [r, r] }).data;
    const qt = yield* product(inverseLower(l, r), r, transpose(q1, r, m), m, r);
    const loadings = yield* product(qt, r, xct, p, m);
    const t = yield* product(loadings, r, vt, r, p);
    return { m, p, r, rank: rankOf(e.values), qt, variances: e.values.slice(0, r), total, loadings, t, diagonal: false };
  }
  const e = symmetricEigen({ data: yield* product(xc, m, null, m, p), shape: [m, m] });
  const r = rankOf(e.values, BASIS_TOLERANCE);
  const qt = leadingRows(e.vectors.data, m, r);
  const loadings = yield* product(qt, r, xct, p, m);
  const t = new Float64Array(r * r);
  for (let c = 0; c < r; c++) t[c * r + c] = Math.sqrt(e.values[c]);
  return { m, p, r, rank: rankOf(e.values), qt, variances: e.values.slice(0, r), total, loadings, t, diagonal: true };
}

/** L⁻¹ of a lower-triangular r × r matrix (lower triangular), by forward substitution on the identity's columns. */
function inverseLower(l: Float64Array, r: number): Float64Array {
  const x = new Float64Array(r * r);
  for (let c = 0; c < r; c++) {
    x[c * r + c] = 1 / l[c * r + c];
    for (let i = c + 1; i < r; i++) {
      let s = 0;
      for (let k = c; k < i; k++) s += l[i * r + k] * x[k * r + c];
      x[i * r + c] = -s / l[i * r + i];
    }
  }
  return x;
}

/** The leading `kx × ky` block of an r_x × r_y matrix. */
function block(a: Float64Array, cols: number, kx: number, ky: number): Float64Array {
  if (ky === cols) return a.slice(0, kx * cols);
  const out = new Float64Array(kx * ky);
  for (let i = 0; i < kx; i++) for (let j = 0; j < ky; j++) out[i * ky + j] = a[i * cols + j];
  return out;
}

/** Eigen-decomposition of A Aᵀ (rows × rows) of a rows × cols matrix. */
function leftGramEigen(a: Float64Array, rows: number, cols: number) {
  return symmetricEigen({ data: matmulTransB(rowSet(a, rows, cols)), shape: [rows, rows] });
}

function sqrtClipped(v: number): number {
  return Math.sqrt(Math.min(1, Math.max(0, v)));
}

/** Canonical correlations from the eigenvalues of B Bᵀ or Bᵀ B (the smaller), descending. */
function rhoOf(values: Float64Array, k: number): Float64Array {
  return Float64Array.from({ length: k }, (_, i) => sqrtClipped(values[i]));
}

/** Canonical correlations of the leading kx, ky directions (singular values of P's block), descending; eigenvalues only. */
function correlations(P: Float64Array, ry: number, kx: number, ky: number): Float64Array {
  const b = block(P, ry, kx, ky);
  const small = kx <= ky ? b : transpose(b, kx, ky);
  const rows = Math.min(kx, ky), cols = Math.max(kx, ky);
  return rhoOf(symmetricEigenvalues({ data: matmulTransB(rowSet(small, rows, cols)), shape: [rows, rows] }), rows);
}

/**
 * Below this singular value, the other side's variate Bᵀuᵢ/σᵢ carries a relative error ε/σᵢ
 * (1e-10 here), so it comes from its own eigendecomposition instead.
 */
const PAIRED_MIN = 1e-6;

/**
 * The other side's top k singular vectors of B (rs × ro, `vec` the eigenvectors of B Bᵀ by
 * columns, `values` their eigenvalues σ²): vᵢ = Bᵀuᵢ / ‖Bᵀuᵢ‖, as columns of an ro × ro matrix
 * (the rest zero), or null when some σᵢ < PAIRED_MIN. This pairs vᵢ with uᵢ as numpy's SVD does,
 * also within clusters of equal σ, and saves a second eigendecomposition per PWCCA pair.
 */
function pairedVectors(b: Float64Array, rs: number, ro: number, vec: Float64Array, values: Float64Array, k: number): Float64Array | null {
  for (let i = 0; i < k; i++) if (!(values[i] >= PAIRED_MIN * PAIRED_MIN)) return null;
  // (Bᵀ U_k)ᵀ = U_kᵀ B as one k × ro product on the packed kernel.
  const w = matmulTransB(rowSet(leadingRows(vec, rs, k), k, rs), rowSet(transpose(b, rs, ro), ro, rs));
  const out = new Float64Array(ro * ro);
  for (let i = 0; i < k; i++) {
    let n = 0;
    for (let t = 0; t < ro; t++) n += w[i * ro + t] * w[i * ro + t];
    n = Math.sqrt(n);
    for (let t = 0; t < ro; t++) out[t * ro + i] = w[i * ro + t] / n;
  }
  return out;
}

/**
 * PWCCA weights αᵢ ∝ Σⱼ |aᵢᵀ Λ_{:, j}| of one side's top k variates (`vec`: eigenvectors of B Bᵀ,
 * B its k_side × k_other block; Λ = Qᵀ X_c its loadings, given transposed, p × r). The k × p
 * products aᵢᵀ Λ as one blocked product: at p = 768 a loop over them cost seconds per run.
 */
function* pwccaWeights(vec: Float64Array, rows: number, loadingsT: Float64Array, r: number, p: number, k: number): Steps<Float64Array> {
  const at = new Float64Array(k * rows);
  for (let i = 0; i < k; i++) for (let t = 0; t < rows; t++) at[i * rows + t] = vec[t * rows + i];
  let lt = loadingsT;
  if (rows < r) {
    lt = new Float64Array(p * rows);
    for (let j = 0; j < p; j++) for (let t = 0; t < rows; t++) lt[j * rows + t] = loadingsT[j * r + t];
  }
  const d = yield* product(at, k, lt, p, rows);
  const w = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < p; j++) s += Math.abs(d[i * p + j]);
    w[i] = s;
    total += s;
  }
  for (let i = 0; i < k; i++) w[i] /= total;
  return w;
}

/**
 * RSA factors of a model's sites, one row per site: each RDM's upper triangle centred, and its
 * average ranks centred, with their norms (the correlations divide the Gram of the rows by them:
 * a pass over each 4 MB row fewer than normalising the rows).
 */
interface RsaStack {
  n: number;
  pearson: Float64Array;
  spearman: Float64Array;
  norms: { pearson: Float64Array; spearman: Float64Array };
}

/** Centres v in place (its mean given, or its own) and returns its norm; throws on a constant vector. */
function centredNorm(v: Float64Array, mean?: number): number {
  if (mean === undefined) {
    mean = 0;
    for (let i = 0; i < v.length; i++) mean += v[i];
    mean /= v.length;
  }
  let ss = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i] - mean;
    v[i] = x;
    ss += x * x;
  }
  const n = Math.sqrt(ss);
  if (!(n > 0)) throw new RangeError("invalid RDM: constant upper triangle (correlation undefined)");
  return n;
}

/** Whether a Float64Array's low 32-bit word comes first (so the high word of value i is word 2i + 1). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bits per radix digit: 2,048 counters (8 KB) stay in L1 while a pass scatters; three passes cover the 32-bit key. */
const DIGIT_BITS = 11;

/** Runs of equal high words longer than this are ordered by a comparison sort instead of insertion. */
const RUN_INSERTION = 32;

/** Reused between calls (RSA ranks one m(m − 1)/2 vector per site): fresh megabytes cost page faults every time. */
let rankScratch = { n: 0, key: new Uint32Array(0), index: new Uint32Array(0), key2: new Uint32Array(0), index2: new Uint32Array(0) };

/**
 * Average ranks (1-based, ties sharing their mean rank), as averageRanks but by an LSD radix sort:
 * each value's 64 bits, sign flipped (every bit for negatives; −0 as +0) so that unsigned order is
 * numeric order, less the leading bits all values share (those of the smallest and the largest),
 * give a 32-bit key sorted in three 11-bit passes that carry the values' indices. Values with equal
 * keys (on RSA's dissimilarities in [0, 2] nearly only exact ties) are then ordered by value and
 * exact ties get their mean rank. On RSA's m(m − 1)/2 ≈ 500,000 values per site at m = 1,000 a
 * comparator sort took seconds, the bucket sort on the values' range this replaces 60–85 ms, this
 * 25–40 ms (the shared 2-core machine). NaN or ±Inf: averageRanks.
 */
export function fastRanks(v: Float64Array): Float64Array {
  const out = new Float64Array(v.length);
  return ranksInto(v, out, 0) >= 0 ? out : averageRanks(v);
}

const keyBits = new Float64Array(1), keyWords = new Uint32Array(keyBits.buffer);

/** The high word of a finite value with the sign flipped (every bit for negatives; ±0 as +0): unsigned order is numeric order. */
function highKey(x: number): number {
  keyBits[0] = x === 0 ? 0 : x;
  const h = keyWords[LITTLE_ENDIAN ? 1 : 0];
  return (h & 0x80000000 ? ~h : h | 0x80000000) >>> 0;
}

/** fastRanks minus `centre` into `out`, returning their sum of squares; −1 (out untouched) when v holds NaN or ±Inf. */
function ranksInto(v: Float64Array, out: Float64Array, centre: number): number {
  const n = v.length;
  if (n === 0) return 0;
  if (rankScratch.n < n) rankScratch = { n, key: new Uint32Array(n), index: new Uint32Array(n), key2: new Uint32Array(n), index2: new Uint32Array(n) };
  // One small function per pass: called once per site on 500,000 values, each is compiled as soon
  // as its loop gets hot (a single large function ran its first call mostly unoptimised).
  const range = finiteRange(v);
  if (range === null) return -1;
  const [key, index, key2, index2] = [rankScratch.key, rankScratch.index, rankScratch.key2, rankScratch.index2].map((a) => a.subarray(0, n));
  const mask = (1 << DIGIT_BITS) - 1;
  const counts = [new Uint32Array(mask + 1), new Uint32Array(mask + 1), new Uint32Array(mask + 1)];
  // The key: the 32 bits below the leading bits all values share (those of the smallest and the
  // largest), so runs of equal keys are nearly only exact ties and the fix-up below rarely reads v
  // at random. The three digits' counts are taken while the keys are made.
  radixKeys(v, Math.clz32(highKey(range[0]) ^ highKey(range[1])), key, counts[0], counts[1], counts[2]);
  prefix(counts[0]);
  scatterFirst(key, key2, index2, counts[0]);
  prefix(counts[1]);
  scatter(key2, index2, key, index, counts[1], DIGIT_BITS);
  prefix(counts[2]);
  scatter(key, index, key2, index2, counts[2], 2 * DIGIT_BITS);
  return rankRuns(v, key2, index2, out, centre);
}

/** [min, max] of v, or null when it holds NaN or ±Inf. */
function finiteRange(v: Float64Array): [number, number] | null {
  let lo = v[0], hi = v[0];
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (x - x !== 0) return null;
    if (x < lo) lo = x;
    else if (x > hi) hi = x;
  }
  return [lo, hi];
}

/** Each value's 32-bit key (see fastRanks) and the counts of its three 11-bit digits. */
function radixKeys(v: Float64Array, up: number, key: Uint32Array, c0: Uint32Array, c1: Uint32Array, c2: Uint32Array): void {
  const n = v.length;
  const words = new Uint32Array(v.buffer, v.byteOffset, 2 * n);
  const H = LITTLE_ENDIAN ? 1 : 0, L = 1 - H;
  const mask = (1 << DIGIT_BITS) - 1;
  for (let i = 0; i < n; i++) {
    let h = words[2 * i + H], l = words[2 * i + L];
    if (v[i] === 0) {
      h = 0x80000000;
      l = 0;
    } else if (h & 0x80000000) {
      h = ~h >>> 0;
      l = ~l >>> 0;
    } else h = (h | 0x80000000) >>> 0;
    const k = up === 0 ? h : up === 32 ? l : ((h << up) | (l >>> (32 - up))) >>> 0;
    key[i] = k;
    c0[k & mask]++;
    c1[(k >>> DIGIT_BITS) & mask]++;
    c2[k >>> (2 * DIGIT_BITS)]++;
  }
}

/** Counts to exclusive starts, in place. */
function prefix(count: Uint32Array): void {
  for (let b = 0, t = 0; b < count.length; b++) {
    const c = count[b];
    count[b] = t;
    t += c;
  }
}

/** The first pass: by the lowest digit, the indices being the positions. */
function scatterFirst(key: Uint32Array, key2: Uint32Array, index2: Uint32Array, count: Uint32Array): void {
  const mask = (1 << DIGIT_BITS) - 1, n = key.length;
  for (let i = 0; i < n; i++) {
    const k = key[i];
    const at = count[k & mask]++;
    key2[at] = k;
    index2[at] = i;
  }
}

/** A stable pass by the digit at `shift`. */
function scatter(key: Uint32Array, index: Uint32Array, key2: Uint32Array, index2: Uint32Array, count: Uint32Array, shift: number): void {
  const mask = (1 << DIGIT_BITS) - 1, n = key.length;
  for (let i = 0; i < n; i++) {
    const k = key[i];
    const at = count[(k >>> shift) & mask]++;
    key2[at] = k;
    index2[at] = index[i];
  }
}

/**
 * Average ranks minus `centre` from the sorted keys: runs of equal keys ordered by value, exact
 * ties sharing their mean rank. Returns their sum of squares, in partial sums of 4,096 terms (the
 * terms vary smoothly in sorted order, so their rounding would not cancel; a partial sum of
 * half-integer ranks below 2²⁰ is exact).
 */
function rankRuns(v: Float64Array, key: Uint32Array, index: Uint32Array, out: Float64Array, centre: number): number {
  const n = v.length;
  let ss = 0, part = 0, terms = 0;
  for (let s = 0; s < n; ) {
    if (++terms === 4096) {
      ss += part;
      part = 0;
      terms = 0;
    }
    const h = key[s];
    let e = s + 1;
    while (e < n && key[e] === h) e++;
    if (e === s + 1) {
      const r = s + 1 - centre;
      out[index[s]] = r;
      part += r * r;
      s = e;
      continue;
    }
    if (e - s <= RUN_INSERTION) {
      for (let i = s + 1; i < e; i++) {
        const xi = index[i], x = v[xi];
        let j = i - 1;
        while (j >= s && v[index[j]] > x) {
          index[j + 1] = index[j];
          j--;
        }
        index[j + 1] = xi;
      }
    } else index.set(Array.from(index.subarray(s, e)).sort((a, b) => v[a] - v[b]), s);
    for (let a = s; a < e; ) {
      const x = v[index[a]];
      let b = a + 1;
      while (b < e && v[index[b]] === x) b++;
      const r = (a + 1 + b) / 2 - centre;
      for (let t = a; t < b; t++) out[index[t]] = r;
      part += (b - a) * r * r;
      a = b;
    }
    s = e;
  }
  return ss + part;
}

/** Each example centred over its own features and scaled to unit norm (m × p); throws on a constant example. */
function rowsUnit(x: SiteFeatures, centre: boolean): Float64Array {
  const { m, p, data } = x;
  const z = new Float64Array(m * p);
  for (let i = 0; i < m; i++) {
    let mean = 0;
    if (centre) {
      for (let j = 0; j < p; j++) mean += data[i * p + j];
      mean /= p;
    }
    let ss = 0;
    for (let j = 0; j < p; j++) {
      const d = data[i * p + j] - mean;
      z[i * p + j] = d;
      ss += d * d;
    }
    if (!(ss > 0)) throw new RangeError(`invalid site ${x.name}: example ${i} has ${centre ? "constant" : "all-zero"} features`);
    const n = Math.sqrt(ss);
    for (let j = 0; j < p; j++) z[i * p + j] /= n;
  }
  return z;
}

/** Writes a site's RSA factors into row `row` of the stack. */
function* rsaSite(x: SiteFeatures, stack: RsaStack, row: number): Steps<void> {
  if (x.p < 2) throw new RangeError(`invalid site ${x.name}: RSA needs p ≥ 2 features`);
  const m = x.m, n = stack.n;
  const c = yield* product(rowsUnit(x, true), m, null, m, x.p);
  const u = stack.pearson.subarray(row * n, (row + 1) * n);
  let t = 0, sum = 0;
  for (let i = 0; i < m; i++) {
    for (let j = i + 1, o = i * m; j < m; j++) {
      const x = 1 - c[o + j];
      u[t++] = x;
      sum += x;
    }
  }
  const ranks = stack.spearman.subarray(row * n, (row + 1) * n);
  // Average ranks sum to n(n + 1)/2 whatever the ties: their mean is exact, and they are centred as they are written.
  const ss = ranksInto(u, ranks, (n + 1) / 2);
  if (ss < 0) {
    ranks.set(averageRanks(u));
    stack.norms.spearman[row] = centredNorm(ranks, (n + 1) / 2);
  } else if (!(ss > 0)) throw new RangeError("invalid RDM: constant upper triangle (correlation undefined)");
  else stack.norms.spearman[row] = Math.sqrt(ss);
  stack.norms.pearson[row] = centredNorm(u, sum / n);
}

/**
 * Each example's k nearest other examples (m × k, nearest first) by Euclidean distance between
 * unit-normalised features (Huh et al. 2024 normalise first), D² from the Gram as in
 * squaredDistances; equal distances go to the lower index.
 */
function* knnSite(x: SiteFeatures, k: number): Steps<Int32Array> {
  const m = x.m;
  if (!(Number.isInteger(k) && k >= 1 && k < m)) throw new RangeError(`invalid k: ${k} (needs 1 ≤ k < m = ${m})`);
  const g = yield* product(rowsUnit(x, false), m, null, m, x.p);
  const out = new Int32Array(m * k);
  const best = new Float64Array(k);
  const idx = new Int32Array(k);
  // The diagonal once: read inside the loop it is a cache miss per j.
  const diag = new Float64Array(m);
  for (let i = 0; i < m; i++) diag[i] = g[i * m + i];
  for (let i = 0; i < m; i++) {
    let n = 0, worst = Infinity;
    const gii = diag[i], o = i * m;
    for (let j = 0; j < m; j++) {
      const v = gii + diag[j] - 2 * g[o + j];
      // d = max(v, 0) ≥ v, so v ≥ worst rules j out before the exact test.
      if (!(v < worst) || j === i) continue;
      const d = v > 0 ? v : 0;
      if (n === k && !(d < worst)) continue;
      // Insert after every equal distance: a later (higher) index never displaces an earlier one.
      let pos = n === k ? k - 1 : n++;
      while (pos > 0 && best[pos - 1] > d) {
        best[pos] = best[pos - 1];
        idx[pos] = idx[pos - 1];
        pos--;
      }
      best[pos] = d;
      idx[pos] = j;
      if (n === k) worst = best[k - 1];
    }
    out.set(idx, i * k);
  }
  return out;
}

function mutual(a: Int32Array, b: Int32Array, m: number, k: number, mark: Int32Array): number {
  let shared = 0;
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) mark[a[i * k + t]] = i;
    for (let t = 0; t < k; t++) if (mark[b[i * k + t]] === i) shared++;
  }
  mark.fill(-1);
  return shared / (m * k);
}

/** A site as ridge predictor (fit-part factors) and as target (its fit and holdout parts). */
interface RidgeSite {
  /** Predictor: r directions, s, Uᵀ = (X_f V / s)ᵀ (r × n_f), Zᵀ = (X_h V)ᵀ (r × h), G = ZᵀZ. */
  r: number;
  s: Float64Array;
  ut: Float64Array;
  zt: Float64Array;
  g: Float64Array;
  /** Target: (Y_f − ȳ_f)ᵀ (q × n_f), (Y_h − ȳ_f)ᵀ (q × h), ‖Y_h − ȳ_f‖², Σ‖Y_h − ȳ_h‖². */
  q: number;
  yft: Float64Array;
  rht: Float64Array;
  rr: number;
  sst: number;
  /** Target Grams when q > n_f (see targetGrams), made on first use. */
  grams?: { k: Float64Array; nt: Float64Array };
}

function rows(data: Float64Array, p: number, which: number[]): Float64Array {
  const out = new Float64Array(which.length * p);
  which.forEach((r, i) => out.set(data.subarray(r * p, (r + 1) * p), i * p));
  return out;
}

/**
 * Ridge factors of a site, with analyses/similarity/predictivity.ts' protocol: every
 * `every`-th example held out, features standardised with the fit part's mean and std + 1e-5,
 * unpenalised intercept. W(λ) = V diag(s/(s² + λ)) Uᵀ Y_c, so the holdout prediction is
 * ȳ_f + Z diag(d) C with C = Uᵀ Y_c, and SSE(λ) = ‖R‖² − 2 Σⱼ dⱼ⟨Eⱼ, Cⱼ⟩ + Σⱼₗ dⱼ dₗ Gⱼₗ (CCᵀ)ⱼₗ
 * with E = Zᵀ R, R = Y_h − ȳ_f. Every direction is kept (s² < 0 from rounding is 0): unlike
 * CCA, a ridge read-out weighs small directions by s/(s² + λ), which need not be small.
 */
function* ridgeSite(x: SiteFeatures, every: number): Steps<RidgeSite> {
  const { m, p, data } = x;
  const fit: number[] = [], held: number[] = [];
  for (let i = 0; i < m; i++) (i % every === every - 1 ? held : fit).push(i);
  if (held.length === 0 || fit.length < 2) throw new RangeError(`invalid examples: m = ${m} leaves ${fit.length} to fit and ${held.length} held out`);
  const nf = fit.length, h = held.length;
  const xf = rows(data, p, fit), xh = rows(data, p, held);
  const { mean, std } = columnMoments(xf, nf, p);
  const scale = std.map((v) => v + STD_EPSILON);
  const xs = (a: Float64Array, n: number) => {
    const o = new Float64Array(n * p);
    for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) o[i * p + j] = (a[i * p + j] - mean[j]) / scale[j];
    return o;
  };
  const sf = xs(xf, nf), sh = xs(xh, h);
  let r: number, s: Float64Array, vt: Float64Array;
  if (p <= nf) {
    const e = symmetricEigen({ data: yield* product(transpose(sf, nf, p), p, null, p, nf), shape: [p, p] });
    r = p;
    s = e.values.map((v) => Math.sqrt(Math.max(0, v)));
    vt = leadingRows(e.vectors.data, p, r);
  } else {
    // Dual: X_f X_fᵀ = U Λ Uᵀ, V = X_fᵀ U / s over the non-zero directions.
    const e = symmetricEigen({ data: yield* product(sf, nf, null, nf, p), shape: [nf, nf] });
    r = rankOf(e.values);
    s = e.values.slice(0, r).map(Math.sqrt);
    const ut0 = leadingRows(e.vectors.data, nf, r);
    vt = yield* product(ut0, r, transpose(sf, nf, p), p, nf);
    for (let c = 0; c < r; c++) for (let j = 0; j < p; j++) vt[c * p + j] /= s[c];
  }
  const ut = yield* product(vt, r, sf, nf, p);
  for (let c = 0; c < r; c++) for (let i = 0; i < nf; i++) ut[c * nf + i] = s[c] > 0 ? ut[c * nf + i] / s[c] : 0;
  const zt = yield* product(vt, r, sh, h, p);
  const g = yield* product(zt, r, null, r, h);
  const ym = columnMoments(xf, nf, p).mean;
  const yh = columnMoments(xh, h, p).mean;
  const yft = new Float64Array(p * nf), rht = new Float64Array(p * h);
  let rr = 0, sst = 0;
  for (let i = 0; i < nf; i++) for (let j = 0; j < p; j++) yft[j * nf + i] = xf[i * p + j] - ym[j];
  for (let i = 0; i < h; i++) for (let j = 0; j < p; j++) {
    const v = xh[i * p + j];
    rht[j * h + i] = v - ym[j];
    rr += (v - ym[j]) ** 2;
    sst += (v - yh[j]) ** 2;
  }
  return { r, s, ut, zt, g, q: p, yft, rht, rr, sst };
}

/** A target site's K = Y_fᵀY_f (n_f × n_f) and Nᵀ = (R_hᵀY_f)ᵀ (n_f × h), once per site. */
function targetGrams(y: RidgeSite, nf: number, h: number): { k: Float64Array; nt: Float64Array } {
  if (!y.grams) {
    const q = y.q;
    y.grams = { k: columnGram(rowSet(y.yft, q, nf)), nt: matmulTransB(rowSet(transpose(y.yft, q, nf), nf, q), rowSet(transpose(y.rht, q, h), h, q)) };
  }
  return y.grams;
}

/** Holdout R² of every λ and the chosen one (ties to the larger λ, as the probes). */
function* ridgePair(x: RidgeSite, y: RidgeSite, lambdas: readonly number[], nf: number, h: number, pre?: { C: Float64Array; E: Float64Array }): Steps<{ r2: number; lambda: number }> {
  if (!(y.sst > 0)) return { r2: NaN, lambda: NaN };
  const { r } = x, q = y.q;
  let H: Float64Array;
  const ec = new Float64Array(r);
  if (q <= nf) {
    const C = pre?.C ?? (yield* product(x.ut, r, y.yft, q, nf));
    const E = pre?.E ?? (yield* product(x.zt, r, y.rht, q, h));
    H = yield* product(C, r, null, r, q);
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let c = 0; c < q; c++) s += E[j * q + c] * C[j * q + c];
      ec[j] = s;
    }
  } else {
    // More targets than fit examples: through the target's own n_f × n_f Gram K = Y_fᵀY_f and its
    // cross-Gram N = R_hᵀY_f, H = Uᵀ K U and ecⱼ = (Zᵀ N U)ⱼⱼ cost O(r·n_f²) a pair, not O(r·q·n_f).
    const { k, nt } = targetGrams(y, nf, h);
    H = yield* product(yield* product(x.ut, r, k, nf, nf), r, x.ut, r, nf);
    const Z = yield* product(x.zt, r, nt, nf, h);
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let b = 0; b < nf; b++) s += Z[j * nf + b] * x.ut[j * nf + b];
      ec[j] = s;
    }
  }
  const d = new Float64Array(r);
  const r2 = new Float64Array(lambdas.length);
  lambdas.forEach((l, li) => {
    for (let j = 0; j < r; j++) d[j] = x.s[j] / (x.s[j] * x.s[j] + l);
    let sse = y.rr;
    for (let j = 0; j < r; j++) {
      sse -= 2 * d[j] * ec[j];
      let t = 0;
      for (let k = 0; k < r; k++) t += d[k] * x.g[j * r + k] * H[j * r + k];
      sse += d[j] * t;
    }
    r2[li] = 1 - sse / y.sst;
  });
  const best = bestLambda(lambdas, r2);
  return { r2: r2[best], lambda: lambdas[best] };
}

/** Factor rows stacked per tile of `SiteBank.tiles`: 1,024 rows of m ≤ a few thousand keep a tile's product to tens of MB. */
const TILE_ROWS = 1024;

/** Precomputed products of one pair (see `SiteBank.tileBlocks`). */
interface PairBlocks {
  /** Predictivity: C and E of the row site predicting the column site, and of the reverse. */
  forward?: { C: Float64Array; E: Float64Array };
  backward?: { C: Float64Array; E: Float64Array };
}

/** Blocks A_s B_tᵀ (rows[s] × cols[t]) of per-site factors (A_s: rows[s] × k), by one product of the stacks. */
function* stackedBlocks(a: Float64Array[], rows: number[], b: Float64Array[], cols: number[], k: number): Steps<Float64Array[][]> {
  const stack = (f: Float64Array[], n: number[]) => {
    if (f.length === 1) return f[0];
    const out = new Float64Array(n.reduce((x, y) => x + y, 0) * k);
    let o = 0;
    f.forEach((x, i) => {
      out.set(x.subarray(0, n[i] * k), o);
      o += n[i] * k;
    });
    return out;
  };
  const R = rows.reduce((x, y) => x + y, 0), Cn = cols.reduce((x, y) => x + y, 0);
  const c = yield* product(stack(a, rows), R, stack(b, cols), Cn, k);
  const out: Float64Array[][] = [];
  for (let s = 0, r0 = 0; s < a.length; r0 += rows[s++]) {
    const line: Float64Array[] = [];
    for (let t = 0, c0 = 0; t < b.length; c0 += cols[t++]) {
      const blk = new Float64Array(rows[s] * cols[t]);
      for (let i = 0; i < rows[s]; i++) blk.set(c.subarray((r0 + i) * Cn + c0, (r0 + i) * Cn + c0 + cols[t]), i * cols[t]);
      line.push(blk);
    }
    out.push(line);
  }
  return out;
}

/** What was reduced or kept per site, for the results. */
export interface SiteNote {
  site: string;
  p: number;
  /** Rank of the centred features (directions kept by the CCA family and Procrustes). */
  rank: number;
  /** CCA, PWCCA: directions used (top principal directions when p ≥ m, else the rank). */
  ccaDims: number;
  /** SVCCA: directions kept and their share of the variance. */
  svccaDims: number;
  svccaVariance: number;
}

/** A measure's site × site matrices per value, read forward (rows: the first model) and backward. */
export interface MeasureMatrices {
  forward: Record<string, Float64Array>;
  backward: Record<string, Float64Array>;
}

/** One measure's matrices of one comparison: value → key (AA, BB, AB, BA) → row-major data. */
export type ComparisonMatrices = Record<string, Partial<Record<"AA" | "BB" | "AB" | "BA", Float64Array>>>;

/**
 * Lazily decomposed sites of several models (pooled features of the same m examples) and the
 * site × site matrices of any measure between two of them. Factors and the pair products P are
 * cached, so the measures of one run share them.
 * @example new SiteBank([sitesA, sitesB]).matrix("cca", 0, 1)["mean-r2"] // rows: A's sites, cols: B's
 */
export class SiteBank {
  private bases = new Map<string, Basis>();
  private products = new Map<string, Float64Array>();
  private transposed = new Map<string, Float64Array>();
  private rsa = new Map<string, RsaStack>();
  private knn = new Map<string, Int32Array>();
  private ridge = new Map<string, RidgeSite>();
  readonly m: number;
  readonly options: Required<MeasureOptions>;

  constructor(readonly models: SiteFeatures[][], options: MeasureOptions = {}) {
    this.m = models[0]?.[0]?.m ?? 0;
    this.options = {
      svccaVariance: options.svccaVariance ?? 0.99,
      svccaKeep: options.svccaKeep ?? null,
      k: options.k ?? 10,
      lambdas: options.lambdas ?? DEFAULT_LAMBDAS,
      holdoutEvery: options.holdoutEvery ?? 5,
    };
  }

  private cached<T>(map: Map<string, T>, key: string, make: () => T): T {
    let v = map.get(key);
    if (v === undefined) map.set(key, (v = make()));
    return v;
  }

  private basis(mi: number, si: number): Basis {
    return runSteps(this.basisSteps(mi, si));
  }

  /** A site's factors, made once (the first caller's products answer them). */
  private *cachedSteps<T>(map: Map<string, T>, key: string, make: () => Steps<T>): Steps<T> {
    let v = map.get(key);
    if (v === undefined) map.set(key, (v = yield* make()));
    return v;
  }

  private basisSteps(mi: number, si: number): Steps<Basis> {
    return this.cachedSteps(this.bases, `${mi}:${si}`, () => basis(this.models[mi][si]));
  }

  /** A site's loadings Qᵀ X_c transposed (p × r), for PWCCA's weights. */
  private loadingsT(a: [number, number]): Float64Array {
    return this.cached(this.transposed, `${a}`, () => {
      const x = this.basis(...a);
      return transpose(x.loadings, x.r, x.p);
    });
  }

  /** P = Q_xᵀ Q_y at full rank. */
  private *product(a: [number, number], b: [number, number]): Steps<Float64Array> {
    const key = `${a}|${b}`;
    let P = this.products.get(key);
    if (P === undefined) {
      const x = yield* this.basisSteps(...a), y = yield* this.basisSteps(...b);
      this.products.set(key, (P = yield* product(x.qt, x.r, y.qt, y.r, x.m)));
    }
    return P;
  }

  /** Directions the CCA family uses: the rank, or ⌊(m − 1)/2⌋ principal directions when p ≥ m (two such sites then never share a forced ρ = 1). */
  private ccaDims(b: Basis): number {
    return b.p >= b.m ? Math.min(b.rank, Math.floor((b.m - 1) / 2)) : b.rank;
  }

  private svccaDims(b: Basis): { kept: number; share: number } {
    let kept = this.options.svccaKeep ?? 0;
    if (this.options.svccaKeep === null) {
      let acc = 0;
      while (kept < b.rank && acc < this.options.svccaVariance * b.total) acc += b.variances[kept++];
    } else if (kept > b.rank) throw new RangeError(`invalid svcca-keep: ${kept} directions, but a site has rank ${b.rank}`);
    let share = 0;
    for (let i = 0; i < kept; i++) share += b.variances[i];
    return { kept, share: share / b.total };
  }

  /** Per-site notes of model `mi` (rank, CCA and SVCCA dimensions). */
  notes(mi: number): SiteNote[] {
    return this.models[mi].map((s, si) => {
      const b = this.basis(mi, si);
      const sv = this.svccaDims(b);
      return { site: s.name, p: s.p, rank: b.rank, ccaDims: this.ccaDims(b), svccaDims: sv.kept, svccaVariance: sv.share };
    });
  }

  /** Forward and backward values of one pair of sites (backward: the pair read the other way). */
  private *pair(measure: Measure, a: [number, number], b: [number, number], pre?: PairBlocks): Steps<{ forward: number[]; backward: number[] }> {
    const same = (f: number[]) => ({ forward: f, backward: f });
    switch (measure) {
      case "cca": {
        const x = yield* this.basisSteps(...a), y = yield* this.basisSteps(...b);
        const rho = correlations(yield* this.product(a, b), y.r, this.ccaDims(x), this.ccaDims(y));
        return same([mean(rho, 2)]);
      }
      case "svcca": {
        const x = yield* this.basisSteps(...a), y = yield* this.basisSteps(...b);
        const kx = this.svccaDims(x).kept, ky = this.svccaDims(y).kept;
        if (kx >= this.m || ky >= this.m) throw new RangeError(`invalid svcca: ${kx} and ${ky} directions kept for m = ${this.m} examples`);
        return same([mean(correlations(yield* this.product(a, b), y.r, kx, ky), 1)]);
      }
      case "pwcca": {
        const x = yield* this.basisSteps(...a), y = yield* this.basisSteps(...b);
        const kx = this.ccaDims(x), ky = this.ccaDims(y), k = Math.min(kx, ky);
        const B = block(yield* this.product(a, b), y.r, kx, ky);
        // ρ and the smaller side's variates from its eigenvectors (as `correlations`); the other
        // side's paired with them, as an SVD pairs them (see pairedVectors).
        const small = kx <= ky;
        const bs = small ? B : transpose(B, kx, ky), rs = small ? kx : ky, ro = small ? ky : kx;
        const es = leftGramEigen(bs, rs, ro);
        const rho = rhoOf(es.values, k);
        const vo = pairedVectors(bs, rs, ro, es.vectors.data, es.values, k) ?? leftGramEigen(transpose(bs, rs, ro), ro, rs).vectors.data;
        const [vx, vy] = small ? [es.vectors.data, vo] : [vo, es.vectors.data];
        const wx = yield* pwccaWeights(vx, kx, this.loadingsT(a), x.r, x.p, k);
        const wy = yield* pwccaWeights(vy, ky, this.loadingsT(b), y.r, y.p, k);
        return { forward: [weighted(wx, rho)], backward: [weighted(wy, rho)] };
      }
      case "procrustes": {
        const x = yield* this.basisSteps(...a), y = yield* this.basisSteps(...b);
        const P = yield* this.product(a, b);
        // M = T_xᵀ P T_y (r_x × r_y): ‖X_cᵀ Y_c‖_* = ‖M‖_*; T diagonal (from the Gram) scales rows and columns.
        let M: Float64Array;
        if (x.diagonal && y.diagonal) {
          M = new Float64Array(x.r * y.r);
          for (let i = 0; i < x.r; i++) for (let j = 0; j < y.r; j++) M[i * y.r + j] = x.t[i * x.r + i] * P[i * y.r + j] * y.t[j * y.r + j];
        } else {
          const tp = yield* product(transpose(x.t, x.r, x.r), x.r, transpose(P, x.r, y.r), y.r, x.r);
          M = yield* product(tp, x.r, transpose(y.t, y.r, y.r), y.r, y.r);
        }
        const nuclear = yield* nuclearNormSteps(M, x.r, y.r);
        const rho = Math.min(1, nuclear / Math.sqrt(x.total * y.total));
        return same([Math.acos(Math.max(-1, rho)), Math.sqrt(Math.max(0, 2 - 2 * rho))]);
      }
      case "rsa":
        throw new Error("seelike bug: RSA is computed per matrix (rsaMatrices)");
      case "mutual-knn": {
        const k = this.options.k;
        const x = yield* this.cachedSteps(this.knn, `${a}`, () => knnSite(this.models[a[0]][a[1]], k));
        const y = yield* this.cachedSteps(this.knn, `${b}`, () => knnSite(this.models[b[0]][b[1]], k));
        return same([mutual(x, y, this.m, k, new Int32Array(this.m).fill(-1))]);
      }
      case "predictivity": {
        const every = this.options.holdoutEvery;
        const x = yield* this.ridgeSteps(a), y = yield* this.ridgeSteps(b);
        const h = Math.floor(this.m / every), nf = this.m - h;
        const f = yield* ridgePair(x, y, this.options.lambdas, nf, h, pre?.forward);
        // A site against itself reads the same both ways.
        const g = x === y ? f : yield* ridgePair(y, x, this.options.lambdas, nf, h, pre?.backward);
        return { forward: [f.r2, f.lambda], backward: [g.r2, g.lambda] };
      }
    }
  }

  /**
   * The site × site matrices of `measure` between model `ma` (rows) and `mb` (columns), one per
   * value of MEASURE_VALUES. For ma = mb a symmetric measure is computed on the upper triangle.
   * Asymmetric measures read M[i][j] as row i against column j; `backward` holds M' with
   * M'[j][i] the pair read from column to row (rows: mb's sites), which for ma = mb is M itself.
   */
  matrix(measure: Measure, ma: number, mb: number): MeasureMatrices {
    return runSteps(this.matrixSteps(measure, ma, mb));
  }

  /** As `matrix`, with the products of at least `minimum` multiply-adds through `products` (the same values to rounding). */
  matrixAsync(measure: Measure, ma: number, mb: number, products: Products, minimum = INJECTED_MIN): Promise<MeasureMatrices> {
    return runStepsAsync(this.matrixSteps(measure, ma, mb, minimum), products, minimum);
  }

  private ridgeSteps(a: [number, number]): Steps<RidgeSite> {
    return this.cachedSteps(this.ridge, `${a}`, () => ridgeSite(this.models[a[0]][a[1]], this.options.holdoutEvery));
  }

  /**
   * The tiles a matrix is computed in: groups of sites whose per-pair products are made as one
   * product of their stacked factors, when every pair's own product would have gone to the
   * injected one anyway (at least `minimum` multiply-adds; never on the JS path, whose values
   * thus stay those of the pair-by-pair products). Groups stack at most TILE_ROWS factor rows, so a
   * tile's product stays small; sites as wide as that form one group each (nothing to batch).
   * Only predictivity: its E = Zᵀ R (r × q × h) per pair stays below the injected minimum at
   * m = 1,000 and cost ~1 ms each in JS. (Procrustes' M = (Q_x T_x)ᵀ(Q_y T_y) as one Gram of the
   * stacked (QT)ᵀ was measured too: its full Σr × Σr product cost what the JS pair products saved.)
   */
  private *tiles(measure: Measure, ma: number, mb: number, minimum: number): Steps<{ groups: [number[][], number[][]]; batched: boolean }> {
    const all = (mi: number) => [this.models[mi].map((_, i) => i)];
    const plain = { groups: [all(ma), all(mb)] as [number[][], number[][]], batched: false };
    if (!Number.isFinite(minimum) || measure !== "predictivity") return plain;
    // Per site: the fewer of its predictor directions and target columns (for the pairs' sizes), and the more (for a tile's rows).
    const rows: [number[], number[]] = [[], []], fewer: [number[], number[]] = [[], []];
    const nf = this.m - Math.floor(this.m / this.options.holdoutEvery);
    for (const [side, mi] of [ma, mb].entries()) for (let i = 0; i < this.models[mi].length; i++) {
      const x = yield* this.ridgeSteps([mi, i]);
      // Targets wider than the fit part go through their own Grams (ridgePair).
      if (x.q > nf) return plain;
      rows[side].push(Math.max(x.r, x.q));
      fewer[side].push(Math.min(x.r, x.q));
    }
    if (!(Math.min(...fewer[0]) * Math.min(...fewer[1]) * nf >= minimum)) return plain;
    const group = (r: number[]) => {
      const out: number[][] = [];
      let cur: number[] = [], size = 0;
      r.forEach((ri, i) => {
        if (cur.length && size + ri > TILE_ROWS) {
          out.push(cur);
          cur = [];
          size = 0;
        }
        cur.push(i);
        size += ri;
      });
      if (cur.length) out.push(cur);
      return out;
    };
    return { groups: [group(rows[0]), group(rows[1])], batched: true };
  }

  /** The per-pair blocks of one tile (see `tiles`), keyed `i,j`. */
  private *tileBlocks(measure: Measure, ma: number, mb: number, ga: number[], gb: number[]): Steps<Map<string, PairBlocks>> {
    const out = new Map<string, PairBlocks>();
    const at = (i: number, j: number) => {
      let v = out.get(`${i},${j}`);
      if (!v) out.set(`${i},${j}`, (v = {}));
      return v;
    };
    const nf = this.m - Math.floor(this.m / this.options.holdoutEvery), h = this.m - nf;
    const xa: RidgeSite[] = [], xb: RidgeSite[] = [];
    for (const i of ga) xa.push(yield* this.ridgeSteps([ma, i]));
    for (const j of gb) xb.push(yield* this.ridgeSteps([mb, j]));
    // Forward: A's sites predicting B's (C = Uᵀ Y_f, E = Zᵀ R); backward: B's predicting A's.
    const C = yield* stackedBlocks(xa.map((x) => x.ut), xa.map((x) => x.r), xb.map((y) => y.yft), xb.map((y) => y.q), nf);
    const E = yield* stackedBlocks(xa.map((x) => x.zt), xa.map((x) => x.r), xb.map((y) => y.rht), xb.map((y) => y.q), h);
    // A model's diagonal tile holds both directions already.
    const same = ma === mb && ga.length === gb.length && ga.every((i, s) => gb[s] === i);
    const Cb = same ? C : yield* stackedBlocks(xb.map((x) => x.ut), xb.map((x) => x.r), xa.map((y) => y.yft), xa.map((y) => y.q), nf);
    const Eb = same ? E : yield* stackedBlocks(xb.map((x) => x.zt), xb.map((x) => x.r), xa.map((y) => y.rht), xa.map((y) => y.q), h);
    ga.forEach((i, s) => gb.forEach((j, t) => {
      const v = at(i, j);
      v.forward = { C: C[s][t], E: E[s][t] };
      v.backward = { C: Cb[t][s], E: Eb[t][s] };
    }));
    return out;
  }

  /** A model's RSA factors, one row per site (made on first use, for all its sites). */
  private *rsaStack(mi: number): Steps<RsaStack> {
    return yield* this.cachedSteps(this.rsa, `${mi},stack`, function* (this: SiteBank): Steps<RsaStack> {
      const sites = this.models[mi], n = (this.m * (this.m - 1)) / 2;
      const L = sites.length;
      const stack = { n, pearson: new Float64Array(L * n), spearman: new Float64Array(L * n), norms: { pearson: new Float64Array(L), spearman: new Float64Array(L) } };
      for (let si = 0; si < sites.length; si++) yield* rsaSite(sites[si], stack, si);
      return stack;
    }.bind(this));
  }

  /**
   * RSA between two models: every pair's correlation is a dot product of unit factors, so each
   * value is one Gram of the stacked factors (sites × m(m − 1)/2): one product instead of a
   * memory-bound pass over two 4 MB vectors per pair.
   */
  private *rsaMatrices(ma: number, mb: number): Steps<MeasureMatrices> {
    const x = yield* this.rsaStack(ma), y = ma === mb ? x : yield* this.rsaStack(mb);
    const na = this.models[ma].length, nb = this.models[mb].length;
    const out: MeasureMatrices = { forward: {}, backward: {} };
    for (const value of ["spearman", "pearson"] as const) {
      const g = yield* product(x[value], na, ma === mb ? null : y[value], nb, x.n);
      const nx = x.norms[value], ny = y.norms[value];
      const fwd = new Float64Array(na * nb), bwd = new Float64Array(nb * na);
      for (let i = 0; i < na; i++) for (let j = 0; j < nb; j++) {
        // Within a model, the upper triangle mirrored (the product's two halves may round apart).
        const v = ma === mb && j < i ? g[j * nb + i] / (nx[j] * ny[i]) : g[i * nb + j] / (nx[i] * ny[j]);
        fwd[i * nb + j] = v;
        bwd[j * na + i] = v;
      }
      out.forward[value] = fwd;
      out.backward[value] = bwd;
    }
    return out;
  }

  private *matrixSteps(measure: Measure, ma: number, mb: number, minimum = Infinity): Steps<MeasureMatrices> {
    if (measure === "rsa") return yield* this.rsaMatrices(ma, mb);
    const A = this.models[ma], B = this.models[mb];
    const values = MEASURE_VALUES[measure];
    const fwd = values.map(() => new Float64Array(A.length * B.length));
    const bwd = values.map(() => new Float64Array(B.length * A.length));
    const { groups: [ga, gb], batched } = yield* this.tiles(measure, ma, mb, minimum);
    for (let s = 0; s < ga.length; s++) for (let t = ma === mb ? s : 0; t < gb.length; t++) {
      // A tile's blocks live only while its pairs are computed.
      const blocks = batched ? yield* this.tileBlocks(measure, ma, mb, ga[s], gb[t]) : undefined;
      for (const i of ga[s]) for (const j of gb[t]) {
        if (ma === mb && j < i) continue;
        const r = yield* this.pair(measure, [ma, i], [mb, j], blocks?.get(`${i},${j}`));
        values.forEach((_, v) => {
          fwd[v][i * B.length + j] = r.forward[v];
          bwd[v][j * A.length + i] = r.backward[v];
          if (ma === mb) {
            fwd[v][j * B.length + i] = r.backward[v];
            bwd[v][i * A.length + j] = r.forward[v];
          }
        });
      }
    }
    return { forward: Object.fromEntries(values.map((v, i) => [v, fwd[i]])), backward: Object.fromEntries(values.map((v, i) => [v, bwd[i]])) };
  }

  /** Drops the cached RSA and kNN factors of model `mi` (the largest: m(m−1) values per site). */
  release(mi: number): void {
    for (const map of [this.rsa, this.knn] as Map<string, unknown>[]) for (const key of [...map.keys()]) if (key.startsWith(`${mi},`)) map.delete(key);
  }
}

/**
 * Columns whose cosine is below this are left unrotated: their norms then differ from the σᵢ by
 * O(n·cos²) relatively (Demmel & Veselić 1992), ~1e-16 at n ~ 100; after the preconditioning
 * below only pairs involving small σᵢ exceed it, where ε would rotate nearly every pair every sweep.
 */
const JACOBI_TOLERANCE = 1e-9;

/**
 * Σ σᵢ of an r × c matrix by one-sided Jacobi (Hestenes 1958): the columns are rotated until
 * orthogonal and the σᵢ are their norms, each accurate to ~ε·‖M‖. The eigenvalues of MᵀM would
 * square the σᵢ, losing those below √ε·σ_max, and with them the angle of identical sites (0
 * needs 1 − ρ to ~1e-13).
 */
export function nuclearNorm(M: Float64Array, r: number, c: number): number {
  return runSteps(nuclearNormSteps(M, r, c));
}

function* nuclearNormSteps(M: Float64Array, r: number, c: number): Steps<number> {
  if (c > r) return yield* nuclearNormSteps(transpose(M, r, c), c, r);
  // Columns stored as rows for contiguous access. Beyond a few columns they are first rotated by
  // the eigenvectors V of MᵀM: M V has columns orthogonal to ~ε, so the sweeps converge (quadratically)
  // in one to four instead of ~8, and the σᵢ still come from Jacobi's column norms, as accurate as
  // V is orthogonal (the eigenvalues of MᵀM alone would lose the small σᵢ).
  let a: Float64Array;
  if (c > 8) {
    const v = symmetricEigen({ data: yield* product(transpose(M, r, c), c, null, c, r), shape: [c, c] }).vectors.data;
    a = yield* product(transpose(v, c, c), c, M, r, c);
  } else a = transpose(M, r, c);
  // Squared column norms: recomputed each sweep, updated exactly in between (α − tγ, β + tγ after
  // the rotation that zeroes γ), so a pair costs one dot product, not three.
  const norms = new Float64Array(c);
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let i = 0; i < c; i++) {
      let n = 0;
      for (let t = 0; t < r; t++) n += a[i * r + t] * a[i * r + t];
      norms[i] = n;
    }
    for (let i = 0; i < c - 1; i++) for (let j = i + 1; j < c; j++) {
      const alpha = norms[i], beta = norms[j];
      let gamma = 0;
      const oi = i * r, oj = j * r;
      for (let t = 0; t < r; t++) gamma += a[oi + t] * a[oj + t];
      if (gamma === 0 || Math.abs(gamma) <= JACOBI_TOLERANCE * Math.sqrt(alpha * beta)) continue;
      off = Math.max(off, Math.abs(gamma) / Math.sqrt(alpha * beta));
      const zeta = (beta - alpha) / (2 * gamma);
      const tan = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
      const cos = 1 / Math.sqrt(1 + tan * tan), sin = cos * tan;
      norms[i] = alpha - tan * gamma;
      norms[j] = beta + tan * gamma;
      for (let t = 0; t < r; t++) {
        const x = a[oi + t], y = a[oj + t];
        a[oi + t] = cos * x - sin * y;
        a[oj + t] = sin * x + cos * y;
      }
    }
    if (off <= JACOBI_TOLERANCE) break;
  }
  let s = 0;
  for (let i = 0; i < c; i++) {
    let n = 0;
    for (let t = 0; t < r; t++) n += a[i * r + t] ** 2;
    s += Math.sqrt(n);
  }
  return s;
}

function mean(rho: Float64Array, power: 1 | 2): number {
  let s = 0;
  for (const r of rho) s += power === 2 ? r * r : r;
  return s / rho.length;
}

function weighted(w: Float64Array, rho: Float64Array): number {
  let s = 0;
  for (let i = 0; i < rho.length; i++) s += w[i] * rho[i];
  return s;
}
