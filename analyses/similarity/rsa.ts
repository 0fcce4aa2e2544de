/**
 * Representational similarity analysis (Kriegeskorte et al. 2008): each site's representational
 * dissimilarity matrix, 1 − Pearson correlation between examples, and the Pearson and Spearman
 * correlations of two such matrices over their upper triangles.
 */
import type { FloatArray, Tensor } from "../../src/tensor.js";
import { exampleShape } from "../../src/numeric/gram.js";
import { gramSide } from "../../src/numeric/hsic.js";
import { matmulTransB, rowSet } from "../../src/numeric/matmul.js";

/** 1 − cov_ij/√(cov_ii·cov_jj), diagonal exactly 0; throws on an example of zero variance. */
function dissimilarity(cov: Float64Array, m: number): Float64Array {
  const sd = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const v = cov[i * m + i];
    if (!(v > 0)) throw new RangeError(`invalid example ${i}: its features have variance ${v} (correlation undefined)`);
    sd[i] = Math.sqrt(v);
  }
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) out[i * m + j] = i === j ? 0 : 1 - cov[i * m + j] / (sd[i] * sd[j]);
  return out;
}

/**
 * The RDM (m×m) of a site from its UNCENTRED Gram K = X·Xᵀ, each example's feature sum sᵢ and
 * the feature count p, so in-graph Grams suffice: cov_ij = K_ij/p − sᵢsⱼ/p² (each example
 * centred over its own features), RDM_ij = 1 − cov_ij/√(cov_ii·cov_jj). When the features'
 * mean is large against their spread, the subtraction cancels digits; {@link rdmOfFeatures}
 * centres before multiplying instead.
 * @example rdm(gram(x), rowSums, p)[0 * m + 1] // 1 − corr(x₀, x₁)
 */
export function rdm(k: FloatArray, rowSums: ArrayLike<number>, p: number): Float64Array {
  const m = gramSide(k);
  if (rowSums.length !== m) throw new RangeError(`invalid rowSums: length ${rowSums.length} for ${m} examples`);
  if (!Number.isInteger(p) || p < 2) throw new RangeError(`invalid p: ${p} (a correlation needs p ≥ 2 features)`);
  const cov = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) cov[i * m + j] = k[i * m + j] / p - (rowSums[i] * rowSums[j]) / (p * p);
  return dissimilarity(cov, m);
}

/**
 * The RDM of a tensor of m examples (example axis first, flattened per example): each example
 * centred over its own features, then correlations from their Gram.
 * @example rdmOfFeatures({data, shape: [m, p]}) // m×m Float64Array, zero diagonal
 */
export function rdmOfFeatures(x: Tensor): Float64Array {
  const [m, p] = exampleShape(x);
  if (p < 2) throw new RangeError(`invalid p: ${p} (a correlation needs p ≥ 2 features)`);
  const c = new Float64Array(m * p);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < p; j++) s += x.data[i * p + j];
    const mean = s / p;
    for (let j = 0; j < p; j++) c[i * p + j] = x.data[i * p + j] - mean;
  }
  return dissimilarity(matmulTransB(rowSet(c, m, p)), m);
}

/** Pearson correlation of two equally long vectors (two-pass, float64). */
function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

/**
 * Ranks 1..n of the values, tied values sharing the mean of the ranks they span.
 * @example averageRanks(new Float64Array([10, 20, 10])) // [1.5, 3, 1.5]
 */
export function averageRanks(v: Float64Array): Float64Array {
  const n = v.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => v[i] - v[j] || i - j);
  const ranks = new Float64Array(n);
  for (let s = 0; s < n; ) {
    let e = s + 1;
    while (e < n && v[order[e]] === v[order[s]]) e++;
    const r = (s + 1 + e) / 2;
    for (let t = s; t < e; t++) ranks[order[t]] = r;
    s = e;
  }
  return ranks;
}

/** RSA of two RDMs with the settings used. */
export interface RSAValue {
  pearson: number;
  /** Pearson correlation of the average ranks (ties share their mean rank). */
  spearman: number;
  /** Pairs i < j compared: m(m−1)/2. */
  pairs: number;
  examples: number;
}

/**
 * Pearson and Spearman correlation of two RDMs of the same m examples over their upper
 * triangles (i < j), Spearman with average ranks for ties. NaN when one triangle is constant.
 * @example rsa(rdmOfFeatures(x), rdmOfFeatures(y)).spearman
 */
export function rsa(rdmA: FloatArray, rdmB: FloatArray): RSAValue {
  const m = gramSide(rdmA);
  if (gramSide(rdmB) !== m) throw new RangeError(`invalid RDMs: ${m}×${m} and ${gramSide(rdmB)}×${gramSide(rdmB)}`);
  if (m < 3) throw new RangeError(`invalid RDMs: ${m} examples (a correlation of pairs needs m ≥ 3)`);
  const pairs = (m * (m - 1)) / 2;
  const a = new Float64Array(pairs), b = new Float64Array(pairs);
  let t = 0;
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) {
    a[t] = rdmA[i * m + j];
    b[t++] = rdmB[i * m + j];
  }
  for (const v of [a, b]) if (v.some(Number.isNaN)) throw new RangeError("invalid RDM: NaN in the upper triangle");
  return { pearson: pearson(a, b), spearman: pearson(averageRanks(a), averageRanks(b)), pairs, examples: m };
}
