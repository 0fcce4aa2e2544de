/**
 * The engine's in-graph reductions (Gram taps, norm taps, pooled taps) against the one-shot
 * analyses run on the raw tensors, exposed from the same models for the same images. The
 * one-shot functions are themselves tested against numpy; this checks the plumbing: site
 * choice, tap subgraphs, batch order, sample order.
 */
import { describe, expect, it, beforeAll } from "vitest";
import path from "node:path";
import { prepare, execute, finish, mainPass, type Results, type Plan } from "../src/plan/index.js";
import { exposeOutputs } from "../src/onnx/surgery.js";
import { createSession, run, release } from "../src/runtime/session.js";
import { batches } from "../src/data/loader.js";
import { linearCKA } from "../analyses/cka.js";
import { skipRatio } from "../analyses/skip-ratio.js";
import { attentionDistance } from "../analyses/attention-distance.js";
import { rbfCKA } from "../analyses/similarity/rbf-cka.js";
import { collapseReducer, collapseUpdateSums } from "../analyses/collapse.js";
import { localisationDriver } from "../src/pipelines/localisation.js";
import { localisationFinalize, localisationInit, localisationUpdate, type LocalisationConfig } from "../analyses/localisation.js";
import type { Tensor } from "../src/tensor.js";
import { rawTensors } from "./helpers/raw-tensors.js";
import { collapsePartition } from "../src/pipelines/collapse.js";
import { attentionBlocks } from "../src/pipelines/sites.js";
import { tappedModel } from "../src/engine/stream.js";
import { SQUARED_COPY_LIMIT, tapGraph, tapName, type TapSpec } from "../src/engine/taps.js";

const root = path.resolve(__dirname, "..");
const A = path.join(root, "fixtures/models/timm_vit_op14.onnx");
const B = path.join(root, "fixtures/models/tv_resnet50_op17.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");


function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

/** The tap outputs of `specs` on model 0 of the plan for the main pass's first batch. */
async function tapOnce(plan: Plan, specs: TapSpec[]): Promise<Record<string, Tensor>> {
  const em = plan.models[0];
  const tapped = tappedModel(em, specs);
  const session = await createSession(tapped.bytes, { threads: 1 });
  try {
    const b = (await batches(mainPass(plan).source, { indices: mainPass(plan).indices, batchSize: plan.settings.batch, preprocess: em.preprocess })[Symbol.asyncIterator]().next()).value!;
    return await run(session, { [em.model.imageInput.name]: { data: b.input, shape: b.shape } }, tapped.names);
  } finally {
    await release(session);
  }
}

