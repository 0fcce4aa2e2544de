/** Patch-embedding filter components as small images (ViT paper Fig. 7 left). */
import * as d3 from "d3";
import type { FiltersSpec } from "../specs.js";
import { fmt, isNum, rasterImage, root } from "./common.js";
import type { DrawEnv } from "./env.js";

/**
 * The filter components of a spec, seven per row, each labelled with its explained variance.
 * @example filters({ title: "t", patchSize: 2, channels: 3, layout: "chw", components: [{ values, variance: 0.5 }] }, env)
 */
export function filters(spec: FiltersSpec, env: DrawEnv): SVGSVGElement {
  const P = spec.patchSize;
  const C = spec.channels;
  const n = spec.components.length;
  const per = Math.min(n, 7) || 1;
  const rowsOf = Math.ceil(n / per);
  const side = 48;
  const gap = 10;
  const lab = 14;
  const margin = { top: 30, right: 10, bottom: 8, left: 10 };
  const width = margin.left + per * (side + gap) + margin.right;
  const height = margin.top + rowsOf * (side + lab + gap) + margin.bottom;
  const svg = root(env, spec.title, width, height, "filters");
  const g = svg.append("g").attr("transform", `translate(${margin.left},${margin.top})`);
  spec.components.forEach((comp, k) => {
    const v = comp.values;
    if (v.length !== P * P * C) throw new RangeError(`invalid filter component ${k}: ${v.length} values for ${P}×${P}×${C}`);
    // Each component is scaled to [0, 1] on its own (ViT paper Fig. 7 left): only its shape matters.
    let lo = Infinity;
    let hi = -Infinity;
    for (const q of v) {
      if (!isNum(q)) continue;
      if (q < lo) lo = q;
      if (q > hi) hi = q;
    }
    const span = hi - lo || 1;
    const rgba = new Uint8ClampedArray(P * P * 4);
    for (let p = 0; p < P * P; p++) {
      for (let ch = 0; ch < 3; ch++) {
        const c = C >= 3 ? ch : 0;
        const value = v[spec.layout === "hwc" ? p * C + c : c * P * P + p];
        rgba[4 * p + ch] = Math.round((255 * ((isNum(value) ? value : lo) - lo)) / span);
      }
      rgba[4 * p + 3] = 255;
    }
    const tg = g
      .append("g")
      .attr("class", "component")
      .attr("transform", `translate(${(k % per) * (side + gap)},${Math.floor(k / per) * (side + lab + gap)})`);
    const img = rasterImage(env, tg, P, P, rgba, side, side);
    tg.append("text")
      .attr("x", side / 2)
      .attr("y", side + 11)
      .attr("text-anchor", "middle")
      .attr("font-size", 9)
      .text(`PC${k + 1}${isNum(comp.variance) ? ` ${d3.format(".2~%")(comp.variance)}` : ""}`);
    const tooltip = env.tooltip;
    if (tooltip) {
      img.on("mousemove", (event: MouseEvent) => tooltip.show(event, [`principal component ${k + 1}`, `explained variance = ${fmt(comp.variance)}`])).on("mouseleave", () => tooltip.hide());
    }
  });
  return svg.node()!;
}
