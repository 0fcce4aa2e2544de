/**
 * Issue 14, items 6, 9 and 10: seelike's own graph additions never blame the model (taps are
 * checked against the shapes before they are built; an analysis that cannot apply is skipped,
 * recorded and shown; a failure inside an appended node is a seelike bug naming the analysis),
 * fixed-batch exports, and no silent option substitutions.
 */
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { tapProblem } from "../src/engine/check.js";
import { runEngine, type Driver } from "../src/engine/stream.js";
import { patchDistances } from "../analyses/attention-distance.js";
import { applicableDrivers, execute, finish, prepare } from "../src/plan/index.js";
import { report } from "../src/api/index.js";
import { runMemory } from "../src/plan/memory.js";
import { InputError, NothingToRunError, UsageError } from "../src/errors.js";
import { main } from "../src/cli/index.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const ZOO = path.join(ROOT, "fixtures/zoo");
const MODELS = path.join(ROOT, "fixtures/models");
const DATA = path.join(ROOT, "fixtures/data/probe-images-idx3-ubyte.gz");
const LABELS = path.join(ROOT, "fixtures/data/probe-labels-idx1-ubyte.gz");

async function cli(args: string[]): Promise<{ code: number; err: string; out: string }> {
  let err = "";
  let out = "";
  const code = await main(["node", "seelike", ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, err, out };
}

describe("tapProblem checks a tap against the runtime shapes before it is built", () => {
  // A Swin-T stage-1 map: [B·windows, heads, 49, 49], taken for a 56×56 patch grid.
  const swin = new Map([["probs", [2 * 64, 3, 49, 49]]]);
  const grid = 56 * 56;

  it("an attention-distance tap for a 56×56 grid on 7×7-window maps is refused, naming the node and shapes", () => {
    const p = tapProblem({ kind: "attention-distance", tensor: "probs", prefixTokens: 0, distances: new Float32Array(grid * grid), patches: grid }, 14, swin);
    expect(p).toMatch(/^node seelike\/attention-distance\/probs\/weighted\/Mul: Mul of \[128, 3, 49, 49\] and \[3136, 3136\]: shapes do not broadcast$/);
  });

  it("the same tap on a ViT map of the grid it was made for passes", () => {
    const d = Float32Array.from(patchDistances([7, 7], 4));
    expect(tapProblem({ kind: "attention-distance", tensor: "probs", prefixTokens: 1, distances: d, patches: 49 }, 17, new Map([["probs", [2, 4, 50, 50]]]))).toBeUndefined();
  });

  it("collapse over maps of different shapes is refused at its Concat", () => {
    const shapes = new Map([["a", [2, 3, 49, 49]], ["b", [2, 6, 49, 49]]]);
    expect(tapProblem({ kind: "collapse", tensor: "a", tensors: ["a", "b"], tokens: 49 }, 14, shapes)).toMatch(/Concat on axis 1 of \[2, 1, 3, 49, 49\] and \[2, 1, 6, 49, 49\]: the other dimensions differ/);
    expect(tapProblem({ kind: "collapse", tensor: "a", tensors: ["a", "a"], tokens: 49 }, 14, shapes)).toBeUndefined();
  });

  it("a CLS gram on a model without prefix tokens gives the builder's reason", () => {
    expect(tapProblem({ kind: "gram", tensor: "x", layout: "BTD", tokens: "cls", prefixTokens: 0 }, 14, new Map([["x", [2, 49, 64]]]))).toMatch(/no CLS token/);
  });

  it("a localisation tap on a grid that does not divide the image is refused", () => {
    const shapes = new Map([["x", [2, 50, 64]], ["input", [2, 1, 28, 28]]]);
    const spec = { kind: "localisation" as const, tensor: "x", layout: "BTD" as const, prefixTokens: 1, grid: [7, 7] as [number, number], positions: [[0, 0]] as [number, number][], image: "input", imageShape: [1, 28, 28] as [number, number, number] };
    expect(tapProblem(spec, 17, shapes)).toBeUndefined();
    expect(tapProblem({ ...spec, grid: [5, 5] }, 17, shapes)).toMatch(/Reshape|Gather/);
  });
});

describe("an analysis whose tap cannot apply is skipped for that model; everything else runs", () => {
  it("vit-tiny with block 0's attention map shaped like a windowed map: attention and collapse skipped with reasons, recorded, in the report", async () => {
    const plan = await prepare([path.join(ZOO, "vit-tiny.onnx")], { data: DATA, labels: LABELS, limit: 32, batch: 16, analyses: ["cka", "attention", "collapse", "skip"] });
    const m = plan.models[0];
    const t = m.sites.blocks[0].attention!.tensor;
    m.geometry.shapes.set(t, [2 * 4, 4, 25, 25]);
    const { drivers, skipped } = applicableDrivers(plan.models, plan.drivers, plan.passes.map((p) => p.name));
    expect(skipped.map((s) => s.analysis).sort()).toEqual(["attention", "collapse"]);
    for (const s of skipped) expect(s.model).toBe("vit-tiny");
    expect(skipped.find((s) => s.analysis === "attention")!.reason).toMatch(/^its tap cannot apply to this model: node seelike\/attention-distance\/.*Mul of \[8, 4, 25, 25\] and \[50, 50\]: shapes do not broadcast$/);
    expect(drivers.map((d) => d.key.analysis).sort()).toEqual(["cka", "skip"]);
    // The rest runs, and the report shows the reasons next to the analyses.
    m.geometry.shapes.set(t, [2, 4, 50, 50]);
    plan.drivers = drivers;
    plan.skippedAnalyses = skipped;
    const r = await execute(plan);
    const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
    expect(results.skippedAnalyses).toEqual(skipped);
    expect(results.cka?.length).toBe(1);
    expect(results.skip?.["vit-tiny"]).toBeDefined();
    expect(results.attention).toBeUndefined();
    const html = report(results);
    expect(html).toContain("Skipped for vit-tiny: its tap cannot apply to this model");
  }, 120_000);

  it("an analysis with nothing to apply to is skipped visibly: resnet-tiny's attention distance, in results and report", async () => {
    const plan = await prepare([path.join(ZOO, "resnet-tiny.onnx")], { data: DATA, labels: LABELS, limit: 16, batch: 16, analyses: ["attention", "skip"] });
    expect(plan.skippedAnalyses).toEqual([{ analysis: "attention", model: "resnet-tiny", reason: "no attention maps on a patch grid were found" }]);
    const r = await execute(plan);
    const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
    expect(report(results)).toContain("Skipped for resnet-tiny: no attention maps on a patch grid were found.");
  }, 60_000);

  it("nothing that could run is a failure (exit 1), naming each analysis and why", async () => {
    const r = await cli(["analyze", path.join(ZOO, "resnet-tiny.onnx"), "--data", DATA, "--labels", LABELS, "--limit", "16", "--analyses", "attention", "--out", path.join(mkdtempSync(path.join(tmpdir(), "seelike-")), "r.html"), "--quiet"]);
    expect(r.code).toBe(1);
    expect(r.err).toBe("seelike: nothing could run: resnet-tiny: attention distance (no attention maps on a patch grid were found)\n");
  }, 60_000);

  it("in the library, nothing that could run is a NothingToRunError carrying the skipped analyses as data", async () => {
    const e = await prepare([path.join(ZOO, "resnet-tiny.onnx")], { data: DATA, labels: LABELS, limit: 16, batch: 16, analyses: ["attention"] }).then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(NothingToRunError);
    expect((e as NothingToRunError).skipped).toEqual([{ analysis: "attention", model: "resnet-tiny", reason: "no attention maps on a patch grid were found" }]);
    expect(await import("../src/index.js").then((m) => m.NothingToRunError)).toBe(NothingToRunError);
  }, 60_000);
});

describe("a failure inside a node seelike appended is seelike's bug, never the model's", () => {
  it("onnxruntime failing in an appended node: a plain Error naming the analysis and onnxruntime's whole message", async () => {
    const plan = await prepare([path.join(ZOO, "vit-tiny.onnx")], { data: DATA, labels: LABELS, limit: 16, batch: 16, analyses: ["skip"] });
    const t = plan.models[0].sites.blocks[0].attention!.tensor;
    const bad = { kind: "attention-distance" as const, tensor: t, prefixTokens: 0, distances: new Float32Array(64 * 64), patches: 64 };
    const driver: Driver = { id: "attention:0", taps: () => [bad], init: () => ({}), update: (s) => s, merge: (a) => a };
    const err = await runEngine(plan.models, plan.passes, [driver], { batchSize: 16, settingsDigest: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(InputError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^seelike bug: a node seelike appended to .*vit-tiny\.onnx for the attention analysis failed in onnxruntime \(not a problem of the model; please report it\): /);
    expect(msg).toContain("seelike/attention-distance/");
    expect(msg).not.toMatch(/\[ONNXRuntimeError\]/);
  }, 60_000);
});

describe("fixed-batch exports (fixtures/models/make_fixed_batch.py)", () => {
  const pre = ["--resize", "64", "--crop", "64"];
  it("a batch fixed at 8 runs at batch 8, says so and records it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "seelike-fixed-"));
    try {
      const r = await cli(["analyze", path.join(MODELS, "timm_vit_fixed8.onnx"), "--data", DATA, "--labels", LABELS, "--limit", "20", ...pre, "--analyses", "cka,attention,skip,accuracy", "--out", path.join(dir, "r.html")]);
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/seelike: batch 8 \(timm_vit_fixed8 was exported with a fixed batch of 8\): estimated peak memory/);
      expect(r.err).toContain("timm_vit_fixed8 takes batches of exactly 8: the last 4 of 20 images are left out");
      const results = JSON.parse(readFileSync(path.join(dir, "r", "results.json"), "utf8"));
      expect(results.settings.batch).toBe(8);
      expect(results.settings.batchFrom).toBe("model");
      expect(results.settings.data.images).toBe(16);
      expect(results.accuracy.timm_vit_fixed8.total).toBe(16);
      expect(results.attention.timm_vit_fixed8).toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a batch fixed below 4 is refused in one line with the dynamic_axes hint (exit 2)", async () => {
    const r = await cli(["analyze", path.join(MODELS, "timm_vit_fixed2.onnx"), "--data", DATA, "--labels", LABELS, "--limit", "20", ...pre, "--out", path.join(tmpdir(), "never", "r.html"), "--quiet"]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`seelike: ${path.join(MODELS, "timm_vit_fixed2.onnx")}: the model was exported with a fixed batch of 2; re-export it with dynamic_axes={'input': {0: 'batch'}} (torch.onnx.export), seelike needs batches of at least 4\n`);
  });

  it("an explicit --batch other than the fixed one is refused, naming both", async () => {
    const err = await prepare([path.join(MODELS, "timm_vit_fixed8.onnx")], { data: DATA, labels: LABELS, limit: 32, batch: 16, preprocessOverrides: { resize: 64, crop: 64 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe("timm_vit_fixed8 was exported with a fixed batch of 8: give --batch 8 (or leave --batch auto), or re-export it with dynamic_axes={'input': {0: 'batch'}}");
  });
});

describe("no silent substitutions (--tokens)", () => {
  it("--tokens cls on a ViT without CLS token is an error naming the model", async () => {
    const err = await prepare([path.join(ZOO, "vit-tiny-gap.onnx")], { data: DATA, labels: LABELS, limit: 16, batch: 16, tokens: "cls", analyses: ["cka"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^--tokens cls: vit-tiny-gap \(.*vit-tiny-gap\.onnx\) has no CLS token \(no prefix token was found at its \d+ token sites\); use --tokens all, spatial or gap$/);
  });

  it("--tokens cls on a CNN uses GAP on its [B,C,H,W] sites, recorded in the results and the report", async () => {
    const plan = await prepare([path.join(ZOO, "vit-tiny.onnx"), path.join(ZOO, "resnet-tiny.onnx")], { data: DATA, labels: LABELS, limit: 16, batch: 16, tokens: "cls", analyses: ["cka"] });
    expect(plan.substitutions).toEqual([{ analysis: "cka", model: "resnet-tiny", option: "tokens", given: "cls", used: "gap", reason: "its [B,C,H,W] sites have no CLS token; their global average over positions is used" }]);
    expect(plan.warnings).toContain("resnet-tiny: --tokens cls used as gap for CKA (its [B,C,H,W] sites have no CLS token; their global average over positions is used)");
    const r = await execute(plan);
    const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
    expect(results.substitutions).toEqual(plan.substitutions);
    expect(report(results)).toContain("For resnet-tiny, --tokens cls was used as gap: its [B,C,H,W] sites have no CLS token");
  }, 60_000);
});

describe("--batch auto and --max-memory", () => {
  it("a --batch whose estimate is over --max-memory is refused with the largest that fits, which auto takes", async () => {
    const model = path.join(ZOO, "vit-tiny.onnx");
    const base = { data: DATA, labels: LABELS, limit: 64, analyses: ["cka", "attention", "collapse"] as ("cka" | "attention" | "collapse")[] };
    const plan = await prepare([model], { ...base, batch: 64 });
    const e64 = plan.memory.estimate;
    const e32 = runMemory(plan.models, plan.drivers, ["main"], 32).total;
    expect(e64).toBeGreaterThan(e32);
    const maxMemory = Math.floor((e32 + e64) / 2);
    const err = await prepare([model], { ...base, batch: 64, maxMemory }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/vit-tiny\.onnx: running this model on batches of 64 would need about .*, more than --max-memory .*; try --batch 32$/);
    const auto = await prepare([model], { ...base, maxMemory });
    expect(auto.settings.batch).toBe(32);
    expect(auto.settings.batchFrom).toBe("auto");
    expect(auto.memory.estimate).toBe(e32);
    const defaults = await prepare([model], base);
    expect(defaults.settings.batch).toBe(64);
  }, 60_000);
});
