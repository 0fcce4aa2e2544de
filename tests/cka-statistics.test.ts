import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  bootstrapCKA, bootstrapIndices, bootstrapSeed, ckaFinalize, ckaInit, ckaIntervals, ckaMerge, ckaUpdateFeatures,
  percentileInterval, permutationSeed, ratioTerms, type CKAConfig, type CKAResult, type CKAState,
} from "../analyses/cka.js";
import { decodeState, encodeState } from "../src/engine/state.js";
import { permutation } from "../src/numeric/random.js";
import type { Tensor } from "../src/tensor.js";
import { gaussian, relErr } from "./helpers/gaussian.js";
import { readNpy } from "./helpers/npy.js";
import { readNpyTyped } from "./helpers/npy-b.js";

const dir = "fixtures/reference/similarity";
const ref = JSON.parse(readFileSync(`${dir}/cka_statistics.json`, "utf8"));
const A = [0, 1, 2].map((i) => readNpy(`${dir}/cka_statistics_a${i}.npy`));
const B = [0, 1].map((i) => readNpy(`${dir}/cka_statistics_b${i}.npy`));
const n = ref.batch as number;
const nb = ref.batches as number;
const sitesA = ["a0", "a1", "a2"];
const sitesB = ["b0", "b1"];

/** Rows [s, s + len) of an example-first tensor. */
function slice(x: Tensor, s: number, len: number): Tensor {
  const p = x.data.length / x.shape[0];
  return { data: x.data.slice(s * p, (s + len) * p), shape: [len, ...x.shape.slice(1)] };
}

/** Feeds the reference batches `order` (batch b = rows b·n.., key b·n) into repeat `repeat`. */
function feed(state: CKAState, order: readonly number[], repeat = 0, a = A, b = B, batch = n): CKAState {
  for (const s of order) {
    ckaUpdateFeatures(state, { featuresA: a.map((x) => slice(x, s * batch, batch)), featuresB: b.map((x) => slice(x, s * batch, batch)), batchKey: s * batch, repeat });
  }
  return state;
}

const all = Array.from({ length: nb }, (_, i) => i);
const config = (extra: Partial<CKAConfig> = {}): CKAConfig => ({ sitesA, sitesB, batch: n, seed: ref.seed, ...extra });

function bits(x: Float64Array): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString("hex");
}

function sameResult(a: CKAResult, b: CKAResult): void {
  for (const k of ["AA", "BB", "AB"] as const) {
    for (const f of ["data", "lower", "upper", "std", "p"] as const) {
      const x = a.matrices[k]?.[f], y = b.matrices[k]?.[f];
      expect(x === undefined, `${k}.${f}`).toBe(y === undefined);
      if (x && y) expect(bits(x), `${k}.${f}`).toBe(bits(y));
    }
  }
}

