/**
 * Attention collapse (METHODS.md §7, DeepViT): cosine similarity of attention-map columns
 * between every pair of layers, averaged over columns, heads and images.
 */
import type { Driver } from "../engine/stream.js";
import type { TapSpec } from "../engine/taps.js";
import { headsOf } from "../engine/geometry.js";
import { encodeNpy } from "../data/npy.js";
import { collapseReducer, collapseUpdateSums, type CollapseResult, type CollapseState } from "../../analyses/collapse.js";
import { defineAnalysis, perModel, type PlanModel } from "./contract.js";
import { attentionBlocks, hasAttention } from "./sites.js";
import { matrixCsv, type Arr } from "./tables.js";

/**
 * The per-batch L×L sums of column cosines are computed inside onnxruntime (one batched MatMul of
 * column-normalised maps), since for ViT-B/16 the JS loop costs about half an inference.
 */
function collapseDriver(model: PlanModel): Omit<Driver<CollapseState>, "id"> | null {
  const g = model.geometry;
  const m = model.index;
  const layers = attentionBlocks(g.sites);
  if (layers.length < 2) return null;
  const shape = g.shapes.get(layers[0].tensor)!;
  const heads = headsOf(shape, g.probeBatch);
  const tokens = shape[shape.length - 1];
  const tap: TapSpec = { kind: "collapse", tensor: layers[0].tensor, tensors: layers.map((l) => l.tensor), tokens };
  return {
    taps: (pass, mm) => (pass === "main" && mm === m ? [tap] : []),
    init: () => collapseReducer.init({ sites: layers.map((l) => `${l.block.name}.attn.probs`), heads }),
    update(state, view) {
      if (view.pass !== "main") return state;
      return collapseUpdateSums(state, { sum: view.tap(m, tap).data, images: view.batch.ids.length, heads, tokens });
    },
    merge: collapseReducer.merge,
  };
}

export const collapse = defineAnalysis({
  id: "collapse",
  summary: "cross-layer similarity of attention maps (DeepViT's attention collapse)",
  options: [] as const,
  default: true,
  plan(ctx) {
    for (const m of ctx.userModels) {
      const d = hasAttention(m.sites) ? collapseDriver(m) : null;
      if (d) ctx.add({ models: [m.index] }, d, collapseReducer);
      else if (ctx.explicit) ctx.warn(`${m.label}: attention collapse skipped (it needs attention maps in at least two layers)`);
    }
  },
  finish: (ctx) => perModel<CollapseResult>(ctx),
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
