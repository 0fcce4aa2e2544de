// Site discovery against the fixture manifests (fixtures/models/*.golden/manifest.json), whose
// exporter tensor names were matched to torch forward hooks by fixtures/models/make_models.py,
// and against the full-size random-weight torchvision exports when they are present.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../src/onnx/model.js";
import { inferShapes } from "../src/onnx/shapes.js";
import { discoverSites } from "../src/onnx/sites.js";
import { formatInspect, inspectModel } from "../src/onnx/inspect.js";

const MODELS = path.resolve("fixtures/models");
interface SiteEntry {
  site: string;
  shape: number[];
  onnx: Record<string, string>;
}
interface Manifest {
  model: string;
  files: Record<string, string>;
  config: Record<string, unknown>;
  sites: SiteEntry[];
}
const manifests: Manifest[] = existsSync(MODELS)
  ? readdirSync(MODELS)
      .filter((d) => d.endsWith(".golden") && existsSync(path.join(MODELS, d, "manifest.json")))
      .map((d) => JSON.parse(readFileSync(path.join(MODELS, d, "manifest.json"), "utf8")) as Manifest)
  : [];

const familyOf = (name: string) => (/resnet/.test(name) ? "cnn" : /mixer/.test(name) ? "mixer" : /swin/.test(name) ? "swin" : /maxvit/.test(name) ? "hybrid" : "vit");

describe("discoverSites on the fixture models", () => {
  it("finds the fixture manifests", () => {
    expect(manifests.map((m) => m.model).sort()).toEqual(expect.arrayContaining(["mixer", "timm_vit", "timm_vit_gap", "tv_resnet50"]));
  });

  for (const m of manifests) {
    for (const [opset, file] of Object.entries(m.files)) {
      const c = m.config as Record<string, number | string | boolean | number[]>;
      const family = familyOf(m.model);

      it(`discoverSites(${file}) finds family ${family} and the manifest's geometry`, async () => {
        const model = await loadModel(path.join(MODELS, file));
        expect(model.opset).toBe(Number(opset));
        const s = discoverSites(model);
        expect(s.family).toBe(family);
        // Windowed models' stages and window geometry: tests/windowed-attention.test.ts.
        if (family === "swin" || family === "hybrid") return;
        if (family === "cnn") {
          expect(s.blockType).toBe("bottleneck");
          expect(s.blocks).toHaveLength(c.units as number);
          expect(s.residuals).toHaveLength(c.units as number);
          expect(s.stages).toHaveLength((c.stage_channels as number[]).length);
          expect(s.stages.map((st) => st.units.length)).toEqual([3, 4, 6, 3]);
          const proj = s.residuals.filter((r) => r.shortcut === "projection");
          expect(proj).toHaveLength(c.projection_shortcuts as number);
          // The projection is the first unit of each stage.
          expect(proj.map((r) => r.block)).toEqual(s.stages.map((st) => st.units[0]));
          expect(s.patchSize).toBeNull();
          expect(s.grid).toBeNull();
        } else {
          const depth = (c.depth ?? c.num_layers) as number;
          expect(s.blocks).toHaveLength(depth);
          expect(s.residuals).toHaveLength(2 * depth);
          expect(s.residuals.every((r) => r.shortcut === "identity")).toBe(true);
          const g = c.grid as number;
          expect(s.grid).toEqual([g, g]);
          expect(s.patchSize).toBe(c.patch_size);
          expect(s.tokens).toBe(c.tokens);
          expect(s.prefixTokens).toBe((c.tokens as number) - g * g);
          expect(s.patchEmbed?.patchSize).toBe(c.patch_size);
          if (family === "vit") {
            const attn = s.blocks.map((b) => b.attention);
            expect(attn.filter(Boolean)).toHaveLength(depth);
            for (const a of attn) expect(a?.heads).toBe(c.num_heads);
            expect(s.cls).toBe(Boolean(c.cls_token ?? true));
            if (c.global_pool) expect(s.pooling).toBe(c.global_pool === "avg" ? "mean" : "cls");
            expect(s.posEmbed?.shape).toEqual([1, c.tokens, c.embed_dim ?? c.hidden_dim]);
          } else {
            expect(s.blocks.every((b) => b.kind === "mixer" && !b.attention)).toBe(true);
            expect(s.pooling).toBe("mean");
          }
        }
      });

      it(`discoverSites(${file}) names the tensors the torch hooks matched, for every manifest site`, async () => {
        const model = await loadModel(path.join(MODELS, file));
        const s = discoverSites(model);
        const found = new Map(s.sites.map((x) => [x.name, x.tensor]));
        const wrong: string[] = [];
        for (const e of m.sites) if (found.get(e.site) !== e.onnx[opset]) wrong.push(`${e.site}: found ${found.get(e.site)}, manifest ${e.onnx[opset]}`);
        expect(wrong).toEqual([]);
      });

      it(`inferShapes(${file}) at batch 2 gives the golden shape of every manifest site`, async () => {
        const model = await loadModel(path.join(MODELS, file));
        const shapes = inferShapes(model, { batch: 2 });
        for (const e of m.sites) expect(shapes.get(e.onnx[opset])?.shape, e.site).toEqual(e.shape);
      });
    }
  }
});