describe("CKA statistics against numpy (fixtures/reference/similarity/cka_statistics.py)", () => {
  // Batches arrive out of key order: the state sorts them.
  const state = feed(ckaInit(config({ perBatch: true, permutations: ref.permutations })), [3, 0, 5, 1, 4, 2]);
  const idx = readNpyTyped(`${dir}/cka_statistics_indices.npy`);
  const indices = Uint32Array.from(idx.data);

  it("keeps per-batch terms sorted by key whose bootstrap replicates and intervals match numpy (1e-9)", () => {
    expect(state.batchTerms![0].map((t) => t.key)).toEqual(all.map((s) => s * n));
    for (const which of ["AA", "BB", "AB"] as const) {
      const terms = ratioTerms(state.batchTerms![0], which, 3, 2);
      const reps = bootstrapCKA(terms, indices);
      expect(reps.length).toBe(ref.resamples * terms.rows * terms.cols);
      expect(relErr(reps, ref[which].replicates)).toBeLessThan(1e-9);
      const iv = percentileInterval(reps, terms.rows * terms.cols, 0.95);
      expect(relErr(iv.lower, ref[which].lower)).toBeLessThan(1e-9);
      expect(relErr(iv.upper, ref[which].upper)).toBeLessThan(1e-9);
      // identity indices give the reported point estimate, bit for bit
      const point = bootstrapCKA(terms, Uint32Array.from(all));
      const res = ckaFinalize(state);
      expect(bits(point)).toBe(bits(res.matrices[which]!.data));
      expect(relErr(res.matrices[which]!.data, ref[which].point)).toBeLessThan(1e-9);
    }
  });

  it("draws the same permutations as the numpy port and matches its null and p-values", () => {
    ref.null.perms.forEach((perKey: number[][], s: number) => {
      perKey.forEach((p, k) => expect(Array.from(permutation(n, permutationSeed(ref.seed, 0, s * n, k)))).toEqual(p));
    });
    const ab = ckaFinalize(state).matrices.AB!;
    expect(relErr(ab.permutationNull!, ref.null.values)).toBeLessThan(1e-9);
    expect(Array.from(ab.p!)).toEqual(ref.null.p);
    expect(ckaFinalize(state).matrices.AA.p).toBeUndefined();
  });

  it("ckaFinalize's intervals are the percentile intervals of bootstrapIndices(seeded by the CKA seed)", () => {
    const res = ckaFinalize(state);
    expect(res.statistics).toEqual({ perBatch: true, resamples: 1000, level: 0.95, permutations: ref.permutations });
    const terms = ratioTerms(state.batchTerms![0], "AB", 3, 2);
    const iv = percentileInterval(bootstrapCKA(terms, bootstrapIndices(nb, 1000, bootstrapSeed(ref.seed, 0))), 6, 0.95);
    expect(bits(res.matrices.AB!.lower!)).toBe(bits(iv.lower));
    expect(bits(res.matrices.AB!.upper!)).toBe(bits(iv.upper));
    // a narrower level nests inside
    const narrow = ckaIntervals(state, { level: 0.5 });
    expect(narrow.level).toBe(0.5);
    for (let c = 0; c < 6; c++) {
      expect(narrow.AB!.lower[c]).toBeGreaterThanOrEqual(iv.lower[c]);
      expect(narrow.AB!.upper[c]).toBeLessThanOrEqual(iv.upper[c]);
      expect(narrow.AB!.lower[c]).toBeLessThan(narrow.AB!.upper[c]);
    }
    // self-CKA is exactly 1 in every resample
    for (let i = 0; i < 3; i++) expect([res.matrices.AA.lower![i * 4], res.matrices.AA.upper![i * 4]]).toEqual([1, 1]);
  });
});

