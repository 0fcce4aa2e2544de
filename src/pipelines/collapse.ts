/**
 * Attention collapse (METHODS.md §7, DeepViT): cosine similarity of attention-map columns
 * between every pair of layers, averaged over columns, heads and images.
 */
import type { Driver } from "../engine/stream.js";
import type { TapSpec } from "../engine/taps.js";
import { headsOf, perImage } from "../engine/geometry.js";
import { encodeNpy } from "../data/npy.js";
import { collapseReducer, collapseUpdateSums, type CollapseResult, type CollapseState } from "../../analyses/collapse.js";
import { defineAnalysis, type PlanModel } from "./contract.js";
import { attentionBlocks, hasAttention } from "./sites.js";
import { matrixCsv, type Arr } from "./tables.js";

/** One group of attention layers whose maps share a shape (windowed models: one stage), compared by one collapse tap. */
interface CollapseGroup {
  layers: ReturnType<typeof attentionBlocks>;
  stage: number | null;
}

/**
 * Groups a model's attention layers for collapse. Column t of two maps names the same key
 * token only when the maps have the same shape, so windowed models (Swin, MaxViT: heads,
 * windows and tokens change per stage) are compared within each stage, between layers of one
 * map shape; a global-attention model is one group.
 */
export function collapseGroups(model: PlanModel): CollapseGroup[] {
  const g = model.geometry;
  const layers = attentionBlocks(g.sites);
  if (!layers.some((l) => l.site.window)) return [{ layers, stage: null }];
  const groups = new Map<string, CollapseGroup>();
  for (const l of layers) {
    const stage = l.block.stage ?? 0;
    const key = `${stage}|${g.shapes.get(l.tensor)?.join("x")}`;
    if (!groups.has(key)) groups.set(key, { layers: [], stage });
    groups.get(key)!.layers.push(l);
  }
  return [...groups.values()];
}

/**
 * Layers per block of the collapse taps: the run holds every layer's unit map and about two
 * groups' stacks, L + 2g maps (ViT-B/16, batch 64: 119 MB each), and computes (L/g)(L/g + 1)/2
 * block products, each reading its two stacks once.
 *
 * 4 rather than 3 (issue 17), for onnxruntime's arena rather than the count of maps: on ViT-B/16
 * at batch 64 its second batch no longer places the stacks where the first left too little room
 * (MB of 2^20 bytes: arena growth on the second batch 682 → 454 MB; collapse alone, peak RSS
 * 3738 → 3436 MB; `compare` ViT-B/16 + ResNet-50 with every analysis, 256 images, 4994 → 4767
 * MB, pass 112.5 → 113.4 s). Blocks of 2 and 6 held more (3626 and 3735 MB); at batch 32 blocks
 * of 3 and 4 both peaked at 1844–1846 MB.
 */
export const COLLAPSE_GROUP = 4;

/**
 * The layer groups of the collapse blocks: one group when L ≤ 2·COLLAPSE_GROUP, since blocks then
 * hold no fewer maps (L units and a stack of L against L units and stacks of up to 2g layers) and
 * one product reads each unit once instead of once per block it is in (vit-tiny, 6 layers, batch
 * 64, collapse taps alone, kernel time per run summed from onnxruntime's profile: 8.7–9.2 ms in
 * blocks of 4 and 2, 6.7–6.9 ms as one); otherwise blocks of COLLAPSE_GROUP.
 */
export function collapsePartition(layers: number): number[][] {
  const size = layers <= 2 * COLLAPSE_GROUP ? layers : COLLAPSE_GROUP;
  const groups: number[][] = [];
  for (let s = 0; s < layers; s += size) groups.push(Array.from({ length: Math.min(size, layers - s) }, (_, k) => s + k));
  return groups;
}

/**
 * The per-batch L×L sums of column cosines are computed inside onnxruntime (one batched MatMul of
 * column-normalised maps), since for ViT-B/16 the JS loop costs about half an inference. For a
 * windowed map the leading axis is (image, window) and every window's columns are key tokens,
 * so the same tap sums over images, windows, heads and columns; the count per image is
 * heads · windows · tokens-per-window.
 */
