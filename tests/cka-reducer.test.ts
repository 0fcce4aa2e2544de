import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  batchOrder, blockwiseCKA, ckaFinalize, ckaInit, ckaMerge, ckaReducer, ckaUpdate, ckaUpdateFeatures, hsicMatrix,
  type CKAState,
} from "../analyses/cka.js";
import { crossGram, gram } from "../src/numeric/gram.js";
import { hsic1, uCentre, uCentredRows, uMeans } from "../src/numeric/hsic.js";
import { hsic1Trace } from "./helpers/hsic-trace.js";
import { matmulTransB } from "../src/numeric/matmul.js";
import type { Tensor } from "../src/tensor.js";
import { gaussian, relErr } from "./helpers/gaussian.js";
import { readNpy } from "./helpers/npy.js";

const dir = "fixtures/reference/cka";
const ref = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8")).reducer;
const A = [0, 1, 2].map((i) => readNpy(`${dir}/reducer_a${i}.npy`));
const B = [0, 1].map((i) => readNpy(`${dir}/reducer_b${i}.npy`));
const perms = readNpy(`${dir}/reducer_perms.npy`);
const m = 36;
const n = ref.batch as number;
const sitesA = ["a0", "a1", "a2"];
const sitesB = ["b0", "b1"];

/** Rows `idx` of a tensor whose first axis is the example axis. */
function rows(x: Tensor, idx: ArrayLike<number>): Tensor {
  const p = x.data.length / x.shape[0];
  const out = new Float64Array(idx.length * p);
  for (let i = 0; i < idx.length; i++) out.set(x.data.subarray(idx[i] * p, (idx[i] + 1) * p), i * p);
  return { data: out, shape: [idx.length, ...x.shape.slice(1)] };
}

/** Batches of repeat r under the numpy permutation, including the short remainder. */
function batchesOf(r: number): number[][] {
  const perm = Array.from(perms.data.subarray(r * m, (r + 1) * m));
  const out: number[][] = [];
  for (let s = 0; s < m; s += n) out.push(perm.slice(s, s + n));
  return out;
}

function feed(state: CKAState, r: number, which: (b: number) => boolean = () => true): CKAState {
  batchesOf(r).forEach((idx, b) => {
    if (!which(b)) return;
    ckaUpdateFeatures(state, { featuresA: A.map((x) => rows(x, idx)), featuresB: B.map((x) => rows(x, idx)) }, r);
  });
  return state;
}

