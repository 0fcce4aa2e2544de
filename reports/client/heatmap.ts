/** Heatmap (CKA, attention collapse, panels): vector cells up to 60×60, one raster image above. */
import * as d3 from "d3";
import type { HeatmapSpec } from "../specs.js";
import { RASTER_CELLS, colourTable, fmt, hover, legend, paintRaster, rasterImage, root, truncate } from "./common.js";
import type { DrawEnv } from "./env.js";

/**
 * The heatmap of a spec.
 * @example heatmap({ title: "A×B", rows, cols, values, domain: [0, 1], scheme: "viridis" }, env)
 *
 * One function on purpose: the scales, the raster-or-vector cells, the axes and the hover
 * mark share the layout computed at its top.
 */
export function heatmap(spec: HeatmapSpec, env: DrawEnv): SVGSVGElement {
  const n = spec.rows.length;
  const m = spec.cols.length;
  if (spec.values.length !== n * m) throw new RangeError(`invalid heatmap ${spec.title}: ${spec.values.length} values for ${n}×${m}`);
  const labelled = Math.max(n, m) <= 40;
  const cell = Math.min(22, (spec.size || 440) / Math.max(n, m, 1));
  const pw = cell * m;
  const ph = cell * n;
  const rowChars = labelled ? Math.min(36, d3.max(spec.rows, (s) => String(s).length) || 1) : 4;
  const colChars = labelled ? Math.min(36, d3.max(spec.cols, (s) => String(s).length) || 1) : 3;
  const margin = { top: 30, left: 28 + rowChars * 6.2, bottom: 34 + (labelled ? colChars * 5.4 : 16), right: 96 };
  const width = Math.ceil(margin.left + pw + margin.right);
  const height = Math.ceil(margin.top + Math.max(ph, 120) + margin.bottom);
  const svg = root(env, spec.title, width, height, "heatmap");
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  const colours = colourTable(spec.scheme, spec.domain);
  const values = spec.values;
  const raster = n * m > RASTER_CELLS;
  svg.attr("data-render", raster ? "raster" : "vector");
  if (raster) {
    rasterImage(env, g, m, n, paintRaster(colours, values, m, n), pw, ph).attr("class", "cells");
  } else {
    // crispEdges: no anti-aliased seams between adjacent cells.
    const cells = g.append("g").attr("class", "cells").attr("shape-rendering", "crispEdges");
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < m; j++) {
        cells.append("rect").attr("x", j * cell).attr("y", i * cell).attr("width", cell).attr("height", cell).attr("fill", colours.css(values[i * m + j]));
      }
    }
  }
  g.append("rect").attr("width", pw).attr("height", ph).attr("fill", "none").attr("stroke", "#666").attr("stroke-width", 0.5);

  // Axes: site names when they fit, otherwise indices (names stay in the tooltip).
  const xs = d3.scaleBand<number>().domain(d3.range(m)).range([0, pw]);
  const ys = d3.scaleBand<number>().domain(d3.range(n)).range([0, ph]);
  const every = (k: number) => d3.range(0, k, Math.max(1, Math.ceil(k / 10)));
  const xAxis = d3.axisBottom(xs).tickSizeOuter(0);
  const yAxis = d3.axisLeft(ys).tickSizeOuter(0);
  if (labelled) {
    xAxis.tickFormat((j) => truncate(spec.cols[j], 36));
    yAxis.tickFormat((i) => truncate(spec.rows[i], 36));
  } else {
    xAxis.tickValues(every(m));
    yAxis.tickValues(every(n));
  }
  const gx = g.append("g").attr("class", "x-axis").attr("transform", `translate(0,${ph})`).call(xAxis);
  if (labelled) gx.selectAll("text").attr("text-anchor", "end").attr("dx", "-0.6em").attr("dy", "0.2em").attr("transform", "rotate(-60)");
  g.append("g").attr("class", "y-axis").call(yAxis);
  g.append("text").attr("x", pw / 2).attr("y", height - margin.top - 6).attr("text-anchor", "middle").text(spec.colTitle || "");
  g.append("text").attr("transform", `translate(${-margin.left + 12},${ph / 2}) rotate(-90)`).attr("text-anchor", "middle").text(spec.rowTitle || "");
  legend(env, g, colours, spec.domain, pw + 16, 0, Math.max(ph, 120), spec.legendLabel || spec.valueName);

  const mark = g
    .append("rect")
    .attr("class", "hover-mark")
    .attr("fill", "none")
    .attr("stroke", "#e4007c")
    .attr("stroke-width", 1.5)
    .attr("width", Math.max(cell, 3))
    .attr("height", Math.max(cell, 3))
    .attr("visibility", "hidden")
    .attr("pointer-events", "none");
  const hit = g.append("rect").attr("class", "hit").attr("width", pw).attr("height", ph).attr("fill", "transparent").attr("pointer-events", "all");
  hover(env, hit, (x, y) => {
    const j = Math.floor(x / cell);
    const i = Math.floor(y / cell);
    if (i < 0 || j < 0 || i >= n || j >= m) {
      mark.attr("visibility", "hidden");
      return null;
    }
    mark.attr("x", j * cell).attr("y", i * cell).attr("visibility", "visible");
    const lines = [
      `${spec.rowTitle || "row"} ${i}: ${spec.rows[i]}`,
      `${spec.colTitle || "column"} ${j}: ${spec.cols[j]}`,
      `${spec.valueName || "value"} = ${fmt(values[i * m + j])}`,
    ];
    if (spec.lower && spec.upper) lines.push(`${spec.intervalName || "interval"}: [${fmt(spec.lower[i * m + j])}, ${fmt(spec.upper[i * m + j])}]`);
    if (spec.p) lines.push(`p = ${fmt(spec.p[i * m + j])}`);
    return lines;
  });
  if (env.tooltip) hit.on("mouseleave.mark", () => mark.attr("visibility", "hidden"));
  return svg.node()!;
}
