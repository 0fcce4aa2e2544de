import path from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "../src/errors.js";
import { loadModel, parseModel } from "../src/onnx/model.js";
import { discoverSites } from "../src/onnx/sites.js";
import { appendNodes, exposeOutputs, removeResidual } from "../src/onnx/surgery.js";
import { gramSubgraph } from "./helpers/gram-graphs.js";
import { GRAPH, decodeNode } from "../src/onnx/wire.js";
import { availableDevices, createSession, run } from "../src/runtime/session.js";

const MODELS = path.resolve("fixtures/models");
const VIT = path.join(MODELS, "timm_vit_op17.onnx");
const RESNET = path.join(MODELS, "tv_resnet50_op14.onnx");

function input(shape: number[]) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sin(0.37 * i) + 0.1 * Math.cos(1.3 * i);
  return { data, shape };
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe("exposeOutputs", () => {
  it("exposeOutputs keeps the original bytes as a prefix and every initializer byte-identical in place", async () => {
    const model = await loadModel(RESNET);
    const sites = discoverSites(model);
    const bytes = exposeOutputs(model, sites.sites.map((s) => s.tensor));
    expect(bytes.length).toBeGreaterThan(model.bytes.length);
    expect(sameBytes(bytes.subarray(0, model.bytes.length), model.bytes)).toBe(true);
    const again = await parseModel("exposed.onnx", bytes);
    expect(again.initializers.size).toBe(model.initializers.size);
    for (const [name, init] of model.initializers) {
      const other = again.initializers.get(name)!;
      expect(other.span.start, name).toBe(init.span.start);
      expect(sameBytes(bytes.subarray(other.span.start, other.span.end), model.bytes.subarray(init.span.start, init.span.end)), name).toBe(true);
    }
    const outs = new Set(again.outputs.map((o) => o.name));
    for (const s of sites.sites) expect(outs.has(s.tensor), s.tensor).toBe(true);
    expect(again.nodes.length).toBe(model.nodes.length);
  });

  it("exposeOutputs skips tensors that already are outputs and returns the bytes unchanged when nothing is new", async () => {
    const model = await loadModel(VIT);
    expect(exposeOutputs(model, ["logits"])).toBe(model.bytes);
  });

  it("exposeOutputs rejects a tensor that is not in the graph", async () => {
    const model = await loadModel(VIT);
    expect(() => exposeOutputs(model, ["nope"])).toThrow(/invalid tensor: nope/);
  });
});

describe("removeResidual", () => {
  it("removeResidual(vit, blocks.1) rewires both sums to f(z), splices only those nodes, and runs", async () => {
    const model = await loadModel(VIT);
    const sites = discoverSites(model);
    const ablated = await parseModel("ablated.onnx", removeResidual(model, "blocks.1", sites));
    const res = sites.residuals.filter((r) => r.block === "blocks.1");
    expect(res.map((r) => r.sublayer)).toEqual(["attn", "mlp"]);
    const changed = new Set(res.map((r) => model.graph.producer.get(r.out)!));
    expect(ablated.nodes.length).toBe(model.nodes.length);
    for (const n of model.nodes) {
      const a = ablated.nodes[n.index];
      if (changed.has(n.index)) {
        expect(a.opType).toBe("Identity");
        expect(a.inputs).toEqual([res.find((r) => r.out === n.outputs[0])!.fz]);
        expect(a.outputs).toEqual(n.outputs);
      } else {
        expect(sameBytes(ablated.bytes.subarray(a.span.start, a.span.end).subarray(a.span.payload - a.span.start), model.bytes.subarray(n.span.payload, n.span.end)), n.name).toBe(true);
      }
    }
    for (const [name, init] of model.initializers) {
      const other = ablated.initializers.get(name)!;
      expect(sameBytes(ablated.bytes.subarray(other.span.start, other.span.end), model.bytes.subarray(init.span.start, init.span.end)), name).toBe(true);
    }

    const b0 = sites.blocks[0].sites;
    const b1 = sites.blocks[1].sites;
    const names = [b0["blocks.0.out"], b1["blocks.1.attn.out"], b1["blocks.1.resid_mid"], b1["blocks.1.mlp.out"], b1["blocks.1.out"], "logits"];
    const x = { input: input([2, 3, 64, 64]) };
    const orig = await run(await createSession(exposeOutputs(model, names), { threads: 1 }), x, names);
    const abl = await run(await createSession(exposeOutputs(ablated, names), { threads: 1 }), x, names);
    // Upstream of the ablation nothing changes; in block 1 each sum now equals its branch.
    expect(maxAbsDiff(abl[names[0]].data, orig[names[0]].data)).toBe(0);
    expect(maxAbsDiff(abl[names[1]].data, orig[names[1]].data)).toBe(0);
    expect(maxAbsDiff(abl[names[2]].data, abl[names[1]].data)).toBe(0);
    expect(maxAbsDiff(abl[names[4]].data, abl[names[3]].data)).toBe(0);
    expect(maxAbsDiff(abl.logits.data, orig.logits.data)).toBeGreaterThan(1e-3);
  });

  it("removeResidual(resnet, a projection unit) gives relu(branch) as the unit output", async () => {
    const model = await loadModel(RESNET);
    const sites = discoverSites(model);
    const unit = sites.stages[1].units[0];
    const r = sites.residuals.find((x) => x.block === unit)!;
    expect(r.shortcut).toBe("projection");
    const ablated = await parseModel("ablated.onnx", removeResidual(model, unit, sites));
    const out = sites.blocks.find((b) => b.name === unit)!.sites[`${unit}.out`];
    const names = [r.fz, out, "logits"];
    const x = { input: input([2, 3, 64, 64]) };
    const orig = await run(await createSession(exposeOutputs(model, names)), x, names);
    const abl = await run(await createSession(exposeOutputs(ablated, names)), x, names);
    const relu = Float32Array.from(abl[r.fz].data, (v) => Math.max(0, v));
    expect(maxAbsDiff(abl[out].data, relu)).toBe(0);
    expect(maxAbsDiff(abl[r.fz].data, orig[r.fz].data)).toBe(0);
    expect(maxAbsDiff(abl.logits.data, orig.logits.data)).toBeGreaterThan(0);
  });

  it("removeResidual rejects a block without residuals", async () => {
    const model = await loadModel(VIT);
    expect(() => removeResidual(model, "blocks.99")).toThrow(/invalid block: blocks.99/);
  });
});

