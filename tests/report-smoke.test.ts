import { test } from "vitest";
import { writeFileSync } from "node:fs";
import { renderReport } from "../reports/render.js";
import { demoReportData } from "../reports/demo.js";
import { ckaHeatmapSVG } from "../reports/figures.js";
test("smoke", () => {
  const t0 = Date.now();
  const html = renderReport(demoReportData());
  console.log("ms", Date.now() - t0, "bytes", html.length);
  writeFileSync("/tmp/rp/demo.html", html);
  const d = demoReportData();
  const svg = ckaHeatmapSVG(d.cka![1], { models: d.run.models });
  writeFileSync("/tmp/rp/cka1.svg", svg);
  console.log(svg.slice(0, 1500));
});