describe("CKA statistics: merging and state", () => {
  const cfg = config({ perBatch: true, permutations: 7, resamples: 300, repeats: 2 });
  const one = () => feed(feed(ckaInit(cfg), all, 0), [...all].reverse(), 1);
  const shard = (parts: number[]) => feed(feed(ckaInit(cfg), parts, 0), parts.filter((s) => s % 2 === 0), 1);

  it("shards merged in any order equal one pass bit-exactly (data, intervals, std, p-values)", () => {
    const whole = ckaFinalize(one());
    const parts = [[4, 1], [0, 5], [2, 3]];
    const orders = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [1, 2, 0]];
    for (const o of orders) {
      const s = [shard(parts[o[0]]), shard(parts[o[1]]), shard(parts[o[2]])];
      // repeat 1 of every shard only got its even batches; the rest comes in a fourth shard
      const odd = feed(ckaInit(cfg), [1, 3, 5], 1);
      const merged = ckaMerge(ckaMerge(ckaMerge(s[0], s[1]), odd), s[2]);
      expect(merged.batchTerms!.map((l) => l.map((t) => t.key))).toEqual([all.map((b) => b * n), all.map((b) => b * n)]);
      const res = ckaFinalize(merged);
      sameResult(res, whole);
      expect(relErr(res.matrices.AB!.permutationNull!, whole.matrices.AB!.permutationNull!)).toBeLessThan(1e-12);
    }
  });

  it("a perBatch state survives encodeState/decodeState bit-exactly and still merges", () => {
    const half = shard([0, 1, 2]);
    const back = decodeState(encodeState(half)) as CKAState;
    expect(bits(back.batchTerms![0][1].ab)).toBe(bits(half.batchTerms![0][1].ab));
    const rest = feed(feed(ckaInit(cfg), [3, 4, 5], 0), [1, 3, 4, 5], 1);
    const merged = ckaMerge(back, rest);
    sameResult(ckaFinalize(merged), ckaFinalize(feed(feed(ckaInit(cfg), all, 0), all, 1)));
  });

  it("without perBatch/permutations the state has no statistics keys and the result no statistics fields", () => {
    const plain = feed(ckaInit(config()), all);
    expect(Object.keys(plain)).not.toContain("statistics");
    expect(Object.keys(plain)).not.toContain("batchTerms");
    expect(Object.keys(plain)).not.toContain("sumNull");
    const res = ckaFinalize(plain);
    expect(res.statistics).toBeUndefined();
    expect(res.matrices.AB!.lower).toBeUndefined();
    // statistics leave the point estimate (up to summation order) and the R = 1 control alone
    const stats = ckaFinalize(feed(ckaInit(config({ perBatch: true, permutations: 5 })), all));
    expect(relErr(stats.matrices.AB!.data, res.matrices.AB!.data)).toBeLessThan(1e-13);
    expect(bits(stats.shuffled!.data)).toBe(bits(res.shuffled!.data));
  });

  it("std across repeats sits next to lower/upper and is the sample spread of per-repeat CKA", () => {
    const res = ckaFinalize(one());
    const r0 = ckaFinalize(feed(ckaInit(config({ perBatch: true })), all));
    const r1 = ckaFinalize(feed(ckaInit(config({ perBatch: true })), [...all].reverse()));
    const ab = res.matrices.AB!;
    expect(ab.std && ab.lower && ab.upper).toBeTruthy();
    for (let c = 0; c < 6; c++) {
      const d = r0.matrices.AB!.data[c] - r1.matrices.AB!.data[c];
      // the same batches in both repeats: equal CKA, zero spread
      expect(Math.abs(d)).toBe(0);
      expect(ab.std![c]).toBe(0);
    }
    // repeats over different batches do spread
    const split = feed(feed(ckaInit(config({ perBatch: true, repeats: 2 })), [0, 1, 2], 0), [3, 4, 5], 1);
    const sres = ckaFinalize(split);
    const h0 = ckaFinalize(feed(ckaInit(config({ perBatch: true })), [0, 1, 2]));
    const h1 = ckaFinalize(feed(ckaInit(config({ perBatch: true })), [3, 4, 5]));
    for (let c = 0; c < 6; c++) {
      const x = h0.matrices.AB!.data[c], y = h1.matrices.AB!.data[c];
      expect(relErr(sres.matrices.AB!.std![c], Math.abs(x - y) / Math.SQRT2)).toBeLessThan(1e-12);
      expect(relErr(sres.matrices.AB!.data[c], (x + y) / 2)).toBeLessThan(1e-12);
    }
    // and the interval of the mean averages per-repeat replicates
    const iv = ckaIntervals(split, { resamples: 50 });
    const mean = new Float64Array(50 * 6);
    for (const r of [0, 1]) {
      const rep = bootstrapCKA(ratioTerms(split.batchTerms![r], "AB", 3, 2), bootstrapIndices(3, 50, bootstrapSeed(ref.seed, r)));
      rep.forEach((v, i) => (mean[i] += v / 2));
    }
    expect(bits(iv.AB!.lower)).toBe(bits(percentileInterval(mean, 6).lower));
  });

  it("refuses bad settings, overlapping shards and mismatched statistics", () => {
    expect(() => ckaInit(config({ permutations: -1 }))).toThrow(/invalid permutations: -1/);
    expect(() => ckaInit(config({ perBatch: true, resamples: 0 }))).toThrow(/invalid resamples: 0/);
    expect(() => ckaInit(config({ perBatch: true, level: 1 }))).toThrow(/invalid level: 1/);
    expect(() => ckaInit(config({ resamples: 10 }))).toThrow(/need perBatch/);
    expect(() => ckaInit(config({ perBatch: true, estimator: "full-biased", examples: 48, batch: 48 }))).toThrow(/invalid perBatch/);
    expect(() => ckaMerge(shard([0, 1]), shard([1, 2]))).toThrow(/batch 8 of repeat 0 is in both/);
    expect(() => ckaMerge(ckaInit(cfg), ckaInit(config({ repeats: 2 })))).toThrow(/statistics perBatch differs/);
    expect(() => ckaMerge(ckaInit(cfg), ckaInit({ ...cfg, permutations: 3 }))).toThrow(/statistics permutations differs \(7 vs 3\)/);
    expect(() => feed(feed(ckaInit(cfg), [0]), [0])).toThrow(/batchKey: 0 already recorded/);
    expect(() => ckaIntervals(ckaInit(config({ permutations: 3 })))).toThrow(/need perBatch/);
    expect(() => bootstrapCKA(ratioTerms([], "AB", 3, 2), new Uint32Array(0))).toThrow(/0 batches/);
  });
});