describe("appendNodes with a Gram subgraph", () => {
  for (const [file, centre] of [[VIT, false], [VIT, true], [RESNET, true], [path.join(MODELS, "mixer_op14.onnx"), true]] as const) {
    it(`the appended Gram of ${path.basename(file)} equals X·Xᵀ of the exposed tensor (${centre ? "centred" : "raw"})`, async () => {
      const model = await loadModel(file);
      const sites = discoverSites(model);
      const site = sites.sites.find((s) => s.kind === "block")!.tensor;
      const g = gramSubgraph(site, "gram_out", { opset: model.opset, centre });
      const bytes = appendNodes(model, g.nodes, g.initializers, g.outputs);
      const withSite = exposeOutputs(await parseModel("gram.onnx", bytes), [site]);
      const B = 3;
      const out = await run(await createSession(withSite, { threads: 1 }), { input: input([B, 3, 64, 64]) }, ["gram_out", site]);
      const X = out[site].data;
      const p = X.length / B;
      const mean = new Float64Array(p);
      if (centre) for (let i = 0; i < B; i++) for (let k = 0; k < p; k++) mean[k] += X[i * p + k] / B;
      const ref = new Float64Array(B * B);
      for (let i = 0; i < B; i++)
        for (let j = 0; j < B; j++) {
          let s = 0;
          for (let k = 0; k < p; k++) s += (X[i * p + k] - mean[k]) * (X[j * p + k] - mean[k]);
          ref[i * B + j] = s;
        }
      expect(out.gram_out.shape).toEqual([B, B]);
      const scale = Math.max(...Array.from(ref, Math.abs));
      expect(maxAbsDiff(out.gram_out.data, ref) / scale).toBeLessThan(1e-5);
    });
  }

  it("gramSubgraph with rowLength gives one row per image for [B*H,T,T] attention", async () => {
    const model = await loadModel(path.join(MODELS, "tv_vit_b16_op17.onnx"));
    const blk = discoverSites(model).blocks[2];
    const { tensor, heads, layout } = blk.attention!;
    expect(layout).toBe("[B*H,T,T]");
    const T = 17;
    const g = gramSubgraph(tensor, "gram_attn", { opset: model.opset, rowLength: heads! * T * T });
    const bytes = exposeOutputs(await parseModel("g.onnx", appendNodes(model, g.nodes, g.initializers, g.outputs)), [tensor]);
    const B = 3;
    const out = await run(await createSession(bytes, { threads: 1 }), { input: input([B, 3, 64, 64]) }, ["gram_attn", tensor]);
    expect(out[tensor].shape).toEqual([B * heads!, T, T]);
    const X = out[tensor].data;
    const p = X.length / B;
    const ref = new Float64Array(B * B);
    for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) for (let k = 0; k < p; k++) ref[i * B + j] += X[i * p + k] * X[j * p + k];
    expect(out.gram_attn.shape).toEqual([B, B]);
    expect(maxAbsDiff(out.gram_attn.data, ref) / Math.max(...Array.from(ref, Math.abs))).toBeLessThan(1e-5);
  });

  it("appendNodes rejects a node reading a missing tensor and one overwriting an existing tensor", async () => {
    const model = await loadModel(VIT);
    expect(() => appendNodes(model, [{ op_type: "Relu", input: ["ghost"], output: ["y"] }])).toThrow(/invalid node input: ghost/);
    expect(() => appendNodes(model, [{ op_type: "Relu", input: ["input"], output: ["logits"] }])).toThrow(/invalid node output: logits/);
  });

  it("appendNodes skips outputs that already are graph outputs or repeat, so onnxruntime accepts the model", async () => {
    const model = await loadModel(VIT);
    const g = gramSubgraph("logits", "g", { opset: 17 });
    const bytes = appendNodes(model, g.nodes, g.initializers, ["logits", "g", "g", "/blocks/blocks.0/Add_output_0"]);
    const merged = await parseModel("m.onnx", bytes);
    expect(merged.outputs.map((o) => o.name)).toEqual(["logits", "g", "/blocks/blocks.0/Add_output_0"]);
    const out = await run(await createSession(bytes), { input: input([2, 3, 64, 64]) }, ["g", "logits"]);
    expect(out.g.shape).toEqual([2, 2]);
  });

  it("appended nodes are records of GraphProto.node in the merged graph", async () => {
    const model = await loadModel(VIT);
    const g = gramSubgraph("logits", "g", { opset: 17 });
    const merged = await parseModel("m.onnx", appendNodes(model, g.nodes, g.initializers, g.outputs));
    const last = merged.spans.graphFields.filter((s) => s.field === GRAPH.node).pop()!;
    expect(decodeNode(merged.bytes, last).op_type).toBe("Gemm");
    expect(merged.nodes.length).toBe(model.nodes.length + 2);
  });
});

