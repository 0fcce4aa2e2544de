/**
 * The similarity measures beyond linear CKA (issue 16) against the independent numpy reference
 * in fixtures/reference/similarity/kernel_measures.py, the reference value, and the
 * invariances each measure claims, with one it does not have so the test can fail.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { crossGram, gram } from "../src/numeric/gram.js";
import type { Tensor } from "../src/tensor.js";
import { squaredDistances } from "../analyses/similarity/distances.js";
import { rbfCKA, rbfCKAOfGrams, rbfCkaReducer, rbfGram, type RbfCKAState } from "../analyses/similarity/rbf-cka.js";
import { procrustes } from "../analyses/similarity/procrustes.js";
import { averageRanks, rdm, rdmOfFeatures, rsa } from "../analyses/similarity/rsa.js";
import { mutualKnn, nearestNeighbours } from "../analyses/similarity/mutual-knn.js";
import { gaussian, orthogonal, relErr } from "./helpers/gaussian.js";
import { readNpy } from "./helpers/npy.js";

const dir = "fixtures/reference/similarity";
const ref = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8"));
const load = (name: string) => readNpy(`${dir}/${name}.npy`);
const KX = readNpy("fixtures/reference/cka/kornblith_x.npy");
const KY = readNpy("fixtures/reference/cka/kornblith_y.npy");

/** X·M for X m×p and M p×q. */
function times(x: Tensor, mat: Float64Array, q: number): Tensor<Float64Array> {
  const [m, p] = x.shape;
  const out = new Float64Array(m * q);
  for (let i = 0; i < m; i++) for (let j = 0; j < q; j++) {
    let s = 0;
    for (let t = 0; t < p; t++) s += x.data[i * p + t] * mat[t * q + j];
    out[i * q + j] = s;
  }
  return { data: out, shape: [m, q] };
}

const absErr = (a: ArrayLike<number>, b: ArrayLike<number>) => (a.length !== b.length ? Infinity : Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0));
const map = (x: Tensor, f: (v: number, i: number) => number): Tensor<Float64Array> => ({ data: Float64Array.from(x.data, f), shape: [...x.shape] });
const scaled = (x: Tensor, c: number) => map(x, (v) => c * v);
const shifted = (x: Tensor, c: number) => map(x, (v, i) => v + c * ((i % x.shape[1]) + 1));
/** Columns scaled by 1, 2, …, 10 (or beyond): an invertible linear map that is not orthogonal·scalar. */
const stretched = (x: Tensor) => map(x, (v, i) => v * (1 + 3 * (i % x.shape[1])) ** 1.5);
const rows = (x: Tensor, from: number, to: number): Tensor => ({ data: x.data.subarray(from * x.shape[1], to * x.shape[1]), shape: [to - from, x.shape[1]] });

