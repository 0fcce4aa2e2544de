/**
 * Server-side SVG figures for notebooks and snapshot tests. They run the very drawing code of
 * the HTML report (reports/client/figures.js) with d3 in Node, against an injectable document
 * (default: a jsdom document), Observable-Plot style. Rasters (large heatmaps, maps, filters)
 * become PNG data URLs.
 */
import * as d3 from "d3";
import { JSDOM } from "jsdom";
import { clientSource } from "./assets.js";
import { pngDataURL } from "./png.js";
import {
  attentionFigures,
  ckaFigure,
  collapseFigure,
  filtersFigure,
  localisationFigure,
  modelLabels,
  panelFigure,
  posEmbedFigure,
  probesFigure,
  skipFigure,
  type FigureKind,
  type FigureSpec,
  type Labels,
} from "./specs.js";
import type {
  AttentionDistance,
  Collapse,
  Filters,
  Heatmap,
  Localisation,
  Panel,
  PosEmbed,
  Probes,
  ReportModel,
  SkipRatio,
} from "./types.js";

/** Options of every SVG function. */
export interface FigureOptions {
  /** Document to create elements in (default: a shared jsdom document). */
  document?: Document;
  /** Run models, to show labels instead of model ids. */
  models?: ReportModel[];
}

interface Drawer {
  draw(kind: string, spec: unknown, env: unknown): SVGSVGElement;
  kinds: string[];
}

let drawer: Drawer | undefined;
let shared: Document | undefined;

function figuresModule(): Drawer {
  // figures.js is a classic browser script defining one global; evaluate it as a function body.
  drawer ??= new Function(`${clientSource("figures.js")}\n;return seelikeFigures;`)() as Drawer;
  return drawer;
}

function defaultDocument(): Document {
  shared ??= new JSDOM("<!DOCTYPE html><html><head></head><body></body></html>").window.document;
  return shared;
}

function serialise(node: Element): string {
  const view = node.ownerDocument.defaultView as (Window & typeof globalThis) | null;
  const XS = view?.XMLSerializer ?? (globalThis as { XMLSerializer?: typeof XMLSerializer }).XMLSerializer;
  // XML serialisation escapes < and > in attribute values too, so the fragment is valid XML.
  return XS ? new XS().serializeToString(node) : node.outerHTML;
}

/**
 * The SVG element of one figure spec (see reports/specs.ts), drawn in `document`.
 * @example figureElement(ckaFigure(h, (id) => id), { document }).tagName // "svg"
 */
export function figureElement(figure: Pick<FigureSpec, "id" | "kind" | "spec">, options: FigureOptions = {}): SVGSVGElement {
  const document = options.document ?? defaultDocument();
  let n = 0;
  const env = {
    d3,
    document,
    raster: pngDataURL,
    uid: (prefix: string) => `${figure.id}-${prefix}-${++n}`,
  };
  return figuresModule().draw(figure.kind as FigureKind, figure.spec, env);
}

/**
 * SVG markup of one figure spec.
 * @example figureSVG({ id: "x", kind: "lines", spec }) // "<svg xmlns=...>...</svg>"
 */
export function figureSVG(figure: Pick<FigureSpec, "id" | "kind" | "spec">, options: FigureOptions = {}): string {
  return serialise(figureElement(figure, options));
}

function labels(options: FigureOptions): Labels {
  return modelLabels(options.models ?? []);
}

/**
 * CKA heatmap (vector cells up to 60×60, a raster image above).
 * @example ckaHeatmapSVG({ id: "a", title: "A", rowModel: "a", colModel: "a", rows, cols, data })
 */
export function ckaHeatmapSVG(heatmap: Heatmap, options: FigureOptions = {}): string {
  return figureSVG(ckaFigure(heatmap, labels(options)), options);
}

/**
 * Mean attention distance, one dot per head and layer, with the uniform-attention ceiling.
 * @example attentionDistanceSVG({ model: "vit", patchSize: 16, grid: [14, 14], ceiling: 116.49, layers })
 */
export function attentionDistanceSVG(ad: AttentionDistance, options: FigureOptions = {}): string {
  return figureSVG(attentionFigures(ad, labels(options))[0], options);
}

/**
 * Heads sorted by distance for the first two and last two layers.
 * @example sortedHeadsSVG(ad)
 */
export function sortedHeadsSVG(ad: AttentionDistance, options: FigureOptions = {}): string {
  return figureSVG(attentionFigures(ad, labels(options))[1], options);
}

/**
 * Skip-connection norm ratios per block, CLS vs spatial tokens, attention vs MLP.
 * @example skipRatioSVG({ model: "vit", rows: [{ block: 0, sublayer: "attn", cls: 3, spatial: 2 }] })
 */
export function skipRatioSVG(s: SkipRatio, options: FigureOptions = {}): string {
  return figureSVG(skipFigure(s, labels(options)), options);
}

/**
 * Probe accuracy against normalised depth, all models in one chart.
 * @example probesSVG([{ model: "vit", series: [{ name: "cls", points }] }])
 */
export function probesSVG(probes: Probes[], options: FigureOptions = {}): string {
  return figureSVG(probesFigure(probes, labels(options)), options);
}

/**
 * Localisation maps of one model.
 * @example localisationSVG({ model: "vit", grid: [7, 7], maps })
 */
export function localisationSVG(loc: Localisation, options: FigureOptions = {}): string {
  return figureSVG(localisationFigure(loc, labels(options)), options);
}

/**
 * Position-embedding similarity, a g×g grid of g×g tiles.
 * @example posEmbedSVG({ model: "vit", grid: [7, 7], data })
 */
export function posEmbedSVG(pe: PosEmbed, options: FigureOptions = {}): string {
  return figureSVG(posEmbedFigure(pe, labels(options)), options);
}

/**
 * Patch-embedding filter components as small images.
 * @example filtersSVG({ model: "vit", patchSize: 4, channels: 1, components })
 */
export function filtersSVG(f: Filters, options: FigureOptions = {}): string {
  return figureSVG(filtersFigure(f, labels(options)), options);
}

/**
 * Attention-collapse heatmap (layers × layers).
 * @example collapseSVG({ model: "vit", id: "c", title: "collapse", rowModel: "vit", colModel: "vit", rows, cols, data })
 */
export function collapseSVG(c: Collapse, options: FigureOptions = {}): string {
  return figureSVG(collapseFigure(c, labels(options)), options);
}

/**
 * A generic line or heatmap panel (data scale, ablation).
 * @example panelSVG({ kind: "line", id: "p", title: "t", xLabel: "x", yLabel: "y", series })
 */
export function panelSVG(p: Panel, options: FigureOptions = {}): string {
  return figureSVG(panelFigure(p, "panel", 0, labels(options)), options);
}
