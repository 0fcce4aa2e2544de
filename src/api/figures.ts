/**
 * Figures of a run for notebooks: each function takes the Results of `compare`/`analyze` and
 * returns one `<figure>` (the report's SVG and its caption) as an HTML string; `display` shows
 * it inline in the tslab Jupyter kernel. The figures are the report's own (reportSections of
 * reportData(results)), drawn in Node by reports/figures.ts; names from the model (sites,
 * labels) are escaped. Drawing needs a DOM: jsdom, loaded on the first figure (optional peer
 * dependency).
 */
import { createRequire } from "node:module";
import path from "node:path";
import { reportData } from "../output/report-data.js";
import { figureSVG, type FigureOptions } from "../../reports/figures.js";
import { escapeHtml } from "../../reports/escape.js";
import { modelLabels, reportSections, type FigureKind, type FigureSpec } from "../../reports/specs.js";
import type { ReportModel, SectionId } from "../../reports/types.js";
import type { Results } from "../plan/types.js";

export type { FigureOptions } from "../../reports/figures.js";

/**
 * Which figure of several: a model label (or a heatmap id / "AA" | "BB" | "AB" for CKA), or an index.
 * @example figures.ckaHeatmap(results, "BB") // the intra-model heatmap of model B
 */
export type Which = string | number;

/** Where a notebook figure comes from in the report, and how a wrong `which` is named. */
interface Source {
  section: SectionId;
  /** Figure kind within the section, when it holds several (attention: dots, sorted heads, CLS). */
  kind?: FigureKind;
  /** What the figure is, in error messages. */
  what: string;
  /** What `which` names, in error messages (default: "<what> model"). */
  choice?: string;
  /** The default figure when `which` is not given (default: the first). */
  prefer?: (f: FigureSpec) => boolean;
  /** How to get the figure when the results lack it. */
  hint?: string;
}

/**
 * The notebook figures, by the name of their helper: the report section (and figure kind) each
 * one shows. One table instead of one hand-written selection per figure.
 * @example Object.keys(NOTEBOOK_FIGURES) // ["ckaHeatmap", "attentionDistance", ...]
 */
export const NOTEBOOK_FIGURES = {
  ckaHeatmap: { section: "cka", what: "CKA heatmap", choice: "CKA heatmap", prefer: (f) => f.source?.endsWith("-AB") === true },
  attentionDistance: { section: "attentionDistance", kind: "dots", what: "attention distance" },
  sortedHeads: { section: "attentionDistance", kind: "sorted-heads", what: "attention distance" },
  skipRatio: { section: "skipRatio", what: "skip ratio" },
  probes: { section: "probes", what: "probes", hint: " (run with trainData)" },
  localisation: { section: "localisation", what: "localisation" },
  positionEmbedding: { section: "posEmbed", what: "position-embedding" },
  filters: { section: "filters", what: "patch-embedding filters" },
  collapse: { section: "collapse", what: "attention collapse" },
} satisfies Record<string, Source>;

/** Name of a notebook figure helper, e.g. "ckaHeatmap". */
export type FigureName = keyof typeof NOTEBOOK_FIGURES;

// Every figure gets fresh element ids: a notebook page holds many figures, and the SVG's
// gradients and clip paths are referenced by id.
const session = Math.random().toString(36).slice(2, 8);
let counter = 0;

// Inline style: notebook front ends show the markup without the report's stylesheet.
const CAPTION = "font: 13px/1.45 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #555; max-width: 75ch; margin-top: 4px";

function markup(spec: FigureSpec, options: FigureOptions): string {
  const id = `nb-${session}-${++counter}-${spec.id}`;
  const svg = figureSVG({ ...spec, id }, options);
  return `<figure class="seelike-figure" id="${escapeHtml(id)}" style="margin: 8px 0 16px">${svg}<figcaption style="${CAPTION}">${escapeHtml(spec.caption)}</figcaption></figure>`;
}