describe("RBF CKA", () => {
  const K = gram(KX), L = gram(KY);

  it("full-biased on Kornblith's demo arrays gives the issue's 0.65483 and numpy's value", () => {
    const v = rbfCKAOfGrams([K], [L], { estimator: "full-biased", examples: 100 });
    expect(Math.abs(v.cka - 0.65483)).toBeLessThan(1e-5);
    expect(relErr(v.cka, ref.rbf_kornblith["full-biased"])).toBeLessThan(1e-9);
    expect(v).toMatchObject({ kernel: "rbf", sigma: "per-batch median", sigmaFactor: 0.5, medianOver: "all", estimator: "full-biased", batches: 1 });
    expect(relErr(v.sigmasX[0], ref.rbf_kornblith.sigma_x)).toBeLessThan(1e-9);
    // from features, centred Grams: the same value (distances are shift invariant)
    expect(relErr(rbfCKA(KX, KY, { estimator: "full-biased" }).cka, ref.rbf_kornblith["full-biased"])).toBeLessThan(1e-9);
  });

  it("the other σ choices and estimators match numpy", () => {
    const r = ref.rbf_kornblith;
    expect(relErr(rbfCKAOfGrams([K], [L], { estimator: "full-biased", examples: 100, medianOver: "pairs" }).cka, r["full-biased-pairs"])).toBeLessThan(1e-9);
    expect(relErr(rbfGram(K, { medianOver: "pairs" }).sigma, r.sigma_x_pairs)).toBeLessThan(1e-9);
    expect(relErr(rbfCKAOfGrams([K], [L], { estimator: "full-biased", examples: 100, sigmaFactor: 1 }).cka, r["full-biased-f1"])).toBeLessThan(1e-9);
    expect(relErr(rbfCKAOfGrams([K], [L], { estimator: "full-debiased", examples: 100 }).cka, r["full-debiased"])).toBeLessThan(1e-9);
    const mb = rbfCKA(KX, KY, { estimator: "minibatch-unbiased", batch: 25 });
    expect(relErr(mb.cka, r["minibatch-unbiased-25"])).toBeLessThan(1e-9);
    expect(mb.sigmasX.length).toBe(4);
    expect(relErr(rbfCKA(KX, KY, { batch: 20, medianOver: "pairs" }).cka, r["minibatch-unbiased-20-pairs"])).toBeLessThan(1e-9);
  });

  it("rbfGram: unit diagonal, symmetric, σ from the batch; D² clamps rounding negatives to 0", () => {
    const { gram: R, sigma } = rbfGram(K);
    for (let i = 0; i < 100; i++) {
      expect(R[i * 100 + i]).toBe(1);
      for (let j = 0; j < i; j++) expect(R[i * 100 + j]).toBe(R[j * 100 + i]);
    }
    expect(rbfGram(K, { sigmaFactor: 2 }).sigma).toBeCloseTo(4 * sigma, 12);
    // duplicated examples of large norm: K_ii + K_jj − 2K_ij cancels to ~±ulp, never below 0
    const big = map(gaussian([6, 3], 5), (v, i) => (i < 9 ? 1e4 + v : 1e4 + [0.1, 0.2, 0.3][i % 3]));
    const dup: Tensor = { data: Float64Array.from([...big.data.subarray(0, 9), ...big.data.subarray(9, 12), ...big.data.subarray(9, 12), ...big.data.subarray(9, 12)]), shape: [6, 3] };
    const d2 = squaredDistances(gram(dup));
    expect(d2.every((v) => v >= 0 && Number.isFinite(v))).toBe(true);
    expect(rbfGram(gram(dup)).gram.every((v) => Number.isFinite(v) && v <= 1)).toBe(true);
  });

  it("refuses bad settings with a RangeError naming the value", () => {
    expect(() => rbfGram(K, { sigmaFactor: 0 })).toThrow(/sigmaFactor: 0/);
    expect(() => rbfGram(K, { sigmaFactor: NaN })).toThrow(RangeError);
    expect(() => rbfGram(K, { medianOver: "mean" as never })).toThrow(/medianOver: mean/);
    expect(() => rbfGram(gram({ data: new Float64Array(12).fill(3), shape: [4, 3] }))).toThrow(/σ = 0/);
    expect(() => rbfCKAOfGrams([K, K], [L, L], { estimator: "full-biased", examples: 200 })).toThrow(RangeError);
    expect(() => rbfCKA(KX, KY, { batch: 3 })).toThrow(/batch: 3/);
  });

  it("identical inputs give 1; symmetric; invariant to orthogonal maps, isotropic scaling and shifts", () => {
    const base = rbfCKA(KX, KY, { estimator: "full-biased" }).cka;
    expect(rbfCKA(KX, KX, { estimator: "full-biased" }).cka).toBeCloseTo(1, 14);
    expect(rbfCKA(KY, KX, { estimator: "full-biased" }).cka).toBeCloseTo(base, 14);
    const xq = times(KX, orthogonal(10, 3), 10);
    expect(relErr(rbfCKA(scaled(shifted(xq, 5), 7), KY, { estimator: "full-biased" }).cka, base)).toBeLessThan(1e-10);
    expect(relErr(rbfCKA(KX, KY, { estimator: "full-debiased" }).cka, rbfCKA(xq, scaled(KY, 0.1), { estimator: "full-debiased" }).cka)).toBeLessThan(1e-10);
  });

  it("is NOT invariant to a general invertible linear map", () => {
    const base = rbfCKA(KX, KY, { estimator: "full-biased" }).cka;
    expect(Math.abs(rbfCKA(stretched(KX), KY, { estimator: "full-biased" }).cka - base)).toBeGreaterThan(0.05);
  });
});

