/**
 * The one drawing entry of the report client: a figure spec (reports/specs.ts) → a detached
 * <svg>. The browser bundle (boot.ts) and Node (reports/figures.ts) both call it.
 */
import * as d3 from "d3";
import type { Drawable, FigureKind, FigureSpecs } from "../specs.js";
import type { DrawEnv } from "./env.js";
import { dots } from "./dots.js";
import { filters } from "./filters.js";
import { heatmap } from "./heatmap.js";
import { lines } from "./lines.js";
import { sortedHeads } from "./sorted-heads.js";
import { tileGrid } from "./tile-grid.js";
import { tiles } from "./tiles.js";

export type { DrawEnv, Tooltip } from "./env.js";
export { RASTER_CELLS } from "./common.js";

/** The drawing function of each figure kind. */
export const DRAWERS: { [K in FigureKind]: (spec: FigureSpecs[K], env: DrawEnv) => SVGSVGElement } = {
  heatmap,
  lines,
  dots,
  "sorted-heads": sortedHeads,
  tiles,
  "tile-grid": tileGrid,
  filters,
};

/**
 * The <svg> of one figure, created in env.document and not yet attached. Figures come from
 * JSON in the browser, so an unknown kind is a RangeError rather than a type error only.
 * @example draw({ id: "x", kind: "lines", spec }, env).getAttribute("data-kind") // "lines"
 */
export function draw(figure: Drawable, env: DrawEnv): SVGSVGElement {
  const f = DRAWERS[figure.kind] as ((spec: Drawable["spec"], env: DrawEnv) => SVGSVGElement) | undefined;
  if (!Object.prototype.hasOwnProperty.call(DRAWERS, figure.kind) || !f) throw new RangeError(`invalid figure kind: ${figure.kind}`);
  const node = f(figure.spec, env);
  // d3-axis sets its own font on each axis; use the figure's font throughout.
  d3.select(node).selectAll("g[font-family]").attr("font-family", null);
  return node;
}