describe("engine taps agree with the one-shot analyses on raw tensors", () => {
  let plan: Plan;
  let results: Results;
  beforeAll(async () => {
    plan = await prepare([A, B], { data: DATA, limit: 96, batch: 32, seed: 5, analyses: ["cka", "rbf-cka", "skip", "attention", "collapse"], threads: 1 });
    const r = await execute(plan);
    results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
  });

  it("RBF CKA A×B from the same in-graph Grams equals rbfCKA on the exposed activations (1e-5)", async () => {
    const sa = Object.entries(plan.settings.models[0].sites);
    const sb = Object.entries(plan.settings.models[1].sites);
    const pickA = [sa[0], sa[sa.length - 1]];
    const pickB = [sb[0], sb[sb.length - 1]];
    const xa = await rawTensors(plan, 0, pickA.map(([, t]) => t));
    const xb = await rawTensors(plan, 1, pickB.map(([, t]) => t));
    const ab = results["rbf-cka"]![0].result.matrices.AB!;
    expect(results["rbf-cka"]![0].result.sigmaFactor).toBe(0.5);
    for (const [na, ta] of pickA) {
      for (const [nb, tb] of pickB) {
        const want = rbfCKA(xa[ta], xb[tb], { estimator: "minibatch-unbiased", batch: 32 }).cka;
        const got = ab.data[ab.rows.indexOf(na) * ab.cols.length + ab.cols.indexOf(nb)];
        expect(rel(got, want), `${na} × ${nb}`).toBeLessThan(1e-5);
      }
    }
  });

  it("CKA A×B from in-graph Grams equals linearCKA on the exposed activations (1e-5)", async () => {
    const sa = Object.entries(plan.settings.models[0].sites);
    const sb = Object.entries(plan.settings.models[1].sites);
    const pickA = [sa[0], sa[sa.length - 1]];
    const pickB = [sb[0], sb[Math.floor(sb.length / 2)], sb[sb.length - 1]];
    const xa = await rawTensors(plan, 0, pickA.map(([, t]) => t));
    const xb = await rawTensors(plan, 1, pickB.map(([, t]) => t));
    const ab = results.cka[0].result.matrices.AB!;
    for (const [na, ta] of pickA) {
      for (const [nb, tb] of pickB) {
        const want = linearCKA(xa[ta], xb[tb], { batch: 32 }).cka;
        const got = ab.data[ab.rows.indexOf(na) * ab.cols.length + ab.cols.indexOf(nb)];
        expect(rel(got, want), `${na} × ${nb}`).toBeLessThan(1e-5);
      }
    }
    const aa = results.cka[0].result.matrices.AA;
    const want = linearCKA(xa[pickA[0][1]], xa[pickA[1][1]], { batch: 32 }).cka;
    expect(rel(aa.data[aa.rows.indexOf(pickA[1][0])], want)).toBeLessThan(1e-5);
  });

  it("skip ratios from in-graph norms equal skipRatio on the exposed z and f(z) (1e-5)", async () => {
    for (const m of [0, 1]) {
      const sites = plan.models[m].geometry.sites;
      const rs = [sites.residuals[0], sites.residuals[sites.residuals.length - 1]];
      const raw = await rawTensors(plan, m, rs.flatMap((r) => [r.z, r.fz]));
      const got = results.skip[plan.models[m].label];
      for (const r of rs) {
        const name = r.sublayer === "unit" ? r.block : `${r.block}.${r.sublayer}`;
        const want = skipRatio(raw[r.z], raw[r.fz], { residual: name, prefixTokens: sites.prefixTokens });
        const entry = got.residuals.find((e) => e.residual === name)!;
        for (const conv of ["mean-of-ratios", "ratio-of-frobenius"] as const) {
          for (const k of ["cls", "spatial", "whole"] as const) {
            if (Number.isNaN(want[conv][k])) expect(entry[conv][k]).toBeNaN();
            else expect(rel(entry[conv][k], want[conv][k]), `${name} ${conv} ${k}`).toBeLessThan(1e-5);
          }
        }
      }
    }
  });

  it("attention distance from in-graph per-query sums equals attentionDistance on the exposed maps (1e-5)", async () => {
    const sites = plan.models[0].geometry.sites;
    const layers = sites.blocks.map((b, i) => ({ i, b })).filter((x) => x.b.attention);
    const raw = await rawTensors(plan, 0, layers.map((l) => l.b.attention!.tensor));
    const got = results.attention[plan.models[0].label];
    const H = got.distance.shape[1];
    for (const l of layers) {
      const want = attentionDistance(raw[l.b.attention!.tensor], { grid: sites.grid!, patchSize: sites.patchSize!, prefixTokens: sites.prefixTokens, batchSize: 96 });
      const row = got.layers.indexOf(l.i);
      for (let h = 0; h < H; h++) {
        expect(rel(got.distance.data[row * H + h], want.distance[h])).toBeLessThan(1e-5);
        expect(rel(got.raw.data[row * H + h], want.raw[h])).toBeLessThan(1e-5);
        expect(rel(got.prefixMass.data[row * H + h], want.prefixMass[h])).toBeLessThan(1e-5);
      }
    }
  });

  it("attention collapse from the in-graph batched product equals the JS reducer on the exposed maps (1e-5)", async () => {
    const sites = plan.models[0].geometry.sites;
    const layers = sites.blocks.filter((b) => b.attention);
    const raw = await rawTensors(plan, 0, layers.map((b) => b.attention!.tensor));
    let s = collapseReducer.init({ sites: layers.map((b) => `${b.name}.attn.probs`) });
    s = collapseReducer.update(s, { attention: layers.map((b) => raw[b.attention!.tensor]) });
    const want = collapseReducer.finalize(s).matrix;
    const got = results.collapse[plan.models[0].label].matrix;
    expect(got.shape).toEqual(want.shape);
    for (let i = 0; i < want.data.length; i++) expect(rel(got.data[i], want.data[i])).toBeLessThan(1e-5);
    expect(Math.max(...Array.from(want.data))).toBeLessThan(1 + 1e-9);
  });
});

