import type { FloatArray } from "../tensor.js";
import type { RowSet } from "./matmul.js";

/** Side n of a flattened n × n matrix; throws a RangeError when the length is not a square. */
export function gramSide(k: FloatArray): number {
  const n = Math.round(Math.sqrt(k.length));
  if (n * n !== k.length) throw new RangeError(`invalid Gram length: ${k.length} is not n²`);
  return n;
}

/**
 * U-centred Gram (Nguyen, Raghu & Kornblith 2021; Kornblith's `center_gram(unbiased=True)`):
 * zero the diagonal, subtract row and column means with the (n−2) and 2(n−1)(n−2) divisors,
 * keep the diagonal 0. Then HSIC₁(K, L) = ⟨U(K), U(L)⟩_F / (n(n−3)). Needs n ≥ 4.
 * @example uCentre(gram(x)) // Float64Array(n·n) with a zero diagonal
 */
export function uCentre(k: FloatArray): Float64Array {
  const n = gramSide(k);
  const means = uMeans(k);
  const u = Float64Array.from(k);
  for (let i = 0; i < n; i++) {
    const o = i * n;
    const mi = means[i];
    for (let j = 0; j < n; j++) u[o + j] -= mi + means[j];
    u[o + i] = 0;
  }
  return u;
}

/**
 * The offsets of U-centring: U(K)[i, j] = K[i, j] − (m[i] + m[j]) for i ≠ j and 0 on the
 * diagonal, with m[i] = r[i]/(n−2) − Σr/(2(n−1)(n−2)), r the row sums of K with a zero diagonal.
 * @example const m = uMeans(k); // U(K)[0,1] = k[1] - (m[0] + m[1])
 */
export function uMeans(k: FloatArray): Float64Array {
  const n = gramSide(k);
  if (n < 4) throw new RangeError(`invalid batch size: ${n} (the unbiased HSIC needs n ≥ 4)`);
  const means = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * n;
    for (let j = 0; j < n; j++) if (j !== i) s += k[o + j];
    means[i] = s / (n - 2);
    total += means[i];
  }
  const shift = total / (2 * (n - 1));
  for (let i = 0; i < n; i++) means[i] -= shift;
  return means;
}

/**
 * Rows vec(U(K_s)) of several Grams for a matrix product, generated panel by panel from the
 * Grams and their {@link uMeans}, so no U-centred copy is ever held. With `perm`, the rows are
 * vec(U(P K Pᵀ)) = vec(P U(K) Pᵀ): K's examples permuted (the shuffled-pairing control).
 * `means` are the Grams' {@link uMeans} when already at hand (a permutation leaves them as they are).
 * @example matmulTransB(uCentredRows(gramsA), uCentredRows(gramsB)) // ⟨U(K_i), U(L_j)⟩ for all i, j
 */
export function uCentredRows(grams: readonly FloatArray[], perm?: Uint32Array, means: readonly Float64Array[] = grams.map(uMeans)): RowSet {
  const n = grams.length ? gramSide(grams[0]) : 0;
  for (const g of grams) if (g.length !== n * n) throw new RangeError(`invalid Gram length: ${g.length}, expected ${n}×${n}`);
  if (perm && perm.length !== n) throw new RangeError(`invalid permutation length: ${perm.length}, expected ${n}`);
  if (means.length !== grams.length || means.some((m) => m.length !== n)) throw new RangeError("invalid means: one per Gram, of its side");
  // Row segment by row segment: element (i, j) of the panel is row i (or perm[i]) of K.
  const gather = (s: number, k0: number, w: number, out: Float64Array, at: number) => {
    const k = grams[s];
    const m = means[s];
    let i = Math.floor(k0 / n);
    let j = k0 - i * n;
    for (let t = 0; t < w; ) {
      const len = Math.min(n - j, w - t);
      const pi = perm ? perm[i] : i;
      const row = pi * n;
      const mi = m[pi];
      const o = at + t;
      if (perm) {
        for (let q = 0; q < len; q++) {
          const pj = perm[j + q];
          out[o + q] = k[row + pj] - (mi + m[pj]);
        }
      } else {
        for (let q = 0; q < len; q++) out[o + q] = k[row + j + q] - (mi + m[j + q]);
      }
      // The diagonal (i, i) of U(K), and of P U(K) Pᵀ, is 0.
      if (i >= j && i < j + len) out[o + i - j] = 0;
      t += len;
      j += len;
      if (j === n) {
        j = 0;
        i++;
      }
    }
  };
  return { arrays: grams, offsets: grams.map(() => 0), cols: n * n, gather };
}

/**
 * Double-centred Gram HKH with H = I − 11ᵀ/n (for the biased HSIC).
 * @example centre(gram(x)) // rows and columns sum to 0
 */
export function centre(k: FloatArray): Float64Array {
  const n = gramSide(k);
  const c = Float64Array.from(k);
  const rowMeans = new Float64Array(n);
  let grand = 0;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += c[i * n + j];
    rowMeans[i] = s / n;
    grand += s;
  }
  grand /= n * n;
  // K is symmetric, so column means equal row means.
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) c[i * n + j] += grand - rowMeans[i] - rowMeans[j];
  }
  return c;
}

/** Frobenius inner product ⟨A, B⟩_F = Σ A∘B in float64. */
export function frobenius(a: FloatArray, b: FloatArray): number {
  if (a.length !== b.length) throw new RangeError(`invalid lengths: ${a.length} and ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Unbiased HSIC₁ from two already U-centred Grams: ⟨U(K), U(L)⟩_F / (n(n−3)).
 * @example hsic1(uCentre(K), uCentre(L))
 */
export function hsic1(uk: FloatArray, ul: FloatArray): number {
  const n = gramSide(uk);
  return frobenius(uk, ul) / (n * (n - 3));
}

/**
 * Biased HSIC ⟨HKH, HLH⟩_F / (n−1)² (Gretton et al. 2005; Kornblith et al. 2019 eq. 3).
 * @example hsic0(gram(x), gram(y))
 */
export function hsic0(k: FloatArray, l: FloatArray): number {
  const n = gramSide(k);
  if (n < 2) throw new RangeError(`invalid batch size: ${n} (HSIC needs n ≥ 2)`);
  return frobenius(centre(k), centre(l)) / ((n - 1) * (n - 1));
}
