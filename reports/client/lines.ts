/** Line chart (skip ratios, probes, attention to CLS, panels). */
import * as d3 from "d3";
import type { LinesSpec } from "../specs.js";
import { DASHES, fmt, hoverMarks, isNum, root, truncate, type Sel } from "./common.js";
import type { DrawEnv } from "./env.js";

interface Styled {
  name: string;
  colour: string;
  dash: string;
}

type Point = LinesSpec["series"][number]["points"][number];

function seriesLegend(g: Sel<SVGGElement>, series: Styled[], x: number, y: number): void {
  const lg = g.append("g").attr("class", "legend").attr("transform", `translate(${x},${y})`);
  series.forEach((s, k) => {
    const row = lg.append("g").attr("transform", `translate(0,${k * 16})`);
    row.append("line").attr("x1", 0).attr("x2", 22).attr("y1", 0).attr("y2", 0).attr("stroke", s.colour).attr("stroke-width", 2).attr("stroke-dasharray", s.dash || null);
    row.append("circle").attr("cx", 11).attr("r", 2.5).attr("fill", s.colour);
    row.append("text").attr("x", 28).attr("dy", "0.32em").text(truncate(s.name, 36));
  });
}

/**
 * The line chart of a spec: one coloured, dashed series per entry, dots at the points.
 * @example lines({ title: "t", xLabel: "block", yLabel: "ratio", series: [{ name: "cls", points }] }, env)
 */
export function lines(spec: LinesSpec, env: DrawEnv): SVGSVGElement {
  const longest = d3.max(spec.series, (s) => String(s.name).length) || 0;
  const below = spec.legend === "below";
  const pw = spec.width || 440;
  const ph = spec.height || 240;
  // Below the plot: as many columns as fit the plot's width, every name in full.
  const colWidth = 34 + 6.4 * longest;
  const legendCols = below ? Math.max(1, Math.floor((pw + 40) / colWidth)) : 1;
  const legendRows = below ? Math.ceil(spec.series.length / legendCols) : 0;
  const margin = { top: 30, right: below ? 24 : 64 + 6.2 * Math.min(36, longest), bottom: 44 + (below ? 8 + legendRows * 16 : 0), left: 58 };
  const width = Math.ceil(margin.left + Math.max(pw, below ? legendCols * colWidth - 40 : 0) + margin.right);
  const height = margin.top + ph + margin.bottom;
  const svg = root(env, spec.title, width, height, "lines");
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  const all: (Point & { y: number })[] = [];
  for (const s of spec.series) for (const p of s.points) if (isNum(p.y)) all.push(p as Point & { y: number });
  const cats = spec.xCategories;
  let xDomain = (cats ? [-0.5, cats.length - 0.5] : spec.xDomain ?? d3.extent(all, (p) => p.x)) as [number, number];
  if (!isNum(xDomain[0])) xDomain = [0, 1];
  if (xDomain[0] === xDomain[1]) xDomain = [xDomain[0] - 0.5, xDomain[1] + 0.5];
  const refs = spec.refLines ?? [];
  const yExt = d3.extent(all.map((p) => p.y).concat(refs.map((r) => r.y)));
  const yDomain = spec.yDomain ?? [Math.min(0, yExt[0] || 0), (yExt[1] || 1) * 1.05];
  const x = d3.scaleLinear().domain(xDomain).range([0, pw]);
  let y: d3.ScaleContinuousNumeric<number, number>;
  if (spec.yLog) {
    const pos = all.map((p) => p.y).filter((v) => v > 0);
    y = d3
      .scaleLog()
      .domain(spec.yDomain ?? [d3.min(pos) || 0.1, d3.max(pos) || 1])
      .range([ph, 0])
      .nice();
  } else {
    y = d3.scaleLinear().domain(yDomain).range([ph, 0]).nice();
  }
  g.append("g")
    .attr("class", "grid")
    .attr("stroke", "#eee")
    .selectAll("line")
    .data(y.ticks(6))
    .join("line")
    .attr("x1", 0)
    .attr("x2", pw)
    .attr("y1", (v) => y(v))
    .attr("y2", (v) => y(v));
  const xAxis = d3.axisBottom(x).ticks(8);
  if (cats) xAxis.tickValues(d3.range(cats.length)).tickFormat((v) => cats[Number(v)] ?? "");
  else if (spec.xInteger) xAxis.tickFormat(d3.format("d")).tickValues(x.ticks(8).filter(Number.isInteger));
  g.append("g").attr("class", "x-axis").attr("transform", `translate(0,${ph})`).call(xAxis);
  g.append("g").attr("class", "y-axis").call(d3.axisLeft(y).ticks(6, spec.yLog ? "~g" : undefined));
  g.append("text").attr("x", pw / 2).attr("y", ph + 36).attr("text-anchor", "middle").text(spec.xLabel || "");
  g.append("text").attr("transform", `translate(-44,${ph / 2}) rotate(-90)`).attr("text-anchor", "middle").text(spec.yLabel || "");
  for (const r of refs) {
    g.append("line").attr("class", "ref").attr("x1", 0).attr("x2", pw).attr("y1", y(r.y)).attr("y2", y(r.y)).attr("stroke", "#555").attr("stroke-dasharray", "5,4");
    g.append("text").attr("x", pw - 4).attr("y", y(r.y) - 4).attr("text-anchor", "end").attr("fill", "#555").text(r.label);
  }
  const palette = d3.schemeTableau10;
  const styled = spec.series.map((s, k) => ({ name: s.name, points: s.points, colour: palette[k % 10], dash: DASHES[k % DASHES.length] }));
  const defined = (p: Point): p is Point & { y: number } => isNum(p.y) && (!spec.yLog || p.y > 0);
  const line = d3
    .line<Point>()
    .defined(defined)
    .x((p) => x(p.x))
    .y((p) => y(p.y as number));
  for (const s of styled) {
    const sg = g.append("g").attr("class", "series");
    // A categorical axis has no order between its categories: dots only.
    if (!cats) sg.append("path").attr("d", line(s.points)).attr("fill", "none").attr("stroke", s.colour).attr("stroke-width", 1.8).attr("stroke-dasharray", s.dash || null);
    const dots = sg
      .selectAll<SVGCircleElement, never>("circle")
      .data(s.points.filter(defined))
      .join("circle")
      .attr("cx", (p) => x(p.x))
      .attr("cy", (p) => y(p.y))
      .attr("r", 3)
      .attr("fill", s.colour);
    hoverMarks(env, dots, (p) => [s.name, p.label != null ? String(p.label) : `${spec.xLabel || "x"} = ${fmt(p.x)}`, `${spec.yLabel || "y"} = ${fmt(p.y)}`]);
  }
  if (below) {
    const lg = g.append("g").attr("class", "legend").attr("transform", `translate(0,${ph + 52})`);
    styled.forEach((st, k) => {
      const row = lg.append("g").attr("transform", `translate(${(k % legendCols) * colWidth},${Math.floor(k / legendCols) * 16})`);
      row.append("line").attr("x1", 0).attr("x2", 22).attr("stroke", st.colour).attr("stroke-width", 2).attr("stroke-dasharray", st.dash || null);
      row.append("circle").attr("cx", 11).attr("r", 2.5).attr("fill", st.colour);
      row.append("text").attr("x", 28).attr("dy", "0.32em").text(st.name);
    });
  } else seriesLegend(g, styled, pw + 20, 8);
  return svg.node()!;
}
