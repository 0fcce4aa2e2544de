/** Attention mass per prefix token: class, distillation and register tokens (analyses/prefix-mass.ts). */
import { prefixMassReducer, type PrefixMassResult } from "../../analyses/prefix-mass.js";
import type { TapSpec } from "../engine/taps.js";
import type { HeatmapPanel, LinePanel } from "../../reports/types.js";
import { defineAnalysis, perModel, type PlanModel } from "./contract.js";
import { attentionBlocks, hasAttention, perLayerDriver } from "./sites.js";
import { csv } from "./tables.js";

/** Names of the model's prefix tokens, in order. */
function prefixNames(m: PlanModel): string[] {
  const p = m.geometry.sites.prefixTokens;
  const named = m.geometry.sites.prefix ?? [];
  return Array.from({ length: p }, (_, i) => named.find((x) => x.index === i)?.name ?? `prefix.${i}`);
}

/** Per layer, the [.., 1, P] sums over patch queries reduced inside onnxruntime. */
function prefixDriver(model: PlanModel) {
  const g = model.geometry.sites;
  const m = model.index;
  const patches = g.grid![0] * g.grid![1];
  const layers = attentionBlocks(g);
  const taps: TapSpec[] = layers.map((l) => ({ kind: "prefix-mass", tensor: l.tensor, prefixTokens: g.prefixTokens, patches }));
  return perLayerDriver(m, layers, taps, prefixMassReducer, () => prefixMassReducer.init({ prefixTokens: g.prefixTokens, patches, names: prefixNames(model) }),
    (layer, sums, batchSize) => ({ layer, sums, batchSize }));
}

export const prefixMass = defineAnalysis({
  id: "prefix-mass",
  summary: "attention mass that patch queries put on each prefix token (class, distillation, registers), per layer and head",
  options: [] as const,
  default: true,
  plan(ctx) {
    for (const m of ctx.userModels) {
      if (hasAttention(m.sites) && m.sites.prefixTokens > 0) ctx.add({ models: [m.index] }, prefixDriver(m), prefixMassReducer);
      else if (ctx.explicit) ctx.warn(`${m.label}: prefix mass skipped (${hasAttention(m.sites) ? "no prefix tokens: the model pools its patch tokens" : "no attention maps on a patch grid were found"})`);
    }
  },
  finish: (ctx) => perModel<PrefixMassResult>(ctx),
  *files(section, ctx) {
    for (const [label, r] of Object.entries(section)) {
      const [L, H, P] = r.mass.shape;
      const rows: unknown[][] = [["layer", "head", "token_index", "token", "mass"]];
      for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let j = 0; j < P; j++) rows.push([r.layers[l], h, j, r.settings.names[j], r.mass.data[(l * H + h) * P + j]]);
      yield [`prefix-mass-${ctx.slug(label)}.csv`, csv(rows)];
    }
  },
  report(section, ctx) {
    const entries = Object.entries(section ?? {});
    if (!entries.length) return {};
    const panels: (LinePanel | HeatmapPanel)[] = [];
    for (const [label, r] of entries) {
      const [L, H, P] = r.mass.shape;
      const id = ctx.modelId(label);
      panels.push({
        kind: "line",
        id: `prefix-mass-${id}`,
        title: `${label}: attention on each prefix token`,
        caption: `Mean over heads, images and patch queries of the attention probability on each prefix token; ${r.images[0]} images. Uniform attention would put 1/${P + r.settings.patches} on each token.`,
        xLabel: "layer",
        yLabel: "attention mass",
        series: r.settings.names.map((name, j) => ({
          name,
          points: r.layers.map((layer, l) => {
            let s = 0;
            for (let h = 0; h < H; h++) s += r.mass.data[(l * H + h) * P + j];
            return { x: layer, y: s / H };
          }),
        })),
      });
      // One colour scale for all tokens of the model, from 0 to its largest mass (masses are
      // often a few percent: on [0, 1] every cell would look the same).
      let top = 0;
      for (const v of r.mass.data) if (v > top) top = v;
      r.settings.names.forEach((name, j) => {
        const data = new Float64Array(L * H);
        for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) data[l * H + h] = r.mass.data[(l * H + h) * P + j];
        panels.push({
          kind: "heatmap",
          id: `prefix-mass-${id}-${j}`,
          title: name,
          caption: `${label}: mean attention probability that patch queries put on prefix token ${j} (${name}), per layer and head; colours from 0 to ${top.toPrecision(3)}.`,
          domain: [0, top > 0 ? top : 1],
          rowModel: id,
          colModel: id,
          rows: r.layers.map((l) => `layer ${l}`),
          cols: Array.from({ length: H }, (_, h) => `head ${h}`),
          data,
        });
      });
    }
    return {
      sections: [{
        id: "prefix-mass",
        title: "Attention on prefix tokens",
        intro: "How much attention patch tokens pay to each prefix token (class token, DeiT's distillation token, register tokens): the mean attention probability from patch queries, per layer and head. Attention distance (above) is over patch queries and patch keys only.",
        panels,
      }],
    };
  },
});
