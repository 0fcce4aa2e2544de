import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_LAMBDAS,
  linearProbe,
  pool,
  predictions,
  probeReducer,
  ridgeTargets,
  ridgeWeights,
  spaceToDepth,
  type ProbeResult,
} from "../analyses/probes.js";
import { matrix } from "../src/numeric/linalg.js";
import { maxRelativeError, readFloat, readNpyTyped } from "./helpers/npy-b.js";

const dir = "fixtures/reference/analyses-b";
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8"));
const asMatrix = (t: { data: Float32Array | Float64Array; shape: number[] }) => matrix(t.shape[0], t.shape[1], t.data);

describe("pool", () => {
  const tok = readFloat(`${dir}/pool_tokens.npy`); // [3, 10, 5], CLS first
  it("pool(tokens, cls | mean | token:4) matches numpy", () => {
    expect(maxRelativeError(pool(tok, "cls").data, readFloat(`${dir}/pool_tokens_cls.npy`).data)).toBeLessThan(1e-12);
    expect(maxRelativeError(pool(tok, "mean").data, readFloat(`${dir}/pool_tokens_mean.npy`).data)).toBeLessThan(1e-12);
    expect(maxRelativeError(pool(tok, "token:4").data, readFloat(`${dir}/pool_tokens_token4.npy`).data)).toBeLessThan(1e-12);
    expect(pool(tok, "mean").shape).toEqual([3, 5]);
  });

  it("pool(feature map, gap) matches numpy", () => {
    const fmap = readFloat(`${dir}/pool_fmap.npy`);
    expect(maxRelativeError(pool(fmap, "gap").data, readFloat(`${dir}/pool_fmap_gap.npy`).data)).toBeLessThan(1e-12);
  });

  it("pool rejects cls on a feature map and a token index out of range", () => {
    expect(() => pool(readFloat(`${dir}/pool_fmap.npy`), "cls")).toThrow(/invalid pool mode for \[B, C, H, W\]: cls/);
    expect(() => pool(tok, "token:10")).toThrow(/invalid pool mode: token:10/);
    expect(() => pool(tok, "cls", { prefixTokens: 0 })).toThrow(/no prefix token/);
  });
});

describe("spaceToDepth", () => {
  it("spaceToDepth matches numpy's reshape/transpose in TensorFlow channel order", () => {
    const fmap = readFloat(`${dir}/pool_fmap.npy`); // [2, 3, 4, 6]
    const s = spaceToDepth(fmap, [2, 3]);
    const ref = readFloat(`${dir}/pool_fmap_s2d.npy`);
    expect(s.shape).toEqual(ref.shape);
    expect(Array.from(s.data)).toEqual(Array.from(ref.data));
  });

  it("spaceToDepth rejects a grid that does not divide the map", () => {
    expect(() => spaceToDepth(readFloat(`${dir}/pool_fmap.npy`), [3, 3])).toThrow(/invalid targetGrid: 3,3 does not divide 4 × 6/);
  });
});

describe("ridgeWeights", () => {
  for (const name of ["tall", "wide"]) {
    it(`ridgeWeights primal and dual forms both match numpy's closed form (${name} design)`, () => {
      const X = asMatrix(readFloat(`${dir}/ridge_${name}_X.npy`));
      const Y = asMatrix(readFloat(`${dir}/ridge_${name}_Y.npy`));
      const ref = readFloat(`${dir}/ridge_${name}_W.npy`).data;
      const primal = ridgeWeights(X, Y, 4, "primal");
      const dual = ridgeWeights(X, Y, 4, "dual");
      const auto = ridgeWeights(X, Y, 4);
      expect(maxRelativeError(primal.data, ref, 1e-8)).toBeLessThan(1e-9);
      expect(maxRelativeError(dual.data, ref, 1e-8)).toBeLessThan(1e-9);
      expect(maxRelativeError(auto.data, ref, 1e-8)).toBeLessThan(1e-9);
    });
  }

  it("ridgeWeights rejects a non-positive lambda and ridgeTargets a bad label", () => {
    expect(() => ridgeWeights(matrix(2, 1, [1, 2]), matrix(2, 1, [1, -1]), 0)).toThrow(/invalid lambda: 0/);
    expect(() => ridgeTargets([0, 3], 3)).toThrow(/invalid label: 3 at 1/);
  });

  it("predictions takes the argmax, first on ties", () => {
    const p = predictions(matrix(2, 1, [1, -1]), matrix(1, 3, [0, 2, 2]));
    expect(Array.from(p)).toEqual([1, 0]);
  });
});

