/** Heads sorted by attention distance, one panel per chosen layer (Raghu Fig. 3). */
import * as d3 from "d3";
import type { SortedHeadsSpec } from "../specs.js";
import { fmt, hoverMarks, isNum, root } from "./common.js";
import type { DrawEnv } from "./env.js";

/**
 * The sorted-heads panels of a spec.
 * @example sortedHeads({ title: "t", panels: [{ layer: 0, heads: [80, 12] }], ceiling: 116.5 }, env)
 */
export function sortedHeads(spec: SortedHeadsSpec, env: DrawEnv): SVGSVGElement {
  const k = spec.panels.length;
  const pw = 150;
  const ph = 180;
  const gap = 28;
  const margin = { top: 60, right: 16, bottom: 44, left: 58 };
  const width = margin.left + k * pw + (k - 1) * gap + margin.right;
  const height = margin.top + ph + margin.bottom;
  const svg = root(env, spec.title, width, height, "sorted-heads");
  const ymax = Math.max(spec.ceiling || 0, d3.max(spec.panels, (p) => d3.max(p.heads as number[])) || 1);
  const y = d3.scaleLinear().domain([0, ymax * 1.08]).range([ph, 0]).nice();
  spec.panels.forEach((panel, idx) => {
    const sorted = panel.heads.filter(isNum).slice().sort(d3.ascending);
    const g = svg.append("g").attr("class", "panel").attr("transform", `translate(${margin.left + idx * (pw + gap)},${margin.top})`);
    const x = d3.scaleLinear().domain([0, Math.max(1, sorted.length - 1)]).range([6, pw - 6]);
    g.append("text").attr("x", pw / 2).attr("y", -8).attr("text-anchor", "middle").attr("font-weight", 600).text(`layer ${panel.layer}`);
    g.append("g").attr("transform", `translate(0,${ph})`).call(d3.axisBottom(x).ticks(Math.min(sorted.length, 5)).tickFormat(d3.format("d")));
    g.append("g").call(d3.axisLeft(y).ticks(5));
    if (isNum(spec.ceiling)) {
      g.append("line").attr("class", "ref").attr("x1", 0).attr("x2", pw).attr("y1", y(spec.ceiling)).attr("y2", y(spec.ceiling)).attr("stroke", "#555").attr("stroke-dasharray", "5,4");
    }
    const path = d3
      .line<number>()
      .x((_, i) => x(i))
      .y((v) => y(v));
    g.append("path").attr("fill", "none").attr("stroke", "#4e79a7").attr("stroke-width", 1.2).attr("d", path(sorted));
    const c = g
      .selectAll<SVGCircleElement, never>("circle")
      .data(sorted)
      .join("circle")
      .attr("cx", (_, i) => x(i))
      .attr("cy", (v) => y(v))
      .attr("r", 3)
      .attr("fill", "#4e79a7");
    hoverMarks(env, c, (v) => [`layer ${panel.layer}`, `distance = ${fmt(v)} px`]);
  });
  svg.append("text").attr("x", margin.left + (width - margin.left - margin.right) / 2).attr("y", height - 8).attr("text-anchor", "middle").text("heads, sorted by mean attention distance");
  svg.append("text").attr("transform", `translate(16,${margin.top + ph / 2}) rotate(-90)`).attr("text-anchor", "middle").text("mean attention distance (px)");
  if (isNum(spec.ceiling)) svg.append("text").attr("x", 8).attr("y", 32).attr("fill", "#555").text(`dashed: uniform attention, ${fmt(spec.ceiling)} px`);
  return svg.node()!;
}
