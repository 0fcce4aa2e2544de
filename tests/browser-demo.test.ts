/**
 * The demo report as a person sees it: `seelike demo` on the shipped zoo and probe set, opened
 * from disk in Debian's Chromium. No console errors, no network, every section drawn, a hover
 * shows the value that results.json holds, Save SVG gives a valid file; the layout a reader sees
 * at 1400×900 (findings first, nothing clipped or cut, one save bar per figure) and at 700 px;
 * screenshots are kept in test-artifacts/ (demo.png, layout/demo-*.png).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { JSDOM } from "jsdom";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { figureColumns, layoutProblems, measureLayout, type Layout } from "./helpers/layout.js";

const root = resolve(__dirname, "..");
const CHROMIUM = "/usr/bin/chromium";
const ZOO = ["vit-tiny", "resnet-tiny"].map((m) => join(root, "fixtures/zoo", `${m}.onnx`));
const ready = existsSync(CHROMIUM) && ZOO.every(existsSync);
if (!ready) console.warn(`browser-demo: skipped (needs ${CHROMIUM} and the zoo in fixtures/zoo)`);
const ARTIFACTS = join(root, "test-artifacts");

function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

describe.skipIf(!ready)("seelike demo report in Chromium", () => {
  let browser: Browser;
  let page: Page;
  let results: any;
  let wide: Page;
  let layout: Layout;
  const requests: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const out = join(ARTIFACTS, "demo", "demo.html");
    // async: a synchronous wait blocks the test worker's RPC for the whole demo run
    const r = await run(process.execPath, [join(root, "bin/seelike.js"), "demo", "--limit", "600", "--quiet", "--out", out, "--figures", join(ARTIFACTS, "demo", "figures")]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/report: .*demo\.html/);
    results = JSON.parse(readFileSync(join(ARTIFACTS, "demo", "demo", "results.json"), "utf8"));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
    page.on("request", (q) => requests.push(q.url()));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(pathToFileURL(out).href);
    await page.waitForSelector("html[data-ready=true]", { timeout: 60_000 });
    await page.screenshot({ path: join(ARTIFACTS, "demo.png"), fullPage: true });
    wide = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await wide.goto(pathToFileURL(out).href);
    await wide.waitForSelector("html[data-ready=true]", { timeout: 60_000 });
    layout = await measureLayout(wide);
    mkdirSync(join(ARTIFACTS, "layout"), { recursive: true });
    await wide.screenshot({ path: join(ARTIFACTS, "layout", "demo-1400x900.png") });
    await wide.screenshot({ path: join(ARTIFACTS, "layout", "demo-1400-full.png"), fullPage: true });
    writeFileSync(join(ARTIFACTS, "layout", "demo-layout.json"), JSON.stringify(layout, null, 1));
  }, 660_000);

  afterAll(async () => {
    await browser?.close();
  });

  test("opens from disk with no console errors and no network request", () => {
    expect(errors).toEqual([]);
    expect(requests.filter((u) => !/^(file|data|blob):/.test(u))).toEqual([]);
  });

  test("every section of the comparison has a non-empty figure", async () => {
    for (const section of ["cka", "attentionDistance", "skipRatio", "probes", "localisation", "posEmbed", "filters", "collapse", "dataScale", "ablation"]) {
      const marks = await page.$$eval(`section#${section} figure svg.seelike-figure`, (svgs) => svgs.map((s) => s.querySelectorAll("rect, circle, path, image").length));
      expect(marks.length, section).toBeGreaterThan(0);
      for (const m of marks) expect(m, section).toBeGreaterThan(3);
    }
  });

  test("hovering a cell of the vit-tiny × resnet-tiny CKA heatmap shows the value in results.json", async () => {
    const c = results.cka.find((x: any) => x.a === "vit-tiny" && x.b === "resnet-tiny");
    const ab = c.result.matrices.AB;
    const fig = page.locator('figure[data-figure^="cka-"][data-figure$="cka-m0-m1-AB"]');
    await fig.scrollIntoViewIfNeeded();
    const box = (await fig.locator("rect.hit").boundingBox())!;
    const [i, j] = [ab.rows.length - 1, 1];
    await page.mouse.move(box.x + ((j + 0.5) * box.width) / ab.cols.length, box.y + ((i + 0.5) * box.height) / ab.rows.length);
    const tip = page.locator("#seelike-tooltip");
    await expect.poll(() => tip.isVisible()).toBe(true);
    const lines = await tip.locator("div").allTextContents();
    expect(lines[0]).toContain(ab.rows[i]);
    expect(lines[1]).toContain(ab.cols[j]);
    const value = Number(/CKA = (.*)$/.exec(lines[2])![1].replace("\u2212", "-"));
    expect(lines[3]).toMatch(/^95% bootstrap interval: \[/);
    // The RBF-kernel CKA cross-check is drawn in its own (generic) section.
    expect(await page.locator("section#rbf-cka figure[data-figure]").count()).toBeGreaterThanOrEqual(6);
    // So are the measures beyond CKA the demo runs (issue 16).
    for (const id of ["cca", "svcca", "pwcca", "procrustes", "rsa", "mutual-knn", "predictivity"]) expect(await page.locator(`section#${id} figure[data-figure]`).count(), id).toBeGreaterThanOrEqual(3);
    expect(Math.abs(value - ab.data[i * ab.cols.length + j])).toBeLessThan(5e-4);
    await page.mouse.move(1, 1);
  });

  test("Save SVG of the attention-distance figure gives a well-formed SVG", async () => {
    const fig = page.locator('section#attentionDistance figure[data-figure]').first();
    await fig.scrollIntoViewIfNeeded();
    const [download] = await Promise.all([page.waitForEvent("download"), fig.locator("button.save-svg").click()]);
    const text = readFileSync((await download.path())!, "utf8");
    writeFileSync(join(ARTIFACTS, "demo-attention.svg"), text);
    const doc = new JSDOM(text, { contentType: "image/svg+xml" }).window.document;
    expect(doc.documentElement.localName).toBe("svg");
    expect(doc.querySelectorAll("circle").length).toBeGreaterThan(10);
  });

  test("at 1400×900 the findings come first and the first figure starts above 1,800 px; nothing is clipped, cut or repeated", async () => {
    expect(layoutProblems(layout)).toEqual([]);
    expect(await wide.locator("section#findings li[data-finding]").count()).toBeGreaterThanOrEqual(12);
    const order = await wide.$$eval("body > section", (s) => s.map((x) => x.id));
    expect(order[0]).toBe("findings");
    expect(order[order.length - 1]).toBe("run");
    // Small multiples: two columns on a wide screen.
    expect(await figureColumns(wide, "cka")).toBe(2);
    expect(await wide.locator("#run details.sanity > summary").textContent()).toMatch(/^\d+ of \d+ passed/);
  });

  test("at 700 px the figures stack in one column and still fit", async () => {
    await wide.setViewportSize({ width: 700, height: 900 });
    const narrow = await measureLayout(wide);
    await wide.screenshot({ path: join(ARTIFACTS, "layout", "demo-700.png") });
    expect(await figureColumns(wide, "cka")).toBe(1);
    expect(narrow.outside).toEqual([]);
    expect(narrow.overflowing).toEqual([]);
    await wide.setViewportSize({ width: 1400, height: 900 });
  });

  test("every finding's link leads to a figure of the page, and the findings' numbers are those of results.json", async () => {
    const links = await wide.$$eval("section#findings a[href^='#figure-']", (as) => as.map((a) => a.getAttribute("href")!.slice(1)));
    expect(links.length).toBeGreaterThanOrEqual(8);
    for (const id of links) expect(await wide.locator(`[id="${id}"]`).count(), id).toBe(1);
    // The skip-ratio finding quotes the median over vit-tiny's spatial tokens, from results.json.
    const spatial = results.skip["vit-tiny"].residuals.map((e: any) => e["mean-of-ratios"].spatial).sort((a: number, b: number) => a - b);
    const n = spatial.length;
    const median = n % 2 ? spatial[(n - 1) / 2] : (spatial[n / 2 - 1] + spatial[n / 2]) / 2;
    expect(await wide.locator('li[data-finding="skip-vit-cnn"]').textContent()).toContain(median.toFixed(2));
  });

  test("--figures wrote every figure of the report as an SVG and a PNG", async () => {
    const ids: string[] = await wide.$$eval("figure[data-figure]", (f) => f.map((x) => x.getAttribute("data-figure")!));
    for (const id of ids) {
      expect(existsSync(join(ARTIFACTS, "demo", "figures", `${id}.svg`)), id).toBe(true);
      expect(readFileSync(join(ARTIFACTS, "demo", "figures", `${id}.png`)).subarray(1, 4).toString("latin1"), id).toBe("PNG");
    }
  });
});
