/**
 * Windowed attention (Swin's shifted windows, MaxViT's block and grid attention): the traced
 * geometry, the windowed attention-distance tap and per-stage collapse, against references that
 * do not use seelike's graph tracing: fixtures/reference/windowed_attention.py (numpy, geometry
 * written from torchvision's source) on synthetic maps, and on the small torchvision fixtures
 * (fixtures/models/make_windowed.py) the torch-hooked attention maps and their numpy distances.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tapGraph } from "../src/engine/taps.js";
import { onnx } from "../src/onnx/proto/onnx.js";
import { createSession, release, run } from "../src/runtime/session.js";
import { loadModel } from "../src/onnx/model.js";
import { discoverSites, windowCell, type WindowGeometry } from "../src/onnx/sites.js";
import { exposeOutputs } from "../src/onnx/surgery.js";
import { windowedLayer } from "../src/pipelines/attention.js";
import { attentionDistanceReducer } from "../analyses/attention-distance.js";
import { analyze } from "../src/api/index.js";
import { readFloat } from "./helpers/npy-b.js";

const root = path.resolve(import.meta.dirname, "..");
const models = path.join(root, "fixtures/models");

interface SyntheticCase {
  name: string; layout: string; kind: "window" | "grid"; grid: [number, number]; stride: number; window: [number, number]; shift: [number, number];
  map: "identity" | "uniform" | "random"; batch: number; heads: number; shape: number[]; distance: number[]; uniform: number; cells: [number, number][][]; values?: number[];
}
const synthetic: SyntheticCase[] = JSON.parse(readFileSync(path.join(root, "fixtures/reference/windowed/synthetic.json"), "utf8")).cases;

/** The geometry the tracer reports for torchvision's layouts (the fixtures below check that it does). */
function geometryOf(c: SyntheticCase): WindowGeometry {
  const [H, W] = c.grid;
  const [wh, ww] = c.window;
  const grid = c.kind === "grid";
  const windowGrid: [number, number] = grid ? [H / wh, W / ww] : [H / wh, W / ww];
  const windows = windowGrid[0] * windowGrid[1];
  const N = wh * ww;
  const swin = c.layout === "[B*G,h,N,N]";
  return {
    kind: c.kind, grid: c.grid, stride: c.stride, padded: c.grid, window: c.window,
    dilation: grid ? [H / wh, W / ww] : [1, 1], windowGrid, windowStep: grid ? [1, 1] : [wh, ww], shift: c.shift,
    heads: c.heads, windows, mapShape: swin ? [windows, c.heads, N, N] : [1, windows, c.heads, N, N], headAxes: swin ? [1] : [2],
  };
}

function mapOf(c: SyntheticCase): Float32Array {
  const n = c.shape.reduce((a, b) => a * b, 1);
  const N = c.window[0] * c.window[1];
  const x = new Float32Array(n);
  if (c.map === "random") x.set(c.values!);
  else for (let e = 0; e < n; e++) x[e] = c.map === "uniform" ? 1 / N : Math.floor(e / N) % N === e % N ? 1 : 0;
  return x;
}

/** Runs the tap alone on a map (an ONNX graph of just the tap) and reduces it. */
async function tapDistance(g: WindowGeometry, map: Float32Array, shape: number[], opset: number, batch: number) {
  const { tap, geometry } = windowedLayer(g, 0, 0, "A");
  const tg = tapGraph([tap], opset);
  const f = onnx.TensorProto.DataType.FLOAT;
  const bytes = onnx.ModelProto.encode({
    ir_version: 7,
    opset_import: [{ domain: "", version: opset }],
    graph: {
      name: "window-distance-tap", node: tg.nodes, initializer: tg.initializers,
      input: [{ name: "A", type: { tensor_type: { elem_type: f, shape: { dim: shape.map((d) => ({ dim_value: d })) } } } }],
      output: [{ name: tg.outputs[0], type: { tensor_type: { elem_type: f } } }],
    },
  }).finish();
  const session = await createSession(bytes, { threads: 1 });
  try {
    const sums = (await run(session, { A: { data: map, shape } }, [tg.outputs[0]]))[tg.outputs[0]];
    let s = attentionDistanceReducer.init({ grid: g.grid, patchSize: g.stride, prefixTokens: 0, windows: [geometry] });
    s = attentionDistanceReducer.update(s, { layer: 0, querySums: sums, batchSize: batch });
    return { result: attentionDistanceReducer.finalize(s), geometry, sums };
  } finally {
    await release(session);
  }
}