describe("CKA statistics: behaviour on simulated data", () => {
  /** Y = X·M + σ·E with X, E standard normal: population linear CKA ‖M‖²/(√p · ‖MᵀM + σ²I‖). */
  const p = 3, q = 3, sigma = 1.5;
  const Mx = new Float64Array([1, 0.5, 0, 0, 1, 0, 0.3, 0, 0.2]);
  function simulate(m: number, seed: number): { x: Tensor; y: Tensor } {
    const x = gaussian([m, p], seed);
    const e = gaussian([m, q], seed + 1_000_003);
    const y = new Float64Array(m * q);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < q; j++) {
        let s = sigma * e.data[i * q + j];
        for (let k = 0; k < p; k++) s += x.data[i * p + k] * Mx[k * q + j];
        y[i * q + j] = s;
      }
    }
    return { x, y: { data: y, shape: [m, q] } };
  }
  function populationCKA(): number {
    let num = 0, den = 0;
    for (const v of Mx) num += v * v;
    for (let a = 0; a < q; a++) {
      for (let b = 0; b < q; b++) {
        let s = a === b ? sigma * sigma : 0;
        for (let k = 0; k < p; k++) s += Mx[k * q + a] * Mx[k * q + b];
        den += s * s;
      }
    }
    return num / (Math.sqrt(p) * Math.sqrt(den));
  }
  /** Linear CKA of a large sample from feature covariances (centred columns). */
  function sampleCKA(x: Tensor, y: Tensor): number {
    const m = x.shape[0];
    const cx = x.data.slice(), cy = y.data.slice();
    for (const [d, w] of [[cx, p], [cy, q]] as const) {
      for (let j = 0; j < w; j++) {
        let s = 0;
        for (let i = 0; i < m; i++) s += d[i * w + j];
        for (let i = 0; i < m; i++) d[i * w + j] -= s / m;
      }
    }
    const cov = (a: Float64Array, wa: number, b: Float64Array, wb: number) => {
      let f = 0;
      for (let i = 0; i < wa; i++) {
        for (let j = 0; j < wb; j++) {
          let s = 0;
          for (let t = 0; t < m; t++) s += a[t * wa + i] * b[t * wb + j];
          f += s * s;
        }
      }
      return f;
    };
    return cov(cx, p, cy, q) / Math.sqrt(cov(cx, p, cx, p) * cov(cy, q, cy, q));
  }
  const truth = populationCKA();

  it("the population CKA agrees with one very large sample", () => {
    const { x, y } = simulate(200_000, 99);
    expect(Math.abs(sampleCKA(x, y) - truth)).toBeLessThan(0.01);
  });

  it("95% bootstrap intervals cover the population CKA in 90–98% of 400 simulated data sets", () => {
    const batches = 24, batch = 16;
    let covered = 0, below = 0, covered50 = 0;
    for (let d = 0; d < 400; d++) {
      const { x, y } = simulate(batches * batch, 1 + d * 7);
      const s = ckaInit({ sitesA: ["x"], sitesB: ["y"], batch, seed: d, perBatch: true, control: false });
      for (let b = 0; b < batches; b++) ckaUpdateFeatures(s, { featuresA: [slice(x, b * batch, batch)], featuresB: [slice(y, b * batch, batch)], batchKey: b * batch });
      const ab = ckaFinalize(s).matrices.AB!;
      if (ab.lower![0] <= truth && truth <= ab.upper![0]) covered++;
      else if (ab.upper![0] < truth) below++;
      // the level is honoured, not just wide intervals: 50% intervals cover about half the time
      const half = ckaIntervals(s, { level: 0.5 }).AB!;
      if (half.lower[0] <= truth && truth <= half.upper[0]) covered50++;
    }
    const rate = covered / 400;
    console.log(`bootstrap coverage ${rate} (50%: ${covered50 / 400}; population CKA ${truth.toFixed(4)}; ${below} intervals wholly below)`);
    expect(rate).toBeGreaterThanOrEqual(0.9);
    expect(rate).toBeLessThanOrEqual(0.98);
    expect(covered50 / 400).toBeGreaterThan(0.4);
    expect(covered50 / 400).toBeLessThan(0.6);
  });

  it("the permutation null: p = 1/(R+1) for a strong dependence, spread over (0, 1] for independent sites", () => {
    const R = 19;
    const { x, y } = simulate(20 * 16, 5);
    const z = gaussian([20 * 16, 4], 77);
    const s = ckaInit({ sitesA: ["x"], sitesB: ["y", "z"], batch: 16, seed: 2, permutations: R });
    feed(s, Array.from({ length: 20 }, (_, i) => i), 0, [x], [y, z], 16);
    const ab = ckaFinalize(s).matrices.AB!;
    expect(ab.p![0]).toBe(1 / (R + 1));
    expect(ab.permutationNull!.length).toBe(R * 2);
    // independent z: its null straddles 0 and the observed value is not extreme
    expect(ab.p![1]).toBeGreaterThan(0.05);
    // over many independent data sets the p-values are roughly uniform
    const ps: number[] = [];
    for (let d = 0; d < 60; d++) {
      const u = gaussian([8 * 8, 2], 500 + d), v = gaussian([8 * 8, 2], 900 + d);
      const t = ckaInit({ sitesA: ["u"], batch: 8, sitesB: ["v"], seed: d, permutations: 9, control: false });
      feed(t, Array.from({ length: 8 }, (_, i) => i), 0, [u], [v], 8);
      ps.push(ckaFinalize(t).matrices.AB!.p![0]);
    }
    const small = ps.filter((v) => v <= 0.1).length / ps.length;
    expect(small).toBeLessThan(0.25);
    expect(ps.reduce((a, b) => a + b, 0) / ps.length).toBeGreaterThan(0.4);
  });

  it("without B the null is on AA (A's sites against permuted A)", () => {
    const { x, y } = simulate(10 * 16, 8);
    const z = gaussian([10 * 16, 4], 78);
    const s = ckaInit({ sitesA: ["x", "y", "z"], batch: 16, permutations: 9 });
    feed(s, Array.from({ length: 10 }, (_, i) => i), 0, [x, y, z], [], 16);
    const aa = ckaFinalize(s).matrices.AA;
    expect(aa.p!.length).toBe(9);
    expect(aa.p![0 * 3 + 1]).toBe(0.1);
    expect(aa.p![0]).toBe(0.1);
    expect(aa.p![0 * 3 + 2]).toBeGreaterThan(0.1);
  });
});
