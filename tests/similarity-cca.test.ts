import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { cca } from "../analyses/similarity/cca.js";
import { svcca } from "../analyses/similarity/svcca.js";
import { pwcca } from "../analyses/similarity/pwcca.js";
import { DEFAULT_LAMBDAS, predictivity, predictivityBoth } from "../analyses/similarity/predictivity.js";
import type { Tensor } from "../src/tensor.js";
import { gaussian, orthogonal, relErr } from "./helpers/gaussian.js";
import { readNpy } from "./helpers/npy.js";

const ref = "fixtures/reference/similarity";
const expected = JSON.parse(readFileSync(`${ref}/cca_measures.json`, "utf8"));
const KX = readNpy("fixtures/reference/cka/kornblith_x.npy");
const KY = readNpy("fixtures/reference/cka/kornblith_y.npy");
const A = readNpy(`${ref}/sim_a.npy`);
const B = readNpy(`${ref}/sim_b.npy`);
const AT = readNpy(`${ref}/sim_a_test.npy`);
const BT = readNpy(`${ref}/sim_b_test.npy`);
const WX = readNpy(`${ref}/sim_wide_x.npy`);
const WY = readNpy(`${ref}/sim_wide_y.npy`);
const WXT = readNpy(`${ref}/sim_wide_x_test.npy`);
const WYT = readNpy(`${ref}/sim_wide_y_test.npy`);

/** X·M for X m×p and M p×q. */
function times(x: Tensor, m: Float64Array, q: number): Tensor<Float64Array> {
  const [rows, p] = x.shape;
  const out = new Float64Array(rows * q);
  for (let i = 0; i < rows; i++) for (let k = 0; k < p; k++) {
    const v = x.data[i * p + k];
    for (let j = 0; j < q; j++) out[i * q + j] += v * m[k * q + j];
  }
  return { data: out, shape: [rows, q] };
}

/** Elementwise f(x) (optionally per column). */
function mapped(x: Tensor, f: (v: number, col: number) => number): Tensor<Float64Array> {
  const p = x.shape[1];
  return { data: Float64Array.from(x.data, (v, i) => f(v, i % p)), shape: [...x.shape] };
}

/** A random invertible p×p matrix, well away from singular: I·2 + Gaussian/√p. */
function invertible(p: number, seed: number): Float64Array {
  const g = gaussian([p, p], seed).data;
  return Float64Array.from(g, (v, i) => v / Math.sqrt(p) + (i % (p + 1) === 0 ? 2 : 0));
}

function plusShift(x: Tensor, s: number): Tensor<Float64Array> {
  return mapped(x, (v, c) => v + s * (c + 1));
}