describe("CKA reducer", () => {
  it("ckaFinalize matches numpy per repeat, and the mean and spread over repeats", () => {
    const one = ckaFinalize(feed(ckaInit({ sitesA, sitesB, batch: n, control: false }), 0));
    expect(relErr(one.matrices.AA.data, ref.repeat0.AA)).toBeLessThan(1e-9);
    expect(relErr(one.matrices.BB!.data, ref.repeat0.BB)).toBeLessThan(1e-9);
    expect(relErr(one.matrices.AB!.data, ref.repeat0.AB)).toBeLessThan(1e-9);

    const s = ckaInit({ sitesA, sitesB, batch: n, repeats: 2, seed: 3 });
    feed(s, 0);
    feed(s, 1);
    const res = ckaFinalize(s);
    for (const k of ["AA", "BB", "AB"] as const) {
      expect(relErr(res.matrices[k]!.data, ref.mean[k])).toBeLessThan(1e-9);
      const std = res.matrices[k]!.std!;
      // entries whose spread is exactly 0 (self-CKA) compare absolutely
      std.forEach((v, i) => expect(Math.abs(v - ref.std[k][i])).toBeLessThanOrEqual(1e-9 * Math.max(1e-6, ref.std[k][i])));
    }
    expect([res.batches, res.examples, res.droppedExamples, res.repeats]).toEqual([4, 32, 8, 2]);
    expect(res.matrices.AB!.rows).toEqual(sitesA);
    expect(res.matrices.AB!.cols).toEqual(sitesB);
    expect(res.warnings.some((w) => /dropped batches/.test(w))).toBe(true);
  });

  it("ckaUpdate with Grams (float64 or float32, arrays or records) equals ckaUpdateFeatures", () => {
    const viaFeatures = ckaFinalize(feed(ckaInit({ sitesA, sitesB, batch: n }), 0));
    const s64 = ckaInit({ sitesA, sitesB, batch: n });
    const s32 = ckaInit({ sitesA, sitesB, batch: n });
    for (const idx of batchesOf(0)) {
      const ga = A.map((x) => gram(rows(x, idx), { centre: true }));
      const gb = B.map((x) => gram(rows(x, idx), { centre: true }));
      ckaUpdate(s64, { gramsA: ga, gramsB: { b0: gb[0], b1: gb[1] } });
      ckaReducer.update(s32, { gramsA: ga.map((g) => Float32Array.from(g)), gramsB: gb.map((g) => Float32Array.from(g)) });
    }
    const r64 = ckaFinalize(s64), r32 = ckaFinalize(s32);
    expect(relErr(r64.matrices.AB!.data, viaFeatures.matrices.AB!.data)).toBeLessThan(1e-14);
    expect(relErr(r64.shuffled!.data, viaFeatures.shuffled!.data)).toBeLessThan(1e-12);
    expect(relErr(r32.matrices.AB!.data, ref.repeat0.AB)).toBeLessThan(1e-5);
  });

  it("ckaMerge of two halves equals one pass (1e-12 relative)", () => {
    const whole = ckaFinalize(feed(feed(ckaInit({ sitesA, sitesB, batch: n, repeats: 2 }), 0), 1));
    const h1 = feed(feed(ckaInit({ sitesA, sitesB, batch: n, repeats: 2 }), 0, (b) => b < 2), 1, (b) => b % 2 === 0);
    const h2 = feed(feed(ckaInit({ sitesA, sitesB, batch: n, repeats: 2 }), 0, (b) => b >= 2), 1, (b) => b % 2 === 1);
    const merged = ckaFinalize(ckaMerge(h1, h2));
    for (const k of ["AA", "BB", "AB"] as const) expect(relErr(merged.matrices[k]!.data, whole.matrices[k]!.data)).toBeLessThan(1e-12);
    expect(merged.batches).toBe(whole.batches);
  });

  it("ckaMerge refuses states with different settings", () => {
    const a = ckaInit({ sitesA, batch: 8 });
    expect(() => ckaMerge(a, ckaInit({ sitesA, batch: 16 }))).toThrow(/batch differs \(8 vs 16\)/);
    expect(() => ckaMerge(a, ckaInit({ sitesA: ["x", "y", "z"], batch: 8 }))).toThrow(/sitesA differ/);
  });

  it("hsicMatrix (one product) equals pairwise HSIC₁ calls in both forms", () => {
    const ka = [0, 1, 2, 3].map((s) => gram(gaussian([16, 5 + s], 40 + s)));
    const kb = [0, 1, 2].map((s) => gram(gaussian([16, 3 + s], 50 + s)));
    const ua = ka.map(uCentre), ub = kb.map(uCentre);
    const cross = hsicMatrix(ua, ub);
    const intra = hsicMatrix(ua);
    for (let i = 0; i < 4; i++) {
      for (let j = 0; j < 3; j++) {
        expect(relErr(cross[i * 3 + j], hsic1(ua[i], ub[j]))).toBeLessThan(1e-12);
        expect(relErr(cross[i * 3 + j], hsic1Trace(ka[i], kb[j]))).toBeLessThan(1e-9);
      }
      for (let j = 0; j < 4; j++) expect(relErr(intra[i * 4 + j], hsic1(ua[i], ua[j]))).toBeLessThan(1e-12);
    }
    // the streaming rows (U made panel by panel inside the product) give the same matrix
    const streamed = matmulTransB(uCentredRows(ka), uCentredRows(kb), { panel: 20 }).map((v) => v / (16 * 13));
    expect(relErr(streamed, cross)).toBeLessThan(1e-12);
    // and with a permutation they equal ⟨U(K_i), U(P L_j Pᵀ)⟩
    const perm = Uint32Array.from([3, 0, 1, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14]);
    const permuted = kb.map((k) => {
      const out = new Float64Array(256);
      for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) out[i * 16 + j] = k[perm[i] * 16 + perm[j]];
      return uCentre(out);
    });
    const shuffled = matmulTransB(uCentredRows(ka), uCentredRows(kb, perm)).map((v) => v / (16 * 13));
    expect(relErr(shuffled, hsicMatrix(ua, permuted))).toBeLessThan(1e-12);
    // panels that start and end inside a row, with the means handed in (a permutation keeps them)
    const panelled = matmulTransB(uCentredRows(ka), uCentredRows(kb, perm, kb.map(uMeans)), { panel: 20 }).map((v) => v / (16 * 13));
    expect(relErr(panelled, hsicMatrix(ua, permuted))).toBeLessThan(1e-12);
    expect(() => uCentredRows(kb, perm, [new Float64Array(16)])).toThrow(/invalid means/);
  });

  it("full-biased and full-debiased reducers match numpy, in one batch or block by block", () => {
    for (const [estimator, key] of [["full-biased", "fullBiased"], ["full-debiased", "fullDebiased"]] as const) {
      const one = ckaInit({ sitesA, sitesB, estimator, batch: m, examples: m });
      ckaUpdateFeatures(one, { featuresA: A, featuresB: B });
      const r1 = ckaFinalize(one);
      expect(relErr(r1.matrices.AA.data, ref[key].AA)).toBeLessThan(1e-9);
      expect(relErr(r1.matrices.AB!.data, ref[key].AB)).toBeLessThan(1e-9);

      const blocks = ckaInit({ sitesA, sitesB, estimator, batch: 12, examples: m });
      const part = (x: Tensor, b: number) => rows(x, Array.from({ length: 12 }, (_, i) => b * 12 + i));
      for (let b = 0; b < 3; b++) {
        ckaUpdate(blocks, { gramsA: A.map((x) => gram(part(x, b))), gramsB: B.map((x) => gram(part(x, b))) });
      }
      expect(() => ckaFinalize(blocks)).toThrow(/misses/);
      for (let b = 0; b < 3; b++) for (let c = b + 1; c < 3; c++) {
        const block = { row: b * 12, col: c * 12, rows: 12, cols: 12 };
        ckaUpdate(blocks, { gramsA: A.map((x) => crossGram(part(x, b), part(x, c))), gramsB: B.map((x) => crossGram(part(x, b), part(x, c))), block });
      }
      const r2 = ckaFinalize(blocks);
      expect(relErr(r2.matrices.AB!.data, ref[key].AB)).toBeLessThan(1e-9);
      expect(r2.estimator).toBe(estimator);
    }
  });

  it("ckaUpdate with explicit diagonal blocks at the running offset (as the engine calls it) advances the offset", () => {
    const s = ckaInit({ sitesA, estimator: "full-debiased", batch: 12, examples: m });
    const part = (x: Tensor, b: number) => rows(x, Array.from({ length: 12 }, (_, i) => b * 12 + i));
    for (let b = 0; b < 3; b++) {
      ckaUpdate(s, { gramsA: A.map((x) => gram(part(x, b))), block: { row: s.offset, col: s.offset, rows: 12, cols: 12 } });
    }
    expect(s.offset).toBe(36);
    for (let b = 0; b < 3; b++) for (let c = b + 1; c < 3; c++) {
      ckaUpdate(s, { gramsA: A.map((x) => crossGram(part(x, b), part(x, c))), block: { row: b * 12, col: c * 12, rows: 12, cols: 12 } });
    }
    expect(relErr(ckaFinalize(s).matrices.AA.data, ref.fullDebiased.AA)).toBeLessThan(1e-9);
  });

  it("ckaUpdate rejects a wrong site count, a bad repeat and an oversize Gram", () => {
    const s = ckaInit({ sitesA, batch: 8 });
    expect(() => ckaUpdate(s, { gramsA: [new Float64Array(64)] })).toThrow(/invalid gramsA: 1 entries for 3 sites/);
    expect(() => ckaUpdate(s, { gramsA: [0, 1, 2].map(() => new Float64Array(64)) }, 1)).toThrow(/invalid repeat: 1/);
    expect(() => ckaUpdate(s, { gramsA: [0, 1, 2].map(() => new Float64Array(100)) })).toThrow(/invalid Gram size: 10×10 for batch 8/);
    expect(() => ckaInit({ sitesA, batch: 8, estimator: "nope" as never })).toThrow("invalid estimator: nope");
  });

  it("ckaFinalize reports negative CKA without clamping", () => {
    // Independent features at n = 6 give some negative unbiased estimates.
    const s = ckaInit({ sitesA: Array.from({ length: 12 }, (_, i) => `s${i}`), batch: 6, control: false });
    ckaUpdateFeatures(s, { featuresA: Array.from({ length: 12 }, (_, i) => gaussian([6, 3], 200 + i)) });
    const r = ckaFinalize(s);
    expect(Math.min(...r.matrices.AA.data)).toBeLessThan(0);
  });

  it("blockwiseCKA picks the same-name diagonal of cross matrices", () => {
    const make = (shift: number) => {
      const s = ckaInit({ sitesA: ["blocks.0.out", "blocks.1.out", "head.pre"], sitesB: ["blocks.1.out", "blocks.0.out"], batch: n, control: false });
      for (const idx of batchesOf(0)) {
        ckaUpdateFeatures(s, {
          featuresA: A.map((x) => rows(x, idx)),
          featuresB: [B[0], B[shift]].map((x) => rows(x, idx)),
        });
      }
      return ckaFinalize(s);
    };
    const r0 = make(0), r1 = make(1);
    const bw = blockwiseCKA("ref", { ckpt0: r0, ckpt1: r1 });
    expect(bw.blocks).toEqual(["blocks.0.out", "blocks.1.out"]);
    const ab = r1.matrices.AB!;
    // blocks.0.out is row 0 and column 1; blocks.1.out is row 1 and column 0
    expect(Array.from(bw.series[1].values)).toEqual([ab.data[0 * 2 + 1], ab.data[1 * 2 + 0]]);
    expect(bw.series.map((s) => s.name)).toEqual(["ckpt0", "ckpt1"]);
  });
});

describe("batchOrder", () => {
  it("batchOrder gives a seeded permutation that differs between repeats", () => {
    const a = batchOrder(100, 7, 0), b = batchOrder(100, 7, 1);
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(batchOrder(100, 7, 0))).toEqual(Array.from(a));
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });
});

describe("CKA state serialisation", () => {
  it("a CKA state survives encodeState/decodeState bit-exactly and still merges", async () => {
    const { encodeState, decodeState } = await import("../src/engine/state.js");
    const s = feed(ckaInit({ sitesA, sitesB, batch: n, repeats: 2 }), 0, (b) => b < 2);
    const back = decodeState(encodeState(s)) as CKAState;
    const rest = feed(ckaInit({ sitesA, sitesB, batch: n, repeats: 2 }), 0, (b) => b >= 2);
    const a = ckaFinalize(ckaMerge(back, rest));
    const whole = ckaFinalize(feed(ckaInit({ sitesA, sitesB, batch: n, repeats: 2 }), 0));
    expect(relErr(a.matrices.AB!.data, whole.matrices.AB!.data)).toBeLessThan(1e-12);
  });
});
