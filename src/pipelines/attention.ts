/** Mean attention distance per head (METHODS.md §2; ViT paper Fig. 7 right, Raghu Fig. 3). */
import { attentionDistanceReducer, patchDistances, ATTENTION_WEIGHTINGS, type AttentionDistanceResult, type AttentionWeighting, type WindowedLayer } from "../../analyses/attention-distance.js";
import { windowCell, type WindowGeometry } from "../onnx/sites.js";
import type { TapSpec } from "../engine/taps.js";
import { defaulted, option, oneOf } from "../options.js";
import { defineAnalysis, perModel, type PlanModel } from "./contract.js";
import { attentionBlocks, hasAttention, perLayerDriver } from "./sites.js";
import { csv, rowsOf, type Arr } from "./tables.js";

export const ATTENTION_OPTIONS = [
  defaulted<"attentionWeighting", AttentionWeighting>({
    key: "attentionWeighting", flag: "--attention-weighting <w>", description: "attention distance weighting", default: "renormalised",
    choices: ATTENTION_WEIGHTINGS, parse: oneOf("attention-weighting", ATTENTION_WEIGHTINGS), owner: "attention", record: true,
  }),
] as const;

/**
 * The windowed tap and reducer geometry of one layer: d(q, k) between the image cells of each
 * window's tokens (src/onnx/sites/windows.ts), so shifted windows use the true, un-rolled
 * positions and the pairs the shift mask suppresses count with the weight softmax gives them.
 */
export function windowedLayer(w: WindowGeometry, layer: number, stage: number, tensor: string): { tap: TapSpec; geometry: WindowedLayer } {
  const S = w.mapShape;
  const r = S.length;
  const N = S[r - 1];
  const dShape = S.map((d, a) => (w.headAxes.includes(a) ? 1 : d));
  const lead = dShape.slice(0, r - 2);
  const winAxes = lead.map((_, a) => a).filter((a) => !w.headAxes.includes(a));
  const distances = new Float32Array(dShape.reduce((a, b) => a * b, 1));
  const mask = new Float32Array(distances.length);
  const cells = (win: number) => Array.from({ length: N }, (_, t) => windowCell(w, win, t));
  const padQueries: number[] = [];
  const Wg = w.grid[1];
  const dist = (a: number, b: number) => w.stride * Math.hypot(Math.floor(a / Wg) - Math.floor(b / Wg), (a % Wg) - (b % Wg));
  // Elements of the leading axes in row-major order; windows are numbered over winAxes only.
  const leadCount = lead.reduce((a, b) => a * b, 1);
  for (let e = 0; e < leadCount; e++) {
    let rest = e;
    let win = 0;
    const idx = new Array<number>(lead.length);
    for (let a = lead.length - 1; a >= 0; a--) {
      idx[a] = rest % lead[a];
      rest = Math.floor(rest / lead[a]);
    }
    for (const a of winAxes) win = win * lead[a] + idx[a];
    const c = cells(win);
    for (let i = 0; i < N; i++) {
      if (c[i] < 0 && !padQueries.includes(win * N + i)) padQueries.push(win * N + i);
      for (let j = 0; j < N; j++) {
        const o = (e * N + i) * N + j;
        if (c[j] < 0 || c[i] < 0) continue;
        distances[o] = dist(c[i], c[j]);
        mask[o] = 1;
      }
    }
  }
  // Uniform attention over the image keys of an unshifted window of this geometry.
  const flat: WindowGeometry = { ...w, shift: [0, 0] };
  let total = 0, queries = 0;
  for (let win = 0; win < w.windows; win++) {
    const c = Array.from({ length: N }, (_, t) => windowCell(flat, win, t));
    const keys = c.filter((x) => x >= 0);
    for (const q of keys) {
      total += keys.reduce((acc, k) => acc + dist(q, k), 0) / keys.length;
      queries++;
    }
  }
  const padded = w.padded[0] !== w.grid[0] || w.padded[1] !== w.grid[1];
  return {
    tap: { kind: "window-distance", tensor, mapShape: S, headAxes: w.headAxes, distances, ...(padded ? { keyMask: mask } : {}) },
    geometry: {
      layer, stage, kind: w.kind, grid: w.grid, stride: w.stride, window: w.window, dilation: w.dilation, shift: w.shift,
      heads: w.heads, queries: w.windows * N, padQueries, uniform: total / queries,
    },
  };
}

