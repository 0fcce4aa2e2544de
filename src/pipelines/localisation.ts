/**
 * Spatial localisation (METHODS.md §5, Raghu Figs. 9, 10): CKA of one token's representation
 * against every input cell, for the middle and last block (ViT, Mixer) or the last unit of the
 * small-grid stages (ResNet).
 */
import type { Tensor } from "../tensor.js";
import type { Driver } from "../engine/stream.js";
import { unpackLocalisation, type TapSpec } from "../engine/taps.js";
import type { TensorLayout as Layout } from "../../analyses/vocabulary.js";
import { layoutOf, type ModelGeometry } from "../engine/geometry.js";
import { defaultLocalisationPositions, localisationReducer, type LocalisationResult, type LocalisationState } from "../../analyses/localisation.js";
import { defineAnalysis, perModel, type PlanModel } from "./contract.js";
import { blockOut } from "./sites.js";
import { csv, num, type Arr } from "./tables.js";

/** The sites localisation reads, and their layout. */
function localisationSites(g: ModelGeometry): { sites: { name: string; tensor: string }[]; layout: Layout } {
  const sites: { name: string; tensor: string }[] = [];
  if (g.sites.family === "cnn") {
    // The last unit of each stage whose grid is at most 16×16 (always the last stage): a
    // stride-1 or stride-4 stage has thousands of one-pixel cells, costly and uninformative.
    const stages = g.sites.stages.map((st) => {
      const b = g.sites.blocks.find((x) => x.name === st.units[st.units.length - 1]);
      const name = b ? blockOut(b) : undefined;
      const shape = b && name ? g.shapes.get(b.sites[name]) : undefined;
      return b && name && shape ? { name, tensor: b.sites[name], cells: shape[2] * shape[3] } : null;
    }).filter((x): x is { name: string; tensor: string; cells: number } => x !== null);
    stages.forEach((st, i) => {
      if (st.cells <= 256 || i === stages.length - 1) sites.push({ name: st.name, tensor: st.tensor });
    });
    return { sites, layout: "BCHW" };
  }
  const blocks = g.sites.blocks;
  for (const b of [blocks[Math.floor((blocks.length - 1) / 2)], blocks[blocks.length - 1]]) {
    const name = b ? blockOut(b) : undefined;
    if (b && name && !sites.some((s) => s.tensor === b.sites[name])) sites.push({ name, tensor: b.sites[name] });
  }
  return { sites, layout: "BTD" };
}

/**
 * The localisation driver of model `m`, or null when it has no usable site. Reduced inside
 * onnxruntime where the graph route applies (JS sees O(n²) per position and O(n) per cell per
 * batch); otherwise the raw activations go to the reducer, which computes the same maps.
 */
export function localisationDriver(model: PlanModel, batch: number): Omit<Driver<LocalisationState>, "id"> | null {
  const g = model.geometry;
  const m = model.index;
  const { sites, layout } = localisationSites(g);
  const usable = sites.filter((s) => layoutOf(g.shapes.get(s.tensor)) === layout);
  if (usable.length === 0 || (layout === "BTD" && !g.sites.grid)) return null;
  const config = {
    sites: usable.map((s) => s.name),
    layout: layout === "BTD" ? { layout: "BTD" as const, prefixTokens: g.sites.prefixTokens } : { layout: "BCHW" as const },
    batch,
  };
  const sums = localisationTaps(usable, layout, g);
  if (sums) {
    return {
      taps: (pass, mm) => (pass === "main" && mm === m ? sums : []),
      init: () => localisationReducer.init(config),
      update(state, view) {
        if (view.pass !== "main") return state;
        const n = view.batch.ids.length;
        return localisationReducer.update(state, {
          sums: sums.map((t) => {
            const cells = t.grid[0] * t.grid[1];
            return { grid: t.grid, positions: t.positions, n, ...unpackLocalisation(view.tap(m, t).data as Float32Array, t.positions.length, cells, n) };
          }),
        });
      },
      merge: localisationReducer.merge,
    };
  }
  const taps: TapSpec[] = usable.map((s) => ({ kind: "raw", tensor: s.tensor }));
  return {
    taps: (pass, mm) => (pass === "main" && mm === m ? taps : []),
    init: () => localisationReducer.init(config),
    update(state, view) {
      if (view.pass !== "main") return state;
      const b = view.batchOf(m);
      const images: Tensor = { data: b.input, shape: b.shape };
      return localisationReducer.update(state, { activations: taps.map((t) => view.tap(m, t)), images });
    },
    merge: localisationReducer.merge,
  };
}

