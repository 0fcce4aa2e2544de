/**
 * Figures of a run for notebooks: each function takes the Results of `compare`/`analyze` and
 * returns one `<figure>` (the report's SVG and its caption) as an HTML string; `display` shows
 * it inline in the tslab Jupyter kernel. The SVG comes from reports/figures.ts (the report's own
 * drawing code, run in Node); names from the model (sites, labels) are escaped here.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { reportData } from "./report-data.js";
import { figureSVG } from "../reports/figures.js";
import { escapeHtml } from "../reports/escape.js";
import {
  attentionFigures, ckaFigure, collapseFigure, filtersFigure, localisationFigure, modelLabels, posEmbedFigure, probesFigure, skipFigure,
  type FigureSpec, type Labels,
} from "../reports/specs.js";
import type { ReportData, ReportModel } from "../reports/types.js";
import type { Results } from "./plan/types.js";

/**
 * Which figure of several: a model label (or a heatmap id / "AA" | "BB" | "AB" for CKA), or an index.
 * @example figures.ckaHeatmap(results, "BB") // the intra-model heatmap of model B
 */
export type Which = string | number;

// Built afresh on every call (no cache): results edited in a notebook show as edited.
function view(results: Results): ReportData {
  return reportData(results);
}

// Every figure gets fresh element ids: a notebook page holds many figures, and the SVG's
// gradients and clip paths are referenced by id.
const session = Math.random().toString(36).slice(2, 8);
let counter = 0;

// Inline style: notebook front ends show the markup without the report's stylesheet.
const CAPTION = "font: 13px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #555; max-width: 75ch; margin-top: 4px";

function markup(spec: FigureSpec, models: ReportModel[]): string {
  const id = `nb-${session}-${++counter}-${spec.id}`;
  const svg = figureSVG({ ...spec, id }, { models });
  return `<figure class="seelike-figure" id="${escapeHtml(id)}" style="margin: 8px 0 16px">${svg}<figcaption style="${CAPTION}">${escapeHtml(spec.caption ?? "")}</figcaption></figure>`;
}

function pick<T extends { model: string }>(list: T[] | undefined, what: string, models: ReportModel[], which?: Which): T {
  if (!list || list.length === 0) throw new RangeError(`invalid results: no ${what} figure in these results`);
  if (which === undefined) return list[0];
  if (typeof which === "number") {
    const f = list[which];
    if (!f) throw new RangeError(`invalid ${what} index: ${which} (${list.length} figures)`);
    return f;
  }
  const id = models.find((m) => m.label === which || m.id === which)?.id;
  const f = list.find((x) => x.model === id);
  if (!f) throw new RangeError(`invalid ${what} model: ${which} (have ${list.map((x) => models.find((m) => m.id === x.model)?.label ?? x.model).join(", ")})`);
  return f;
}

function labels(models: ReportModel[]): Labels {
  return modelLabels(models);
}

/**
 * CKA heatmap. `which`: "AB" (cross-model, the default when there are two models), "AA", "BB",
 * a model label (its intra-model heatmap), a heatmap id from `reportData(results).cka`, or an index.
 * @example display(figures.ckaHeatmap(await compare("vit.onnx", "resnet.onnx", { data })))
 */
export function ckaHeatmap(results: Results, which?: Which): string {
  const data = view(results);
  const maps = data.cka ?? [];
  const models = data.run.models;
  if (maps.length === 0) throw new RangeError("invalid results: no CKA heatmap in these results");
  let h = maps.find((m) => m.id.endsWith("-AB")) ?? maps[0];
  if (typeof which === "number") {
    h = maps[which];
    if (!h) throw new RangeError(`invalid CKA heatmap index: ${which} (${maps.length} heatmaps)`);
  } else if (which !== undefined) {
    const model = models.find((m) => m.label === which)?.id;
    const found =
      maps.find((m) => m.id === which) ??
      (/^(AA|BB|AB)$/.test(which) ? maps.find((m) => m.id.endsWith(`-${which}`)) : undefined) ??
      (model ? maps.find((m) => m.rowModel === model && m.colModel === model) : undefined);
    if (!found) throw new RangeError(`invalid CKA heatmap: ${which} (have ${maps.map((m) => m.id).join(", ")})`);
    h = found;
  }
  return markup(ckaFigure(h, labels(models), maps.indexOf(h)), models);
}

