// Modern CNNs (EfficientNet, MobileNetV3, ConvNeXt, RegNet from torchvision's own classes) and
// ViTs with other prefix tokens or exporters (HF transformers-style, DeiT, registers):
// site discovery against the manifests of fixtures/models/make_arch.py (whose tensor names were
// matched to torch forward hooks), the engine's activations against the hooked goldens, and
// attention distance and prefix mass from the in-graph taps against numpy on the hooked maps.
// The full-size torchvision exports (.cache/fullsize, fixtures/models/make_fullsize.py) are
// checked when present.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../src/onnx/model.js";
import { discoverSites } from "../src/onnx/sites.js";
import { inspectModel } from "../src/onnx/inspect.js";
import { exposeOutputs } from "../src/onnx/surgery.js";
import { createSession, run, release } from "../src/runtime/session.js";
import { tappedModel, type EngineModel } from "../src/engine/stream.js";
import { tapName, type TapSpec } from "../src/engine/taps.js";
import { attentionDistanceReducer, patchDistances } from "../analyses/attention-distance.js";
import { prefixMassReducer } from "../analyses/prefix-mass.js";
import { readNpyTyped } from "./helpers/npy-b.js";

const DIR = path.resolve("fixtures/models/arch");

interface Manifest {
  model: string;
  files: Record<string, string>;
  config: Record<string, any>;
  input: { name: string; file: string; shape: number[] };
  logits: { name: string; file: string };
  sites: { site: string; file: string; shape: number[]; onnx: Record<string, string> }[];
}
interface Reference {
  geometry: { grid: [number, number]; patchSize: number; prefixTokens: number };
  layers: Record<string, { renormalised: number[]; raw: number[]; prefixMass: number[][]; prefixMassTotal: number[] }>;
}

const manifests: Manifest[] = existsSync(DIR)
  ? readdirSync(DIR).filter((d) => d.endsWith(".golden")).map((d) => JSON.parse(readFileSync(path.join(DIR, d, "manifest.json"), "utf8")) as Manifest)
  : [];
const golden = (m: Manifest, file: string) => readNpyTyped(path.join(DIR, `${m.model}.golden`, file)) as { data: Float32Array; shape: number[] };
const isCnn = (m: Manifest) => m.model.startsWith("tv_");

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

describe("fixtures/models/arch", () => {
  it("has the seven architectures, all files together under 5 MB", () => {
    expect(manifests.map((m) => m.model).sort()).toEqual(["deit_vit", "hf_vit", "reg_vit", "tv_convnext", "tv_efficientnet_b0", "tv_mobilenet_v3", "tv_regnet_y"]);
    let bytes = 0;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) e.isDirectory() ? walk(path.join(d, e.name)) : (bytes += readFileSync(path.join(d, e.name)).length);
    };
    walk(DIR);
    expect(bytes).toBeLessThan(5e6);
  });
});