/**
 * In-graph localisation taps for the sites, or null where the graph route does not apply (input
 * size unknown, a token count that is not a square grid, a grid that does not divide the input,
 * opset < 9 for EyeLike).
 */
function localisationTaps(sites: { tensor: string }[], layout: Layout, g: ModelGeometry): Extract<TapSpec, { kind: "localisation" }>[] | null {
  if (!g.input || (g.opset ?? 0) < 9 || (layout !== "BTD" && layout !== "BCHW")) return null;
  const [, h, w] = g.input.shape;
  const out: Extract<TapSpec, { kind: "localisation" }>[] = [];
  for (const s of sites) {
    const shape = g.shapes.get(s.tensor)!;
    let grid: [number, number];
    if (layout === "BCHW") grid = [shape[2], shape[3]];
    else {
      const side = Math.round(Math.sqrt(shape[1] - g.sites.prefixTokens));
      if (side * side !== shape[1] - g.sites.prefixTokens) return null;
      grid = [side, side];
    }
    if (h % grid[0] !== 0 || w % grid[1] !== 0) return null;
    out.push({
      kind: "localisation", tensor: s.tensor, layout, prefixTokens: layout === "BTD" ? g.sites.prefixTokens : 0, grid,
      positions: defaultLocalisationPositions(grid), image: g.input.name, imageShape: g.input.shape,
    });
  }
  return out;
}

export const localisation = defineAnalysis({
  id: "localisation",
  summary: "CKA of single token positions against every input patch (does a token know where it is?)",
  options: [] as const,
  default: true,
  plan(ctx) {
    for (const m of ctx.userModels) {
      const d = localisationDriver(m, ctx.options.batch);
      if (d) ctx.add({ models: [m.index] }, d, localisationReducer);
      else if (ctx.explicit) ctx.warn(`${m.label}: localisation skipped (no block output on a spatial grid was found)`);
    }
  },
  finish: (ctx) => perModel<LocalisationResult>(ctx),
  *files(section, ctx) {
    for (const [label, r] of Object.entries(section)) {
      const rows: unknown[][] = [["site", "token_row", "token_col", "cell_row", "cell_col", "cka"]];
      for (const s of r.sites) {
        const [P, gh, gw] = s.shape;
        for (let p = 0; p < P; p++) for (let i = 0; i < gh; i++) for (let j = 0; j < gw; j++) rows.push([s.site, s.positions[p][0], s.positions[p][1], i, j, s.maps[(p * gh + i) * gw + j]]);
      }
      yield [`localisation-${ctx.slug(label)}.csv`, csv(rows)];
    }
  },
  report(section, ctx) {
    const loc = Object.entries(section ?? {});
    if (!loc.length) return {};
    return {
      localisation: loc.flatMap(([label, r]) =>
        r.sites.map((s) => {
          const [P, gh, gw] = s.shape;
          return {
            model: ctx.modelId(label),
            grid: [gh, gw] as [number, number],
            site: s.site,
            maps: s.positions.slice(0, P).map((p, i) => ({
              position: [p[0], p[1]] as [number, number],
              label: `${s.site} token (${p[0]}, ${p[1]})`,
              data: Array.from({ length: gh * gw }, (_, k) => num((s.maps as Arr)[i * gh * gw + k])),
            })),
          };
        }),
      ),
    };
  },
});
