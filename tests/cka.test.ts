import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { linearCKA } from "../analyses/cka.js";
import { columnMeans, crossGram, gram } from "../src/numeric/gram.js";
import { centre, hsic0, hsic1, uCentre } from "../src/numeric/hsic.js";
import { hsic1Trace } from "./helpers/hsic-trace.js";
import { matmulTransB, rowSet } from "../src/numeric/matmul.js";
import type { Tensor } from "../src/tensor.js";
import { gaussian, orthogonal, relErr } from "./helpers/gaussian.js";
import { readNpy } from "./helpers/npy.js";

const dir = "fixtures/reference/cka";
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8"));
const X = readNpy(`${dir}/kornblith_x.npy`);
const Y = readNpy(`${dir}/kornblith_y.npy`);

/** Naive X·Yᵀ by a triple loop (the reference for the blocked kernel). */
function naive(a: Float64Array | Float32Array, r: number, b: Float64Array | Float32Array, c: number, k: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
    out[i * c + j] = s;
  }
  return out;
}

/** X·M for X m×p and M p×q. */
function times(x: Tensor, m: Float64Array, q: number): Tensor {
  const [rows, p] = x.shape;
  const out = new Float64Array(rows * q);
  for (let i = 0; i < rows; i++) for (let j = 0; j < q; j++) {
    let s = 0;
    for (let t = 0; t < p; t++) s += x.data[i * p + t] * m[t * q + j];
    out[i * q + j] = s;
  }
  return { data: out, shape: [rows, q] };
}

describe("gram and matmulTransB", () => {
  it("gram(X) equals a naive X·Xᵀ for odd shapes and float32 input", () => {
    for (const [n, p] of [[7, 13], [9, 1], [4, 300], [33, 65]]) {
      const x = gaussian([n, p], n * 100 + p);
      expect(relErr(gram(x), naive(x.data, n, x.data, n, p))).toBeLessThan(1e-12);
      const x32 = { data: Float32Array.from(x.data), shape: [n, p] };
      expect(relErr(gram(x32), naive(x32.data, n, x32.data, n, p))).toBeLessThan(1e-12);
    }
  });

  it("gram(X, {centre: true}) equals the Gram of column-centred features", () => {
    const x = gaussian([11, 23], 5);
    const mu = columnMeans(x);
    const xc = x.data.map((v, i) => v - mu[i % 23]);
    expect(relErr(gram(x, { centre: true }), naive(xc, 11, xc, 11, 23))).toBeLessThan(1e-12);
  });

  it("matmulTransB(A, B) equals a naive product across several panels", () => {
    const a = gaussian([6, 203], 1), b = gaussian([5, 203], 2);
    const c = matmulTransB(rowSet(a.data, 6, 203), rowSet(b.data, 5, 203), { panel: 64 });
    expect(relErr(c, naive(a.data, 6, b.data, 5, 203))).toBeLessThan(1e-12);
    expect(relErr(crossGram(a, b), naive(a.data, 6, b.data, 5, 203))).toBeLessThan(1e-12);
  });

  it("matmulTransB rejects mismatched inner dimensions", () => {
    expect(() => matmulTransB(rowSet(new Float64Array(6), 2, 3), rowSet(new Float64Array(4), 2, 2))).toThrow(/invalid inner dimensions: 3 and 2/);
  });
});

describe("HSIC", () => {
  it("hsic1Trace (trace formula) and hsic1 on U-centred Grams agree", () => {
    for (const n of [4, 5, 17, 64]) {
      const k = gram(gaussian([n, 8], n)), l = gram(gaussian([n, 3], n + 1));
      const a = hsic1Trace(k, l), b = hsic1(uCentre(k), uCentre(l));
      expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-10 * Math.max(Math.abs(a), Math.abs(hsic1Trace(k, k))));
    }
  });

  it("hsic0 and the full-Gram HSIC₁ match numpy on Kornblith's arrays", () => {
    const k = gram(X), l = gram(Y);
    expect(relErr(hsic0(k, l), expected.kornblith.hsic0_xy)).toBeLessThan(1e-9);
    expect(relErr(hsic1Trace(k, l), expected.kornblith.hsic1_full_xy)).toBeLessThan(1e-9);
    expect(relErr(hsic1(uCentre(k), uCentre(l)), expected.kornblith.hsic1_full_xy)).toBeLessThan(1e-9);
  });

  it("uCentre leaves a zero diagonal and centre gives zero row sums", () => {
    const k = gram(gaussian([10, 4], 3));
    const u = uCentre(k), c = centre(k);
    for (let i = 0; i < 10; i++) {
      expect(u[i * 11]).toBe(0);
      let s = 0;
      for (let j = 0; j < 10; j++) s += c[i * 10 + j];
      expect(Math.abs(s)).toBeLessThan(1e-10);
    }
  });

  it("uCentre rejects n < 4", () => {
    expect(() => uCentre(new Float64Array(9))).toThrow(/invalid batch size: 3/);
  });
});

