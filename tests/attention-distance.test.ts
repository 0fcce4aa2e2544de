import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  attentionDistance,
  attentionDistanceReducer,
  patchDistances,
  uniformAttentionDistance,
} from "../analyses/attention-distance.js";
import { maxRelativeError, readFloat } from "./helpers/npy-b.js";

const dir = "fixtures/reference/analyses-b";
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8"));

describe("uniformAttentionDistance", () => {
  it("matches METHODS.md §2 reference values", () => {
    expect(uniformAttentionDistance([14, 14], 16)).toBeCloseTo(116.49, 2);
    expect(uniformAttentionDistance([14, 14], 16, { includeSelf: false })).toBeCloseTo(117.09, 2);
    expect(uniformAttentionDistance([7, 7], 32)).toBeCloseTo(115.5, 2);
    expect(uniformAttentionDistance([16, 16], 14)).toBeCloseTo(116.57, 2);
  });

  it("matches numpy at 1e-12", () => {
    const u = expected.uniform;
    expect(maxRelativeError([uniformAttentionDistance([14, 14], 16)], [u["14x14_P16_self"]])).toBeLessThan(1e-12);
    expect(maxRelativeError([uniformAttentionDistance([14, 14], 16, { includeSelf: false })], [u["14x14_P16_noself"]])).toBeLessThan(1e-12);
    expect(maxRelativeError([uniformAttentionDistance([7, 7], 32)], [u["7x7_P32_self"]])).toBeLessThan(1e-12);
    expect(maxRelativeError([uniformAttentionDistance([16, 16], 14)], [u["16x16_P14_self"]])).toBeLessThan(1e-12);
  });

  it("equals attentionDistance of uniform attention over patch keys", () => {
    const g = 6, T = 1 + g * g;
    const A = new Float32Array(2 * 1 * T * T);
    for (let b = 0; b < 2; b++) for (let q = 0; q < T; q++) for (let k = 1; k < T; k++) A[(b * T + q) * T + k] = 1 / (T - 1);
    const r = attentionDistance({ data: A, shape: [2, 1, T, T] }, { grid: [g, g], patchSize: 16, prefixTokens: 1 });
    expect(r.distance[0]).toBeCloseTo(uniformAttentionDistance([g, g], 16), 5);
  });

  it("uniformAttentionDistance rejects a bad patch size", () => {
    expect(() => uniformAttentionDistance([14, 14], 0)).toThrow(/invalid patchSize: 0/);
  });
});

describe("patchDistances", () => {
  it("is P times the Euclidean grid distance", () => {
    const D = patchDistances([3, 4], 10);
    // Patch 0 at (0, 0), patch 11 at (2, 3): 10·√13.
    expect(D[0 * 12 + 11]).toBeCloseTo(10 * Math.sqrt(13), 12);
    expect(D[5 * 12 + 5]).toBe(0);
  });
});

describe("attentionDistance", () => {
  it("attentionDistance(identity) is 0 under both weightings", () => {
    const g = 4, T = 1 + g * g, H = 3;
    const A = new Float32Array(2 * H * T * T);
    for (let bh = 0; bh < 2 * H; bh++) for (let t = 0; t < T; t++) A[(bh * T + t) * T + t] = 1;
    const r = attentionDistance({ data: A, shape: [2, H, T, T] }, { grid: [g, g], patchSize: 16, prefixTokens: 1 });
    expect(Array.from(r.renormalised)).toEqual([0, 0, 0]);
    expect(Array.from(r.raw)).toEqual([0, 0, 0]);
    expect(Array.from(r.prefixMass)).toEqual([0, 0, 0]);
  });

  it("attentionDistance raw is renormalised · (1 − CLS mass) when every query gives CLS the same mass", () => {
    const g = 5, T = 1 + g * g;
    const A = new Float64Array(T * T);
    let seed = 3;
    for (let q = 0; q < T; q++) {
      A[q * T] = 0.25;
      let sum = 0;
      for (let k = 1; k < T; k++) sum += A[q * T + k] = ((seed = (seed * 69069 + 1) % 2 ** 32) / 2 ** 32) + 0.01;
      for (let k = 1; k < T; k++) A[q * T + k] *= 0.75 / sum;
    }
    const r = attentionDistance({ data: A, shape: [1, 1, T, T] }, { grid: [g, g], patchSize: 16, prefixTokens: 1 });
    expect(r.raw[0]).toBeCloseTo(0.75 * r.renormalised[0], 10);
    expect(r.prefixMass[0]).toBeCloseTo(0.25, 12);
  });

  for (const name of ["a", "b"]) {
    it(`attentionDistance matches numpy on random softmax maps (${name}), both layouts and weightings`, () => {
      const e = expected[`attn_${name}`];
      const A = readFloat(`${dir}/attn_${name}.npy`);
      const opts = { grid: e.grid as [number, number], patchSize: e.patchSize, prefixTokens: e.prefixTokens };
      const four = attentionDistance({ data: A.data, shape: A.shape }, opts);
      const [B, H, T] = A.shape;
      const merged = attentionDistance({ data: A.data, shape: [B * H, T, T] }, { ...opts, batchSize: B, weighting: "raw" });
      expect(four.heads).toBe(e.heads);
      expect(merged.heads).toBe(e.heads);
      expect(maxRelativeError(four.renormalised, e.renormalised)).toBeLessThan(1e-9);
      expect(maxRelativeError(four.raw, e.raw)).toBeLessThan(1e-9);
      expect(maxRelativeError(four.prefixMass, e.prefixMass)).toBeLessThan(1e-9);
      expect(maxRelativeError(merged.renormalised, e.renormalised)).toBeLessThan(1e-9);
      expect(maxRelativeError(merged.distance, e.raw)).toBeLessThan(1e-9);
      expect(four.distance).toBe(four.renormalised);
    });
  }

  it("attentionDistance rejects a token count that does not fit the geometry", () => {
    const A = new Float32Array(1 * 1 * 10 * 10);
    expect(() => attentionDistance({ data: A, shape: [1, 1, 10, 10] }, { grid: [3, 3], patchSize: 16, prefixTokens: 0 })).toThrow(
      /10 tokens, geometry gives 0 \+ 3×3 = 9/,
    );
  });

  it("attentionDistance rejects a merged layout without a dividing batchSize", () => {
    const A = new Float32Array(6 * 10 * 10);
    expect(() => attentionDistance({ data: A, shape: [6, 10, 10] }, { grid: [3, 3], patchSize: 16, prefixTokens: 1, batchSize: 4 })).toThrow(
      /invalid batchSize: 4/,
    );
    expect(() => attentionDistance({ data: A, shape: [6, 10, 10] }, { grid: [3, 3], patchSize: 16, prefixTokens: 1 })).toThrow(/invalid batchSize/);
  });

  it("attentionDistance rejects an unknown weighting", () => {
    const A = new Float32Array(10 * 10);
    // @ts-expect-error: invalid on purpose
    expect(() => attentionDistance({ data: A, shape: [1, 1, 10, 10] }, { grid: [3, 3], patchSize: 16, prefixTokens: 1, weighting: "foo" })).toThrow(
      /invalid weighting: foo/,
    );
  });
});

