/**
 * Dense float64 linear algebra for the small systems of the analyses: Cholesky solves for ridge
 * regression (METHODS.md §6) and the symmetric eigendecomposition behind PCA (§7).
 * Row-major `Float64Array`s walked with plain indexed loops; inputs are never modified.
 */
import { columnGram, rowSet } from "./matmul.js";

/** A row-major float64 matrix. */
export interface Matrix {
  data: Float64Array;
  shape: [number, number];
}

/**
 * A row-major float64 matrix of the given shape (zeros, or a copy of `data`).
 * @example matrix(2, 2, [1, 0, 0, 1]) // identity
 */
export function matrix(rows: number, cols: number, data?: ArrayLike<number>): Matrix {
  if (!Number.isInteger(rows) || rows < 0) throw new RangeError(`invalid rows: ${rows}`);
  if (!Number.isInteger(cols) || cols < 0) throw new RangeError(`invalid cols: ${cols}`);
  const out = new Float64Array(rows * cols);
  if (data !== undefined) {
    if (data.length !== rows * cols) throw new RangeError(`invalid data length ${data.length} for [${rows}, ${cols}]`);
    out.set(data);
  }
  return { data: out, shape: [rows, cols] };
}

function squareSize(a: Matrix, name: string): number {
  const [n, m] = a.shape;
  if (n !== m) throw new RangeError(`invalid ${name}: not square [${a.shape}]`);
  if (a.data.length !== n * m) throw new RangeError(`invalid ${name}: ${a.data.length} elements for [${a.shape}]`);
  return n;
}

/**
 * Lower-triangular Cholesky factor L of a symmetric positive definite matrix, A = L Lᵀ.
 * Reads only the lower triangle of A. Throws a RangeError when A is not positive definite.
 * @example cholesky(matrix(2, 2, [4, 2, 2, 3])).data // [2, 0, 1, √2]
 */
export function cholesky(a: Matrix): Matrix {
  const n = squareSize(a, "matrix");
  const A = a.data;
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let s = A[rj + j];
    for (let k = 0; k < j; k++) s -= L[rj + k] * L[rj + k];
    if (!(s > 0)) throw new RangeError(`invalid matrix: not positive definite (pivot ${j} is ${s})`);
    const d = Math.sqrt(s);
    L[rj + j] = d;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let t = A[ri + j];
      for (let k = 0; k < j; k++) t -= L[ri + k] * L[rj + k];
      L[ri + j] = t / d;
    }
  }
  return { data: L, shape: [n, n] };
}

/**
 * Solve A X = B for symmetric positive definite A (n × n) and B (n × m) by Cholesky
 * factorisation and two triangular solves. Used for ridge regression, (XᵀX + λI) W = XᵀY.
 * @example choleskySolve(matrix(2, 2, [4, 2, 2, 3]), matrix(2, 1, [2, 1])).data // [0.5, 0]
 */
export function choleskySolve(a: Matrix, b: Matrix): Matrix {
  const L = cholesky(a).data;
  const n = a.shape[0];
  const [bn, m] = b.shape;
  if (bn !== n) throw new RangeError(`invalid right-hand side: [${b.shape}] for a ${n} × ${n} system`);
  const X = Float64Array.from(b.data);
  // Forward: L Y = B, row by row so the inner loop runs over contiguous columns of X.
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    const xi = i * m;
    for (let k = 0; k < i; k++) {
      const l = L[ri + k];
      if (l === 0) continue;
      const xk = k * m;
      for (let c = 0; c < m; c++) X[xi + c] -= l * X[xk + c];
    }
    const d = L[ri + i];
    for (let c = 0; c < m; c++) X[xi + c] /= d;
  }
  // Backward: Lᵀ X = Y.
  for (let i = n - 1; i >= 0; i--) {
    const xi = i * m;
    for (let k = i + 1; k < n; k++) {
      const l = L[k * n + i];
      if (l === 0) continue;
      const xk = k * m;
      for (let c = 0; c < m; c++) X[xi + c] -= l * X[xk + c];
    }
    const d = L[i * n + i];
    for (let c = 0; c < m; c++) X[xi + c] /= d;
  }
  return { data: X, shape: [n, m] };
}

