/**
 * The library and renderReport load no DOM: a child `node` process imports the built package
 * entry (dist/src/index.js) and dist/reports/render.js with a hook that refuses jsdom, through
 * ESM resolution and CommonJS require alike (as if it were not installed), and renders the demo
 * report. Only a figure drawn in Node without a document asks for jsdom, and then fails with one
 * clear line. Needs `npm run build`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { JSDOM } from "jsdom";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoReportData } from "../reports/demo.js";
import { NO_DOM, figureSVG } from "../reports/figures.js";
import { reportSections } from "../reports/specs.js";

const root = path.resolve(__dirname, "..");
const dist = (f: string) => pathToFileURL(path.join(root, "dist", f)).href;

// Runs before anything else in the child: jsdom resolves to "not found" and every attempt is counted.
const HOOK = `
import Module, { register } from "node:module";
globalThis.__jsdom = [];
const hooks = \`export async function resolve(specifier, context, next) {
  if (specifier === "jsdom" || specifier.startsWith("jsdom/")) {
    const e = new Error("jsdom refused by the test hook (import from " + context.parentURL + ")");
    e.code = "ERR_MODULE_NOT_FOUND";
    throw e;
  }
  return next(specifier, context);
}\`;
register("data:text/javascript," + encodeURIComponent(hooks));
const load = Module._load;
Module._load = function (request, parent, ...rest) {
  if (request === "jsdom" || request.startsWith("jsdom/")) {
    globalThis.__jsdom.push(parent?.filename ?? "?");
    const e = new Error("jsdom refused by the test hook (require)");
    e.code = "MODULE_NOT_FOUND";
    throw e;
  }
  return load.call(this, request, parent, ...rest);
};
`;

const CHILD = `
import { createRequire } from "node:module";
const out = {};
const seelike = await import(${JSON.stringify(dist("src/index.js"))});
const { renderReport } = await import(${JSON.stringify(dist("reports/render.js"))});
const { demoReportData } = await import(${JSON.stringify(dist("reports/demo.js"))});
const { figureSVG } = await import(${JSON.stringify(dist("reports/figures.js"))});
const { reportSections } = await import(${JSON.stringify(dist("reports/specs.js"))});
out.exports = Object.keys(seelike).length;
out.report = typeof seelike.report;
const data = demoReportData();
const html = renderReport(data);
out.html = { length: html.length, head: html.slice(0, 200), ids: [...html.matchAll(/<figure data-figure="([^"]+)"/g)].map((m) => m[1]), scripts: (html.match(/<script>/g) ?? []).length, data: html.includes('<script type="application/json" id="seelike-data">') };
out.expectedIds = reportSections(data).flatMap((s) => s.figures.map((f) => f.id));
out.loadsDuringRender = globalThis.__jsdom.length;
// Controls: the hook really refuses jsdom on both paths.
out.importControl = await import("jsdom").then(() => "loaded", (e) => e.message);
try { createRequire(import.meta.url)("jsdom"); out.requireControl = "loaded"; } catch (e) { out.requireControl = e.message; }
// A figure in Node without a document is the one place that asks for jsdom.
try { figureSVG(reportSections(data)[0].figures[0]); out.figure = "drawn"; } catch (e) { out.figure = e.message; }
console.log(JSON.stringify(out));
`;

describe("no DOM in the library or the report renderer", () => {
  let dir: string;
  let run: ReturnType<typeof spawnSync>;
  let out: Record<string, any>;

  beforeAll(() => {
    if (!existsSync(path.join(root, "dist", "src", "index.js")) || !existsSync(path.join(root, "dist", "reports", "client", "report.js"))) {
      throw new Error("dist/ is missing or has no report bundle: run npm run build before this test");
    }
    dir = mkdtempSync(path.join(tmpdir(), "seelike-nodom-"));
    writeFileSync(path.join(dir, "hook.mjs"), HOOK);
    writeFileSync(path.join(dir, "child.mjs"), CHILD);
    run = spawnSync(process.execPath, ["--import", pathToFileURL(path.join(dir, "hook.mjs")).href, path.join(dir, "child.mjs")], { cwd: root, encoding: "utf8", timeout: 120_000 });
    out = run.status === 0 ? JSON.parse(String(run.stdout).trim().split("\n").pop()!) : {};
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the package entry and renderReport load with jsdom refused, and the hook refuses it on both module paths", () => {
    expect(run.status, String(run.stderr)).toBe(0);
    expect(out.exports).toBeGreaterThan(10);
    expect(out.report).toBe("function");
    expect(out.importControl).toMatch(/jsdom refused by the test hook/);
    expect(out.requireControl).toMatch(/jsdom refused by the test hook/);
  });

  it("renderReport writes the whole demo report without trying to load jsdom", () => {
    expect(out.loadsDuringRender).toBe(0);
    expect(out.html.head).toMatch(/^<!DOCTYPE html>\n<html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    expect(out.html.ids).toEqual(out.expectedIds);
    expect(out.html.ids.length).toBeGreaterThanOrEqual(14);
    expect(out.html.scripts).toBe(2);
    expect(out.html.data).toBe(true);
    expect(out.html.length).toBeGreaterThan(500_000);
  });

  it("a figure drawn in Node without a document and without jsdom fails with one clear line", () => {
    expect(out.figure).toBe(NO_DOM);
    expect(NO_DOM).toBe("drawing a figure in Node needs a DOM: pass { document } or `npm install jsdom`");
  });
});

describe("figureSVG with an injected document", () => {
  it("draws in the given document the same SVG as in its default jsdom document", () => {
    const figures = reportSections(demoReportData()).flatMap((s) => s.figures);
    const document = new JSDOM("<!DOCTYPE html><html><body></body></html>").window.document;
    for (const f of figures.slice(0, 6)) expect(figureSVG(f, { document }), f.id).toBe(figureSVG(f));
  });
});
