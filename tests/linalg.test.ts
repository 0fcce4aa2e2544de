import { describe, expect, it } from "vitest";
import { eigs, lup, lusolve, multiply, transpose as mjTranspose } from "mathjs";
import { cholesky, choleskySolve, crossProduct, matrix, symmetricEigen, symmetricEigenTop, symmetricEigenvalues } from "../src/numeric/linalg.js";
import { product, transpose } from "./helpers/linalg.js";
import { columnMoments } from "../src/numeric/stats.js";
import { gram } from "../src/numeric/gram.js";
import { maxRelativeError, readFloat } from "./helpers/npy-b.js";
import { orthogonal } from "./helpers/gaussian.js";

const dir = "fixtures/reference/analyses-b";
const asMatrix = (t: { data: Float32Array | Float64Array; shape: number[] }) => matrix(t.shape[0], t.shape[1], t.data);

describe("choleskySolve", () => {
  it("choleskySolve matches numpy.linalg.solve on an SPD system with 3 right-hand sides", () => {
    const A = asMatrix(readFloat(`${dir}/linalg_spd.npy`));
    const B = asMatrix(readFloat(`${dir}/linalg_rhs.npy`));
    const X = choleskySolve(A, B);
    expect(X.shape).toEqual([9, 3]);
    expect(maxRelativeError(X.data, readFloat(`${dir}/linalg_solution.npy`).data, 1e-6)).toBeLessThan(1e-9);
  });

  it("cholesky(A) reproduces A as L Lᵀ", () => {
    const A = asMatrix(readFloat(`${dir}/linalg_spd.npy`));
    const L = cholesky(A);
    expect(maxRelativeError(product(L, transpose(L)).data, A.data, 1e-6)).toBeLessThan(1e-12);
  });

  it("cholesky rejects a matrix that is not positive definite", () => {
    expect(() => cholesky(matrix(2, 2, [1, 2, 2, 1]))).toThrow(/not positive definite \(pivot 1/);
  });

  it("choleskySolve rejects a right-hand side of the wrong height", () => {
    expect(() => choleskySolve(matrix(2, 2, [2, 0, 0, 2]), matrix(3, 1))).toThrow(/invalid right-hand side/);
  });
});

describe("symmetricEigen", () => {
  it("symmetricEigen matches numpy.linalg.eigh (values descending, vectors up to sign)", () => {
    const S = asMatrix(readFloat(`${dir}/linalg_sym.npy`));
    const { values, vectors } = symmetricEigen(S);
    expect(maxRelativeError(values, readFloat(`${dir}/linalg_eigenvalues.npy`).data, 1e-6)).toBeLessThan(1e-10);
    const ref = readFloat(`${dir}/linalg_eigenvectors.npy`).data;
    const n = 12;
    for (let c = 0; c < n; c++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += vectors.data[r * n + c] * ref[r * n + c];
      const sign = Math.sign(dot);
      for (let r = 0; r < n; r++) expect(Math.abs(vectors.data[r * n + c] - sign * ref[r * n + c])).toBeLessThan(1e-10);
    }
  });

  it("symmetricEigen reconstructs a 60 × 60 Gram matrix and gives orthonormal vectors", () => {
    // Deterministic pseudo-random data (no numpy needed for a self-consistency property).
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
    const X = matrix(80, 60, Array.from({ length: 4800 }, rand));
    const G = crossProduct(X);
    const { values, vectors } = symmetricEigen(G);
    const n = 60;
    const VL = matrix(n, n);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) VL.data[r * n + c] = vectors.data[r * n + c] * values[c];
    expect(maxRelativeError(product(VL, transpose(vectors)).data, G.data, 1e-3)).toBeLessThan(1e-11);
    const I = product(transpose(vectors), vectors).data;
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) expect(Math.abs(I[r * n + c] - (r === c ? 1 : 0))).toBeLessThan(1e-12);
    for (let i = 1; i < n; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1]);
  });

  it("symmetricEigenvalues matches numpy.linalg.eigh, and symmetricEigen's values bit for bit (a 12 × 12, a rank-2 60 × 60, zeros)", () => {
    const S = asMatrix(readFloat(`${dir}/linalg_sym.npy`));
    expect(maxRelativeError(symmetricEigenvalues(S), readFloat(`${dir}/linalg_eigenvalues.npy`).data, 1e-6)).toBeLessThan(1e-10);
    const x = Float64Array.from({ length: 60 * 2 }, (_, i) => Math.sin(3 * i + 1));
    for (const a of [S, crossProduct(matrix(2, 60, x)), matrix(5, 5)]) expect(Array.from(symmetricEigenvalues(a))).toEqual(Array.from(symmetricEigen(a).values));
  });

  it("symmetricEigen of a diagonal matrix returns its diagonal sorted", () => {
    expect(Array.from(symmetricEigen(matrix(3, 3, [1, 0, 0, 0, 3, 0, 0, 0, 2])).values)).toEqual([3, 2, 1]);
  });

  it("symmetricEigen rejects a non-square matrix", () => {
    expect(() => symmetricEigen(matrix(2, 3))).toThrow(/not square \[2,3\]/);
  });
});