describe("cca", () => {
  it("reproduces Kornblith's demo: mean CCA R² 0.54312 on raw X, 0.5454 centred", () => {
    expect(Math.abs(cca(KX, KY, { centre: false }).meanR2 - 0.54312)).toBeLessThan(1e-4);
    expect(Math.abs(cca(KX, KY).meanR2 - 0.5454)).toBeLessThan(1e-4);
  });

  it("matches numpy (QR + SVD) on Kornblith's arrays and on unequal widths, centred and not", () => {
    for (const [x, y, e] of [[KX, KY, expected.kornblith], [A, B, expected.ab]] as const) {
      for (const [centre, key] of [[true, "cca"], [false, "ccaUncentred"]] as const) {
        const r = cca(x, y, { centre });
        expect(r.correlations.length).toBe(e[key].correlations.length);
        expect(relErr(r.correlations, e[key].correlations)).toBeLessThan(1e-9);
        expect(relErr(r.meanR2, e[key].meanR2)).toBeLessThan(1e-9);
        expect(relErr(r.meanRho, e[key].meanRho)).toBeLessThan(1e-9);
        expect(r.settings).toEqual({ centre });
      }
    }
  });

  it("gives 1 on identical inputs and is symmetric", () => {
    const r = cca(A, A);
    for (const rho of r.correlations) expect(Math.abs(rho - 1)).toBeLessThan(1e-12);
    expect(relErr(cca(B, A).correlations, cca(A, B).correlations)).toBeLessThan(1e-12);
  });

  it("is invariant to invertible linear maps of either side (and shifts when centred)", () => {
    const base = cca(A, B).correlations;
    expect(relErr(cca(times(A, invertible(12, 1), 12), B).correlations, base)).toBeLessThan(1e-9);
    expect(relErr(cca(A, plusShift(times(B, invertible(7, 2), 7), 5)).correlations, base)).toBeLessThan(1e-9);
    expect(relErr(cca(KX, times(KY, invertible(10, 3), 10), { centre: false }).correlations, cca(KX, KY, { centre: false }).correlations)).toBeLessThan(1e-9);
  });

  it("is not invariant to an elementwise nonlinearity, and uncentred CCA not to shifts", () => {
    const base = cca(KX, KY).meanR2;
    expect(Math.abs(cca(mapped(KX, (v) => v * v * v), KY).meanR2 - base)).toBeGreaterThan(1e-2);
    const raw = cca(KX, KY, { centre: false }).meanR2;
    expect(Math.abs(cca(plusShift(KX, 1), KY, { centre: false }).meanR2 - raw)).toBeGreaterThan(1e-3);
  });

  it("refuses p ≥ m or q ≥ m, naming p, q and m, and rank-deficient features", () => {
    const x = gaussian([10, 10], 4);
    const y = gaussian([10, 3], 5);
    expect(() => cca(x, y)).toThrow(RangeError);
    expect(() => cca(x, y)).toThrow(/p = 10, q = 3 .*m = 10/);
    expect(() => cca(y, gaussian([10, 12], 6))).toThrow(/p = 3, q = 12 .*m = 10/);
    const dup = mapped(gaussian([20, 3], 7), (v, c) => (c === 2 ? 0 : v));
    expect(() => cca(dup, gaussian([20, 2], 8))).toThrow(/zero variance/);
    const twice: Tensor = { data: Float64Array.from({ length: 40 }, (_, i) => KX.data[Math.floor(i / 2) * 10]), shape: [20, 2] };
    expect(() => cca(twice, gaussian([20, 2], 9))).toThrow(/linearly dependent/);
    expect(() => cca(KX, gaussian([50, 2], 9))).toThrow(/example counts: 100 and 50/);
  });
});

describe("svcca", () => {
  it("matches numpy (SVD + QR) with 99% variance, keep k, and 90% variance", () => {
    const cases = [
      [KX, KY, expected.kornblith.svcca, {}],
      [KX, KY, expected.kornblith.svccaKeep5, { keep: 5 }],
      [KX, KY, expected.kornblith.svccaVariance90, { variance: 0.9 }],
      [A, B, expected.ab.svcca, {}],
      [A, B, expected.ab.svccaKeep4, { keep: 4 }],
    ] as const;
    for (const [x, y, e, opts] of cases) {
      const r = svcca(x, y, opts);
      expect([r.keptX, r.keptY]).toEqual([e.keptX, e.keptY]);
      expect(relErr(r.correlations, e.correlations)).toBeLessThan(1e-9);
      expect(relErr([r.meanRho, r.meanR2], [e.meanRho, e.meanR2])).toBeLessThan(1e-9);
      expect(relErr([r.varianceX, r.varianceY], [e.varianceX, e.varianceY])).toBeLessThan(1e-9);
    }
    // The truncation is doing something on the anisotropic pair.
    expect([expected.ab.svcca.keptX, expected.ab.svcca.keptY]).toEqual([4, 7]);
  });

  it("stamps its settings and equals CCA when every direction is kept", () => {
    const r = svcca(KX, KY);
    expect(r.settings).toEqual({ variance: 0.99, keep: null, centre: true });
    expect(svcca(A, B, { keep: 3 }).settings).toEqual({ variance: 0.99, keep: 3, centre: true });
    expect([r.keptX, r.keptY]).toEqual([10, 10]);
    expect(relErr(r.correlations, cca(KX, KY).correlations)).toBeLessThan(1e-9);
  });

  it("gives 1 on identical inputs", () => {
    expect(Math.abs(svcca(A, A).meanRho - 1)).toBeLessThan(1e-12);
    expect(Math.abs(svcca(A, A, { keep: 3 }).meanR2 - 1)).toBeLessThan(1e-12);
  });

  it("is invariant to orthogonal maps and isotropic scaling while truncating", () => {
    const base = svcca(A, B);
    const r = svcca(mapped(times(A, orthogonal(12, 10), 12), (v) => 7 * v), times(B, orthogonal(7, 11), 7));
    expect([r.keptX, r.keptY]).toEqual([base.keptX, base.keptY]);
    expect(relErr(r.correlations, base.correlations)).toBeLessThan(1e-8);
  });

  it("is not invariant to an anisotropic invertible map (it changes which directions are kept)", () => {
    const base = svcca(KX, KY, { keep: 5 }).meanRho;
    const stretched = mapped(KX, (v, c) => v * (c === 0 ? 10 : 1));
    expect(Math.abs(svcca(stretched, KY, { keep: 5 }).meanRho - base)).toBeGreaterThan(1e-2);
    // The same map leaves CCA (nothing truncated) unchanged.
    expect(relErr(cca(stretched, KY).correlations, cca(KX, KY).correlations)).toBeLessThan(1e-9);
  });

  it("accepts p ≥ m through its recorded reduction, but not more kept directions than the rank", () => {
    const wide = times(gaussian([30, 3], 12), gaussian([3, 50], 13).data, 50);
    const r = svcca(wide, gaussian([30, 4], 14));
    expect([r.p, r.keptX]).toEqual([50, 3]);
    // Centred, m examples have rank m − 1 at most, so keeping m directions is refused.
    expect(() => svcca(WX, gaussian([40, 45], 16), { keep: 40 })).toThrow(/invalid keep: 40 directions of X, whose centred features have rank below 40/);
    expect(() => svcca(A, B, { variance: 1.5 })).toThrow(/invalid variance: 1.5/);
    expect(() => svcca(A, B, { keep: 0 })).toThrow(/invalid keep: 0/);
    expect(() => svcca(A, B, { keep: 9 })).toThrow(/invalid keep: 9 directions of Y/);
    expect(() => svcca(wide, gaussian([30, 4], 14), { keep: 4 })).toThrow(/invalid keep: 4 directions of X, whose centred features have rank below 4/);
  });
});