/** Eigenvalues (descending) and unit eigenvectors (columns of `vectors`, same order). */
export interface SymmetricEigen {
  values: Float64Array;
  vectors: Matrix;
}

/**
 * Eigendecomposition A = V diag(values) Vᵀ of a symmetric matrix (only the lower triangle is
 * read): Householder tridiagonalisation and the implicit QL algorithm (EISPACK tred2/tql2 as in
 * JAMA). Eigenvalues come sorted in descending order; eigenvector signs are as the algorithm
 * leaves them.
 * @example symmetricEigen(matrix(2, 2, [2, 1, 1, 2])).values // [3, 1]
 */
export function symmetricEigen(a: Matrix): SymmetricEigen {
  const n = squareSize(a, "matrix");
  const V = symmetricCopy(a, n);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n > 0) {
    tred2(n, V, d, e);
    tql2(n, V, d, e);
  }
  // V now holds the eigenvectors as rows; sort descending and return them as columns.
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    const src = order[c] * n;
    values[c] = d[order[c]];
    for (let r = 0; r < n; r++) vectors[r * n + c] = V[src + r];
  }
  return { values, vectors: { data: vectors, shape: [n, n] } };
}

/**
 * The eigenvalues (descending) of a symmetric matrix, bit for bit those of symmetricEigen, without
 * the eigenvectors: the Householder reduction without accumulating its transformations and QL
 * without rotating vectors, about a third of the work (CCA needs only the values).
 * @example symmetricEigenvalues(matrix(2, 2, [2, 1, 1, 2])) // [3, 1]
 */
export function symmetricEigenvalues(a: Matrix): Float64Array {
  const n = squareSize(a, "matrix");
  const V = symmetricCopy(a, n);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n > 0) {
    tred2(n, V, d, e, false);
    tql2(n, null, d, e);
  }
  return d.sort().reverse();
}

/**
 * All eigenvalues (descending, bit for bit those of symmetricEigen) and the unit eigenvectors of
 * the `k` largest only (columns of an n × k `vectors`). The Householder reduction as in
 * symmetricEigen, the eigenvalues by QL without rotating vectors, then each wanted eigenvector of
 * the tridiagonal T by inverse iteration (LAPACK dstein's scheme: a few solves of (T − λI)y = b
 * with partial pivoting, vectors of eigenvalues closer than 1e-3‖T‖ orthogonalised against each
 * other) and mapped back through the reduction's reflectors (never forming Q). Accumulating Q
 * and QL's rotations is most of the full decomposition (the ViT filters' 768 × 768 Gram: 3–4 s in JS for 28 components).
 * Every vector is checked (residual ‖Ty − λy‖ ≤ 1e-12‖T‖, orthogonality ≤ 1e-12); if any fails,
 * the full decomposition answers instead.
 * @example symmetricEigenTop(matrix(2, 2, [2, 1, 1, 2]), 1).values // [3, 1]
 */
