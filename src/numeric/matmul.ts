import type { FloatArray } from "../tensor.js";

/**
 * A row-major matrix whose rows may live in separate arrays: row i is
 * `arrays[i][offsets[i] .. offsets[i] + cols)`. Lets a kernel multiply stacked vec(U(K)) rows or
 * strided token slices without copying them into one buffer first.
 */
export interface RowSet {
  arrays: readonly FloatArray[];
  offsets: readonly number[];
  cols: number;
  /**
   * Optional generator of row values: writes columns [k0, k0+w) of row i into out[at..]. Lets a
   * product consume rows that are never materialised (e.g. U-centred Grams made on the fly).
   */
  gather?: (i: number, k0: number, w: number, out: Float64Array, at: number) => void;
}

/**
 * The rows of a dense row-major matrix as a RowSet (no copy).
 * @example rowSet(new Float64Array([1, 2, 3, 4]), 2, 2) // rows [1,2] and [3,4]
 */
export function rowSet(data: FloatArray, rows: number, cols: number): RowSet {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0 || rows * cols > data.length) {
    throw new RangeError(`invalid matrix shape [${rows}, ${cols}] for ${data.length} elements`);
  }
  const arrays: FloatArray[] = new Array(rows).fill(data);
  const offsets = Array.from({ length: rows }, (_, i) => i * cols);
  return { arrays, offsets, cols };
}

/**
 * Rows given as separate arrays of equal length (e.g. one flattened n×n Gram per site).
 * @example rowsOf([new Float64Array(4), new Float64Array(4)]) // 2 × 4
 */
export function rowsOf(arrays: readonly FloatArray[]): RowSet {
  const cols = arrays.length ? arrays[0].length : 0;
  for (const [i, a] of arrays.entries()) {
    if (a.length !== cols) throw new RangeError(`invalid row ${i}: length ${a.length}, expected ${cols}`);
  }
  return { arrays, offsets: arrays.map(() => 0), cols };
}

/** Options of {@link matmulTransB}. */
export interface MatmulOptions {
  /** Subtract these column means from both operands while packing (feature centring). */
  means?: Float64Array;
  /** Columns per packed panel; default chosen so both panels stay near L2 size. */
  panel?: number;
}

/**
 * C = A·Bᵀ in float64 (A: r×k, B: c×k, C: r×c row-major), cache-blocked over k with panels
 * packed into float64, and a 2×4 register-blocked, 4×-unrolled micro-kernel. When `b` is
 * omitted, computes the symmetric A·Aᵀ (half the work, mirrored).
 * @example matmulTransB(rowSet(x, 2, 3)) // 2×2 Gram of a 2×3 matrix
 */
export function matmulTransB(a: RowSet, b?: RowSet, options: MatmulOptions = {}): Float64Array {
  const symmetric = b === undefined || b === a;
  const B = b ?? a;
  if (B.cols !== a.cols) throw new RangeError(`invalid inner dimensions: ${a.cols} and ${B.cols}`);
  const r = a.arrays.length;
  const c = B.arrays.length;
  const k = a.cols;
  const means = options.means;
  if (means !== undefined && means.length !== k) throw new RangeError(`invalid means length: ${means.length}, expected ${k}`);
  const out = new Float64Array(r * c);
  if (r === 0 || c === 0 || k === 0) return out;
  const kc = options.panel ?? Math.max(64, Math.min(k, Math.floor(65536 / Math.max(1, symmetric ? r : r + c)) & ~3));
  const pa = new Float64Array(r * kc);
  const pb = symmetric ? pa : new Float64Array(c * kc);
  for (let k0 = 0; k0 < k; k0 += kc) {
    const w = Math.min(kc, k - k0);
    pack(a, pa, k0, w, means);
    if (!symmetric) pack(B, pb, k0, w, means);
    panelProduct(pa, r, pb, c, w, out, symmetric);
  }
  if (symmetric) {
    for (let i = 0; i < r; i++) for (let j = i + 1; j < r; j++) out[i * r + j] = out[j * r + i];
  }
  return out;
}

/** Options of {@link columnGram}. */
export interface ColumnGramOptions {
  /** Subtract this vector from every row first (a shift of the features, e.g. their mean). */
  shift?: Float64Array;
}

/**
 * XᵀX (cols × cols, full symmetric, float64) of the rows of X: the feature Gram behind ridge
 * normal equations and PCA. The rows are transposed once into column panels (shifted when asked)
 * and multiplied on the same packed kernel as {@link matmulTransB}; the transpose is O(rows·cols)
 * against the product's O(rows·cols²).
 * @example columnGram(rowSet(new Float64Array([3, 4]), 2, 1)) // [25]
 */
export function columnGram(x: RowSet, options: ColumnGramOptions = {}): Float64Array {
  const m = x.arrays.length;
  const D = x.cols;
  const shift = options.shift;
  if (shift !== undefined && shift.length !== D) throw new RangeError(`invalid shift length: ${shift.length}, expected ${D}`);
  const Xt = new Float64Array(D * m);
  const row = x.gather ? new Float64Array(D) : undefined;
  for (let k = 0; k < m; k++) {
    let src: ArrayLike<number> = x.arrays[k];
    let o = x.offsets[k];
    if (row) {
      x.gather!(k, 0, D, row, 0);
      src = row;
      o = 0;
    }
    if (shift === undefined) for (let j = 0; j < D; j++) Xt[j * m + k] = src[o + j];
    else for (let j = 0; j < D; j++) Xt[j * m + k] = src[o + j] - shift[j];
  }
  return matmulTransB(rowSet(Xt, D, m));
}