/**
 * Mean attention distance per head and layer (ViT paper Fig. 7, Raghu Fig. 3) of one model.
 * @example display(figures.attentionDistance(results, "vit-tiny"))
 */
export function attentionDistance(results: Results, model?: Which): string {
  const data = view(results);
  const ad = pick(data.attentionDistance, "attention distance", data.run.models, model);
  return markup(attentionFigures(ad, labels(data.run.models))[0], data.run.models);
}

/**
 * Heads of the first two and last two layers sorted by attention distance (Raghu Fig. 3).
 * @example display(figures.sortedHeads(results))
 */
export function sortedHeads(results: Results, model?: Which): string {
  const data = view(results);
  const ad = pick(data.attentionDistance, "attention distance", data.run.models, model);
  return markup(attentionFigures(ad, labels(data.run.models))[1], data.run.models);
}

/**
 * Skip-connection norm ratios ‖z‖/‖f(z)‖ per block (Raghu Fig. 7) of one model.
 * @example display(figures.skipRatio(results, "resnet-tiny"))
 */
export function skipRatio(results: Results, model?: Which): string {
  const data = view(results);
  const s = pick(data.skipRatio, "skip ratio", data.run.models, model);
  return markup(skipFigure(s, labels(data.run.models)), data.run.models);
}

/**
 * Linear-probe accuracy against normalised depth, every model in one chart (Raghu Fig. 11).
 * @example display(figures.probes(results))
 */
export function probes(results: Results): string {
  const data = view(results);
  if (!data.probes?.length) throw new RangeError("invalid results: no probes figure in these results (run with trainData)");
  return markup(probesFigure(data.probes, labels(data.run.models)), data.run.models);
}

/**
 * Localisation maps (Raghu Figs. 9, 10): a model label picks that model's first site, an
 * index any entry of `reportData(results).localisation`.
 * @example display(figures.localisation(results, "vit-tiny"))
 */
export function localisation(results: Results, which?: Which): string {
  const data = view(results);
  const loc = pick(data.localisation, "localisation", data.run.models, which);
  return markup(localisationFigure(loc, labels(data.run.models)), data.run.models);
}

/**
 * Cosine similarity of position embeddings, a g×g grid of g×g tiles (ViT paper Fig. 7).
 * @example display(figures.positionEmbedding(results))
 */
export function positionEmbedding(results: Results, model?: Which): string {
  const data = view(results);
  const pe = pick(data.posEmbed, "position-embedding", data.run.models, model);
  return markup(posEmbedFigure(pe, labels(data.run.models)), data.run.models);
}

/**
 * Top principal components of the patch-embedding filters (ViT paper Fig. 7).
 * @example display(figures.filters(results))
 */
export function filters(results: Results, model?: Which): string {
  const data = view(results);
  const f = pick(data.filters, "patch-embedding filters", data.run.models, model);
  return markup(filtersFigure(f, labels(data.run.models)), data.run.models);
}

/**
 * Attention collapse: cross-layer cosine similarity of attention maps (DeepViT).
 * @example display(figures.collapse(results))
 */
export function collapse(results: Results, model?: Which): string {
  const data = view(results);
  const c = pick(data.collapse, "attention collapse", data.run.models, model);
  return markup(collapseFigure(c, labels(data.run.models)), data.run.models);
}

interface TslabDisplay {
  html(s: string): void;
}

/**
 * tslab's `display` when this process is a tslab kernel (its jupyter module is loaded), else
 * undefined. Found through the module cache so a kernel started from another tslab install
 * still gets its own (ready) display; plain Node never loads tslab.
 */
function tslabDisplay(): TslabDisplay | undefined {
  const require = createRequire(import.meta.url);
  const kernel = Object.keys(require.cache).find((k) => /[\\/]tslab[\\/]dist[\\/]jupyter\.js$/.test(k));
  if (!kernel) return undefined;
  try {
    return (require(path.join(path.dirname(kernel), "public.js")) as { display: TslabDisplay }).display;
  } catch {
    return undefined;
  }
}

/**
 * Shows figure markup inline in a tslab (TypeScript) Jupyter notebook and returns undefined;
 * anywhere else (plain Node, tests) returns the markup unchanged.
 * @example display(figures.ckaHeatmap(results)) // the heatmap appears below the cell
 */
export function display(markup: string): string | undefined {
  const d = tslabDisplay();
  if (!d) return markup;
  try {
    d.html(markup);
    return undefined;
  } catch {
    return markup;
  }
}