export function symmetricEigenTop(a: Matrix, k: number): SymmetricEigen {
  const n = squareSize(a, "matrix");
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`invalid k: ${k} (0 ≤ k ≤ ${n})`);
  const full = (): SymmetricEigen => {
    const e = symmetricEigen(a);
    const vectors = new Float64Array(n * k);
    for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) vectors[r * k + c] = e.vectors.data[r * n + c];
    return { values: e.values, vectors: { data: vectors, shape: [n, k] } };
  };
  if (n < 32 || k > n / 4) return full();
  const V = symmetricCopy(a, n);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  // Without accumulating Q (half of the reduction's n³ work): the reflectors stay in V's rows.
  const hs = new Float64Array(n);
  tred2(n, V, d, e, false, hs);
  // T: diagonal d, sub-diagonal t[i] = T[i+1][i] (tred2 leaves it in e[i+1]).
  const diag = d.slice();
  const sub = new Float64Array(n - 1);
  for (let i = 0; i + 1 < n; i++) sub[i] = e[i + 1];
  tql2(n, null, d, e);
  const values = d.slice().sort().reverse();
  let norm = 0;
  for (let i = 0; i < n; i++) norm = Math.max(norm, Math.abs(diag[i]) + (i > 0 ? Math.abs(sub[i - 1]) : 0) + (i + 1 < n ? Math.abs(sub[i]) : 0));
  const ys: Float64Array[] = [];
  const u0 = new Float64Array(n), u1 = new Float64Array(n), u2 = new Float64Array(n), l = new Float64Array(n), piv = new Uint8Array(n);
  let seed = 0x12345;
  for (let j = 0; j < k; j++) {
    const lambda = values[j];
    // Factor T − λI = P L U with partial pivoting (U: diagonal u0, super-diagonals u1, u2).
    const tiny = 2 ** -52 * norm;
    let a0 = diag[0] - lambda, b0 = n > 1 ? sub[0] : 0;
    for (let i = 0; i < n; i++) {
      const below = i + 1 < n ? sub[i] : 0;
      const nextDiag = i + 1 < n ? diag[i + 1] - lambda : 0;
      const nextSuper = i + 2 < n ? sub[i + 1] : 0;
      if (i + 1 < n && Math.abs(below) > Math.abs(a0)) {
        // Swap rows i and i + 1 (below ≠ 0, so the pivot is non-zero).
        piv[i] = 1;
        u0[i] = below;
        u1[i] = nextDiag;
        u2[i] = nextSuper;
        const m = a0 / below;
        l[i] = m;
        a0 = b0 - m * nextDiag;
        b0 = -m * nextSuper;
      } else {
        piv[i] = 0;
        u0[i] = a0 === 0 ? tiny : a0;
        u1[i] = b0;
        u2[i] = 0;
        const m = i + 1 < n ? below / u0[i] : 0;
        l[i] = m;
        a0 = nextDiag - m * b0;
        b0 = nextSuper;
      }
    }
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      y[i] = seed / 2 ** 32 - 0.5;
    }
    const cluster = ys.filter((_, c) => Math.abs(values[c] - lambda) < 1e-3 * norm);
    for (let it = 0; it < 4; it++) {
      // Forward: apply L⁻¹ (with the row swaps), then back-substitute U.
      for (let i = 0; i + 1 < n; i++) {
        if (piv[i]) {
          const t = y[i];
          y[i] = y[i + 1];
          y[i + 1] = t - l[i] * y[i];
        } else y[i + 1] -= l[i] * y[i];
      }
      for (let i = n - 1; i >= 0; i--) {
        let v = y[i];
        if (i + 1 < n) v -= u1[i] * y[i + 1];
        if (i + 2 < n) v -= u2[i] * y[i + 2];
        y[i] = v / u0[i];
      }
      for (const q of cluster) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += q[i] * y[i];
        for (let i = 0; i < n; i++) y[i] -= dot * q[i];
      }
      let ss = 0;
      for (let i = 0; i < n; i++) ss += y[i] * y[i];
      const inv = 1 / Math.sqrt(ss);
      if (!Number.isFinite(inv)) return full();
      for (let i = 0; i < n; i++) y[i] *= inv;
    }
    let res = 0;
    for (let i = 0; i < n; i++) {
      let v = (diag[i] - lambda) * y[i];
      if (i > 0) v += sub[i - 1] * y[i - 1];
      if (i + 1 < n) v += sub[i] * y[i + 1];
      res += v * v;
    }
    if (!(Math.sqrt(res) <= 1e-12 * norm)) return full();
    for (const q of ys) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += q[i] * y[i];
      if (!(Math.abs(dot) <= 1e-12)) return full();
    }
    ys.push(y);
  }
  // x = Q y with Q = P_{n−2} ⋯ P_0 as tred2's accumulation would build it: P_i = I − u uᵀ/h on
  // coordinates 0..i, u the first i + 1 entries of V's row i + 1, h that step's scalar; P_0 first.
  for (let i = 0; i + 1 < n; i++) {
    const h = hs[i + 1];
    if (h === 0) continue;
    const u = (i + 1) * n;
    for (const y of ys) {
      let g = 0;
      for (let t = 0; t <= i; t++) g += V[u + t] * y[t];
      g /= h;
      for (let t = 0; t <= i; t++) y[t] -= g * V[u + t];
    }
  }
  const vectors = new Float64Array(n * k);
  for (let j = 0; j < k; j++) for (let r = 0; r < n; r++) vectors[r * k + j] = ys[j][r];
  return { values, vectors: { data: vectors, shape: [n, k] } };
}

