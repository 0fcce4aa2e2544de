import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { JSDOM } from "jsdom";
import { chromium, type Browser, type Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HOSTILE, demoReportData } from "../reports/demo.js";
import { renderReport } from "../reports/render.js";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`browser-report: skipped, ${CHROMIUM} not found (apt-get install chromium to run it)`);

const ARTIFACTS = join(import.meta.dirname, "..", "test-artifacts");

describe.skipIf(!hasChromium)(`report in Chromium (${CHROMIUM})`, () => {
  const data = demoReportData();
  let browser: Browser;
  let page: Page;
  let file: string;
  const requests: string[] = [];
  const errors: string[] = [];
  const dialogs: string[] = [];
  const failed = new Map<string, string>();
  const responses: string[] = [];

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    file = join(ARTIFACTS, "report.html");
    writeFileSync(file, renderReport(data));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
    page.on("request", (r) => requests.push(r.url()));
    page.on("requestfailed", (r) => failed.set(r.url(), r.failure()?.errorText ?? ""));
    page.on("response", (r) => responses.push(r.url()));
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector("html[data-ready=true]", { timeout: 30_000 });
  });

  afterAll(async () => {
    await browser?.close();
  });

  test("the report loads with no console errors, no dialogs and no network request", () => {
    expect(errors).toEqual([]);
    expect(dialogs).toEqual([]);
    expect(requests.length).toBeGreaterThan(0);
    const foreign = requests.filter((u) => !/^(file|data|blob):/.test(u));
    expect(foreign).toEqual([]);
  });

  test("every section's figures are drawn and non-empty", async () => {
    const ids: string[] = JSON.parse(await page.locator("#seelike-data").textContent() ?? "{}").figures.map((f: { id: string }) => f.id);
    expect(ids.length).toBeGreaterThanOrEqual(14);
    for (const section of ["cka", "attentionDistance", "skipRatio", "probes", "localisation", "posEmbed", "filters", "collapse", "dataScale", "ablation"]) {
      expect(await page.locator(`section#${section} figure svg.seelike-figure`).count(), section).toBeGreaterThan(0);
    }
    const sizes = await page.$$eval("figure[data-figure]", (figs) =>
      figs.map((f) => {
        const svg = f.querySelector("svg.seelike-figure");
        const box = svg?.getBoundingClientRect();
        return { id: f.getAttribute("data-figure"), marks: svg ? svg.querySelectorAll("rect, circle, path, image").length : 0, w: box?.width ?? 0, h: box?.height ?? 0 };
      }),
    );
    expect(sizes.map((s) => s.id)).toEqual(ids);
    for (const s of sizes) {
      expect(s.marks, `${s.id} marks`).toBeGreaterThan(3);
      expect(s.w, `${s.id} width`).toBeGreaterThan(100);
      expect(s.h, `${s.id} height`).toBeGreaterThan(100);
    }
    // The 150×150 CKA matrix takes the raster path; the 51×51 one stays vector.
    expect(await page.getAttribute('figure[data-figure^="cka-0"] svg', "data-render")).toBe("raster");
    expect(await page.getAttribute('figure[data-figure^="cka-1"] svg', "data-render")).toBe("vector");
  });

  test("hostile names are shown as text and never become markup", async () => {
    expect(await page.locator("img, b, iframe, object, embed").count()).toBe(0);
    expect(await page.locator("script").count()).toBe(3); // the data, d3 and the client bundle
    expect(await page.locator("td", { hasText: HOSTILE.label }).count()).toBe(1);
    const text = await page.locator("body").innerText();
    expect(text).toContain(HOSTILE.img);
    expect(text).toContain(HOSTILE.label);
  });

  test("hovering a raster CKA cell shows its two sites and its value", async () => {
    const h = data.cka![0];
    const [i, j] = [40, 3];
    const box = (await page.locator('figure[data-figure^="cka-0"] rect.hit').boundingBox())!;
    await page.locator('figure[data-figure^="cka-0"]').scrollIntoViewIfNeeded();
    const box2 = (await page.locator('figure[data-figure^="cka-0"] rect.hit').boundingBox())!;
    expect(box2.width).toBeCloseTo(box.width, 3);
    await page.mouse.move(box2.x + ((j + 0.5) * box2.width) / h.cols.length, box2.y + ((i + 0.5) * box2.height) / h.rows.length);
    const tip = page.locator("#seelike-tooltip");
    await expect.poll(() => tip.isVisible()).toBe(true);
    const lines = await tip.locator("div").allTextContents();
    expect(lines[0]).toBe(`${data.run.models[0].label} site ${i}: ${h.rows[i]}`);
    expect(h.rows[i]).toBe(HOSTILE.img);
    expect(lines[1]).toBe(`${data.run.models[0].label} site ${j}: ${h.cols[j]}`);
    // d3.format writes negatives with U+2212 MINUS SIGN.
    const value = Number(/CKA = (.*)$/.exec(lines[2])![1].replace("\u2212", "-"));
    expect(Math.abs(value - Number(h.data[i * h.cols.length + j]))).toBeLessThan(5e-4);
    await page.screenshot({ path: join(ARTIFACTS, "report-hover.png"), clip: { x: 0, y: Math.max(0, box2.y - 60), width: 900, height: box2.height + 160 } });
    await page.mouse.move(1, 1);
    await expect.poll(() => tip.isVisible()).toBe(false);
  });

  test("hovering the position-embedding grid names both patches and the cosine", async () => {
    const pe = data.posEmbed![0];
    const g = pe.grid[0];
    const W = g * (g + 1) - 1;
    const [i, j, k, l] = [3, 5, 9, 1];
    const hit = page.locator('figure[data-figure^="posembed"] rect.hit');
    await hit.scrollIntoViewIfNeeded();
    const box = (await hit.boundingBox())!;
    await page.mouse.move(box.x + ((j * (g + 1) + l + 0.5) / W) * box.width, box.y + ((i * (g + 1) + k + 0.5) / W) * box.height);
    const tip = page.locator("#seelike-tooltip");
    await expect.poll(() => tip.isVisible()).toBe(true);
    const lines = await tip.locator("div").allTextContents();
    expect(lines[0]).toBe(`patch (${i}, ${j}) vs (${k}, ${l})`);
    const value = Number(/cosine = (.*)$/.exec(lines[1])![1].replace("\u2212", "-"));
    expect(Math.abs(value - Number(pe.data[(i * g + j) * g * g + k * g + l]))).toBeLessThan(5e-4);
    await page.mouse.move(1, 1);
  });

  test("Save SVG downloads a well-formed standalone SVG of the figure", async () => {
    const fig = page.locator('figure[data-figure^="cka-0"]');
    const [download] = await Promise.all([page.waitForEvent("download"), fig.locator("button.save-svg").click()]);
    expect(download.suggestedFilename()).toMatch(/^cka-0-.*\.svg$/);
    const text = readFileSync((await download.path())!, "utf8");
    writeFileSync(join(ARTIFACTS, "cka-0.svg"), text);
    // Parsing as XML throws on any well-formedness error.
    const doc = new JSDOM(text, { contentType: "image/svg+xml" }).window.document;
    const svg = doc.documentElement;
    expect(svg.localName).toBe("svg");
    expect(svg.namespaceURI).toBe("http://www.w3.org/2000/svg");
    expect(svg.querySelector("image")!.getAttribute("href")).toMatch(/^data:image\/png;base64,/);
    expect(svg.querySelector("title")!.textContent).toBe(data.cka![0].title);
    expect(svg.querySelector(".hit")).toBeNull();
    expect(svg.querySelectorAll("linearGradient stop").length).toBe(11);
    // An independent SVG renderer (librsvg, through sharp) draws the file at its declared size.
    const meta = await sharp(Buffer.from(text)).metadata();
    expect([meta.width, meta.height]).toEqual([Number(svg.getAttribute("width")), Number(svg.getAttribute("height"))]);
  });

  test("Save PNG downloads a PNG at twice the figure's size", async () => {
    const fig = page.locator('figure[data-figure^="posembed"]');
    const w = Number(await fig.locator("svg").getAttribute("width"));
    const [download] = await Promise.all([page.waitForEvent("download"), fig.locator("button.save-png").click()]);
    const bytes = readFileSync((await download.path())!);
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(bytes.readUInt32BE(16)).toBe(2 * w);
    writeFileSync(join(ARTIFACTS, "posembed.png"), bytes);
  });

  test("the CSP is enforced: fetches, injected scripts and inline handlers are blocked", async () => {
    const before = requests.length;
    const fetched = await page.evaluate(() => fetch("http://127.0.0.1:9/x").then(() => "loaded", () => "blocked"));
    expect(fetched).toBe("blocked");
    await page.evaluate(() => {
      const s = document.createElement("script");
      s.textContent = "window.__injected = 1";
      document.body.appendChild(s);
      const holder = document.createElement("div");
      holder.innerHTML = '<img src="data:," onerror="window.__handler = 1"><img src="https://example.com/x.png">';
      document.body.appendChild(holder);
    });
    await page.waitForTimeout(200);
    expect(await page.evaluate(() => (window as unknown as { __injected?: number }).__injected)).toBeUndefined();
    expect(await page.evaluate(() => (window as unknown as { __handler?: number }).__handler)).toBeUndefined();
    // Chromium reports the blocked image as a request that fails with "csp" (ERR_BLOCKED_BY_CSP), never sent.
    const foreign = requests.slice(before).filter((u) => !/^(file|data|blob):/.test(u));
    expect(foreign).toEqual(["https://example.com/x.png"]);
    expect(failed.get("https://example.com/x.png")).toMatch(/csp/i);
    expect(responses.filter((u) => !/^(file|data|blob):/.test(u))).toEqual([]);
    expect(errors.some((e) => /Content Security Policy/.test(e))).toBe(true);
    errors.length = 0;
    await page.evaluate(() => document.querySelectorAll("body > div:last-of-type, body > script:last-of-type").forEach((n) => n.remove()));
  });

  test("the print stylesheet hides the buttons and keeps the figures", async () => {
    await page.emulateMedia({ media: "print" });
    expect(await page.locator(".buttons").first().isVisible()).toBe(false);
    expect(await page.locator("nav").isVisible()).toBe(false);
    expect(await page.locator('figure[data-figure^="cka-0"] svg').isVisible()).toBe(true);
    await page.emulateMedia({ media: "screen" });
    expect(await page.locator(".buttons").first().isVisible()).toBe(true);
  });

  test("screenshot of the report", async () => {
    await page.mouse.move(1, 1);
    await page.screenshot({ path: join(ARTIFACTS, "report.png"), fullPage: true });
    expect(existsSync(join(ARTIFACTS, "report.png"))).toBe(true);
  });
});