/** The driver of one model's attention distance: per-query sums reduced inside onnxruntime ([..., Q, 3] instead of [..., T, T]). */
function attentionDriver(model: PlanModel, weighting: AttentionWeighting) {
  const g = model.geometry;
  const m = model.index;
  const layers = attentionBlocks(g.sites);
  const windowed = layers.map((l) => (l.site.window ? windowedLayer(l.site.window, l.layer, l.block.stage ?? 0, l.tensor) : null));
  const grid = g.sites.grid!;
  const distances = windowed.every((w) => w) ? new Float32Array(0) : Float32Array.from(patchDistances(grid, g.sites.patchSize!));
  const taps: TapSpec[] = layers.map((l, i) => windowed[i]?.tap ?? { kind: "attention-distance", tensor: l.tensor, prefixTokens: g.sites.prefixTokens, distances, patches: grid[0] * grid[1] });
  const windows = windowed.filter((w) => w).map((w) => w!.geometry);
  return perLayerDriver(m, layers, taps, attentionDistanceReducer,
    () => attentionDistanceReducer.init({ grid, patchSize: g.sites.patchSize!, prefixTokens: g.sites.prefixTokens, weighting, ...(windows.length ? { windows } : {}) }),
    (layer, querySums, batchSize) => ({ layer, querySums, batchSize }));
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
      // Windowed models: the stage and the uniform value of the layer's window beside each row.
      const rows: unknown[][] = [["layer", "head", "distance_px", "renormalised_px", "raw_px", "prefix_mass", "uniform_px", ...(r.stages ? ["stage", "window_uniform_px"] : [])]];
      for (let l = 0; l < L; l++) {
        for (let h = 0; h < (r.headsPerLayer?.[l] ?? H); h++) {
          rows.push([r.layers[l], h, r.distance.data[l * H + h], r.renormalised.data[l * H + h], r.raw.data[l * H + h], r.prefixMass.data[l * H + h], r.uniform.includingSelf, ...(r.stages ? [r.stages[l], r.windowUniform![l]] : [])]);
        }
      }
      yield [`attention-${ctx.slug(label)}.csv`, csv(rows)];
    }
  },
  report(section, ctx) {
    const att = Object.entries(section ?? {});
    if (!att.length) return { omitted: { attentionDistance: "no model with attention" } };
    const stagePanels = att.filter(([, r]) => r.stages).map(([label, r]) => {
      const H = r.distance.shape[1];
      const mean = (l: number) => {
        let s = 0;
        const n = r.headsPerLayer[l];
        for (let h = 0; h < n; h++) s += r.distance.data[l * H + h];
        return s / n;
      };
      const stages = [...new Set(r.stages!)];
      return {
        kind: "line" as const, id: `attention-stages-${ctx.modelId(label)}`, title: `${label}: attention distance per stage`, xLabel: "layer", yLabel: "mean attention distance (px)",
        series: stages.flatMap((st) => {
          const ls = r.layers.map((_, i) => i).filter((i) => r.stages![i] === st);
          return [
            { name: `stage ${st}: mean over heads`, points: ls.map((i) => ({ x: r.layers[i], y: mean(i) })) },
            { name: `stage ${st}: uniform over the window`, points: ls.map((i) => ({ x: r.layers[i], y: r.windowUniform![i] })) },
          ];
        }),
      };
    });
    return {
      attentionDistance: att.map(([label, r]) => {
        const [L, H] = r.distance.shape;
        const d = rowsOf(r.distance.data as Arr, L, H);
        const mass = rowsOf(r.prefixMass.data as Arr, L, H);
        const heads = (i: number, row: number[]) => row.slice(0, r.headsPerLayer?.[i] ?? H);
        return {
          model: ctx.modelId(label),
          patchSize: r.settings.patchSize,
          grid: r.settings.grid,
          // Windowed models: the figure's one dashed line is the first stage's window; the
          // per-stage values are drawn in the "per stage" section below.
          ceiling: r.windowUniform ? r.windowUniform[0] : r.uniform.includingSelf,
          weighting: r.settings.weighting,
          layers: r.layers.map((layer, i) => ({ layer, heads: heads(i, d[i]), clsMass: r.settings.prefixTokens > 0 ? heads(i, mass[i]) : undefined })),
        };
      }),
      ...(stagePanels.length ? { sections: [{ id: "attention-stages", title: "Attention distance per stage", intro: "Windowed attention (Swin windows, MaxViT block and grid attention): the mean distance over heads of each layer beside the distance uniform attention over that layer's window would give; the stride, and with it the window's reach in pixels, doubles from stage to stage (docs/methods.md, windowed attention).", panels: stagePanels }] } : {}),
    };
  },
});
