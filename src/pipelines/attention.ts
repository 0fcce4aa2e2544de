/** Mean attention distance per head (METHODS.md §2; ViT paper Fig. 7 right, Raghu Fig. 3). */
import { attentionDistanceReducer, patchDistances, ATTENTION_WEIGHTINGS, type AttentionDistanceResult, type AttentionWeighting } from "../../analyses/attention-distance.js";
import type { TapSpec } from "../engine/taps.js";
import { defaulted, option, oneOf } from "../options.js";
import { defineAnalysis, perModel, type PlanModel } from "./contract.js";
import { attentionBlocks, hasAttention } from "./sites.js";
import { csv, rowsOf, type Arr } from "./tables.js";

export const ATTENTION_OPTIONS = [
  defaulted<"attentionWeighting", AttentionWeighting>({
    key: "attentionWeighting", flag: "--attention-weighting <w>", description: "attention distance weighting", default: "renormalised",
    choices: ATTENTION_WEIGHTINGS, parse: oneOf("attention-weighting", ATTENTION_WEIGHTINGS), owner: "attention", record: true,
  }),
] as const;

/** The driver of one model's attention distance: per-query sums reduced inside onnxruntime ([..., Q, 3] instead of [..., T, T]). */
function attentionDriver(model: PlanModel, weighting: AttentionWeighting) {
  const g = model.geometry;
  const m = model.index;
  const layers = attentionBlocks(g.sites);
  const grid = g.sites.grid!;
  const distances = Float32Array.from(patchDistances(grid, g.sites.patchSize!));
  const taps: TapSpec[] = layers.map((l) => ({ kind: "attention-distance", tensor: l.tensor, prefixTokens: g.sites.prefixTokens, distances, patches: grid[0] * grid[1] }));
  return {
    taps: (pass: string, mm: number) => (pass === "main" && mm === m ? taps : []),
    init: () => attentionDistanceReducer.init({ grid, patchSize: g.sites.patchSize!, prefixTokens: g.sites.prefixTokens, weighting }),
    update(state: any, view: any) {
      if (view.pass !== "main") return state;
      const batchSize = view.batch.ids.length;
      layers.forEach((l, i) => {
        state = attentionDistanceReducer.update(state, { layer: l.layer, querySums: view.tap(m, taps[i]), batchSize });
      });
      return state;
    },
    merge: attentionDistanceReducer.merge,
  };
}

export const attention = defineAnalysis({
  id: "attention",
  summary: "mean attention distance per head and layer, in input pixels, and the attention mass on prefix tokens",
  options: ATTENTION_OPTIONS,
  default: true,
  plan(ctx) {
    for (const m of ctx.userModels) {
      if (hasAttention(m.sites)) ctx.add({ models: [m.index] }, attentionDriver(m, ctx.options.attentionWeighting), attentionDistanceReducer);
      // An analysis that cannot apply to a model says why; the others still run.
      else ctx.skip(m, "no attention maps on a patch grid were found");
    }
  },
  finish: (ctx) => perModel<AttentionDistanceResult>(ctx),
  *files(section, ctx) {
    for (const [label, r] of Object.entries(section)) {
      const [L, H] = r.distance.shape;
      const rows: unknown[][] = [["layer", "head", "distance_px", "renormalised_px", "raw_px", "prefix_mass", "uniform_px"]];
      for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) rows.push([r.layers[l], h, r.distance.data[l * H + h], r.renormalised.data[l * H + h], r.raw.data[l * H + h], r.prefixMass.data[l * H + h], r.uniform.includingSelf]);
      yield [`attention-${ctx.slug(label)}.csv`, csv(rows)];
    }
  },
  report(section, ctx) {
    const att = Object.entries(section ?? {});
    if (!att.length) return { omitted: { attentionDistance: "no model with attention" } };
    return {
      attentionDistance: att.map(([label, r]) => {
        const [L, H] = r.distance.shape;
        const d = rowsOf(r.distance.data as Arr, L, H);
        const mass = rowsOf(r.prefixMass.data as Arr, L, H);
        return {
          model: ctx.modelId(label),
          patchSize: r.settings.patchSize,
          grid: r.settings.grid,
          ceiling: r.uniform.includingSelf,
          weighting: r.settings.weighting,
          layers: r.layers.map((layer, i) => ({ layer, heads: d[i], clsMass: r.settings.prefixTokens > 0 ? mass[i] : undefined })),
        };
      }),
    };
  },
});