describe("rbfCkaReducer", () => {
  const A = [load("rbf_a0"), load("rbf_a1")], B = [load("rbf_b0"), load("rbf_b1")];
  const sitesA = ["a0", "a1"], sitesB = ["b0", "b1"];
  const r = ref.rbf_reducer;
  const batchGrams = (n: number, b: number) => ({
    gramsA: A.map((x) => gram(rows(x, b * n, (b + 1) * n), { centre: true })),
    gramsB: B.map((x) => gram(rows(x, b * n, (b + 1) * n))),
  });

  it("minibatch-unbiased matrices match numpy, stamped with the σ choice", () => {
    let s = rbfCkaReducer.init({ sitesA, sitesB, batch: 16 });
    for (let b = 0; b < 3; b++) s = rbfCkaReducer.update(s, batchGrams(16, b));
    const res = rbfCkaReducer.finalize(s);
    for (const k of ["AA", "BB", "AB"] as const) expect(relErr(res.matrices[k]!.data, r["minibatch-unbiased"][k])).toBeLessThan(1e-9);
    expect(res.matrices.AB).toMatchObject({ rows: sitesA, cols: sitesB, shape: [2, 2] });
    expect(res).toMatchObject({ analysis: "rbf-cka", sigma: "per-batch median", sigmaFactor: 0.5, medianOver: "all", estimator: "minibatch-unbiased", batches: 3, examples: 48 });
    let one = rbfCkaReducer.init({ sitesA, sitesB, batch: 16 });
    one = rbfCkaReducer.update(one, batchGrams(16, 0));
    expect(relErr(rbfCkaReducer.finalize(one).sigmas.A, r.sigmas_A_batch0)).toBeLessThan(1e-9);
  });

  it("full-biased and full-debiased match numpy, from diagonal blocks or explicit blocks", () => {
    for (const estimator of ["full-biased", "full-debiased"] as const) {
      // one batch of all 48: the implicit diagonal block is the whole Gram
      let s = rbfCkaReducer.init({ sitesA, sitesB, batch: 48, estimator, examples: 48 });
      s = rbfCkaReducer.update(s, batchGrams(48, 0));
      // uncentred off-diagonal blocks: every block must share one origin
      let t = rbfCkaReducer.init({ sitesA, sitesB, batch: 16, estimator, examples: 48 });
      for (let i = 0; i < 3; i++) for (let j = 0; j <= i; j++) {
        const block = { row: 16 * i, col: 16 * j, rows: 16, cols: 16 };
        const cg = (x: Tensor) => crossGram(rows(x, 16 * i, 16 * i + 16), rows(x, 16 * j, 16 * j + 16));
        t = rbfCkaReducer.update(t, { gramsA: A.map(cg), gramsB: B.map(cg), block });
      }
      for (const res of [rbfCkaReducer.finalize(s), rbfCkaReducer.finalize(t)]) {
        for (const k of ["AA", "BB", "AB"] as const) expect(relErr(res.matrices[k]!.data, r[estimator][k])).toBeLessThan(1e-9);
        expect(res.examples).toBe(48);
      }
    }
  });

  it("merges bit-exactly in any order of updates and merges", () => {
    const n = 8;
    const shard = (bs: number[]) => bs.reduce((s, b) => rbfCkaReducer.update(s, batchGrams(n, b)), rbfCkaReducer.init({ sitesA, sitesB, batch: n }));
    const whole = rbfCkaReducer.finalize(shard([0, 1, 2, 3, 4, 5]));
    const m1 = rbfCkaReducer.finalize(rbfCkaReducer.merge(rbfCkaReducer.merge(shard([0, 1]), shard([2, 3])), shard([4, 5])));
    const m2 = rbfCkaReducer.finalize(rbfCkaReducer.merge(shard([5, 2]), rbfCkaReducer.merge(shard([4]), shard([3, 1, 0]))));
    for (const res of [m1, m2]) {
      for (const k of ["AA", "BB", "AB"] as const) expect(res.matrices[k]!.data).toEqual(whole.matrices[k]!.data);
      expect(res.sigmas).toEqual(whole.sigmas);
      expect(res.hsicDiag).toEqual(whole.hsicDiag);
      expect(res.batches).toBe(6);
    }
  });

  it("sums each cell in an order fixed by the values, so merge order cannot change a bit", () => {
    // Per-batch terms [HSIC_aa, σ_a] chosen so that a running sum (even compensated) depends on order.
    const values = [1e200, 1e100, 1, -1e200, -1e100];
    const shard = (vs: number[]) => {
      const s = rbfCkaReducer.init({ sitesA: ["a"], batch: 8 });
      for (const v of vs) {
        s.terms.push(Float64Array.from([v, 1]));
        s.batches += 1;
        s.examples += 8;
      }
      return s;
    };
    const one = rbfCkaReducer.finalize(rbfCkaReducer.merge(rbfCkaReducer.merge(shard(values.slice(0, 2)), shard(values.slice(2, 3))), shard(values.slice(3))));
    const other = rbfCkaReducer.finalize(rbfCkaReducer.merge(shard([1, -1e100]), shard([1e100, 1e200, -1e200])));
    expect(other.hsicDiag.A).toEqual(one.hsicDiag.A);
    expect(one.batches).toBe(5);
  });

  it("drops a short batch with a warning and refuses mismatched states", () => {
    let s = rbfCkaReducer.init({ sitesA, sitesB, batch: 16 });
    s = rbfCkaReducer.update(s, batchGrams(16, 0));
    s = rbfCkaReducer.update(s, { gramsA: A.map((x) => gram(rows(x, 16, 24))), gramsB: B.map((x) => gram(rows(x, 16, 24))) });
    const res = rbfCkaReducer.finalize(s);
    expect(res.droppedExamples).toBe(8);
    expect(res.warnings.join()).toMatch(/dropped/);
    const other: RbfCKAState = rbfCkaReducer.init({ sitesA, sitesB, batch: 16, sigmaFactor: 1 });
    expect(() => rbfCkaReducer.merge(s, other)).toThrow(/sigmaFactor differs/);
    expect(() => rbfCkaReducer.init({ sitesA, batch: 16, sigmaFactor: -1 })).toThrow(/sigmaFactor: -1/);
    expect(() => rbfCkaReducer.init({ sitesA, batch: 16, estimator: "full-biased" })).toThrow(/examples/);
    expect(() => rbfCkaReducer.finalize(rbfCkaReducer.init({ sitesA, batch: 16 }))).toThrow(/no batches/);
  });
});