describe("columnMoments", () => {
  it("columnMoments gives the mean and the population std", () => {
    const { mean, std } = columnMoments([1, 2, 3, 6], 2, 2);
    expect(Array.from(mean)).toEqual([2, 4]);
    expect(Array.from(std)).toEqual([1, 2]);
  });
});

// mathjs as a second oracle, independent of numpy and of src/numeric: plain-array algorithms,
// far too slow for the product (ARCHITECTURE.md) but fine for small random systems.
describe("linear algebra against mathjs", () => {
  const random = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  const rowsOf = (m: { data: Float64Array; shape: [number, number] }) =>
    Array.from({ length: m.shape[0] }, (_, i) => Array.from(m.data.subarray(i * m.shape[1], (i + 1) * m.shape[1])));
  const flat = (a: number[][]) => Float64Array.from(a.flat());
  const cases = [[5, 3, 1], [17, 9, 2], [40, 24, 3], [12, 30, 4]] as const;

  for (const [m, n, seed] of cases) {
    it(`crossProduct and gram of a ${m} × ${n} matrix equal mathjs XᵀX and XXᵀ`, () => {
      const X = matrix(m, n, Array.from({ length: m * n }, random(seed)));
      const xs = rowsOf(X);
      expect(maxRelativeError(crossProduct(X).data, flat(multiply(mjTranspose(xs), xs) as number[][]), 1e-9)).toBeLessThan(1e-12);
      expect(maxRelativeError(gram(X), flat(multiply(xs, mjTranspose(xs)) as number[][]), 1e-9)).toBeLessThan(1e-12);
    });

    it(`symmetricEigen of a ${n} × ${n} Gram matches mathjs eigs (values, and vectors up to sign)`, () => {
      const X = matrix(m + n, n, Array.from({ length: (m + n) * n }, random(10 + seed)));
      const G = crossProduct(X);
      const { values, vectors } = symmetricEigen(G);
      const ref = eigs(rowsOf(G));
      const pairs = ref.eigenvectors.map((e) => ({ value: e.value as number, vector: e.vector as number[] })).sort((a, b) => b.value - a.value);
      expect(maxRelativeError(values, Float64Array.from(pairs, (p) => p.value), 1e-9)).toBeLessThan(1e-10);
      pairs.forEach(({ vector }, c) => {
        const norm = Math.hypot(...vector);
        let dot = 0;
        for (let r = 0; r < n; r++) dot += vectors.data[r * n + c] * vector[r];
        const sign = Math.sign(dot);
        for (let r = 0; r < n; r++) expect(Math.abs(vectors.data[r * n + c] - (sign * vector[r]) / norm)).toBeLessThan(1e-8);
      });
    });

    it(`choleskySolve of a ${n} × ${n} SPD system with ${seed} right-hand sides matches mathjs lusolve`, () => {
      const X = matrix(m + n, n, Array.from({ length: (m + n) * n }, random(20 + seed)));
      const A = crossProduct(X);
      for (let i = 0; i < n; i++) A.data[i * n + i] += 0.1;
      const B = matrix(n, seed, Array.from({ length: n * seed }, random(30 + seed)));
      // lusolve takes one right-hand side at a time; factorise once.
      const lu = lup(rowsOf(A));
      const ref = new Float64Array(n * seed);
      for (let c = 0; c < seed; c++) {
        const solved = lusolve(lu, Array.from({ length: n }, (_, r) => [B.data[r * seed + c]]));
        const x = (Array.isArray(solved) ? solved : solved.toArray()) as number[][];
        for (let r = 0; r < n; r++) ref[r * seed + c] = x[r][0];
      }
      expect(maxRelativeError(choleskySolve(A, B).data, ref, 1e-9)).toBeLessThan(1e-9);
    });
  }
});