describe("pwcca", () => {
  it("matches numpy (unit canonical variates Qx·u) in both directions, centred and not", () => {
    for (const [x, y, e, centre] of [[KX, KY, expected.kornblith.pwcca, true], [KX, KY, expected.kornblith.pwccaUncentred, false], [A, B, expected.ab.pwcca, true]] as const) {
      const r = pwcca(x, y, { centre });
      expect(relErr([r.pwcca, r.pwccaYX], [e.pwcca, e.pwccaYX])).toBeLessThan(1e-9);
      expect(relErr(r.weightsX, e.weightsX)).toBeLessThan(1e-8);
      expect(relErr(r.weightsY, e.weightsY)).toBeLessThan(1e-8);
      expect(r.settings).toEqual({ centre });
    }
    const ba = pwcca(B, A);
    expect(relErr([ba.pwcca, ba.pwccaYX], [expected.ab.pwccaBA.pwcca, expected.ab.pwccaBA.pwccaYX])).toBeLessThan(1e-9);
  });

  it("is asymmetric: swapping the arguments swaps the two directions", () => {
    const ab = pwcca(A, B);
    const ba = pwcca(B, A);
    expect(relErr(ba.pwcca, ab.pwccaYX)).toBeLessThan(1e-10);
    expect(relErr(ba.pwccaYX, ab.pwcca)).toBeLessThan(1e-10);
    expect(Math.abs(ab.pwcca - ab.pwccaYX)).toBeGreaterThan(1e-3);
  });

  it("gives 1 on identical inputs; weights sum to 1", () => {
    const r = pwcca(A, A);
    expect(Math.abs(r.pwcca - 1)).toBeLessThan(1e-12);
    expect(Math.abs(r.weightsX.reduce((s, w) => s + w, 0) - 1)).toBeLessThan(1e-12);
  });

  it("is invariant to isotropic scaling, feature permutations and sign flips", () => {
    const base = pwcca(KX, KY);
    const perm = [3, 1, 4, 0, 9, 2, 6, 5, 8, 7];
    const P = new Float64Array(100);
    perm.forEach((j, i) => (P[j * 10 + i] = i % 2 ? -1 : 1));
    const r = pwcca(mapped(times(KX, P, 10), (v) => 0.1 * v), KY);
    expect(relErr([r.pwcca, r.pwccaYX], [base.pwcca, base.pwccaYX])).toBeLessThan(1e-9);
  });

  it("is not invariant to a rotation of the features (the weights are L1 over features)", () => {
    const base = pwcca(A, B).pwcca;
    const r = pwcca(times(A, orthogonal(12, 15), 12), B);
    expect(relErr(r.correlations, cca(A, B).correlations)).toBeLessThan(1e-9);
    expect(Math.abs(r.pwcca - base)).toBeGreaterThan(1e-3);
  });

  it("refuses p ≥ m", () => {
    expect(() => pwcca(WX, WY)).toThrow(/invalid pwcca: p = 60, q = 5 .*m = 40/);
  });
});