describe("discoverSites on the full-size torchvision exports (.cache/fullsize)", () => {
  const dir = path.resolve(".cache/fullsize");
  const pick = (names: string[]) => names.map((n) => path.join(dir, n)).find((f) => existsSync(f)) ?? path.join(dir, names[0]);
  const vit = pick(["vit_b_16.onnx", "tv_vit_b16_op14.onnx", "tv_vit_b16_op17.onnx"]);
  const resnet = pick(["resnet50.onnx", "tv_resnet50_op14.onnx", "tv_resnet50_op17.onnx"]);
  if (!existsSync(vit)) console.warn(`SKIPPED: ${vit} is absent (fixtures/models/make_fullsize.py makes it)`);
  if (!existsSync(resnet)) console.warn(`SKIPPED: ${resnet} is absent (fixtures/models/make_fullsize.py makes it)`);

  it.skipIf(!existsSync(vit))("vit_b_16: 12 blocks, 12 attention sites of 12 heads, grid 14×14, patch 16, one prefix token", async () => {
    const before = process.memoryUsage();
    const model = await loadModel(vit);
    const after = process.memoryUsage();
    // Loading holds the file once (plus decoded nodes and headers): well under 2× its size.
    const grown = after.arrayBuffers - before.arrayBuffers + Math.max(0, after.heapUsed - before.heapUsed);
    expect(grown).toBeLessThan(2 * model.bytes.length);
    const s = discoverSites(model);
    expect(s.family).toBe("vit");
    expect(s.blocks).toHaveLength(12);
    expect(s.blocks.filter((b) => b.attention)).toHaveLength(12);
    expect(s.blocks.every((b) => b.attention?.heads === 12)).toBe(true);
    expect(s.grid).toEqual([14, 14]);
    expect(s.patchSize).toBe(16);
    expect(s.tokens).toBe(197);
    expect(s.prefixTokens).toBe(1);
    expect(s.cls).toBe(true);
    expect(s.pooling).toBe("cls");
    expect(s.posEmbed?.shape).toEqual([1, 197, 768]);
    expect(s.patchEmbed?.shape).toEqual([768, 3, 16, 16]);
    for (const b of s.blocks) expect(Object.keys(b.sites).map((k) => k.slice(b.name.length + 1))).toEqual(["ln1", "attn.probs", "attn.out", "resid_mid", "ln2", "mlp.hidden", "mlp.out", "out"]);
  });

  it.skipIf(!existsSync(resnet))("resnet50: 16 units in 4 stages [3,4,6,3] with 4 projection shortcuts", async () => {
    const s = discoverSites(await loadModel(resnet));
    expect(s.family).toBe("cnn");
    expect(s.blockType).toBe("bottleneck");
    expect(s.blocks).toHaveLength(16);
    expect(s.stages.map((st) => st.units.length)).toEqual([3, 4, 6, 3]);
    expect(s.stages.map((st) => st.shape)).toEqual([["B", 256, 56, 56], ["B", 512, 28, 28], ["B", 1024, 14, 14], ["B", 2048, 7, 7]]);
    expect(s.residuals.filter((r) => r.shortcut === "projection")).toHaveLength(4);
  });
});

