/**
 * Pieces shared by the figure modules: the SVG root, colour tables and legends, rasters and
 * hover wiring. Untrusted text (site names, labels) only ever reaches the DOM through d3
 * .text() or .attr().
 */
import * as d3 from "d3";
import type { Scheme } from "../specs.js";
import type { DrawEnv } from "./env.js";

export const SVG_NS = "http://www.w3.org/2000/svg";
/** Raster above 60×60 cells: thousands of <rect> make the page sluggish and the SVG huge. */
export const RASTER_CELLS = 3600;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
export const DASHES = ["", "6,3", "2,2", "8,3,2,3", "1,3", "10,4"];

/** A d3 selection of one SVG element the drawing code created (no data bound). */
export type Sel<E extends SVGElement = SVGElement> = d3.Selection<E, unknown, null, undefined>;

/** The figure's <svg> root: size, accessible name, white background and title line. */
export function root(env: DrawEnv, title: string, width: number, height: number, kind: string): Sel<SVGSVGElement> {
  const svg = d3.select(env.document.createElementNS(SVG_NS, "svg") as SVGSVGElement);
  svg
    .attr("xmlns", SVG_NS)
    .attr("class", "seelike-figure")
    .attr("data-kind", kind)
    .attr("width", width)
    .attr("height", height)
    .attr("viewBox", `0 0 ${width} ${height}`)
    .attr("role", "img")
    .attr("aria-label", title)
    .attr("font-family", FONT)
    .attr("font-size", 11)
    .attr("fill", "#222");
  svg.append("title").text(title);
  svg.append("rect").attr("width", width).attr("height", height).attr("fill", "#fff");
  svg.append("text").attr("class", "figure-title").attr("x", 8).attr("y", 16).attr("font-size", 13).attr("font-weight", 600).text(title);
  return svg;
}

/** The first n − 1 characters and "…" when s is longer than n. */
export function truncate(s: unknown, n: number): string {
  const t = String(s);
  return t.length > n ? `${t.slice(0, n - 1)}\u2026` : t;
}

/** A finite number (null, undefined and NaN are "no value"). */
export function isNum(v: number | null | undefined): v is number {
  return v !== null && v !== undefined && Number.isFinite(v);
}

/** Four significant digits, or "n/a". */
export function fmt(v: number | null | undefined): string {
  return isNum(v) ? d3.format(".4~g")(v) : "n/a";
}

function interpolator(scheme: Scheme | undefined): (t: number) => string {
  switch (scheme ?? "viridis") {
    case "viridis":
      return d3.interpolateViridis;
    case "cividis":
      return d3.interpolateCividis;
    case "magma":
      return d3.interpolateMagma;
    // Diverging schemes run blue (negative) → white (0) → red (positive).
    case "rdbu":
      return (t) => d3.interpolateRdBu(1 - t);
    case "puor":
      return (t) => d3.interpolatePuOr(t);
    default:
      throw new RangeError(`invalid scheme: ${scheme}`);
  }
}

/** A 256-entry colour table over a domain. */
export interface Colours {
  interp: (t: number) => string;
  /** [r, g, b], or null for a missing value. */
  rgb(v: number | null): [number, number, number] | null;
  /** CSS colour; grey for a missing value. */
  css(v: number | null): string;
}

/** The colour table of a scheme over a domain (values outside clamp to its ends). */
export function colourTable(scheme: Scheme, domain: [number, number]): Colours {
  const interp = interpolator(scheme);
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const c = d3.rgb(interp(i / 255));
    lut[3 * i] = c.r;
    lut[3 * i + 1] = c.g;
    lut[3 * i + 2] = c.b;
  }
  const lo = domain[0];
  const span = domain[1] - domain[0] || 1;
  const index = (v: number): number => {
    const t = (v - lo) / span;
    return Math.round(255 * (t < 0 ? 0 : t > 1 ? 1 : t));
  };
  return {
    interp,
    rgb(v) {
      if (!isNum(v)) return null;
      const k = 3 * index(v);
      return [lut[k], lut[k + 1], lut[k + 2]];
    },
    css(v) {
      if (!isNum(v)) return "#d9d9d9";
      const k = 3 * index(v);
      return `rgb(${lut[k]},${lut[k + 1]},${lut[k + 2]})`;
    },
  };
}

