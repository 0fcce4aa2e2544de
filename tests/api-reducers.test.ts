/**
 * The reducers used directly from the package entry in a custom loop (docs/notebooks.md):
 * batch-by-batch CKA equals the one-shot linearCKA on the concatenated data and numpy's CKA
 * of the same arrays (fixtures/interop/make.py, raw HSIC₁ form).
 */
import { describe, expect, it, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ckaReducer, gram, linearCKA, readNpy, type Tensor, type CKAState } from "../src/index.js";

const root = path.resolve(__dirname, "..");
const dir = path.join(root, "fixtures", "interop");
const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8")).folder as { batch: number; rows: string[]; cols: string[]; cka: number[][] };

function rows(t: Tensor, start: number, n: number): Tensor {
  const per = t.data.length / t.shape[0];
  return { data: t.data.subarray(start * per, (start + n) * per), shape: [n, ...t.shape.slice(1)] };
}

function relClose(actual: number, want: number, tol: number) {
  expect(Math.abs(actual - want) / Math.abs(want), `${actual} vs ${want}`).toBeLessThan(tol);
}

describe("ckaReducer in a custom loop", () => {
  const sitesA = expected.rows;
  const sitesB = expected.cols;
  const n = expected.batch;
  let A: Tensor[];
  let B: Tensor[];
  let m: number;
  beforeAll(async () => {
    const load = async (d: string, s: string) => {
      const a = await readNpy(path.join(dir, d, `${s}.npy`));
      return { data: a.data as Float32Array | Float64Array, shape: a.shape };
    };
    A = await Promise.all(sitesA.map((s) => load("a", s)));
    B = await Promise.all(sitesB.map((s) => load("b", s)));
    m = A[0].shape[0];
  });

  const loop = (from: number, to: number, state: CKAState) => {
    for (let s = from; s + n <= to; s += n) {
      state = ckaReducer.update(state, { gramsA: A.map((t) => gram(rows(t, s, n), { centre: true })), gramsB: B.map((t) => gram(rows(t, s, n), { centre: true })) });
    }
    return state;
  };

  it("ckaReducer.update over batches of Grams equals linearCKA on the concatenated data and numpy's CKA", () => {
    const r = ckaReducer.finalize(loop(0, m, ckaReducer.init({ sitesA, sitesB, batch: n })));
    const AB = r.matrices.AB!;
    expect(AB.shape).toEqual([sitesA.length, sitesB.length]);
    expect(r.examples).toBe(m);
    sitesA.forEach((_, i) => sitesB.forEach((_, j) => {
      const v = AB.data[i * sitesB.length + j];
      relClose(v, linearCKA(A[i], B[j], { batch: n }).cka, 1e-12);
      relClose(v, expected.cka[i][j], 1e-9);
    }));
    // the intra-model matrix too: AA[i][j] = linearCKA(A_i, A_j)
    relClose(r.matrices.AA.data[1], linearCKA(A[0], A[1], { batch: n }).cka, 1e-12);
  });

  it("ckaReducer.updateFeatures gives the same matrix as Grams", () => {
    let s = ckaReducer.init({ sitesA, sitesB, batch: n });
    for (let k = 0; k + n <= m; k += n) s = ckaReducer.updateFeatures(s, { featuresA: A.map((t) => rows(t, k, n)), featuresB: B.map((t) => rows(t, k, n)) });
    const viaFeatures = ckaReducer.finalize(s).matrices.AB!.data;
    const viaGrams = ckaReducer.finalize(loop(0, m, ckaReducer.init({ sitesA, sitesB, batch: n }))).matrices.AB!.data;
    viaFeatures.forEach((v, k) => relClose(v, viaGrams[k], 1e-12));
  });

  it("ckaReducer.merge of two shards equals one pass over all batches", () => {
    const first = loop(0, 2 * n, ckaReducer.init({ sitesA, sitesB, batch: n }));
    const rest = ckaReducer.init({ sitesA, sitesB, batch: n });
    for (let s = 2 * n; s + n <= m; s += n) {
      ckaReducer.update(rest, { gramsA: A.map((t) => gram(rows(t, s, n), { centre: true })), gramsB: B.map((t) => gram(rows(t, s, n), { centre: true })) });
    }
    const merged = ckaReducer.finalize(ckaReducer.merge(first, rest)).matrices.AB!.data;
    const whole = ckaReducer.finalize(loop(0, m, ckaReducer.init({ sitesA, sitesB, batch: n }))).matrices.AB!.data;
    merged.forEach((v, k) => relClose(v, whole[k], 1e-12));
  });

  it("ckaReducer.update rejects a Gram of the wrong size, naming it", () => {
    const s = ckaReducer.init({ sitesA, sitesB, batch: n });
    expect(() => ckaReducer.update(s, { gramsA: A.map(() => new Float64Array(10)), gramsB: B.map(() => new Float64Array(10)) })).toThrow(/invalid Gram length: 10/);
  });

  it.skipIf(!existsSync(path.join(root, "dist", "src", "index.js")))("examples/custom-loop.mjs (plain Node on the built package) prints numpy's matrix", () => {
    const r = spawnSync(process.execPath, [path.join(root, "examples", "custom-loop.mjs")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.rows).toEqual(sitesA);
    expect(out.cols).toEqual(sitesB);
    out.fromGrams.forEach((v: number, k: number) => relClose(v, expected.cka[Math.floor(k / sitesB.length)][k % sitesB.length], 1e-9));
    out.fromFeatures.forEach((v: number, k: number) => relClose(v, out.fromGrams[k], 1e-12));
    relClose(out.oneShot, expected.cka[0][0], 1e-9);
  });
});