describe("discoverSites options and inspect", () => {
  const file = path.join(MODELS, "timm_vit_op17.onnx");

  it("discoverSites adds and overrides sites by exporter name or /regex/", async () => {
    const model = await loadModel(file);
    const s = discoverSites(model, { extraSites: { "blocks.0.attn.qkv": "/blocks\\/blocks.0\\/attn\\/qkv\\/MatMul/", "head.pre": "/norm/LayerNormalization_output_0" } });
    const qkv = s.sites.find((x) => x.name === "blocks.0.attn.qkv");
    expect(qkv?.tensor).toMatch(/^\/blocks\/blocks.0\/attn\/qkv\/MatMul/);
    expect(qkv?.block).toBe("blocks.0");
    expect(s.blocks[0].sites["blocks.0.attn.qkv"]).toBe(qkv?.tensor);
    expect(s.sites.find((x) => x.name === "head.pre")?.tensor).toBe("/norm/LayerNormalization_output_0");
  });

  it("discoverSites rejects an extra site that matches no tensor", async () => {
    const model = await loadModel(file);
    expect(() => discoverSites(model, { extraSites: { foo: "no_such_tensor" } })).toThrow(RangeError);
    expect(() => discoverSites(model, { extraSites: { foo: "no_such_tensor" } })).toThrow(/invalid site foo: no tensor matches no_such_tensor/);
  });

  it("inspectModel gives the JSON of seelike inspect --json and formatInspect a readable summary", async () => {
    const info = await inspectModel(file);
    const json = JSON.parse(JSON.stringify(info));
    expect(json).toMatchObject({ family: "vit", input: { name: "input", shape: ["batch", 3, 64, 64] }, patchSize: 8, grid: [8, 8], prefixTokens: 1, pooling: "cls", opset: 17 });
    expect(json.blocks[0].attention).toEqual({ tensor: "/blocks/blocks.0/attn/Softmax_output_0", heads: 4, layout: "[B,H,T,T]" });
    expect(json.residuals[0]).toMatchObject({ block: "blocks.0", shortcut: "identity", out: "/blocks/blocks.0/Add_output_0" });
    const { createHash } = await import("node:crypto");
    expect(json.sha256).toBe(createHash("sha256").update(readFileSync(file)).digest("hex"));
    const text = formatInspect(info);
    expect(text).toContain("family vit");
    expect(text).toContain("tokens 65, grid 8×8, patch 8, prefix tokens 1, pooling cls");
    expect(text).toContain("4 attention sites, 4 heads, layout [B,H,T,T]");
  });
});