/** Vertical colour bar with an axis, at (x, y), height h. */
export function legend<E extends SVGElement>(env: DrawEnv, g: Sel<E>, colours: Colours, domain: [number, number], x: number, y: number, h: number, label?: string): void {
  const id = env.uid("grad");
  const grad = g.append("defs").append("linearGradient").attr("id", id).attr("x1", 0).attr("y1", 1).attr("x2", 0).attr("y2", 0);
  for (let i = 0; i <= 10; i++) grad.append("stop").attr("offset", i / 10).attr("stop-color", d3.rgb(colours.interp(i / 10)).formatHex());
  const lg = g.append("g").attr("class", "legend").attr("transform", `translate(${x},${y})`);
  lg.append("rect").attr("width", 12).attr("height", h).attr("fill", `url(#${id})`).attr("stroke", "#999").attr("stroke-width", 0.5);
  const scale = d3.scaleLinear().domain(domain).range([h, 0]);
  lg.append("g").attr("transform", "translate(12,0)").call(d3.axisRight(scale).ticks(5, ".2~f"));
  if (label) lg.append("text").attr("transform", `translate(52,${h / 2}) rotate(90)`).attr("text-anchor", "middle").text(label);
}

/**
 * RGBA pixels of width × height values; `map` turns a pixel index into a value index, or −1
 * for a white separator pixel.
 */
export function paintRaster(colours: Colours, values: ArrayLike<number | null>, width: number, height: number, map?: (p: number) => number): Uint8ClampedArray<ArrayBuffer> {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const k = map ? map(p) : p;
    const c = k < 0 ? [255, 255, 255] : colours.rgb(values[k]) ?? [217, 217, 217];
    rgba[4 * p] = c[0];
    rgba[4 * p + 1] = c[1];
    rgba[4 * p + 2] = c[2];
    rgba[4 * p + 3] = 255;
  }
  return rgba;
}

/** An <image> of a width × height raster, stretched to w × h with hard pixel edges. */
export function rasterImage<E extends SVGElement>(env: DrawEnv, g: Sel<E>, width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>, w: number, h: number): Sel<SVGImageElement> {
  return g
    .append("image")
    .attr("href", env.raster(width, height, rgba))
    .attr("width", w)
    .attr("height", h)
    .attr("preserveAspectRatio", "none")
    .attr("style", "image-rendering: pixelated; image-rendering: crisp-edges");
}

/** Tooltip lines for the pointer at (x, y) in target's coordinates; null hides the tooltip. */
export type CellLines = (x: number, y: number) => string[] | null;

/** Shows `cell`'s lines while the pointer moves over target (browser only). */
export function hover(env: DrawEnv, target: Sel<SVGRectElement>, cell: CellLines): void {
  const tooltip = env.tooltip;
  if (!tooltip) return;
  target
    .style("cursor", "crosshair")
    .on("mousemove", function (this: SVGRectElement, event: MouseEvent) {
      const [x, y] = d3.pointer(event, this);
      const lines = cell(x, y);
      if (lines) tooltip.show(event, lines);
      else tooltip.hide();
    })
    .on("mouseleave", () => tooltip.hide());
}

/** Shows fixed lines per datum while the pointer is over a mark (browser only). */
export function hoverMarks<D>(env: DrawEnv, marks: d3.Selection<SVGCircleElement, D, SVGGElement, unknown>, lines: (d: D) => string[]): void {
  const tooltip = env.tooltip;
  if (!tooltip) return;
  marks
    .style("cursor", "crosshair")
    .on("mousemove", (event: MouseEvent, d: D) => tooltip.show(event, lines(d)))
    .on("mouseleave", () => tooltip.hide());
}