describe("linearProbe", () => {
  const xtr = readFloat(`${dir}/probe_xtr.npy`);
  const ytr = readNpyTyped(`${dir}/probe_ytr.npy`).data;
  const xte = readFloat(`${dir}/probe_xte.npy`);
  const yte = readNpyTyped(`${dir}/probe_yte.npy`).data;
  const e = expected.probe;
  const config = { classes: 4, shots: e.shots as number[], lambdas: e.lambdas as number[], holdoutEvery: e.holdoutEvery as number };

  function checkFits(fits: ProbeResult["blocks"][number]["fits"], tag = "probe") {
    const e = expected[tag];
    expect(fits.map((f) => f.shots)).toEqual(["full", ...e.shots]);
    fits.forEach((f, i) => {
      const ref = e.fits[i];
      expect(Array.from(f.holdoutAccuracy)).toEqual(ref.holdoutAccuracy);
      expect(f.lambda).toBe(ref.lambda);
      expect(f.testAccuracy).toBe(ref.testAccuracy);
      expect(f.trainExamples).toBe(ref.trainExamples);
      expect(f.complete).toBe(true);
      const W = readFloat(`${dir}/${tag}_${f.shots === "full" ? "full" : `${f.shots}shot`}_W.npy`);
      expect(f.weights.shape).toEqual(W.shape);
      expect(maxRelativeError(f.weights.data, W.data, 1e-8)).toBeLessThan(1e-9);
    });
  }

  it("linearProbe matches the numpy protocol: holdout accuracies, chosen λ, weights and test accuracy", () => {
    const r = linearProbe({ features: xtr, labels: ytr }, { features: xte, labels: yte }, config);
    checkFits(r.fits);
  });

  it("linearProbe matches numpy on features with a 1e4 mean and a constant column", () => {
    const r = linearProbe(
      { features: readFloat(`${dir}/probe_offset_xtr.npy`), labels: ytr },
      { features: readFloat(`${dir}/probe_offset_xte.npy`), labels: yte },
      config,
    );
    checkFits(r.fits, "probe_offset");
  });

  it("the default λ grid holds big_vision's 2¹⁰", () => {
    expect(DEFAULT_LAMBDAS).toContain(1024);
  });

  it("probeReducer: merged shards (shuffled batches) equal the numpy protocol and one pass", () => {
    const D = xtr.shape[1];
    const batch = (rows: number[], split: "train" | "test", block: string) => {
      const x = split === "train" ? xtr : xte;
      const y = split === "train" ? ytr : yte;
      const f = new Float32Array(rows.length * D);
      rows.forEach((r, i) => f.set(x.data.subarray(r * D, (r + 1) * D), i * D));
      return { block, split, features: { data: f, shape: [rows.length, D] }, labels: rows.map((r) => y[r]), indices: rows };
    };
    const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
    let one = probeReducer.init({ ...config, blocks: ["b0", "b1"] });
    for (const block of ["b1", "b0"]) {
      one = probeReducer.update(one, batch(range(0, 200), "train", block));
      one = probeReducer.update(one, batch(range(0, 80), "test", block));
    }
    // Shard a: odd-numbered chunks of 30, shard b: the rest in reverse order; test split divided too.
    let a = probeReducer.init({ ...config, blocks: ["b0", "b1"] });
    let b = probeReducer.init({ ...config, blocks: ["b0", "b1"] });
    for (const block of ["b0", "b1"]) {
      for (let c = 0; c < 7; c++) {
        const rows = range(c * 30, Math.min(200, c * 30 + 30));
        if (c % 2) a = probeReducer.update(a, batch(rows, "train", block));
        else b = probeReducer.update(b, batch(rows.reverse(), "train", block));
      }
      a = probeReducer.update(a, batch(range(0, 33), "test", block));
      b = probeReducer.update(b, batch(range(33, 80), "test", block));
    }
    const r1 = probeReducer.finalize(one);
    const r2 = probeReducer.finalize(probeReducer.merge(a, b));
    expect(r2.blocks.map((x) => [x.block, x.depth])).toEqual([["b0", 0], ["b1", 1]]);
    for (const blocks of [r1.blocks, r2.blocks]) for (const blk of blocks) checkFits(blk.fits);
    for (let i = 0; i < 2; i++) {
      r1.blocks[i].fits.forEach((f, k) => {
        const g = r2.blocks[i].fits[k];
        expect(maxRelativeError(g.weights.data, f.weights.data, 1e-8)).toBeLessThan(1e-12);
        expect(g.testAccuracy).toBe(f.testAccuracy);
      });
    }
  });

  it("probeReducer with online scoring (train first, test scored as it comes) equals the numpy protocol and keeps no rows", () => {
    const D = xtr.shape[1];
    const rows = (x: typeof xtr, y: ArrayLike<number>, a: number, b: number, split: "train" | "test") => {
      const f = new Float32Array((b - a) * D);
      for (let r = a; r < b; r++) f.set(x.data.subarray(r * D, (r + 1) * D), (r - a) * D);
      return { block: "b0", split, features: { data: f, shape: [b - a, D] }, labels: Array.from({ length: b - a }, (_, i) => y[a + i]), indices: Array.from({ length: b - a }, (_, i) => a + i) };
    };
    let s = probeReducer.init({ ...config, blocks: ["b0"], scoring: "online" });
    for (let c = 0; c < 200; c += 30) s = probeReducer.update(s, rows(xtr, ytr, c, Math.min(200, c + 30), "train"));
    for (let c = 0; c < 80; c += 16) s = probeReducer.update(s, rows(xte, yte, c, Math.min(80, c + 16), "test"));
    const blk = s.blocks[0];
    expect(blk.test.labels.length + blk.holdout.labels.length + blk.shotRows.labels.length).toBe(0);
    const r = probeReducer.finalize(s);
    checkFits(r.blocks[0].fits);
    expect("scoring" in r.settings).toBe(false);
    expect(() => probeReducer.update(s, rows(xtr, ytr, 0, 10, "train"))).toThrow(/training rows for block b0 after its test rows/);
    expect(() => probeReducer.merge(s, probeReducer.init({ ...config, blocks: ["b0"], scoring: "online" }))).toThrow(/scored online do not merge/);
  });

  it("probeReducer.update rejects a label outside the classes and a feature width change", () => {
    let s = probeReducer.init({ classes: 2 });
    expect(() => probeReducer.update(s, { block: "b", split: "train", features: matrix(1, 2, [1, 2]), labels: [2], indices: [0] })).toThrow(
      /invalid label: 2 \(classes = 2\)/,
    );
    s = probeReducer.update(s, { block: "b", split: "train", features: matrix(1, 2, [1, 2]), labels: [1], indices: [0] });
    expect(() => probeReducer.update(s, { block: "b", split: "train", features: matrix(1, 3, [1, 2, 3]), labels: [1], indices: [1] })).toThrow(
      /3 columns, earlier batches had 2/,
    );
  });
});
