/**
 * Entry of the browser bundle (esbuild → dist/reports/client/report.js, inlined after d3):
 * reads the inlined JSON, draws every figure into its <figure data-figure="ID">, wires the
 * tooltip and the SVG/PNG export buttons. Makes no network request.
 */
import * as d3 from "d3";
import type { Drawable } from "../specs.js";
import { draw } from "./draw.js";
import type { DrawEnv, Tooltip } from "./env.js";

/** The JSON inlined by reports/render.ts as #seelike-data. */
interface Payload {
  version: number;
  figures: Drawable[];
}

function tooltipOf(tip: d3.Selection<HTMLElement, unknown, null, undefined>): Tooltip {
  return {
    show(event, lines) {
      tip
        .selectAll("div")
        .data(lines)
        .join("div")
        .text((d) => d);
      tip.attr("hidden", null);
      const node = tip.node()!;
      let x = event.clientX + 14;
      let y = event.clientY + 14;
      if (x + node.offsetWidth > window.innerWidth - 4) x = event.clientX - node.offsetWidth - 10;
      if (y + node.offsetHeight > window.innerHeight - 4) y = event.clientY - node.offsetHeight - 10;
      tip.style("left", `${Math.max(0, x)}px`).style("top", `${Math.max(0, y)}px`);
    },
    hide() {
      tip.attr("hidden", "");
    },
  };
}

function raster(width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>): string {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d")!.putImageData(new ImageData(rgba, width, height), 0, 0);
  return canvas.toDataURL("image/png");
}

/** Standalone SVG text of a figure, without the hover-only elements. */
function svgText(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.querySelectorAll(".hit, .hover-mark").forEach((n) => n.remove());
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(clone)}`;
}

function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

type Status = d3.Selection<HTMLDivElement, unknown, null, undefined>;

function savePNG(svg: SVGSVGElement, name: string, status: Status): void {
  const text = svgText(svg);
  const w = Number(svg.getAttribute("width"));
  const h = Number(svg.getAttribute("height"));
  const scale = 2;
  const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
  const img = new Image();
  img.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = w * scale;
    canvas.height = h * scale;
    const ctx = canvas.getContext("2d")!;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, w * scale, h * scale);
    URL.revokeObjectURL(url);
    try {
      canvas.toBlob((blob) => save(blob!, `${name}.png`), "image/png");
    } catch (e) {
      status.text(`PNG export failed: ${(e as Error).message}`);
    }
  };
  img.onerror = () => status.text("PNG export failed: the SVG could not be rasterised");
  img.src = url;
}

function buttons(figure: HTMLElement, svg: SVGSVGElement, id: string): void {
  const bar = d3.select(figure).insert("div", ".plot").attr("class", "buttons");
  const status = d3.select(figure).append("div").attr("class", "status");
  bar
    .append("button")
    .attr("type", "button")
    .attr("class", "save-svg")
    .text("Save SVG")
    .on("click", () => save(new Blob([svgText(svg)], { type: "image/svg+xml" }), `${id}.svg`));
  bar
    .append("button")
    .attr("type", "button")
    .attr("class", "save-png")
    .text("Save PNG")
    .on("click", () => savePNG(svg, id, status));
}

function boot(): void {
  const payload = JSON.parse(document.getElementById("seelike-data")!.textContent!) as Payload;
  let counter = 0;
  const env: DrawEnv = {
    document,
    raster,
    tooltip: tooltipOf(d3.select(document.getElementById("seelike-tooltip")!)),
    uid: (prefix) => `seelike-${prefix}-${++counter}`,
  };
  for (const f of payload.figures) {
    const figure = document.querySelector<HTMLElement>(`figure[data-figure="${CSS.escape(f.id)}"]`);
    if (!figure) continue;
    const holder = figure.querySelector<HTMLElement>(".plot")!;
    try {
      const svg = draw(f, env);
      holder.appendChild(svg);
      buttons(figure, svg, f.id);
    } catch (e) {
      d3.select(holder).append("p").attr("class", "error").text(`Could not draw this figure: ${(e as Error).message}`);
      console.error(e);
    }
  }
  document.documentElement.setAttribute("data-ready", "true");
}

boot();