describe("createSession", () => {
  it.skipIf(availableDevices().includes("cuda"))("createSession({device: 'cuda'}) without the CUDA provider throws a UsageError saying so", async () => {
    const model = await loadModel(VIT);
    const err = await createSession(model.bytes, { device: "cuda" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^device cuda is not available: .*CUDA execution provider/);
  });

  it("createSession rejects an unknown device and bad thread counts", async () => {
    const model = await loadModel(VIT);
    await expect(createSession(model.bytes, { device: "tpu" as "cpu" })).rejects.toThrow(/invalid device: tpu/);
    await expect(createSession(model.bytes, { threads: -1 })).rejects.toThrow(/invalid threads: -1/);
  });

  it("run rejects unknown feeds and outputs", async () => {
    const model = await loadModel(VIT);
    const s = await createSession(model.bytes);
    await expect(run(s, { image: input([1, 3, 64, 64]) })).rejects.toThrow(/invalid feed: image/);
    await expect(run(s, { input: input([1, 3, 64, 64]) }, ["nope"])).rejects.toThrow(/invalid output: nope/);
  });
});

describe("gramSession", () => {
  for (const centre of [false, true]) {
    it(`gramMatrix equals the float64 X·Xᵀ ${centre ? "of the centred X" : ""} within float32 rounding`, async () => {
      const { gramSession, gramMatrix } = await import("../src/runtime/session.js");
      const n = 7;
      const p = 1000;
      const X = input([n, p]);
      const g = await gramSession({ centre, threads: 1 });
      const G = await gramMatrix(g, X);
      const mean = new Float64Array(p);
      if (centre) for (let i = 0; i < n; i++) for (let k = 0; k < p; k++) mean[k] += X.data[i * p + k] / n;
      let scale = 0;
      let diff = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < p; k++) s += (X.data[i * p + k] - mean[k]) * (X.data[j * p + k] - mean[k]);
          scale = Math.max(scale, Math.abs(s));
          diff = Math.max(diff, Math.abs(s - G[i * n + j]));
        }
      expect(diff / scale).toBeLessThan(1e-5);
      await expect(gramMatrix(g, { data: X.data, shape: [n * p] })).rejects.toThrow(/invalid shape/);
    });
  }
  it("a float64 gramSession (DGEMM) equals the float64 X·Xᵀ of the centred X within 1e-13", async () => {
    const { gramSession, gramMatrix } = await import("../src/runtime/session.js");
    const n = 9;
    const p = 500;
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
    // A large shared offset: centring inside the session must not cancel it away in float64.
    const X = Float64Array.from({ length: n * p }, () => 1000 + rnd());
    const g = await gramSession({ centre: true, dtype: "float64", threads: 1 });
    const G = await gramMatrix(g, { data: X, shape: [n, p] });
    expect(G).toBeInstanceOf(Float64Array);
    const mean = new Float64Array(p);
    for (let i = 0; i < n; i++) for (let k = 0; k < p; k++) mean[k] += X[i * p + k] / n;
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < p; k++) s += (X[i * p + k] - mean[k]) * (X[j * p + k] - mean[k]);
        scale = Math.max(scale, Math.abs(s));
        diff = Math.max(diff, Math.abs(s - G[i * n + j]));
      }
    expect(diff / scale).toBeLessThan(1e-13);
  });
});