describe("windowed attention distance on synthetic maps (numpy reference)", () => {
  for (const c of synthetic) {
    it(`${c.name}, ${c.map} attention: the tap and reducer give numpy's distance per head, and numpy's window uniform value`, async () => {
      const g = geometryOf(c);
      // The cells the geometry puts each (window, token) at are numpy's, from torchvision's source.
      const W = c.grid[1];
      for (let w = 0; w < g.windows; w++) for (let t = 0; t < c.cells[w].length; t++) expect(windowCell(g, w, t)).toBe(c.cells[w][t][0] * W + c.cells[w][t][1]);
      for (const opset of [11, 17]) {
        const { result, geometry } = await tapDistance(g, mapOf(c), c.shape, opset, c.batch);
        expect(geometry.uniform).toBeCloseTo(c.uniform, 10);
        expect(result.windowUniform).toEqual([geometry.uniform]);
        for (let h = 0; h < c.heads; h++) {
          const got = result.distance.data[h];
          if (c.map === "identity") expect(got).toBe(0);
          else expect(Math.abs(got - c.distance[h]) / c.distance[h]).toBeLessThan(2e-6);
        }
        if (c.map === "uniform" && c.shift[0] === 0) for (let h = 0; h < c.heads; h++) expect(result.distance.data[h]).toBeCloseTo(c.uniform, 5);
      }
    });
  }

  it("a shifted window's uniform map reaches further than the window's uniform value (the wrapped cells are far apart in the image)", () => {
    const shifted = synthetic.find((c) => c.name === "swin-shifted" && c.map === "uniform")!;
    expect(shifted.distance[0]).toBeGreaterThan(1.5 * shifted.uniform);
  });
});

const golden = (name: string) => JSON.parse(readFileSync(path.join(models, `${name}.golden/manifest.json`), "utf8"));

