import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { skipRatio, skipRatioReducer } from "../analyses/skip-ratio.js";
import { maxRelativeError, readFloat } from "./helpers/npy-b.js";

const dir = "fixtures/reference/analyses-b";
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8"));
const z = readFloat(`${dir}/skip_vit_z.npy`); // [4, 10, 8]
const fz = readFloat(`${dir}/skip_vit_fz.npy`);
const zc = readFloat(`${dir}/skip_cnn_z.npy`); // [3, 5, 4, 3]
const fc = readFloat(`${dir}/skip_cnn_fz.npy`);

/** Rows b0..b1 of a batch-major tensor. */
function rows(t: { data: Float32Array | Float64Array; shape: number[] }, b0: number, b1: number) {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { data: t.data.subarray(b0 * per, b1 * per), shape: [b1 - b0, ...t.shape.slice(1)] };
}

describe("skipRatio", () => {
  it("skipRatio on tokens matches numpy: CLS, spatial mean and per token, both conventions", () => {
    const r = skipRatio(z, fz, { residual: "blocks.0.attn" });
    const e = expected.skip_vit;
    expect(r.layout).toBe("tokens");
    expect(r.images).toBe(4);
    expect(maxRelativeError(r["mean-of-ratios"].perToken, e.meanOfRatios.perToken)).toBeLessThan(1e-9);
    expect(maxRelativeError([r["mean-of-ratios"].cls, r["mean-of-ratios"].spatial], [e.meanOfRatios.cls, e.meanOfRatios.spatial])).toBeLessThan(1e-9);
    expect(maxRelativeError(r["ratio-of-frobenius"].perToken, e.ratioOfFrobenius.perToken)).toBeLessThan(1e-9);
    expect(
      maxRelativeError([r["ratio-of-frobenius"].cls, r["ratio-of-frobenius"].spatial], [e.ratioOfFrobenius.cls, e.ratioOfFrobenius.spatial]),
    ).toBeLessThan(1e-9);
    expect(r["mean-of-ratios"].whole).toBeNaN();
  });

  it("skipRatio on feature maps matches numpy: whole map and per position, both conventions", () => {
    const r = skipRatio(zc, fc, { residual: "stages.0.units.0" });
    const e = expected.skip_cnn;
    expect(r.layout).toBe("feature-map");
    expect(r.positions).toEqual([4, 3]);
    expect(maxRelativeError([r["mean-of-ratios"].whole], [e.meanOfRatios.whole])).toBeLessThan(1e-9);
    expect(maxRelativeError(r["mean-of-ratios"].perToken, e.meanOfRatios.perPosition)).toBeLessThan(1e-9);
    expect(maxRelativeError([r["ratio-of-frobenius"].whole], [e.ratioOfFrobenius.whole])).toBeLessThan(1e-9);
    expect(maxRelativeError(r["ratio-of-frobenius"].perToken, e.ratioOfFrobenius.perPosition)).toBeLessThan(1e-9);
    expect(r["mean-of-ratios"].cls).toBeNaN();
  });

  it("skipRatio of z against 2z is 1/2 everywhere", () => {
    const f = Float64Array.from(z.data, (x) => 2 * x);
    const r = skipRatio(z, { data: f, shape: z.shape });
    for (const v of r["mean-of-ratios"].perToken) expect(v).toBeCloseTo(0.5, 12);
    expect(r["ratio-of-frobenius"].spatial).toBeCloseTo(0.5, 12);
  });

  it("skipRatio rejects skip and branch of different shapes", () => {
    expect(() => skipRatio(z, rows(fz, 0, 2))).toThrow(/invalid residual: skip \[4,10,8\] and branch \[2,10,8\]/);
  });
});

describe("skipRatioReducer", () => {
  it("merge of two halves equals one pass (1e-12) and finalize equals the one-shot helper", () => {
    const reducer = skipRatioReducer;
    let one = reducer.init({});
    one = reducer.update(one, { residual: "blocks.0.attn", skip: z, branch: fz });
    one = reducer.update(one, { residual: "stages.0.units.0", skip: zc, branch: fc });
    let a = reducer.init({});
    let b = reducer.init({});
    a = reducer.update(a, { residual: "blocks.0.attn", skip: rows(z, 0, 1), branch: rows(fz, 0, 1) });
    b = reducer.update(b, { residual: "stages.0.units.0", skip: rows(zc, 0, 2), branch: rows(fc, 0, 2) });
    b = reducer.update(b, { residual: "blocks.0.attn", skip: rows(z, 1, 4), branch: rows(fz, 1, 4) });
    a = reducer.update(a, { residual: "stages.0.units.0", skip: rows(zc, 2, 3), branch: rows(fc, 2, 3) });
    const r1 = reducer.finalize(one);
    const r2 = reducer.finalize(reducer.merge(a, b));
    expect(r2.residuals.map((r) => r.residual)).toEqual(["blocks.0.attn", "stages.0.units.0"]);
    expect(r2.settings.convention).toBe("mean-of-ratios");
    for (let i = 0; i < 2; i++) {
      const x = r1.residuals[i];
      const y = r2.residuals[i];
      expect(y.images).toBe(x.images);
      for (const c of ["mean-of-ratios", "ratio-of-frobenius"] as const) {
        expect(maxRelativeError(y[c].perToken, x[c].perToken)).toBeLessThan(1e-12);
        for (const k of ["cls", "spatial", "whole"] as const) {
          if (Number.isNaN(x[c][k])) expect(y[c][k]).toBeNaN();
          else expect(maxRelativeError([y[c][k]], [x[c][k]])).toBeLessThan(1e-12);
        }
      }
    }
    const single = skipRatio(z, fz);
    expect(maxRelativeError(r1.residuals[0]["mean-of-ratios"].perToken, single["mean-of-ratios"].perToken)).toBeLessThan(1e-15);
  });

  it("init rejects an unknown convention", () => {
    // @ts-expect-error: invalid on purpose
    expect(() => skipRatioReducer.init({ convention: "median" })).toThrow(/invalid convention: median/);
  });

  it("update rejects a residual whose shape changes", () => {
    let s = skipRatioReducer.init({});
    s = skipRatioReducer.update(s, { residual: "r", skip: z, branch: fz });
    expect(() => skipRatioReducer.update(s, { residual: "r", skip: zc, branch: fc })).toThrow(/invalid residual r/);
  });
});
