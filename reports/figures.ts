/**
 * Figures drawn in Node, for notebooks and snapshot tests: the report client's own drawing
 * modules (reports/client/draw.ts) run against an injectable document, as Observable Plot takes
 * one. Without one, jsdom (an optional peer dependency) is loaded at that moment only; nothing
 * else in seelike loads a DOM. Rasters (large heatmaps, maps, filters) become PNG data URLs.
 */
import { createRequire } from "node:module";
import { draw } from "./client/draw.js";
import { pngDataURL } from "./png.js";
import type { Drawable } from "./specs.js";

/** Options of figureSVG and figureElement. */
export interface FigureOptions {
  /** Document to create the SVG in, e.g. `new JSDOM().window.document` (default: one jsdom document, loaded on first use). */
  document?: Document;
}

/** The error message of a figure drawn in Node with no document and no jsdom installed. */
export const NO_DOM = "drawing a figure in Node needs a DOM: pass { document } or `npm install jsdom`";

let shared: Document | undefined;

/**
 * jsdom is CommonJS, so it loads synchronously here; the figure functions stay synchronous
 * (notebook cells call them without await). createRequire keeps the load lazy: no import of
 * jsdom exists until this runs.
 */
function defaultDocument(): Document {
  if (shared) return shared;
  let jsdom: typeof import("jsdom");
  try {
    jsdom = createRequire(import.meta.url)("jsdom") as typeof import("jsdom");
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") throw new Error(NO_DOM);
    throw e;
  }
  shared = new jsdom.JSDOM("<!DOCTYPE html><html><head></head><body></body></html>").window.document;
  return shared;
}

function serialise(node: Element): string {
  const view = node.ownerDocument.defaultView as (Window & typeof globalThis) | null;
  const XS = view?.XMLSerializer ?? (globalThis as { XMLSerializer?: typeof XMLSerializer }).XMLSerializer;
  // XML serialisation escapes < and > in attribute values too, so the fragment is valid XML.
  return XS ? new XS().serializeToString(node) : node.outerHTML;
}

/**
 * The SVG element of one figure spec (reports/specs.ts), drawn in `options.document`. Its
 * element ids start with the figure's id.
 * @example figureElement(ckaFigure(h, (id) => id), { document }).tagName // "svg"
 */
export function figureElement(figure: Drawable, options: FigureOptions = {}): SVGSVGElement {
  const document = options.document ?? defaultDocument();
  let n = 0;
  return draw(figure, { document, raster: pngDataURL, uid: (prefix) => `${figure.id}-${prefix}-${++n}` });
}

/**
 * SVG markup of one figure spec: the figure the report draws for it, without the hover wiring.
 * @example figureSVG(ckaFigure(heatmap, modelLabels(run.models))) // "<svg xmlns=...>...</svg>"
 */
export function figureSVG(figure: Drawable, options: FigureOptions = {}): string {
  return serialise(figureElement(figure, options));
}