describe("discoverSites on the small torchvision Swin and MaxViT fixtures", () => {
  for (const opset of ["14"]) {
    it(`tv_swin op${opset}: family swin, 8 blocks in 4 stages, traced windows equal torchvision's geometry`, async () => {
      const m = golden("tv_swin");
      const s = discoverSites(await loadModel(path.join(models, m.files[opset])));
      expect(s.family).toBe("swin");
      expect(s.blocks.map((b) => b.name)).toEqual(Array.from({ length: 8 }, (_, i) => `blocks.${i}`));
      expect(s.stages.map((st) => st.units.length)).toEqual([2, 2, 2, 2]);
      expect(s.stages.map((st) => st.heads)).toEqual([1, 2, 2, 4]);
      expect(s.stages.map((st) => st.stride)).toEqual([2, 4, 8, 16]);
      expect(s.stages.map((st) => st.window)).toEqual([[4, 4], [4, 4], [4, 4], [4, 4]]);
      expect(s.stages.map((st) => st.shift)).toEqual([[2, 2], [2, 2], [2, 2], [0, 0]]);
      expect(s.pooling).toBe("mean");
      expect(s.blocks.map((b) => b.stage)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
      expect(Object.keys(s.blocks[2].sites)).toContain("stages.1.patch_merge");
      s.blocks.forEach((b, i) => {
        const w = b.attention!.window!;
        const ref = m.attention[i];
        expect([w.kind === "global" ? "window" : w.kind, w.grid, w.stride, w.window, w.shift, w.heads]).toEqual([ref.kind, ref.grid, ref.stride, ref.window, ref.shift, ref.heads]);
        expect(b.attention!.tensor).toBe(ref.onnx[opset]);
      });
    });
  }

  for (const opset of ["12", "14"]) it(`timm_swin op${opset} (timm layout: [B, L, C] stream, torch.roll, mask as a constant): family swin, 2 stages, traced windows equal the module's geometry`, async () => {
    const m = golden("timm_swin");
    const s = discoverSites(await loadModel(path.join(models, m.files[opset])));
    expect(s.family).toBe("swin");
    expect(s.stages.map((st) => st.units.length)).toEqual([2, 2]);
    expect(s.stages.map((st) => st.heads)).toEqual([2, 4]);
    s.blocks.forEach((b, i) => {
      const w = b.attention!.window!;
      const ref = m.attention[i];
      expect([w.kind, w.grid, w.stride, w.window, w.shift, w.heads]).toEqual([ref.kind, ref.grid, ref.stride, ref.window, ref.shift, ref.heads]);
      expect(b.attention!.tensor).toBe(ref.onnx[opset]);
    });
  });

  it("tv_maxvit op14: 4 hybrid blocks in depth order, each MBConv + block attention + grid attention", async () => {
    const m = golden("tv_maxvit");
    const s = discoverSites(await loadModel(path.join(models, m.files["14"])));
    expect(s.family).toBe("hybrid");
    expect(s.blocks.map((b) => b.name)).toEqual(["blocks.0", "blocks.1", "blocks.2", "blocks.3"]);
    expect(s.stages.map((st) => st.units.length)).toEqual([1, 2, 1]);
    expect(s.stages.map((st) => st.heads)).toEqual([2, 3, 4]);
    for (const b of s.blocks) {
      expect(b.attentions!.map((a) => a.part)).toEqual(["block_attn", "grid_attn"]);
      for (const k of ["mbconv.out", "block_attn.attn.probs", "grid_attn.attn.probs", "out"]) expect(b.sites[`${b.name}.${k}`], k).toBeDefined();
    }
    // Depth order: the site list follows the graph's topological order.
    const model = await loadModel(path.join(models, m.files["14"]));
    const pos = (t: string) => model.graph.position[model.graph.producer.get(t)!];
    const order = s.sites.filter((x) => x.block).map((x) => x.name.split(".").slice(0, 3).join("."));
    expect([...new Set(order)]).toEqual(s.blocks.flatMap((b) => ["mbconv", "block_attn", "grid_attn", "out"].map((p) => `${b.name}.${p}`)));
    const outs = s.blocks.map((b) => pos(b.sites[`${b.name}.out`]));
    expect([...outs].sort((a, b) => a - b)).toEqual(outs);
    const maps = s.blocks.flatMap((b) => b.attentions!);
    maps.forEach((a, i) => {
      const ref = m.attention[i];
      const w = a.window!;
      // MaxViT's last stage: window = grid = one 4×4 window, which the tracer calls global.
      expect([w.kind === "global" ? ref.kind : w.kind, w.grid, w.stride, w.window, w.heads]).toEqual([ref.kind, ref.grid, ref.stride, ref.window, ref.heads]);
      expect(a.tensor).toBe(ref.onnx["14"]);
    });
  });

  for (const name of ["tv_swin", "tv_maxvit", "timm_swin"]) {
    it(`${name}: the discovered sites carry the torch-hooked activations`, async () => {
      const m = golden(name);
      for (const opset of Object.keys(m.files)) {
        const model = await loadModel(path.join(models, m.files[opset]));
        const s = discoverSites(model);
        const byName = new Map(s.sites.map((x) => [x.name, x.tensor]));
        const wanted = m.sites.filter((e: { site: string }) => byName.has(e.site));
        expect(wanted.length).toBeGreaterThanOrEqual(m.sites.length - 1);
        const names = wanted.map((e: { site: string }) => byName.get(e.site)!);
        const session = await createSession(exposeOutputs(model, names), { threads: 1 });
        try {
          const x = readFloat(path.join(models, `${name}.golden/input.npy`));
          const out = await run(session, { input: { data: Float32Array.from(x.data), shape: x.shape } }, names);
          wanted.forEach((e: { site: string; file: string; layout: string }, i: number) => {
            const ref = readFloat(path.join(models, `${name}.golden`, e.file));
            const got = out[names[i]];
            expect(got.data.length, e.site).toBe(ref.data.length);
            let worst = 0, scale = 1;
            for (let k = 0; k < ref.data.length; k++) scale = Math.max(scale, Math.abs(ref.data[k]));
            for (let k = 0; k < ref.data.length; k++) worst = Math.max(worst, Math.abs(got.data[k] - ref.data[k]));
            expect(worst / scale, `${e.site} op${opset}`).toBeLessThan(1e-4);
          });
        } finally {
          await release(session);
        }
      }
    }, 60_000);
  }
});

describe("analyze on the small Swin and MaxViT fixtures: attention distance and collapse against the torch-hooked maps", () => {
  for (const [name, opset] of [["tv_swin", "14"], ["tv_maxvit", "14"], ["timm_swin", "14"], ["timm_swin", "12"]]) {
    it(`${name} op${opset}: distance per layer and head within 1e-5 of numpy on the hooked maps; per-stage collapse likewise`, async () => {
      const m = golden(name);
      const res = (await analyze(path.join(models, m.files[opset]), {
        data: path.join(models, `${name}.golden/input.npy`), preprocess: "none", batch: 2, analyses: ["attention", "collapse"], threads: 1,
      } as never)) as any;
      const a = Object.values(res.attention ?? res.results?.attention)[0] as any;
      const H = a.distance.shape[1];
      expect(a.layers).toHaveLength(m.attention.length);
      m.attention.forEach((ref: { heads: number; distance: number[]; uniform: number; stage: number }, i: number) => {
        expect(a.headsPerLayer[i]).toBe(ref.heads);
        expect(a.stages[i]).toBe(ref.stage);
        expect(a.windowUniform[i]).toBeCloseTo(ref.uniform, 9);
        for (let h = 0; h < H; h++) {
          const got = a.distance.data[i * H + h];
          if (h >= ref.heads) expect(Number.isNaN(got)).toBe(true);
          else expect(Math.abs(got - ref.distance[h]) / ref.distance[h], `layer ${i} head ${h}`).toBeLessThan(1e-5);
        }
      });
      const c = Object.values(res.collapse ?? res.results?.collapse)[0] as any;
      const L = c.sites.length;
      for (const g of m.collapse as { layers: number[]; matrix: number[][] }[]) {
        if (g.layers.length < 2) continue;
        for (const [i, p] of g.layers.entries()) for (const [j, q] of g.layers.entries()) {
          expect(Math.abs(c.matrix.data[p * L + q] - g.matrix[i][j]), `collapse ${p},${q}`).toBeLessThan(1e-5);
        }
      }
      // Layers of different stages are not compared.
      const other = m.collapse.find((g: { layers: number[] }) => !g.layers.includes(0)).layers[0];
      expect(Number.isNaN(c.matrix.data[other])).toBe(true);
    }, 60_000);
  }
});

describe("discoverSites on the full-size torchvision Swin-T and MaxViT-T (.cache/fullsize)", () => {
  const dir = process.env.SEELIKE_FULLSIZE ?? path.join(root, ".cache/fullsize");
  const swin = path.join(dir, "tv_swin_t_op14.onnx");
  const maxvit = path.join(dir, "tv_maxvit_t_op14.onnx");
  for (const f of [swin, maxvit]) if (!existsSync(f)) console.warn(`SKIPPED: ${f} is absent (fixtures/models/make_fullsize.py makes it)`);

  it.skipIf(!existsSync(swin))("swin_t: 12 blocks in 4 stages [2, 2, 6, 2], 7×7 windows shifted by 3, heads [3, 6, 12, 24], strides 4…32 px", async () => {
    const s = discoverSites(await loadModel(swin));
    expect(s.family).toBe("swin");
    expect(s.blocks).toHaveLength(12);
    expect(s.stages.map((st) => st.units.length)).toEqual([2, 2, 6, 2]);
    expect(s.stages.map((st) => st.window)).toEqual([[7, 7], [7, 7], [7, 7], [7, 7]]);
    expect(s.stages.map((st) => st.shift)).toEqual([[3, 3], [3, 3], [3, 3], [0, 0]]);
    expect(s.stages.map((st) => st.heads)).toEqual([3, 6, 12, 24]);
    expect(s.stages.map((st) => st.stride)).toEqual([4, 8, 16, 32]);
    expect(s.stages.map((st) => st.grid)).toEqual([[56, 56], [28, 28], [14, 14], [7, 7]]);
    expect(s.blocks.map((b) => b.attention?.window?.shift[0])).toEqual([0, 3, 0, 3, 0, 3, 0, 3, 0, 3, 0, 0]);
  }, 120_000);

  it.skipIf(!existsSync(maxvit))("maxvit_t: 11 blocks in 4 stages [2, 2, 5, 2], each one MBConv, one block- and one grid-attention site, in depth order", async () => {
    const model = await loadModel(maxvit);
    const s = discoverSites(model);
    expect(s.family).toBe("hybrid");
    expect(s.blocks).toHaveLength(11);
    expect(s.stages.map((st) => st.units.length)).toEqual([2, 2, 5, 2]);
    expect(s.stages.map((st) => st.heads)).toEqual([2, 4, 8, 16]);
    const pos = (t: string) => model.graph.position[model.graph.producer.get(t)!];
    let last = -1;
    for (const b of s.blocks) {
      expect(b.attentions!.map((a) => a.part)).toEqual(["block_attn", "grid_attn"]);
      const ts = ["mbconv.out", "block_attn.attn.probs", "grid_attn.attn.probs", "out"].map((k) => pos(b.sites[`${b.name}.${k}`]));
      expect([...ts].sort((x, y) => x - y)).toEqual(ts);
      expect(ts[0]).toBeGreaterThan(last);
      last = ts[3];
    }
    const kinds = s.blocks.map((b) => b.attentions!.map((a) => a.window!.kind).join("+"));
    expect(kinds.slice(0, 9).every((k) => k === "window+grid")).toBe(true);
  }, 120_000);
});