describe("attention collapse in blocks (the taps of models with more than 2·COLLAPSE_GROUP layers)", () => {
  it("vit-tiny's 6 layers as blocks of 4 and 2 (off-diagonal blocks through `cols`) equal the one-block tap and the JS reducer on the exposed maps (1e-5)", async () => {
    const VT = path.join(root, "fixtures/zoo/vit-tiny.onnx");
    const plan = await prepare([VT], { data: DATA, limit: 32, batch: 32, seed: 4, analyses: ["collapse"], threads: 1 });
    const em = plan.models[0];
    const maps = attentionBlocks(em.geometry.sites).map((l) => l.tensor);
    expect(maps.length).toBe(6);
    expect(collapsePartition(6)).toEqual([[0, 1, 2, 3, 4, 5]]);
    expect(collapsePartition(12)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    const t = em.geometry.shapes.get(maps[0])!.at(-1)!;
    const one: TapSpec = { kind: "collapse", tensor: maps[0], tensors: maps, tokens: t };
    const [r, c] = [maps.slice(0, 4), maps.slice(4)];
    const blocks: TapSpec[] = [
      { kind: "collapse", tensor: r[0], tensors: r, tokens: t },
      { kind: "collapse", tensor: r[0], tensors: r, tokens: t, cols: c },
      { kind: "collapse", tensor: c[0], tensors: c, tokens: t },
    ];
    const out = await tapOnce(plan, [one, ...blocks]);
    const whole = out[tapName(one)].data;
    const [b0, b01, b1] = blocks.map((s) => out[tapName(s)].data);
    expect([whole.length, b0.length, b01.length, b1.length]).toEqual([36, 16, 8, 4]);
    const fromBlocks = new Float64Array(36);
    for (let p = 0; p < 6; p++) {
      for (let q = 0; q < 6; q++) fromBlocks[p * 6 + q] = p < 4 && q < 4 ? b0[p * 4 + q] : p >= 4 && q >= 4 ? b1[(p - 4) * 2 + q - 4] : p < 4 ? b01[p * 2 + q - 4] : b01[q * 2 + p - 4];
    }
    // Reference: the JS reducer (tested against numpy) on the exposed maps, in float64.
    const raw = await rawTensors(plan, 0, maps);
    const shape = raw[maps[0]].shape;
    expect(shape.length).toBe(4);
    const sites = maps.map((_, i) => `layer${i}`);
    const want = collapseReducer.finalize(collapseReducer.update(collapseReducer.init({ sites }), { attention: maps.map((m) => raw[m]) })).matrix.data;
    const fromTap = (sum: ArrayLike<number>) => collapseReducer.finalize(collapseUpdateSums(collapseReducer.init({ sites }), { sum: Float64Array.from(sum), images: shape[0], heads: shape[1], tokens: t })).matrix.data;
    const [got, gotWhole] = [fromTap(fromBlocks), fromTap(whole)];
    for (let i = 0; i < 36; i++) {
      expect(rel(got[i], want[i])).toBeLessThan(1e-5);
      expect(rel(gotWhole[i], want[i])).toBeLessThan(1e-5);
    }
  });
});

describe("engine taps on merged-head attention ([B·H, T, T], torchvision ViT)", () => {
  it("attention distance and collapse equal the JS reducers on the exposed maps (1e-5)", async () => {
    const TV = path.join(root, "fixtures/models/tv_vit_b16_op17.onnx");
    const plan = await prepare([TV], { data: DATA, limit: 48, batch: 16, seed: 2, analyses: ["attention", "collapse"], threads: 1 });
    const r = await execute(plan);
    const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
    const sites = plan.models[0].geometry.sites;
    const layers = sites.blocks.map((b, i) => ({ i, b })).filter((x) => x.b.attention);
    expect(plan.models[0].geometry.shapes.get(layers[0].b.attention!.tensor)!.length).toBe(3);
    const raw = await rawTensors(plan, 0, layers.map((l) => l.b.attention!.tensor));
    const got = results.attention[plan.models[0].label];
    const H = got.distance.shape[1];
    for (const l of layers) {
      const want = attentionDistance(raw[l.b.attention!.tensor], { grid: sites.grid!, patchSize: sites.patchSize!, prefixTokens: sites.prefixTokens, batchSize: 48 });
      for (let h = 0; h < H; h++) expect(rel(got.distance.data[got.layers.indexOf(l.i) * H + h], want.distance[h])).toBeLessThan(1e-5);
    }
    let s = collapseReducer.init({ sites: layers.map((l) => `${l.b.name}.attn.probs`), heads: H });
    s = collapseReducer.update(s, { attention: layers.map((l) => raw[l.b.attention!.tensor]) });
    const want = collapseReducer.finalize(s).matrix.data;
    const mat = results.collapse[plan.models[0].label].matrix.data;
    for (let i = 0; i < want.length; i++) expect(rel(mat[i], want[i])).toBeLessThan(1e-5);
  });
});

describe("engine localisation taps (in-graph HSIC terms)", () => {
  /** The one-shot route: the raw site activations and the preprocessed images, batch by batch. */
  async function rawLocalisation(plan: Plan, m: number, sites: { name: string; tensor: string }[], layout: LocalisationConfig["layout"]) {
    const em = plan.models[m];
    const session = await createSession(exposeOutputs(em.model, sites.map((s) => s.tensor)), { threads: 1 });
    const state = localisationInit({ sites: sites.map((s) => s.name), layout, batch: plan.settings.batch });
    try {
      for await (const b of batches(mainPass(plan).source, { indices: mainPass(plan).indices, batchSize: plan.settings.batch, preprocess: em.preprocess })) {
        const out = await run(session, { [em.model.imageInput.name]: { data: b.input, shape: b.shape } }, sites.map((s) => s.tensor));
        localisationUpdate(state, { activations: sites.map((s) => out[s.tensor]), images: { data: b.input, shape: b.shape } });
      }
    } finally {
      await release(session);
    }
    return localisationFinalize(state);
  }

  for (const [label, file, layout] of [
    ["ViT tokens with a CLS token", A, { layout: "BTD", prefixTokens: 1 }],
    ["ResNet stages [B, C, H, W]", B, { layout: "BCHW" }],
  ] as const) {
    it(`${label}: maps equal the JS reducer on the exposed activations (1e-5 of the largest value)`, async () => {
      // 80 images in batches of 32: the short last batch is dropped by both routes.
      const plan = await prepare([file], { data: DATA, limit: 80, batch: 32, seed: 4, analyses: ["localisation"], threads: 1 });
      const r = await execute(plan);
      const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
      const got = results.localisation[plan.models[0].label];
      expect(got.sites.length).toBeGreaterThan(0);
      expect(got.droppedExamples).toBe(16);
      const blocks = plan.models[0].geometry.sites.blocks;
      const sites = got.sites.map((s) => ({ name: s.site, tensor: blocks.find((b) => s.site in b.sites)!.sites[s.site] }));
      const want = await rawLocalisation(plan, 0, sites, layout);
      want.sites.forEach((w, i) => {
        const g = got.sites[i];
        expect(g.grid).toEqual(w.grid);
        expect(g.positions).toEqual(w.positions);
        const scale = Math.max(...Array.from(w.maps, Math.abs));
        for (let k = 0; k < w.maps.length; k++) expect(Math.abs(g.maps[k] - w.maps[k]) / scale, `${w.site} value ${k}`).toBeLessThan(1e-5);
      });
    });
  }
});

describe("localisationDriver route", () => {
  it("uses the in-graph taps where it can, raw activations where the grid does not divide the input or opset < 9", async () => {
    const plan = await prepare([A], { data: DATA, limit: 32, batch: 32, seed: 4, analyses: ["localisation"], threads: 1 });
    const g = plan.models[0].geometry;
    const kinds = (geometry: typeof g) => localisationDriver({ ...plan.models[0], geometry }, 32)!.taps("main", 0).map((t) => t.kind);
    expect(new Set(kinds(g))).toEqual(new Set(["localisation"]));
    const [c, h, w] = g.input!.shape;
    expect(new Set(kinds({ ...g, input: { name: g.input!.name, shape: [c, h + 1, w] } }))).toEqual(new Set(["raw"]));
    expect(new Set(kinds({ ...g, opset: 8 }))).toEqual(new Set(["raw"]));
    expect(new Set(kinds({ ...g, input: undefined }))).toEqual(new Set(["raw"]));
  });
});

describe("sums of squares by either kernel (SQUARED_COPY_LIMIT)", () => {
  for (const zoo of ["resnet-tiny", "vit-tiny"]) {
    it(`${zoo}: skip norms and collapse columns by Mul + ReduceSum (the zoo's sizes) and by ReduceSumSquare (above the limit) both equal float64 on the exposed tensors`, async () => {
      const file = path.join(root, `fixtures/zoo/${zoo}.onnx`);
      const analyses = zoo === "vit-tiny" ? ["skip", "collapse"] : ["skip"];
      const plan = await prepare([file], { data: DATA, limit: 16, batch: 16, seed: 3, analyses, threads: 1 });
      const small = plan.drivers.flatMap((d) => d.driver.taps("main", 0)).filter((s) => s.kind === "norms" || s.kind === "collapse");
      expect(small.length).toBeGreaterThan(0);
      for (const s of small) expect((s as { elements?: number }).elements).toBeLessThanOrEqual(SQUARED_COPY_LIMIT);
      const large = small.map((s) => ({ ...s, elements: SQUARED_COPY_LIMIT + 1 }) as TapSpec);
      const ops = (specs: TapSpec[]) => new Set(tapGraph(specs, plan.models[0].model.opset).nodes.map((n) => n.op_type));
      expect(ops(small).has("ReduceSumSquare")).toBe(false);
      expect(ops(small).has("Mul")).toBe(true);
      expect(ops(large).has("ReduceSumSquare")).toBe(true);
      const [a, b] = [await tapOnce(plan, small), await tapOnce(plan, large)];
      const norms = small.filter((s): s is Extract<TapSpec, { kind: "norms" }> => s.kind === "norms");
      const raw = await rawTensors(plan, 0, norms.map((s) => s.tensor));
      let checked = 0;
      for (const s of norms) {
        const x = raw[s.tensor];
        const axis = s.layout === "BTD" ? 2 : 1;
        const dims = x.shape;
        const inner = dims.slice(axis + 1).reduce((p, d) => p * d, 1);
        const outer = dims.slice(0, axis).reduce((p, d) => p * d, 1);
        for (const got of [a[tapName(s)].data, b[tapName(s)].data]) {
          expect(got.length).toBe(outer * inner);
          for (let o = 0; o < outer; o++) {
            for (let i = 0; i < inner; i++) {
              let sum = 0;
              for (let c = 0; c < dims[axis]; c++) sum += x.data[(o * dims[axis] + c) * inner + i] ** 2;
              expect(rel(got[o * inner + i], Math.sqrt(sum))).toBeLessThan(1e-6);
              checked++;
            }
          }
        }
      }
      expect(checked).toBeGreaterThan(0);
      for (const s of small.filter((t) => t.kind === "collapse")) {
        const [x, y] = [a[tapName(s)].data, b[tapName(s)].data];
        expect(x.length).toBe(y.length);
        for (let i = 0; i < x.length; i++) expect(rel(x[i], y[i])).toBeLessThan(1e-5);
      }
    });
  }
});