describe("Procrustes distance and angular shape metric", () => {
  const fields = ["nuclear", "normX", "normY", "distance", "angle"] as const;
  const cases: [string, Tensor, Tensor][] = [
    ["tall", load("procrustes_x"), load("procrustes_y")],
    ["wide", load("procrustes_wide_x"), load("procrustes_wide_y")],
    ["kornblith", KX, KY],
  ];

  it.each(cases)("%s: matches numpy's SVD of XᵀY from uncentred or centred Grams", (name, x, y) => {
    const expected = ref.procrustes[name];
    const v = procrustes(gram(x), gram(y));
    for (const f of fields) expect(relErr(v[f], expected[f])).toBeLessThan(1e-9);
    const c = procrustes(gram(x, { centre: true }), gram(y, { centre: true }), { centre: false });
    for (const f of fields) expect(relErr(c[f], expected[f])).toBeLessThan(1e-9);
    expect(v).toMatchObject({ centre: true, examples: x.shape[0] });
  });

  it("identical inputs give 0 (to the √ε of the √(2−2ρ) formula), and Y = c·X·Q gives 0", () => {
    const [, x] = cases[0];
    const self = procrustes(gram(x), gram(x));
    expect(self.distance).toBeLessThan(1e-6);
    expect(self.angle).toBeLessThan(1e-6);
    expect(relErr(self.nuclear, self.normX ** 2)).toBeLessThan(1e-12);
    const y = scaled(times(x, orthogonal(10, 9), 10), 3);
    expect(procrustes(gram(x), gram(y)).distance).toBeLessThan(1e-6);
  });

  it("symmetric; invariant to orthogonal maps, isotropic scaling and translation", () => {
    const [, x, y] = cases[0];
    const base = procrustes(gram(x), gram(y));
    const swapped = procrustes(gram(y), gram(x));
    expect(relErr(swapped.distance, base.distance)).toBeLessThan(1e-12);
    expect(relErr(swapped.angle, base.angle)).toBeLessThan(1e-12);
    const moved = procrustes(gram(shifted(scaled(times(x, orthogonal(10, 4), 10), 0.01), 3)), gram(scaled(times(y, orthogonal(8, 6), 8), 50)));
    expect(relErr(moved.distance, base.distance)).toBeLessThan(1e-9);
    expect(relErr(moved.angle, base.angle)).toBeLessThan(1e-9);
  });

  it("is NOT invariant to a general invertible linear map", () => {
    const [, x, y] = cases[0];
    const base = procrustes(gram(x), gram(y));
    expect(Math.abs(procrustes(gram(stretched(x)), gram(y)).distance - base.distance)).toBeGreaterThan(0.05);
  });

  it("refuses mismatched or empty Grams", () => {
    expect(() => procrustes(new Float64Array(9), new Float64Array(16))).toThrow(/3×3 and 4×4/);
    expect(() => procrustes(new Float64Array(9), new Float64Array(9))).toThrow(/trace/);
  });
});