function symmetricCopy(a: Matrix, n: number): Float64Array {
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
    const x = a.data[i * n + j];
    V[i * n + j] = x;
    V[j * n + i] = x;
  }
  return V;
}

// Householder reduction to tridiagonal form (JAMA EigenvalueDecomposition.tred2, 0-based),
// on the transpose of JAMA's V (V[r][c] is stored at c·n + r), so the O(n³) loops over k walk
// contiguous memory and tql2 receives the eigenvector matrix already transposed.
function tred2(n: number, V: Float64Array, d: Float64Array, e: Float64Array, vectors = true, householder?: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = V[j * n + n - 1];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = V[j * n + i - 1];
        V[j * n + i] = 0;
        V[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        V[i * n + j] = f;
        const jn = j * n;
        g = e[j] + V[jn + j] * f;
        // Each V element loaded once (a store to e may alias V for the compiler); same operations, same order.
        for (let k = j + 1; k <= i - 1; k++) {
          const v = V[jn + k];
          g += v * d[k];
          e[k] += v * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const jn = j * n;
        for (let k = j; k <= i - 1; k++) V[jn + k] -= f * e[k] + g * d[k];
        d[j] = V[jn + i - 1];
        V[jn + i] = 0;
      }
    }
    d[i] = h;
  }
  if (!vectors) {
    // Each step's scalar h (d[i + 1] below) for applying the reflectors without accumulating them.
    householder?.set(d);
    // The accumulation below only moves the diagonal, untouched by its own updates, into d.
    for (let j = 0; j < n; j++) d[j] = V[j * n + j];
    e[0] = 0;
    return;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    V[i * n + n - 1] = V[i * n + i];
    V[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      const r1 = (i + 1) * n;
      for (let k = 0; k <= i; k++) d[k] = V[r1 + k] / h;
      for (let j = 0; j <= i; j++) {
        const jn = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += V[r1 + k] * V[jn + k];
        for (let k = 0; k <= i; k++) V[jn + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) V[(i + 1) * n + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = V[j * n + n - 1];
    V[j * n + n - 1] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/**
 * √(a² + b²) without overflow, as JAMA's hypot. Math.hypot (variadic) took 6× as long and gave the
 * same value on 10⁶ random pairs; QL calls it O(n²) times, a fifth of a 64 × 64 eigendecomposition
 * without vectors.
 */
function hypot(a: number, b: number): number {
  let x = Math.abs(a), y = Math.abs(b);
  if (x < y) {
    const t = x;
    x = y;
    y = t;
  }
  if (x === 0) return 0;
  const r = y / x;
  return x * Math.sqrt(1 + r * r);
}

// Implicit QL iterations on the tridiagonal matrix (JAMA EigenvalueDecomposition.tql2, 0-based),
// on the transposed eigenvector matrix (row i is JAMA's column i).
function tql2(n: number, V: Float64Array | null, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new Error(`symmetricEigen: QL iteration did not converge at eigenvalue ${l}`);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          // V is transposed here (eigenvectors as rows), so the rotation walks two contiguous rows.
          if (V === null) continue;
          const r0 = i * n;
          const r1 = r0 + n;
          for (let k = 0; k < n; k++) {
            const a = V[r0 + k], b = V[r1 + k];
            V[r1 + k] = s * a + c * b;
            V[r0 + k] = c * a - s * b;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

/**
 * Aᵀ A for an m × n matrix A (n × n, float64). The cross-product behind PCA and ridge Grams,
 * on the blocked kernel of matmul.ts.
 * @example crossProduct(matrix(2, 1, [3, 4])).data // [25]
 */
export function crossProduct(a: Matrix): Matrix {
  const [m, n] = a.shape;
  return { data: columnGram(rowSet(a.data, m, n)), shape: [n, n] };
}
