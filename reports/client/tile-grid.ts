/** g×g tiles of g×g cosine maps as one raster (position embeddings, ViT paper Fig. 7 centre). */
import * as d3 from "d3";
import type { TileGridSpec } from "../specs.js";
import { colourTable, fmt, hover, legend, paintRaster, rasterImage, root } from "./common.js";
import type { DrawEnv } from "./env.js";

/**
 * The tile grid of a spec.
 * @example tileGrid({ title: "t", grid: [2, 2], values, domain: [-1, 1], scheme: "rdbu" }, env)
 */
export function tileGrid(spec: TileGridSpec, env: DrawEnv): SVGSVGElement {
  const [gr, gc] = spec.grid;
  const cells = gr * gc;
  if (spec.values.length !== cells * cells) throw new RangeError(`invalid position-embedding grid: ${spec.values.length} values for ${gr}×${gc} patches`);
  // One pixel per value, one white pixel between tiles.
  const W = gc * (gc + 1) - 1;
  const H = gr * (gr + 1) - 1;
  const scale = Math.max(1, Math.floor(440 / Math.max(W, H)));
  const pw = W * scale;
  const ph = H * scale;
  const margin = { top: 30, right: 96, bottom: 46, left: 56 };
  const width = margin.left + pw + margin.right;
  const height = margin.top + ph + margin.bottom;
  const svg = root(env, spec.title, width, height, "tile-grid");
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  const colours = colourTable(spec.scheme, spec.domain);
  // Raster pixel → (tile i, j; cell k, l) and the value index, or null on a separator.
  const at = (px: number, py: number) => {
    const i = Math.floor(py / (gr + 1));
    const k = py % (gr + 1);
    const j = Math.floor(px / (gc + 1));
    const l = px % (gc + 1);
    if (k === gr || l === gc) return null;
    return { i, j, k, l, index: (i * gc + j) * cells + k * gc + l };
  };
  const rgba = paintRaster(colours, spec.values, W, H, (p) => at(p % W, Math.floor(p / W))?.index ?? -1);
  rasterImage(env, g, W, H, rgba, pw, ph);
  const x = d3.scaleBand<number>().domain(d3.range(1, gc + 1)).range([0, pw]);
  const y = d3.scaleBand<number>().domain(d3.range(1, gr + 1)).range([0, ph]);
  g.append("g").attr("transform", `translate(0,${ph})`).call(d3.axisBottom(x).tickSize(3));
  g.append("g").call(d3.axisLeft(y).tickSize(3));
  g.append("text").attr("x", pw / 2).attr("y", ph + 36).attr("text-anchor", "middle").text("input patch column");
  g.append("text").attr("transform", `translate(-40,${ph / 2}) rotate(-90)`).attr("text-anchor", "middle").text("input patch row");
  legend(env, g, colours, spec.domain, pw + 16, 0, Math.min(ph, 240), spec.valueName || "cosine similarity");
  const hit = g.append("rect").attr("class", "hit").attr("width", pw).attr("height", ph).attr("fill", "transparent").attr("pointer-events", "all");
  hover(env, hit, (px, py) => {
    const c = at(Math.floor(px / scale), Math.floor(py / scale));
    if (!c || c.i >= gr || c.j >= gc) return null;
    return [`patch (${c.i}, ${c.j}) vs (${c.k}, ${c.l})`, `cosine = ${fmt(spec.values[c.index])}`];
  });
  return svg.node()!;
}