describe("linearCKA", () => {
  it("linearCKA(full-biased) reproduces Kornblith's demo value 0.55761", () => {
    const v = linearCKA(X, Y, { estimator: "full-biased" }).cka;
    expect(Math.abs(v - 0.55761)).toBeLessThan(1e-5);
    expect(relErr(v, expected.kornblith.biased)).toBeLessThan(1e-9);
  });

  it("linearCKA(full-debiased) reproduces Kornblith's demo value 0.51346", () => {
    const v = linearCKA(X, Y, { estimator: "full-debiased" }).cka;
    expect(Math.abs(v - 0.51346)).toBeLessThan(1e-5);
    expect(relErr(v, expected.kornblith.debiased)).toBeLessThan(1e-9);
  });

  it("linearCKA(minibatch-unbiased, batch 25) matches numpy over 4 batches", () => {
    for (const centreFeatures of [true, false]) {
      const r = linearCKA(X, Y, { batch: 25, centre: centreFeatures });
      expect(r.batches).toBe(4);
      expect(relErr(r.cka, expected.minibatch25.cka)).toBeLessThan(1e-9);
      expect(relErr([r.hsicXY, r.hsicXX, r.hsicYY], [expected.minibatch25.hsicXY, expected.minibatch25.hsicXX, expected.minibatch25.hsicYY])).toBeLessThan(1e-9);
    }
  });

  it("linearCKA drops a remainder and counts it", () => {
    const r = linearCKA(X, Y, { batch: 30 });
    expect([r.batches, r.examples, r.dropped]).toEqual([3, 90, 10]);
  });

  it("linearCKA accepts any shape per example (flattened)", () => {
    const x3 = { data: X.data, shape: [100, 2, 5] };
    expect(linearCKA(x3, Y, { estimator: "full-biased" }).cka).toBeCloseTo(expected.kornblith.biased, 12);
  });

  const ests = ["minibatch-unbiased", "full-biased", "full-debiased"] as const;
  const x = gaussian([120, 12], 11);
  const y = { data: x.data.map((v, i) => v * (1 + (i % 12) / 4) + gaussian([120, 12], 12).data[i]), shape: [120, 12] };

  it("linearCKA(X, X) is 1 under every estimator", () => {
    for (const estimator of ests) expect(Math.abs(linearCKA(x, x, { estimator, batch: estimator === "minibatch-unbiased" ? 40 : undefined }).cka - 1)).toBeLessThan(1e-12);
  });

  it("linearCKA is symmetric", () => {
    for (const estimator of ests) {
      const o = { estimator, batch: estimator === "minibatch-unbiased" ? 30 : undefined };
      expect(relErr(linearCKA(x, y, o).cka, linearCKA(y, x, o).cka)).toBeLessThan(1e-12);
    }
  });

  it("linearCKA is invariant to orthogonal transforms and isotropic scaling", () => {
    const q = orthogonal(12, 99);
    const xq = times(x, q, 12);
    const xs = { data: x.data.map((v) => 3.7 * v), shape: x.shape };
    for (const estimator of ests) {
      const o = { estimator, batch: estimator === "minibatch-unbiased" ? 30 : undefined };
      const base = linearCKA(x, y, o).cka;
      expect(relErr(linearCKA(xq, y, o).cka, base)).toBeLessThan(1e-10);
      expect(relErr(linearCKA(xs, y, o).cka, base)).toBeLessThan(1e-10);
    }
  });

  it("linearCKA is not invariant to a general invertible linear map", () => {
    const m = new Float64Array(144);
    for (let i = 0; i < 12; i++) for (let j = i; j < 12; j++) m[i * 12 + j] = i === j ? 1 + 3 * i : 0.5;
    const xm = times(x, m, 12);
    for (const estimator of ests) {
      const o = { estimator, batch: estimator === "minibatch-unbiased" ? 30 : undefined };
      expect(linearCKA(x, xm, o).cka).toBeLessThan(0.95);
      expect(Math.abs(linearCKA(xm, y, o).cka - linearCKA(x, y, o).cka)).toBeGreaterThan(0.01);
    }
  });

  it("linearCKA of an independent random Y is ≈ 0 under minibatch-unbiased (not under full-biased)", () => {
    const a = gaussian([2000, 200], 21), b = gaussian([2000, 200], 22);
    const unbiased = linearCKA(a, b, { batch: 100 }).cka;
    expect(Math.abs(unbiased)).toBeLessThan(0.02);
    const a200 = { data: a.data.subarray(0, 100 * 200), shape: [100, 200] };
    const b200 = { data: b.data.subarray(0, 100 * 200), shape: [100, 200] };
    expect(linearCKA(a200, b200, { estimator: "full-biased" }).cka).toBeGreaterThan(0.3);
  });

  it("linearCKA rejects an unknown estimator and a batch below 4", () => {
    expect(() => linearCKA(X, Y, { estimator: "foo" as never })).toThrow(RangeError);
    expect(() => linearCKA(X, Y, { estimator: "foo" as never })).toThrow("invalid estimator: foo");
    expect(() => linearCKA(X, Y, { batch: 3 })).toThrow(/invalid batch: 3/);
    expect(() => linearCKA(X, { data: Y.data.subarray(0, 50), shape: [5, 10] })).toThrow(/invalid example counts: 100 and 5/);
  });
});