describe("predictivity", () => {
  const same = (r: ReturnType<typeof predictivity>, e: { r2: number; lambda: number; holdoutR2: number[]; scoredOn: string }) => {
    expect(r.scoredOn).toBe(e.scoredOn);
    expect(r.lambda).toBe(e.lambda);
    expect(relErr(r.holdoutR2, e.holdoutR2)).toBeLessThan(1e-9);
    expect(relErr(r.r2, e.r2)).toBeLessThan(1e-9);
  };

  it("matches numpy (ridge by lstsq on the augmented system) both ways, on the holdout", () => {
    const { xToY, yToX } = predictivityBoth(KX, KY);
    same(xToY, expected.kornblith.predictivityXY);
    same(yToX, expected.kornblith.predictivityYX);
    expect([xToY.fitExamples, xToY.holdoutExamples, xToY.testExamples]).toEqual([80, 20, 0]);
  });

  it("matches numpy on a separate test split, both ways, and in the dual form (p > m)", () => {
    const { xToY, yToX } = predictivityBoth(A, B, { test: { x: AT, y: BT } });
    same(xToY, expected.ab.predictivityAB);
    same(yToX, expected.ab.predictivityBA);
    expect([xToY.p, xToY.q, yToX.p, yToX.q, xToY.testExamples]).toEqual([12, 7, 7, 12, 60]);
    same(predictivity(WX, WY, { test: { x: WXT, y: WYT } }), expected.wide.predictivity);
    same(predictivity(WX, WY), expected.wide.predictivityHoldout);
  });

  it("stamps its settings; default grid 10⁻⁶ … 10⁶", () => {
    expect(DEFAULT_LAMBDAS).toHaveLength(13);
    expect([DEFAULT_LAMBDAS[0], DEFAULT_LAMBDAS[6], DEFAULT_LAMBDAS[12]]).toEqual([1e-6, 1, 1e6]);
    expect(expected.lambdas).toEqual([...DEFAULT_LAMBDAS]);
    const r = predictivity(KX, KY);
    expect(r.settings).toEqual({ lambdas: [...DEFAULT_LAMBDAS], holdoutEvery: 5, standardise: "fit-mean-std+1e-5", intercept: "unpenalised", r2: "pooled-over-outputs" });
  });

  it("is asymmetric and near 1 for identical inputs", () => {
    const { xToY, yToX } = predictivityBoth(A, B, { test: { x: AT, y: BT } });
    expect(Math.abs(xToY.r2 - yToX.r2)).toBeGreaterThan(1e-2);
    expect(predictivity(KX, KX).r2).toBeGreaterThan(1 - 1e-6);
  });

  it("is invariant to per-feature shifts of X, and to invertible maps of X as λ → 0", () => {
    const x = gaussian([100, 6], 20);
    const y = mapped(times(x, gaussian([6, 4], 21).data, 4), (v) => Math.tanh(v));
    const base = predictivity(x, y);
    expect(relErr(predictivity(plusShift(x, 3), y).r2, base.r2)).toBeLessThan(1e-9);
    const tiny = { lambdas: [1e-9] };
    expect(relErr(predictivity(times(x, invertible(6, 22), 6), y, tiny).r2, predictivity(x, y, tiny).r2)).toBeLessThan(1e-6);
  });

  it("is not invariant to rescaling one output (R² pools the outputs' residuals)", () => {
    const base = predictivity(A, B, { test: { x: AT, y: BT } }).r2;
    const s = (t: Tensor) => mapped(t, (v, c) => (c === 0 ? 10 * v : v));
    expect(Math.abs(predictivity(A, s(B), { test: { x: AT, y: s(BT) } }).r2 - base)).toBeGreaterThan(1e-2);
  });

  it("rejects bad options and mismatched test splits", () => {
    expect(() => predictivity(A, B, { lambdas: [] })).toThrow(/invalid lambdas: empty/);
    expect(() => predictivity(A, B, { lambdas: [0] })).toThrow(/invalid lambda: 0/);
    expect(() => predictivity(A, B, { holdoutEvery: 1 })).toThrow(/invalid holdoutEvery: 1/);
    expect(() => predictivity(A, B, { test: { x: BT, y: AT } })).toThrow(/invalid test features: \[7, 12\]/);
    expect(() => predictivity(A, mapped(B, () => 1))).toThrow(/zero variance on the holdout/);
  });
});