/** Copies columns [k0, k0+w) of every row into a dense panel with row stride w. */
function pack(src: RowSet, panel: Float64Array, k0: number, w: number, means?: Float64Array): void {
  const rows = src.arrays.length;
  if (src.gather) {
    for (let i = 0; i < rows; i++) src.gather(i, k0, w, panel, i * w);
    if (means) for (let i = 0; i < rows; i++) for (let t = 0; t < w; t++) panel[i * w + t] -= means[k0 + t];
    return;
  }
  for (let i = 0; i < rows; i++) {
    const s = src.arrays[i];
    const o = src.offsets[i] + k0;
    const d = i * w;
    if (means === undefined) {
      for (let t = 0; t < w; t++) panel[d + t] = s[o + t];
    } else {
      for (let t = 0; t < w; t++) panel[d + t] = s[o + t] - means[k0 + t];
    }
  }
}

/**
 * out[i, j] += Σ_t pa[i, t]·pb[j, t] over one panel of width w. For the symmetric case only
 * j ≤ i is computed (the lower triangle, rounded up to whole 4-column tiles).
 */
function panelProduct(
  pa: Float64Array, r: number, pb: Float64Array, c: number, w: number, out: Float64Array, symmetric: boolean,
): void {
  const w4 = w & ~3;
  let i = 0;
  for (; i + 1 < r; i += 2) {
    const a0 = i * w;
    const a1 = a0 + w;
    const jEnd = symmetric ? i + 2 : c;
    let j = 0;
    for (; j + 3 < jEnd; j += 4) {
      const b0 = j * w;
      const b1 = b0 + w;
      const b2 = b1 + w;
      const b3 = b2 + w;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let t = 0;
      for (; t < w4; t += 4) {
        const x00 = pa[a0 + t], x10 = pa[a1 + t];
        const y00 = pb[b0 + t], y10 = pb[b1 + t], y20 = pb[b2 + t], y30 = pb[b3 + t];
        s00 += x00 * y00; s01 += x00 * y10; s02 += x00 * y20; s03 += x00 * y30;
        s10 += x10 * y00; s11 += x10 * y10; s12 += x10 * y20; s13 += x10 * y30;
        const x01 = pa[a0 + t + 1], x11 = pa[a1 + t + 1];
        const y01 = pb[b0 + t + 1], y11 = pb[b1 + t + 1], y21 = pb[b2 + t + 1], y31 = pb[b3 + t + 1];
        s00 += x01 * y01; s01 += x01 * y11; s02 += x01 * y21; s03 += x01 * y31;
        s10 += x11 * y01; s11 += x11 * y11; s12 += x11 * y21; s13 += x11 * y31;
        const x02 = pa[a0 + t + 2], x12 = pa[a1 + t + 2];
        const y02 = pb[b0 + t + 2], y12 = pb[b1 + t + 2], y22 = pb[b2 + t + 2], y32 = pb[b3 + t + 2];
        s00 += x02 * y02; s01 += x02 * y12; s02 += x02 * y22; s03 += x02 * y32;
        s10 += x12 * y02; s11 += x12 * y12; s12 += x12 * y22; s13 += x12 * y32;
        const x03 = pa[a0 + t + 3], x13 = pa[a1 + t + 3];
        const y03 = pb[b0 + t + 3], y13 = pb[b1 + t + 3], y23 = pb[b2 + t + 3], y33 = pb[b3 + t + 3];
        s00 += x03 * y03; s01 += x03 * y13; s02 += x03 * y23; s03 += x03 * y33;
        s10 += x13 * y03; s11 += x13 * y13; s12 += x13 * y23; s13 += x13 * y33;
      }
      for (; t < w; t++) {
        const x0 = pa[a0 + t], x1 = pa[a1 + t];
        const y0 = pb[b0 + t], y1 = pb[b1 + t], y2 = pb[b2 + t], y3 = pb[b3 + t];
        s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
        s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
      }
      const o0 = i * c + j;
      const o1 = o0 + c;
      out[o0] += s00; out[o0 + 1] += s01; out[o0 + 2] += s02; out[o0 + 3] += s03;
      out[o1] += s10; out[o1 + 1] += s11; out[o1 + 2] += s12; out[o1 + 3] += s13;
    }
    for (; j < jEnd; j++) {
      const b0 = j * w;
      let s0 = 0, s1 = 0;
      for (let t = 0; t < w; t++) {
        const y = pb[b0 + t];
        s0 += pa[a0 + t] * y;
        s1 += pa[a1 + t] * y;
      }
      out[i * c + j] += s0;
      out[(i + 1) * c + j] += s1;
    }
  }
  for (; i < r; i++) {
    const a0 = i * w;
    const jEnd = symmetric ? i + 1 : c;
    for (let j = 0; j < jEnd; j++) {
      const b0 = j * w;
      let s = 0;
      for (let t = 0; t < w; t++) s += pa[a0 + t] * pb[b0 + t];
      out[i * c + j] += s;
    }
  }
}