function collapseDriver(model: PlanModel, group: CollapseGroup): Omit<Driver<CollapseState>, "id"> | null {
  const g = model.geometry;
  const m = model.index;
  const layers = group.layers;
  if (layers.length < 2) return null;
  const shape = g.shapes.get(layers[0].tensor)!;
  const win = layers[0].site.window;
  const heads = win ? win.heads : headsOf(shape, g.probeBatch);
  const perWindow = shape[shape.length - 1];
  const tokens = win ? win.windows * perWindow : perWindow;
  const elements = perImage(shape, g.probeBatch);
  // Blocks of layer groups (upper triangle, `collapsePartition`): each block is its own tap output, so the
  // group's stack of unit maps is built and freed while the model runs (src/engine/taps.ts).
  const L = layers.length;
  const groups = collapsePartition(L);
  const blocks = groups.flatMap((gi, i) => groups.slice(i).map((gj) => {
    const rows = gi.map((l) => layers[l].tensor), cols = gj.map((l) => layers[l].tensor);
    const tap: TapSpec = { kind: "collapse", tensor: rows[0], tensors: rows, tokens: perWindow, elements, ...(gi === gj ? {} : { cols }) };
    return { gi, gj, tap };
  }));
  return {
    taps: (pass, mm) => (pass === "main" && mm === m ? blocks.map((b) => b.tap) : []),
    init: () => collapseReducer.init({ sites: layers.map((l) => l.name), heads }),
    update(state, view) {
      if (view.pass !== "main") return state;
      const sum = new Float64Array(L * L);
      for (const { gi, gj, tap } of blocks) {
        const d = view.tap(m, tap).data;
        gi.forEach((p, a) => gj.forEach((q, c) => {
          sum[p * L + q] = d[a * gj.length + c];
          if (gi !== gj) sum[q * L + p] = d[a * gj.length + c];
        }));
      }
      return collapseUpdateSums(state, { sum, images: view.batch.ids.length, heads, tokens });
    },
    merge: collapseReducer.merge,
  };
}

/**
 * One result per model: a global-attention model's L×L matrix as before; a windowed model's
 * groups (stages) joined into one matrix over all its attention layers, NaN between layers of
 * different groups (not comparable), with each group's own result in `groups`.
 */
function finishCollapse(ctx: { states: { key: { models: readonly number[]; part?: string }; state: unknown; reducer: { finalize(s: any): any } }[]; labels: string[] }): Record<string, CollapseResult> | undefined {
  const byModel = new Map<string, { stage: number; result: CollapseResult }[]>();
  for (const { key, state, reducer } of ctx.states) {
    const label = ctx.labels[key.models[0]];
    const stage = key.part?.startsWith("stage") ? Number(key.part.slice(5).split("-")[0]) : -1;
    if (!byModel.has(label)) byModel.set(label, []);
    byModel.get(label)!.push({ stage, result: reducer.finalize(state) });
  }
  const out: Record<string, CollapseResult> = {};
  for (const [label, parts] of byModel) {
    if (parts.length === 1 && parts[0].stage < 0) {
      out[label] = parts[0].result;
      continue;
    }
    const sites = parts.flatMap((p) => p.result.sites);
    const L = sites.length;
    const data = new Float64Array(L * L).fill(NaN);
    let o = 0;
    for (const p of parts) {
      const n = p.result.sites.length;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) data[(o + i) * L + o + j] = p.result.matrix.data[i * n + j];
      o += n;
    }
    const first = parts[0].result;
    out[label] = {
      analysis: "collapse", sites, heads: Math.max(...parts.map((p) => p.result.heads)), tokens: Math.max(...parts.map((p) => p.result.tokens)), images: first.images,
      matrix: { data, shape: [L, L], rows: sites, cols: sites },
      warnings: parts.flatMap((p) => p.result.warnings),
      groups: parts.map((p) => ({ ...p.result, stage: p.stage })),
    };
  }
  return Object.keys(out).length ? out : undefined;
}

export const collapse = defineAnalysis({
  id: "collapse",
  summary: "cross-layer similarity of attention maps (DeepViT's attention collapse)",
  options: [] as const,
  default: true,
  plan(ctx) {
    for (const m of ctx.userModels) {
      const groups = hasAttention(m.sites) ? collapseGroups(m) : [];
      let added = 0;
      groups.forEach((gr, i) => {
        const d = collapseDriver(m, gr);
        if (!d) return;
        ctx.add({ models: [m.index], ...(gr.stage === null ? {} : { part: `stage${gr.stage}-${i}` }) }, d, collapseReducer);
        added++;
      });
      if (!added && ctx.explicit) ctx.warn(`${m.label}: attention collapse skipped (it needs attention maps of one shape in at least two layers${groups.length > 1 ? " of a stage" : ""})`);
    }
  },
  finish: (ctx) => finishCollapse(ctx),
  *files(section, ctx) {
    for (const [label, r] of Object.entries(section)) {
      yield [`collapse-${ctx.slug(label)}.csv`, matrixCsv(r.matrix.rows, r.matrix.cols, r.matrix.data)];
      yield [`collapse-${ctx.slug(label)}.npy`, encodeNpy(Float64Array.from(r.matrix.data), r.matrix.shape)];
    }
  },
  report(section, ctx) {
    const col = Object.entries(section ?? {});
    if (!col.length) return {};
    return {
      collapse: col.map(([label, r]) => ({
        id: `collapse-${ctx.modelId(label)}`,
        title: `Attention collapse: ${label}`,
        model: ctx.modelId(label),
        rowModel: ctx.modelId(label),
        colModel: ctx.modelId(label),
        rows: r.matrix.rows,
        cols: r.matrix.cols,
        data: r.matrix.data as Arr,
      })),
    };
  },
});