describe("RSA", () => {
  const x = load("rsa_x"), y = load("rsa_y");
  const rowSums = (t: Tensor) => Float64Array.from({ length: t.shape[0] }, (_, i) => t.data.subarray(i * t.shape[1], (i + 1) * t.shape[1]).reduce((a, b) => a + b, 0));

  it("rdm from the uncentred Gram and row sums, and from features, match numpy's corrcoef", () => {
    // absolute: RDM entries are O(1), and numpy's diagonal is 1 − corrcoef's ≈ ±1e-16 where ours is 0
    expect(absErr(rdm(gram(x), rowSums(x), 15), ref.rsa.rdm_x)).toBeLessThan(1e-9);
    expect(absErr(rdm(gram(y), rowSums(y), 11), ref.rsa.rdm_y)).toBeLessThan(1e-9);
    expect(absErr(rdmOfFeatures(x), ref.rsa.rdm_x)).toBeLessThan(1e-12);
    const d = rdmOfFeatures(y);
    for (let i = 0; i < 40; i++) expect(d[i * 40 + i]).toBe(0);
  });

  it("rsa matches numpy on features and on RDMs with many ties (average ranks)", () => {
    const v = rsa(rdmOfFeatures(x), rdmOfFeatures(y));
    expect(relErr(v.pearson, ref.rsa.features.pearson)).toBeLessThan(1e-9);
    expect(relErr(v.spearman, ref.rsa.features.spearman)).toBeLessThan(1e-9);
    expect(v).toMatchObject({ pairs: 780, examples: 40 });
    expect(ref.rsa.ties_distinct[1]).toBeLessThan(20); // 780 pairs on at most 20 values: ties everywhere
    const t = rsa(load("rsa_ties_a").data, load("rsa_ties_b").data);
    expect(relErr(t.pearson, ref.rsa.ties.pearson)).toBeLessThan(1e-9);
    expect(relErr(t.spearman, ref.rsa.ties.spearman)).toBeLessThan(1e-9);
    expect(Array.from(averageRanks(new Float64Array([10, 20, 10, 5, 20])))).toEqual([2.5, 4.5, 2.5, 1, 4.5]);
  });

  it("identical inputs give 1; symmetric; RDM invariant to each example's shift and scale", () => {
    const a = rdmOfFeatures(x), b = rdmOfFeatures(y);
    expect(rsa(a, a).pearson).toBeCloseTo(1, 14);
    expect(rsa(a, a).spearman).toBeCloseTo(1, 14);
    expect(rsa(b, a)).toEqual(rsa(a, b));
    const perExample = map(x, (v, i) => (2 + Math.floor(i / 15)) * v - 7 * Math.floor(i / 15));
    expect(absErr(rdmOfFeatures(perExample), a)).toBeLessThan(1e-12);
  });

  it("Spearman is invariant to a monotone map of an RDM, Pearson is not; RDMs are not invariant to a general linear map", () => {
    const a = rdmOfFeatures(x), b = rdmOfFeatures(y);
    const base = rsa(a, b);
    const cubed = rsa(a.map((v) => Math.exp(10 * v)), b);
    expect(cubed.spearman).toBe(base.spearman);
    expect(Math.abs(cubed.pearson - base.pearson)).toBeGreaterThan(0.01);
    expect(rsa(rdmOfFeatures(stretched(x)), a).pearson).toBeLessThan(0.99);
  });

  it("refuses a constant example, too few features or mismatched RDMs", () => {
    const flat = { data: Float64Array.from([1, 2, 3, 4, 4, 4, 0, 1, 0]), shape: [3, 3] };
    expect(() => rdmOfFeatures(flat)).toThrow(/example 1/);
    expect(() => rdm(gram(flat), rowSums(flat), 3)).toThrow(/example 1/);
    expect(() => rdm(gram(x), rowSums(x), 1)).toThrow(/p: 1/);
    expect(() => rsa(new Float64Array(16), new Float64Array(9))).toThrow(RangeError);
  });
});