function pick(figures: FigureSpec[], source: Source, models: ReportModel[], which?: Which): FigureSpec {
  const { what } = source;
  if (figures.length === 0) throw new RangeError(`invalid results: no ${what} figure in these results${source.hint ?? ""}`);
  if (which === undefined) return figures.find((f) => source.prefer?.(f)) ?? figures[0];
  if (typeof which === "number") {
    const f = figures[which];
    if (!f) throw new RangeError(`invalid ${what} index: ${which} (${figures.length} figures)`);
    return f;
  }
  const model = models.find((m) => m.label === which || m.id === which)?.id;
  const found =
    figures.find((f) => f.source === which) ??
    (/^(AA|BB|AB)$/.test(which) ? figures.find((f) => f.source?.endsWith(`-${which}`)) : undefined) ??
    // A model names the figure of that model alone (for CKA: its intra-model heatmap).
    (model === undefined ? undefined : figures.find((f) => f.models.length > 0 && f.models.every((m) => m === model)));
  if (!found) {
    const label = modelLabels(models);
    const have = figures.map((f) => f.source ?? f.models.map(label).join(" × ")).join(", ");
    throw new RangeError(`invalid ${source.choice ?? `${what} model`}: ${which} (have ${have})`);
  }
  return found;
}

/**
 * Any notebook figure by its helper's name: the report's figure of that kind for these results.
 * Built afresh on every call, so results edited in a notebook show as edited. `options.document`
 * is the DOM to draw in (default: jsdom, loaded on first use).
 * @example display(figures.figure(results, "skipRatio", "resnet-tiny"))
 */
export function figure(results: Results, name: FigureName, which?: Which, options: FigureOptions = {}): string {
  const source: Source = NOTEBOOK_FIGURES[name];
  const data = reportData(results);
  const section = reportSections(data).find((s) => s.id === source.section);
  const figures = (section?.figures ?? []).filter((f) => source.kind === undefined || f.kind === source.kind);
  return markup(pick(figures, source, data.run.models, which), options);
}

/**
 * CKA heatmap. `which`: "AB" (cross-model, the default when there are two models), "AA", "BB",
 * a model label (its intra-model heatmap), a heatmap id from `reportData(results).cka`, or an index.
 * @example display(figures.ckaHeatmap(await compare("vit.onnx", "resnet.onnx", { data })))
 */
export function ckaHeatmap(results: Results, which?: Which, options?: FigureOptions): string {
  return figure(results, "ckaHeatmap", which, options);
}

/**
 * Mean attention distance per head and layer (ViT paper Fig. 7, Raghu Fig. 3) of one model.
 * @example display(figures.attentionDistance(results, "vit-tiny"))
 */
export function attentionDistance(results: Results, model?: Which, options?: FigureOptions): string {
  return figure(results, "attentionDistance", model, options);
}

/**
 * Heads of the first two and last two layers sorted by attention distance (Raghu Fig. 3).
 * @example display(figures.sortedHeads(results))
 */
export function sortedHeads(results: Results, model?: Which, options?: FigureOptions): string {
  return figure(results, "sortedHeads", model, options);
}

/**
 * Skip-connection norm ratios ‖z‖/‖f(z)‖ per block (Raghu Fig. 7) of one model.
 * @example display(figures.skipRatio(results, "resnet-tiny"))
 */
export function skipRatio(results: Results, model?: Which, options?: FigureOptions): string {
  return figure(results, "skipRatio", model, options);
}

/**
 * Linear-probe accuracy against normalised depth, every model in one chart (Raghu Fig. 11).
 * @example display(figures.probes(results))
 */
export function probes(results: Results, options?: FigureOptions): string {
  return figure(results, "probes", undefined, options);
}

/**
 * Localisation maps (Raghu Figs. 9, 10): a model label picks that model's first site, an
 * index any entry of `reportData(results).localisation`.
 * @example display(figures.localisation(results, "vit-tiny"))
 */
export function localisation(results: Results, which?: Which, options?: FigureOptions): string {
  return figure(results, "localisation", which, options);
}

/**
 * Cosine similarity of position embeddings, a g×g grid of g×g tiles (ViT paper Fig. 7).
 * @example display(figures.positionEmbedding(results))
 */
export function positionEmbedding(results: Results, model?: Which, options?: FigureOptions): string {
  return figure(results, "positionEmbedding", model, options);
}

/**
 * Top principal components of the patch-embedding filters (ViT paper Fig. 7).
 * @example display(figures.filters(results))
 */
export function filters(results: Results, model?: Which, options?: FigureOptions): string {
  return figure(results, "filters", model, options);
}

/**
 * Attention collapse: cross-layer cosine similarity of attention maps (DeepViT).
 * @example display(figures.collapse(results))
 */
export function collapse(results: Results, model?: Which, options?: FigureOptions): string {
  return figure(results, "collapse", model, options);
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
