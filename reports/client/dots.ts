/** Attention distance per head and layer: one dot per head, the uniform-attention ceiling dashed. */
import * as d3 from "d3";
import type { DotsSpec } from "../specs.js";
import { fmt, hoverMarks, isNum, root } from "./common.js";
import type { DrawEnv } from "./env.js";

/**
 * The dot chart of a spec.
 * @example dots({ title: "t", layers: [{ layer: 0, heads: [12, 80] }], ceiling: 116.5 }, env)
 */
export function dots(spec: DotsSpec, env: DrawEnv): SVGSVGElement {
  const margin = { top: 30, right: 30, bottom: 44, left: 58 };
  const pw = spec.width || 440;
  const ph = spec.height || 260;
  const width = margin.left + pw + margin.right;
  const height = margin.top + ph + margin.bottom;
  const svg = root(env, spec.title, width, height, "dots");
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  const layers = spec.layers.map((l) => l.layer);
  // d3.min/max of an empty list are undefined and give NaN, as the untyped client did.
  const x = d3
    .scaleLinear()
    .domain(spec.xDomain ?? [(d3.min(layers) as number) - 0.6, (d3.max(layers) as number) + 0.6])
    .range([0, pw]);
  const ymax = spec.yMax ?? Math.max(spec.ceiling || 0, d3.max(spec.layers, (l) => d3.max(l.heads as number[])) || 1);
  const y = d3.scaleLinear().domain([0, ymax * 1.08]).range([ph, 0]).nice();
  g.append("g")
    .attr("class", "x-axis")
    .attr("transform", `translate(0,${ph})`)
    .call(d3.axisBottom(x).tickValues(layers.length <= 24 ? layers : x.ticks(12).filter(Number.isInteger)).tickFormat(d3.format("d")));
  g.append("g").attr("class", "y-axis").call(d3.axisLeft(y).ticks(6));
  g.append("text").attr("x", pw / 2).attr("y", ph + 36).attr("text-anchor", "middle").text(spec.xLabel || "layer (block index)");
  g.append("text").attr("transform", `translate(-44,${ph / 2}) rotate(-90)`).attr("text-anchor", "middle").text(spec.yLabel || "mean attention distance (px)");
  if (isNum(spec.ceiling)) {
    g.append("line").attr("class", "ref").attr("x1", 0).attr("x2", pw).attr("y1", y(spec.ceiling)).attr("y2", y(spec.ceiling)).attr("stroke", "#555").attr("stroke-dasharray", "5,4");
    g.append("text").attr("x", pw - 4).attr("y", y(spec.ceiling) - 4).attr("text-anchor", "end").attr("fill", "#555").text(spec.ceilingLabel || "uniform attention");
  }
  // Stages (windowed or hierarchical attention): a band and a label per stage above the plot.
  const stages = [...new Set(spec.layers.map((l) => l.stage).filter((v): v is string => v !== undefined))];
  stages.forEach((st, k) => {
    const ls = spec.layers.filter((l) => l.stage === st).map((l) => l.layer);
    const x0 = x(Math.min(...ls) - 0.5);
    const x1 = x(Math.max(...ls) + 0.5);
    if (k % 2 === 1) g.insert("rect", ":first-child").attr("class", "stage-band").attr("x", x0).attr("width", x1 - x0).attr("y", 0).attr("height", ph).attr("fill", "#f3f3f3");
    g.append("text").attr("class", "stage-label").attr("x", (x0 + x1) / 2).attr("y", -4).attr("text-anchor", "middle").attr("fill", "#555").text(`stage ${st}`);
  });
  // Windowed attention: each layer's own uniform value, a dashed step over its column.
  for (const c of spec.layerCeilings ?? []) {
    g.append("line").attr("class", "ref layer-ceiling").attr("x1", x(c.layer - 0.45)).attr("x2", x(c.layer + 0.45)).attr("y1", y(c.ceiling)).attr("y2", y(c.ceiling)).attr("stroke", "#a33").attr("stroke-dasharray", "3,2");
  }
  const pts: { layer: number; head: number; v: number | null; jitter: number }[] = [];
  for (const l of spec.layers) {
    const count = l.heads.length;
    l.heads.forEach((v, h) => {
      // Spread heads a little sideways so equal distances stay visible.
      const jitter = count > 1 ? (h / (count - 1) - 0.5) * Math.min(10, (pw / layers.length) * 0.4) : 0;
      pts.push({ layer: l.layer, head: h, v, jitter });
    });
  }
  const circles = g
    .append("g")
    .attr("class", "marks")
    .selectAll<SVGCircleElement, never>("circle")
    .data(pts.filter((p) => isNum(p.v)))
    .join("circle")
    .attr("cx", (p) => x(p.layer) + p.jitter)
    .attr("cy", (p) => y(p.v as number))
    .attr("r", 3)
    .attr("fill", "#4e79a7")
    .attr("fill-opacity", 0.75)
    .attr("stroke", "#1f3b5a")
    .attr("stroke-width", 0.4);
  hoverMarks(env, circles, (p) => [`layer ${p.layer}, head ${p.head}`, `distance = ${fmt(p.v)} px`]);
  return svg.node()!;
}