describe("mutual k-nearest-neighbour alignment", () => {
  const x = load("knn_x"), y = load("knn_y");

  it("matches numpy's argsort neighbours for k = 5 and the default k = 10", () => {
    const v5 = mutualKnn(gram(x), gram(y), { k: 5 });
    expect(Array.from(v5.perExample)).toEqual(ref.knn.k5.perExample);
    expect(relErr(v5.alignment, ref.knn.k5.alignment)).toBeLessThan(1e-12);
    const v10 = mutualKnn(gram(x, { centre: true }), gram(y));
    expect(v10.k).toBe(10);
    expect(relErr(v10.alignment, ref.knn.k10.alignment)).toBeLessThan(1e-12);
    expect(v10).toMatchObject({ examples: 50, metric: "euclidean", ties: "lower index first" });
  });

  it("on a lattice with many equal distances, ties go to the lower index as numpy's stable argsort does", () => {
    const gx = load("knn_ties_x"), gy = load("knn_ties_y");
    expect(Array.from(nearestNeighbours(gram(gx), 4))).toEqual(ref.knn.ties_neighbours_x_k4);
    const v = mutualKnn(gram(gx), gram(gy), { k: 4 });
    expect(Array.from(v.perExample)).toEqual(ref.knn.ties_k4.perExample);
    expect(relErr(v.alignment, ref.knn.ties_k4.alignment)).toBeLessThan(1e-12);
  });

  it("identical inputs give 1; symmetric; invariant to orthogonal maps, isotropic scaling and shifts", () => {
    expect(mutualKnn(gram(x), gram(x)).alignment).toBe(1);
    expect(mutualKnn(gram(y), gram(x), { k: 5 }).alignment).toBe(mutualKnn(gram(x), gram(y), { k: 5 }).alignment);
    const moved = shifted(scaled(times(x, orthogonal(8, 2), 8), 4), 2);
    expect(mutualKnn(gram(x), gram(moved)).alignment).toBe(1);
  });

  it("is NOT invariant to a general invertible linear map", () => {
    expect(mutualKnn(gram(x), gram(stretched(x))).alignment).toBeLessThan(0.9);
  });

  it("refuses k outside 1 ≤ k < m", () => {
    const k = gram(x);
    expect(() => mutualKnn(k, k, { k: 0 })).toThrow(/k: 0/);
    expect(() => mutualKnn(k, k, { k: 50 })).toThrow(/k: 50/);
    expect(() => mutualKnn(k, k, { k: 2.5 })).toThrow(RangeError);
    expect(mutualKnn(k, gram(y), { k: 49 }).alignment).toBe(1);
  });
});