describe("symmetricEigenTop", () => {
  // Seeded symmetric matrices: a Wishart-like Gram (spread spectrum, as the filter PCA's) and
  // one with a repeated top eigenvalue (a cluster its inverse iteration must orthogonalise).
  const rand = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  function gramOf(n: number, p: number, seed: number): Float64Array {
    const r = rand(seed);
    const x = Float64Array.from({ length: n * p }, r);
    const g = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let t = 0; t < p; t++) s += x[i * p + t] * x[j * p + t];
      g[i * n + j] = g[j * n + i] = s;
    }
    return g;
  }
  function check(a: Float64Array, n: number, k: number) {
    const top = symmetricEigenTop({ data: a, shape: [n, n] }, k);
    const full = symmetricEigen({ data: a, shape: [n, n] });
    expect(Array.from(top.values)).toEqual(Array.from(full.values));
    const scale = Math.abs(full.values[0]);
    for (let c = 0; c < k; c++) {
      // A v = λ v to rounding, unit norm, orthogonal to the others.
      let res = 0, nn = 0;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a[i * n + j] * top.vectors.data[j * k + c];
        res = Math.max(res, Math.abs(s - top.values[c] * top.vectors.data[i * k + c]));
        nn += top.vectors.data[i * k + c] ** 2;
      }
      expect(res / scale).toBeLessThan(1e-12);
      expect(Math.abs(nn - 1)).toBeLessThan(1e-12);
      for (let d = 0; d < c; d++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += top.vectors.data[i * k + c] * top.vectors.data[i * k + d];
        expect(Math.abs(dot)).toBeLessThan(1e-11);
      }
      // Where the eigenvalue is simple, the same vector as the full decomposition up to sign.
      const gap = Math.min(c > 0 ? full.values[c - 1] - full.values[c] : Infinity, full.values[c] - full.values[c + 1]);
      if (gap > 1e-6 * scale) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += top.vectors.data[i * k + c] * full.vectors.data[i * n + c];
        expect(1 - Math.abs(dot)).toBeLessThan(1e-10);
      }
    }
    return top;
  }
  it("equals the full decomposition's top eigenpairs on a 200 × 200 Gram", () => {
    check(gramOf(200, 300, 7), 200, 28);
  });
  it("orthonormal vectors for a tripled top eigenvalue (Q diag(λ) Qᵀ, Q random orthogonal)", () => {
    const n = 100;
    const q = orthogonal(n, 11);
    const lambda = Array.from({ length: n }, (_, i) => (i < 3 ? 10 : 5 / (1 + i)));
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += q[i * n + t] * lambda[t] * q[j * n + t];
      a[i * n + j] = a[j * n + i] = s;
    }
    check(a, n, 8);
  });
});