describe("attentionDistanceReducer", () => {
  const A = readFloat(`${dir}/attn_layers.npy`); // [L=3, B=6, H=2, 17, 17]
  const [L, B, H, T] = A.shape;
  const config = { grid: [4, 4] as [number, number], patchSize: 8, prefixTokens: 1 };
  const slice = (l: number, b0: number, b1: number) => ({
    data: A.data.subarray(((l * B + b0) * H) * T * T, ((l * B + b1) * H) * T * T),
    shape: [b1 - b0, H, T, T],
  });

  it("finalize matches numpy per layer and head, with the uniform ceiling", () => {
    let s = attentionDistanceReducer.init(config);
    for (let l = L - 1; l >= 0; l--) s = attentionDistanceReducer.update(s, { layer: l, attention: slice(l, 0, B), batchSize: B });
    const r = attentionDistanceReducer.finalize(s);
    expect(r.layers).toEqual([0, 1, 2]);
    expect(r.distance.shape).toEqual([3, 2]);
    expect(maxRelativeError(r.renormalised.data, expected.attn_layers.renormalised.flat())).toBeLessThan(1e-9);
    expect(maxRelativeError(r.raw.data, expected.attn_layers.raw.flat())).toBeLessThan(1e-9);
    expect(maxRelativeError(r.prefixMass.data, expected.attn_layers.prefixMass.flat())).toBeLessThan(1e-9);
    expect(r.settings.weighting).toBe("renormalised");
    expect(r.images).toEqual([6, 6, 6]);
    expect(r.uniform.includingSelf).toBeCloseTo(uniformAttentionDistance([4, 4], 8), 12);
    for (let l = 0; l < L; l++) {
      const row = Array.from(r.sortedDistance.data.subarray(l * H, (l + 1) * H));
      expect(row).toEqual([...row].sort((a, b) => a - b));
      for (let k = 0; k < H; k++) expect(r.distance.data[l * H + r.sortedHeads.data[l * H + k]]).toBe(row[k]);
    }
  });

  it("merge of two halves equals one pass (1e-12), merged-head batches included", () => {
    let one = attentionDistanceReducer.init({ ...config, weighting: "raw" });
    for (let l = 0; l < L; l++) one = attentionDistanceReducer.update(one, { layer: l, attention: slice(l, 0, B), batchSize: B });
    let a = attentionDistanceReducer.init({ ...config, weighting: "raw" });
    let b = attentionDistanceReducer.init({ ...config, weighting: "raw" });
    for (let l = 0; l < L; l++) {
      a = attentionDistanceReducer.update(a, { layer: l, attention: slice(l, 0, 2), batchSize: 2 });
      const rest = slice(l, 2, B);
      b = attentionDistanceReducer.update(b, { layer: l, attention: { data: rest.data, shape: [(B - 2) * H, T, T] }, batchSize: B - 2 });
    }
    const r1 = attentionDistanceReducer.finalize(one);
    const r2 = attentionDistanceReducer.finalize(attentionDistanceReducer.merge(a, b));
    expect(r2.distance).toBe(r2.raw);
    expect(maxRelativeError(r2.raw.data, r1.raw.data)).toBeLessThan(1e-12);
    expect(maxRelativeError(r2.renormalised.data, r1.renormalised.data)).toBeLessThan(1e-12);
    expect(maxRelativeError(r2.prefixMass.data, r1.prefixMass.data)).toBeLessThan(1e-12);
  });

  it("merge rejects states with different geometry", () => {
    const a = attentionDistanceReducer.init(config);
    const b = attentionDistanceReducer.init({ ...config, patchSize: 16 });
    expect(() => attentionDistanceReducer.merge(a, b)).toThrow(/invalid merge/);
  });

  it("update rejects a head count that changes within a layer", () => {
    let s = attentionDistanceReducer.init(config);
    s = attentionDistanceReducer.update(s, { layer: 0, attention: slice(0, 0, 2), batchSize: 2 });
    const x = slice(0, 0, 2);
    expect(() => attentionDistanceReducer.update(s, { layer: 0, attention: { data: x.data, shape: [4, 1, T, T] }, batchSize: 4 })).toThrow(
      /1 heads, earlier batches had 2/,
    );
  });
});