describe("discoverSites does not need exporter names", () => {
  for (const file of ["tv_vit_b16_op14.onnx", "timm_vit_op17.onnx", "tv_resnet50_op17.onnx", "mixer_op14.onnx"]) {
    it(`discoverSites finds the same sites in ${file} after every tensor, node and initializer is renamed`, async () => {
      const { onnx } = await import("../src/onnx/proto/onnx.js");
      const { parseModel } = await import("../src/onnx/model.js");
      const bytes = readFileSync(path.join(MODELS, file));
      const proto = onnx.ModelProto.decode(bytes);
      const g = proto.graph!;
      const rename = new Map<string, string>();
      const to = (t: string) => {
        if (t === "") return t;
        if (!rename.has(t)) rename.set(t, `v${rename.size}`);
        return rename.get(t)!;
      };
      for (const v of [...g.input, ...g.output, ...g.value_info]) v.name = to(v.name);
      for (const t of g.initializer) t.name = to(t.name);
      g.node.forEach((n, i) => {
        n.name = `n${i}`;
        n.input = n.input.map(to);
        n.output = n.output.map(to);
        n.doc_string = "";
      });
      const renamed = await parseModel("renamed.onnx", onnx.ModelProto.encode(proto).finish());
      const original = discoverSites(await loadModel(path.join(MODELS, file)));
      const again = discoverSites(renamed);
      expect(again.family).toBe(original.family);
      expect(again.sites.map((s) => [s.name, s.tensor])).toEqual(original.sites.map((s) => [s.name, to(s.tensor)]));
      expect(again.residuals.map((r) => r.shortcut)).toEqual(original.residuals.map((r) => r.shortcut));
      expect([again.grid, again.patchSize, again.prefixTokens, again.pooling]).toEqual([original.grid, original.patchSize, original.prefixTokens, original.pooling]);
      if (original.posEmbed) expect(again.posEmbed?.initializer).toBe(to(original.posEmbed.initializer));
    });
  }
});

describe("discoverSites with a static batch", () => {
  it("discoverSites reads heads of a [B*H,T,T] map correctly when the input fixes the batch at 3", async () => {
    const { onnx } = await import("../src/onnx/proto/onnx.js");
    const { parseModel } = await import("../src/onnx/model.js");
    const proto = onnx.ModelProto.decode(readFileSync(path.join(MODELS, "tv_vit_b16_op17.onnx")));
    for (const v of [...proto.graph!.input, ...proto.graph!.output]) v.type!.tensor_type!.shape!.dim[0] = new onnx.TensorShapeProto.Dimension({ dim_value: 3 });
    const s = discoverSites(await parseModel("static.onnx", onnx.ModelProto.encode(proto).finish()));
    expect(s.input.shape[0]).toBe(3);
    expect(s.blocks.map((b) => b.attention?.layout)).toEqual(["[B*H,T,T]", "[B*H,T,T]", "[B*H,T,T]", "[B*H,T,T]"]);
    expect(s.blocks.map((b) => b.attention?.heads)).toEqual([4, 4, 4, 4]);
    expect(s.sites.find((x) => x.name === "blocks.0.attn.probs")?.shape).toEqual([12, 17, 17]);
  });
});

describe("discoverSites on the Fashion-MNIST zoo (fixtures/zoo/*.json model cards)", () => {
  const ZOO = path.resolve("fixtures/zoo");
  const cards = existsSync(ZOO) ? readdirSync(ZOO).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync(path.join(ZOO, f), "utf8")) as { name: string; file: string; family: string; config: Record<string, unknown> }) : [];
  it("finds at least one zoo model card", () => expect(cards.length).toBeGreaterThan(0));
  for (const card of cards.filter((c) => c.file && existsSync(path.join(ZOO, c.file)))) {
    it(`discoverSites(${card.file}) agrees with its model card (${card.family})`, async () => {
      const s = discoverSites(await loadModel(path.join(ZOO, card.file)));
      // The cards name the kind the zoo trained ("resnet"); seelike's family for every CNN is "cnn".
      expect(s.family).toBe(card.family === "resnet" ? "cnn" : card.family);
      if (card.family === "resnet") expect(s.blockType).toBe("basic");
      const c = card.config;
      if (Array.isArray(c.units)) {
        expect(s.stages.map((st) => st.units.length)).toEqual(c.units);
        if (Array.isArray(c.widths)) expect(s.stages.map((st) => st.shape?.[1])).toEqual(c.widths);
      }
      if (typeof c.depth === "number") expect(s.blocks).toHaveLength(c.depth);
      if (typeof c.heads === "number") expect(s.blocks.map((b) => b.attention?.heads)).toEqual(new Array(c.depth).fill(c.heads));
      if (typeof c.patch === "number") expect(s.patchSize).toBe(c.patch);
      if (typeof c.cls === "boolean") expect(s.cls).toBe(c.cls);
    });
  }
});