describe("discoverSites on modern CNNs and other ViTs", () => {
  for (const m of manifests) {
    const c = m.config;
    for (const [opset, file] of Object.entries(m.files)) {
      if (isCnn(m)) {
        it(`discoverSites(${file}): family cnn, ${c.blockType} units, ${c.blocks} blocks of which ${c.residualBlocks} residual, stages [${c.stages}]`, async () => {
          const model = await loadModel(path.join(DIR, file));
          expect(model.opset).toBe(Number(opset));
          const s = discoverSites(model);
          expect(s.family).toBe("cnn");
          expect(s.blockType).toBe(c.blockType);
          expect(s.blocks).toHaveLength(c.blocks);
          expect(s.blocks.every((b) => b.kind === "unit" && b.unit?.type === c.blockType)).toBe(true);
          expect(s.blocks.filter((b) => b.unit?.residual)).toHaveLength(c.residualBlocks);
          expect(s.residuals).toHaveLength(c.residualBlocks);
          expect(s.stages.map((st) => st.units.length)).toEqual(c.stages);
          if (c.projection_shortcuts) expect(s.residuals.filter((r) => r.shortcut === "projection")).toHaveLength(c.projection_shortcuts);
          // A block without a skip has only its output site: no branch or shortcut, no skip ratio.
          for (const b of s.blocks) expect(Object.keys(b.sites).map((k) => k.slice(b.name.length + 1))).toEqual(b.unit!.residual ? ["branch", "shortcut", "out"] : ["out"]);
          expect(s.grid).toBeNull();
          expect(s.patchEmbed).toBeUndefined();
          expect(s.sites[0].name).toBe("stem");
        });
      } else {
        it(`discoverSites(${file}): ${c.depth} blocks of ${c.num_heads} heads, ${c.tokens} tokens, prefix [${c.prefix}]`, async () => {
          const model = await loadModel(path.join(DIR, file));
          expect(model.opset).toBe(Number(opset));
          const s = discoverSites(model);
          expect(s.family).toBe("vit");
          expect(s.blocks).toHaveLength(c.depth);
          expect(s.residuals).toHaveLength(2 * c.depth);
          expect(s.blocks.every((b) => b.attention?.heads === c.num_heads && b.attention.layout === "[B,H,T,T]")).toBe(true);
          expect(s.tokens).toBe(c.tokens);
          expect(s.grid).toEqual([c.grid, c.grid]);
          expect(s.patchSize).toBe(c.patch_size);
          expect(s.prefixTokens).toBe(c.prefixTokens);
          // HF keeps the module path in the parameter name.
          expect(s.prefix!.map((p) => p.name.replace(/^vit\.embeddings\./, ""))).toEqual(c.prefix);
          if (c.pooling) expect(s.pooling).toBe(c.pooling);
          const names = Object.keys(s.blocks[0].sites).map((k) => k.slice("blocks.0.".length));
          expect(names).toEqual(["ln1", "attn.probs", "attn.out", "resid_mid", "ln2", "mlp.hidden", "mlp.out", "out"]);
        });
      }

      it(`discoverSites(${file}) names the tensors the torch hooks matched, for every manifest site`, async () => {
        const s = discoverSites(await loadModel(path.join(DIR, file)));
        const found = new Map(s.sites.map((x) => [x.name, x.tensor]));
        const wrong = m.sites.filter((e) => found.get(e.site) !== e.onnx[opset]).map((e) => `${e.site}: found ${found.get(e.site)}, manifest ${e.onnx[opset]}`);
        expect(wrong).toEqual([]);
      });

      it(`the discovered sites of ${file}, run in onnxruntime, match the torch-hook goldens (|diff| ≤ 1e-4·max(1, max|golden|))`, async () => {
        const model = await loadModel(path.join(DIR, file));
        const byName = new Map(discoverSites(model).sites.map((x) => [x.name, x.tensor]));
        const wanted = [...m.sites.map((e) => ({ site: e.site, file: e.file, tensor: byName.get(e.site)! })), { site: "logits", file: m.logits.file, tensor: m.logits.name }];
        const names = [...new Set(wanted.map((w) => w.tensor))];
        const session = await createSession(exposeOutputs(model, names), { threads: 1 });
        const out = await run(session, { [m.input.name]: golden(m, m.input.file) }, names);
        await release(session);
        const failures: string[] = [];
        for (const w of wanted) {
          const gold = golden(m, w.file);
          const got = out[w.tensor];
          if (JSON.stringify(got.shape) !== JSON.stringify(gold.shape)) {
            failures.push(`${w.site}: shape ${got.shape} vs ${gold.shape}`);
            continue;
          }
          let maxAbs = 0;
          let maxDiff = 0;
          for (let i = 0; i < gold.data.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(gold.data[i]));
            maxDiff = Math.max(maxDiff, Math.abs(gold.data[i] - got.data[i]));
          }
          if (!(maxDiff <= 1e-4 * Math.max(1, maxAbs))) failures.push(`${w.site}: max |diff| ${maxDiff}`);
        }
        expect(failures).toEqual([]);
      });
    }
  }
});

