/**
 * The demo report as a person sees it: `seelike demo` on the shipped zoo and probe set, opened
 * from disk in Debian's Chromium. No console errors, no network, every section drawn, a hover
 * shows the value that results.json holds, Save SVG gives a valid file; a screenshot is kept in
 * test-artifacts/demo.png.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { JSDOM } from "jsdom";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

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
  const requests: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const out = join(ARTIFACTS, "demo", "demo.html");
    // async: a synchronous wait blocks the test worker's RPC for the whole demo run
    const r = await run(process.execPath, [join(root, "bin/seelike.js"), "demo", "--limit", "600", "--quiet", "--out", out]);
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
});
