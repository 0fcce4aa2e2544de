/** Small multiples of grid maps with a shared legend (localisation, Raghu Figs. 9, 10). */
import type { TilesSpec } from "../specs.js";
import { colourTable, fmt, hover, legend, paintRaster, rasterImage, root, truncate } from "./common.js";
import type { DrawEnv } from "./env.js";

/**
 * The tiles of a spec, six per row.
 * @example tiles({ title: "t", grid: [3, 3], maps: [{ label: "cls", values }], domain: [0, 1], scheme: "viridis" }, env)
 */
export function tiles(spec: TilesSpec, env: DrawEnv): SVGSVGElement {
  if (spec.rowLabels && spec.colLabels && spec.maps.every((m) => m.row !== undefined && m.col !== undefined)) return labelledTiles(spec, env);
  const [gr, gc] = spec.grid;
  const per = Math.min(spec.maps.length, 6) || 1;
  const rowsOf = Math.ceil(spec.maps.length / per);
  const side = 100;
  const cell = side / Math.max(gr, gc);
  const tw = cell * gc;
  const th = cell * gr;
  const gap = 18;
  const lab = 16;
  const margin = { top: 30, right: 90, bottom: 10, left: 10 };
  const width = Math.ceil(margin.left + per * (tw + gap) + margin.right);
  const height = Math.ceil(margin.top + rowsOf * (th + lab + gap) + margin.bottom);
  const svg = root(env, spec.title, width, height, "tiles");
  const colours = colourTable(spec.scheme, spec.domain);
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  spec.maps.forEach((map, k) => {
    if (map.values.length !== gr * gc) throw new RangeError(`invalid map ${map.label}: ${map.values.length} values for ${gr}×${gc}`);
    const tg = g
      .append("g")
      .attr("class", "tile")
      .attr("transform", `translate(${(k % per) * (tw + gap)},${Math.floor(k / per) * (th + lab + gap)})`);
    rasterImage(env, tg, gc, gr, paintRaster(colours, map.values, gc, gr), tw, th);
    tg.append("rect").attr("width", tw).attr("height", th).attr("fill", "none").attr("stroke", "#666").attr("stroke-width", 0.5);
    if (map.position) {
      tg.append("rect")
        .attr("x", map.position[1] * cell)
        .attr("y", map.position[0] * cell)
        .attr("width", cell)
        .attr("height", cell)
        .attr("fill", "none")
        .attr("stroke", "#e4007c")
        .attr("stroke-width", 1.5);
    }
    tg.append("text").attr("x", tw / 2).attr("y", th + 13).attr("text-anchor", "middle").text(truncate(map.label, 22));
    const hit = tg.append("rect").attr("class", "hit").attr("width", tw).attr("height", th).attr("fill", "transparent").attr("pointer-events", "all");
    hover(env, hit, (x, y) => {
      const c = Math.floor(x / cell);
      const r = Math.floor(y / cell);
      if (r < 0 || c < 0 || r >= gr || c >= gc) return null;
      return [map.label, `input cell (${r}, ${c})`, `${spec.valueName || "value"} = ${fmt(map.values[r * gc + c])}`];
    });
  });
  legend(env, svg, colours, spec.domain, width - margin.right + 14, margin.top, Math.max(th, 100), spec.valueName);
  return svg.node()!;
}

/**
 * A labelled grid of maps: row labels (model · site) on the left, column labels (token
 * position) on top, every label in full; the outlined cell is the token's own position.
 */
function labelledTiles(spec: TilesSpec, env: DrawEnv): SVGSVGElement {
  const [gr, gc] = spec.grid;
  const rows = spec.rowLabels!;
  const cols = spec.colLabels!;
  const side = cols.length > 4 ? 72 : 84;
  const cell = side / Math.max(gr, gc);
  const tw = cell * gc;
  const th = cell * gr;
  const gap = 10;
  const rowChars = Math.max(...rows.map((r) => r.length), 4);
  const margin = { top: 48, right: 86, bottom: 10, left: 12 + rowChars * 6.4 };
  const width = Math.ceil(margin.left + cols.length * (tw + gap) + margin.right);
  const height = Math.ceil(margin.top + rows.length * (th + gap) + margin.bottom);
  const svg = root(env, spec.title, width, height, "tiles");
  const colours = colourTable(spec.scheme, spec.domain);
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  cols.forEach((c, j) => g.append("text").attr("class", "col-label").attr("x", j * (tw + gap) + tw / 2).attr("y", -8).attr("text-anchor", "middle").text(c));
  rows.forEach((r, i) => g.append("text").attr("class", "row-label").attr("x", -8).attr("y", i * (th + gap) + th / 2).attr("dy", "0.32em").attr("text-anchor", "end").text(r));
  for (const map of spec.maps) {
    if (map.values.length !== gr * gc) throw new RangeError(`invalid map ${map.label}: ${map.values.length} values for ${gr}×${gc}`);
    const tg = g.append("g").attr("class", "tile").attr("transform", `translate(${map.col! * (tw + gap)},${map.row! * (th + gap)})`);
    rasterImage(env, tg, gc, gr, paintRaster(colours, map.values, gc, gr), tw, th);
    tg.append("rect").attr("width", tw).attr("height", th).attr("fill", "none").attr("stroke", "#666").attr("stroke-width", 0.5);
    if (map.position) {
      tg.append("rect").attr("x", map.position[1] * cell).attr("y", map.position[0] * cell).attr("width", cell).attr("height", cell).attr("fill", "none").attr("stroke", "#e4007c").attr("stroke-width", 1.5);
    }
    const hit = tg.append("rect").attr("class", "hit").attr("width", tw).attr("height", th).attr("fill", "transparent").attr("pointer-events", "all");
    hover(env, hit, (x, y) => {
      const c = Math.floor(x / cell);
      const r = Math.floor(y / cell);
      if (r < 0 || c < 0 || r >= gr || c >= gc) return null;
      return [map.label, `input cell (${r}, ${c})`, `${spec.valueName || "value"} = ${fmt(map.values[r * gc + c])}`];
    });
  }
  legend(env, svg, colours, spec.domain, width - margin.right + 14, margin.top, Math.max(Math.min(rows.length * (th + gap) - gap, 200), 80), spec.valueName);
  return svg.node()!;
}