describe("attention distance and prefix mass from the in-graph taps against numpy on the hooked maps", () => {
  for (const m of manifests.filter((x) => existsSync(path.join(DIR, `${x.model}.golden`, "reference.json")))) {
    const ref = JSON.parse(readFileSync(path.join(DIR, `${m.model}.golden`, "reference.json"), "utf8")) as Reference;
    for (const file of Object.values(m.files)) {
      it(`${file}: distance over patch queries and keys and mass per prefix token (${ref.geometry.prefixTokens}) equal numpy (1e-5)`, async () => {
        const model = await loadModel(path.join(DIR, file));
        const sites = discoverSites(model);
        const { grid, patchSize, prefixTokens } = ref.geometry;
        expect([sites.grid, sites.patchSize, sites.prefixTokens]).toEqual([grid, patchSize, prefixTokens]);
        const patches = grid[0] * grid[1];
        const layers = Object.keys(ref.layers).map(Number);
        const maps = layers.map((l) => sites.blocks[l].attention!.tensor);
        const distances = Float32Array.from(patchDistances(grid, patchSize));
        const dist: TapSpec[] = maps.map((tensor) => ({ kind: "attention-distance", tensor, prefixTokens, distances, patches }));
        const mass: TapSpec[] = maps.map((tensor) => ({ kind: "prefix-mass", tensor, prefixTokens, patches }));
        const em = { model, bytes: model.bytes } as unknown as EngineModel;
        const { bytes, names } = tappedModel(em, [...dist, ...mass]);
        const session = await createSession(bytes, { threads: 1 });
        const x = golden(m, m.input.file);
        const out = await run(session, { [m.input.name]: x }, names);
        await release(session);
        const batchSize = x.shape[0];
        let d = attentionDistanceReducer.init({ grid, patchSize, prefixTokens });
        let p = prefixMassReducer.init({ prefixTokens, patches, names: sites.prefix!.map((t) => t.name) });
        layers.forEach((layer, i) => {
          d = attentionDistanceReducer.update(d, { layer, querySums: out[tapName(dist[i])], batchSize });
          p = prefixMassReducer.update(p, { layer, sums: out[tapName(mass[i])], batchSize });
        });
        const dr = attentionDistanceReducer.finalize(d);
        const pr = prefixMassReducer.finalize(p);
        const H = dr.heads;
        expect(pr.mass.shape).toEqual([layers.length, H, prefixTokens]);
        layers.forEach((layer, i) => {
          const want = ref.layers[String(layer)];
          for (let h = 0; h < H; h++) {
            expect(rel(dr.renormalised.data[i * H + h], want.renormalised[h]), `layer ${layer} head ${h} renormalised`).toBeLessThan(1e-5);
            expect(rel(dr.raw.data[i * H + h], want.raw[h]), `layer ${layer} head ${h} raw`).toBeLessThan(1e-5);
            expect(rel(dr.prefixMass.data[i * H + h], want.prefixMassTotal[h])).toBeLessThan(1e-5);
            for (let j = 0; j < prefixTokens; j++) expect(rel(pr.mass.data[(i * H + h) * prefixTokens + j], want.prefixMass[j][h]), `layer ${layer} head ${h} token ${j}`).toBeLessThan(1e-5);
          }
        });
      });
    }
  }

  it("prefixMassReducer on whole maps equals its in-graph sums and merges order-free", async () => {
    const m = manifests.find((x) => x.model === "reg_vit")!;
    const model = await loadModel(path.join(DIR, m.files["14"]));
    const sites = discoverSites(model);
    const tensor = sites.blocks[0].attention!.tensor;
    const spec: TapSpec = { kind: "prefix-mass", tensor, prefixTokens: 5, patches: 36 };
    const { bytes, names } = tappedModel({ model, bytes: model.bytes } as unknown as EngineModel, [spec, { kind: "raw", tensor }]);
    const session = await createSession(bytes, { threads: 1 });
    const out = await run(session, { input: golden(m, m.input.file) }, [...names, tensor]);
    await release(session);
    const config = { prefixTokens: 5, patches: 36 };
    const viaMap = prefixMassReducer.finalize(prefixMassReducer.update(prefixMassReducer.init(config), { layer: 0, attention: out[tensor], batchSize: 2 }));
    const viaTap = prefixMassReducer.finalize(prefixMassReducer.update(prefixMassReducer.init(config), { layer: 0, sums: out[tapName(spec)], batchSize: 2 }));
    for (let i = 0; i < viaMap.mass.data.length; i++) expect(rel(viaTap.mass.data[i], viaMap.mass.data[i])).toBeLessThan(1e-5);
    // Image 0 and image 1 as two shards, merged in either order.
    const A = out[tensor];
    const half = (b: number) => ({ data: A.data.slice(b * A.data.length / 2, (b + 1) * A.data.length / 2), shape: [1, ...A.shape.slice(1)] });
    const s0 = () => prefixMassReducer.update(prefixMassReducer.init(config), { layer: 0, attention: half(0), batchSize: 1 });
    const s1 = () => prefixMassReducer.update(prefixMassReducer.init(config), { layer: 0, attention: half(1), batchSize: 1 });
    const ab = prefixMassReducer.finalize(prefixMassReducer.merge(s0(), s1()));
    const ba = prefixMassReducer.finalize(prefixMassReducer.merge(s1(), s0()));
    for (let i = 0; i < ab.mass.data.length; i++) {
      expect(Math.abs(ab.mass.data[i] - viaMap.mass.data[i])).toBeLessThan(1e-12);
      expect(ab.mass.data[i]).toBe(ba.mass.data[i]);
    }
  });

  it("prefixMassReducer rejects a model without prefix tokens and a map that does not fit", () => {
    expect(() => prefixMassReducer.init({ prefixTokens: 0, patches: 64 })).toThrow(/prefixTokens: 0/);
    const s = prefixMassReducer.init({ prefixTokens: 1, patches: 4 });
    expect(() => prefixMassReducer.update(s, { layer: 0, attention: { data: new Float32Array(2 * 36), shape: [2, 6, 6] }, batchSize: 1 })).toThrow(/attention shape/);
  });
});

