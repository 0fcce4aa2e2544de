/** Skip-connection norm ratios ‖z‖ / ‖f(z)‖ at every residual sum (METHODS.md §3, Raghu Fig. 7). */
import { skipRatioReducer, type SkipRatioResult } from "../../analyses/skip-ratio.js";
import type { TapSpec } from "../engine/taps.js";
import { layoutOf, perImage } from "../engine/geometry.js";
import type { SkipRatio } from "../../reports/types.js";
import { defineAnalysis, perModel, type PlanModel } from "./contract.js";
import { csv, num, type Arr } from "./tables.js";

/** Channel norms of every residual's skip and branch, reduced inside onnxruntime: [B,T] or [B,H,W] instead of whole activations. */
function skipDriver(model: PlanModel) {
  const g = model.geometry;
  const m = model.index;
  const residuals = g.sites.residuals.filter((r) => {
    const a = g.shapes.get(r.z);
    const b = g.shapes.get(r.fz);
    return a && b && a.length === b.length && a.every((d, i) => d === b[i]) && (a.length === 3 || a.length === 4);
  });
  const taps: TapSpec[] = residuals.flatMap((r) => {
    const shape = g.shapes.get(r.z)!;
    const layout = layoutOf(shape);
    const elements = perImage(shape, g.probeBatch);
    return [{ kind: "norms", tensor: r.z, layout, elements }, { kind: "norms", tensor: r.fz, layout, elements }];
  });
  return {
    taps: (pass: string, mm: number) => (pass === "main" && mm === m ? taps : []),
    init: () => skipRatioReducer.init({ prefixTokens: g.sites.prefixTokens }),
    update(state: any, view: any) {
      if (view.pass !== "main") return state;
      residuals.forEach((r, i) => {
        const residual = r.sublayer === "unit" ? r.block : `${r.block}.${r.sublayer}`;
        state = skipRatioReducer.update(state, { residual, block: r.block, sublayer: r.sublayer, skipNorms: view.tap(m, taps[2 * i]), branchNorms: view.tap(m, taps[2 * i + 1]) });
      });
      return state;
    },
    merge: skipRatioReducer.merge,
  };
}

/** The report's sublayer kind of a residual's sublayer. */
function sublayerKind(sublayer: string | undefined): "attn" | "mlp" | "unit" {
  if (sublayer === "attn" || sublayer === "token_mix") return "attn";
  if (sublayer === "mlp" || sublayer === "channel_mix") return "mlp";
  return "unit";
}

export const skip = defineAnalysis({
  id: "skip",
  summary: "skip-connection norm ratios per residual: CLS, spatial tokens, per token (ViT) or whole map (CNN)",
  options: [] as const,
  default: true,
  plan(ctx) {
    for (const m of ctx.userModels) {
      if (m.sites.residuals.length) ctx.add({ models: [m.index] }, skipDriver(m), skipRatioReducer);
      else ctx.skip(m, "no residual sums were found");
    }
  },
  finish: (ctx) => perModel<SkipRatioResult>(ctx),
  *files(section, ctx) {
    for (const [label, r] of Object.entries(section)) {
      const rows: unknown[][] = [["residual", "block", "sublayer", "convention", "cls", "spatial", "whole", "images"]];
      for (const e of r.residuals) for (const conv of ["mean-of-ratios", "ratio-of-frobenius"] as const) rows.push([e.residual, e.block ?? "", e.sublayer ?? "", conv, e[conv].cls, e[conv].spatial, e[conv].whole, e.images]);
      yield [`skip-${ctx.slug(label)}.csv`, csv(rows)];
    }
  },
  report(section, ctx) {
    const skips = Object.entries(section ?? {});
    if (!skips.length) return {};
    return {
      skipRatio: skips.map(([label, r]): SkipRatio => {
        const conv = r.settings.convention;
        const blocks: string[] = [];
        for (const e of r.residuals) if (!blocks.includes(e.block ?? e.residual)) blocks.push(e.block ?? e.residual);
        return {
          model: ctx.modelId(label),
          convention: conv,
          rows: r.residuals.map((e, i) => {
            const sub = sublayerKind(e.sublayer);
            const v = e[conv];
            return {
              block: sub === "unit" ? i : blocks.indexOf(e.block ?? e.residual),
              sublayer: sub,
              cls: e.layout === "tokens" ? num(v.cls) : undefined,
              spatial: e.layout === "tokens" ? num(v.spatial) : num(v.whole),
              perToken: Array.from(v.perToken as Arr, num),
            };
          }),
        };
      }),
    };
  },
});
