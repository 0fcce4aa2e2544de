/**
 * The report's layout as a reader sees it in Debian's Chromium at 1400×900: the first figure
 * above 1,800 px, no text outside its SVG, no label cut with "…", no caption repeated, no more
 * save buttons than figures. On the synthetic demo data (reports/demo.ts: ~150 ViT-B/16 sites,
 * hostile names) and on a compare report of two full-size torchvision exports (16 images).
 * Screenshots are kept in test-artifacts/layout/.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { demoReportData } from "../reports/demo.js";
import { renderReport } from "../reports/render.js";
import { layoutProblems, measureLayout, figureColumns, type Layout } from "./helpers/layout.js";

const root = resolve(__dirname, "..");
const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`report-layout: skipped, ${CHROMIUM} not found`);
const ARTIFACTS = join(root, "test-artifacts", "layout");
/** The exports, made by fixtures/models/make_fullsize.py into .cache/fullsize (gitignored). */
const FULLSIZE = join(root, ".cache", "fullsize");
const VIT = join(FULLSIZE, "tv_vit_b32_op14.onnx");
const RESNET = join(FULLSIZE, "tv_resnet18_op14.onnx");
const hasFullsize = existsSync(VIT) && existsSync(RESNET);
if (!hasFullsize) console.warn(`SKIPPED: report-layout's full-size compare (needs ${VIT} and ${RESNET}: run /usr/bin/python3 fixtures/models/make_fullsize.py)`);

function run(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [join(root, "bin/seelike.js"), ...args], { cwd: root, stdio: ["ignore", "ignore", "pipe"], timeout: 600_000 });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", fail);
    child.on("close", (status) => ok({ status, stderr }));
  });
}

let browser: Browser;

async function open(file: string, shot: string): Promise<{ layout: Layout; columns: number }> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector("html[data-ready=true]", { timeout: 60_000 });
  const layout = await measureLayout(page);
  await page.screenshot({ path: join(ARTIFACTS, `${shot}-1400x900.png`) });
  await page.screenshot({ path: join(ARTIFACTS, `${shot}-full.png`), fullPage: true });
  writeFileSync(join(ARTIFACTS, `${shot}-layout.json`), JSON.stringify(layout, null, 1));
  const columns = await figureColumns(page, "cka");
  await page.close();
  expect(errors).toEqual([]);
  return { layout, columns };
}

describe.skipIf(!hasChromium)("report layout in Chromium at 1400×900", () => {
  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  test("the synthetic ViT-B/16 × ResNet-50 report passes every layout check", async () => {
    const file = join(ARTIFACTS, "synthetic.html");
    writeFileSync(file, renderReport(demoReportData()));
    const { layout, columns } = await open(file, "synthetic");
    expect(layoutProblems(layout)).toEqual([]);
    expect(columns).toBe(2);
  }, 120_000);

  test("a layout check fails on a report that clips, cuts and repeats", async () => {
    // The checks themselves: a page built to break each one must be caught.
    const file = join(ARTIFACTS, "broken.html");
    const svg = (text: string) => `<svg class="seelike-figure" width="100" height="40" viewBox="0 0 100 40"><text x="60" y="20">${text}</text></svg>`;
    const fig = (id: string) => `<figure data-figure="${id}"><button class="save-svg"></button><button class="save-svg"></button><div class="plot">${svg("a label far too long…")}</div><figcaption>same</figcaption></figure>`;
    writeFileSync(file, `<!DOCTYPE html><html data-ready="true"><body><div style="height:2000px"></div>${fig("a")}${fig("b")}</body></html>`);
    const { layout } = await open(file, "broken");
    const problems = layoutProblems(layout).join("\n");
    expect(problems).toMatch(/first figure at y = \d+ px/);
    expect(problems).toMatch(/4 Save SVG buttons for 2 figures/);
    expect(problems).toMatch(/text outside its SVG: a: a label far too long…/);
    expect(problems).toMatch(/truncated label: b: a label far too long…/);
    expect(problems).toMatch(/repeated caption: same/);
  }, 60_000);

  test.skipIf(!hasFullsize)("a compare report of full-size torchvision ViT-B/32 and ResNet-18 (16 images) passes every layout check", async () => {
    const out = join(ARTIFACTS, "fullsize", "compare.html");
    const r = await run(["compare", VIT, RESNET, "--data", join(root, "fixtures/data/probe-images-idx3-ubyte.gz"), "--limit", "16", "--batch", "8", "--quiet", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    const { layout, columns } = await open(out, "fullsize");
    expect(layoutProblems(layout)).toEqual([]);
    expect(layout.figures).toBeGreaterThanOrEqual(8);
    expect(columns).toBe(2);
  }, 600_000);
});