describe("discoverSites on the full-size torchvision exports (.cache/fullsize)", () => {
  const local = path.resolve(".cache/fullsize");
  const file = (name: string) => path.join(local, `tv_${name}_op14.onnx`);
  const cases: [string, string, (s: Awaited<ReturnType<typeof inspectModel>>) => void][] = [
    ["convnext_t", "ConvNeXt-T: 18 convnext blocks in stages [3, 3, 9, 3]", (s) => {
      expect([s.family, s.blockType, s.blocks.length, s.residuals.length]).toEqual(["cnn", "convnext", 18, 18]);
      expect(s.stages.map((x) => x.units.length)).toEqual([3, 3, 9, 3]);
      expect(s.stages.map((x) => x.shape)).toEqual([["B", 96, 56, 56], ["B", 192, 28, 28], ["B", 384, 14, 14], ["B", 768, 7, 7]]);
    }],
    ["efficientnet_b0", "EfficientNet-B0: 16 MBConv blocks of which 9 residual, stages [1, 2, 2, 3, 3, 4, 1], stem = features.0", (s) => {
      expect([s.family, s.blockType, s.blocks.length, s.residuals.length]).toEqual(["cnn", "inverted-residual", 16, 9]);
      expect(s.stages.map((x) => x.units.length)).toEqual([1, 2, 2, 3, 3, 4, 1]);
      expect(s.sites[0]).toMatchObject({ name: "stem", tensor: "/features/features.0/features.0.2/Mul_output_0", shape: ["B", 32, 112, 112] });
    }],
    ["mobilenet_v3_small", "MobileNetV3-Small: 11 inverted residuals of which 6 residual, head.pre = the pooled 576 features", (s) => {
      expect([s.family, s.blockType, s.blocks.length, s.residuals.length]).toEqual(["cnn", "inverted-residual", 11, 6]);
      expect(s.stages.map((x) => x.units.length)).toEqual([1, 2, 3, 2, 3]);
      expect(s.sites.find((x) => x.name === "head.pre")?.shape).toEqual(["B", 576]);
    }],
    ["regnet_y_400mf", "RegNetY-400MF: 16 grouped bottlenecks in stages [1, 3, 6, 6], 4 projections", (s) => {
      expect([s.family, s.blockType, s.blocks.length, s.residuals.length]).toEqual(["cnn", "grouped-bottleneck", 16, 16]);
      expect(s.stages.map((x) => x.units.length)).toEqual([1, 3, 6, 6]);
      expect(s.residuals.filter((r) => r.shortcut === "projection")).toHaveLength(4);
      expect(s.blocks.every((b) => b.unit?.squeezeExcitation)).toBe(true);
    }],
    ["resnet18", "ResNet-18: 8 basic units in stages [2, 2, 2, 2], stem = maxpool", (s) => {
      expect([s.family, s.blockType, s.blocks.length, s.residuals.length]).toEqual(["cnn", "basic", 8, 8]);
      expect(s.stages.map((x) => x.units.length)).toEqual([2, 2, 2, 2]);
      expect(s.sites[0]).toMatchObject({ name: "stem", tensor: "/maxpool/MaxPool_output_0" });
    }],
    ["vit_b32", "ViT-B/32: 12 blocks of 12 heads, grid 7×7, the class token as its one prefix token", (s) => {
      expect([s.family, s.blocks.length, s.tokens, s.prefixTokens, s.pooling]).toEqual(["vit", 12, 50, 1, "cls"]);
      expect(s.grid).toEqual([7, 7]);
      expect(s.prefix).toEqual([{ index: 0, name: "class_token" }]);
    }],
  ];
  for (const [name, title, check] of cases) {
    const f = file(name);
    if (!existsSync(f)) console.warn(`SKIPPED: ${f} is absent (fixtures/models/make_fullsize.py makes it)`);
    it.skipIf(!existsSync(f))(`inspect ${title}`, async () => check(await inspectModel(f)));
  }
});
