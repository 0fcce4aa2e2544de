/**
 * Hostile names end to end through the real CLI: a ViT whose node and tensor names are HTML/JS
 * (tests/bad-inputs/models/hostile-names.onnx, from make.py), model files named like markup,
 * user sites named like markup and like paths (`../`), and an ImageFolder whose class folders
 * are markup. The report is opened in headless Chromium: no dialog fires, no network request is
 * made, the names show as text; every file the run writes lies inside the output folder with a
 * slugged name. Needs `npm run build` and /usr/bin/chromium.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser } from "playwright-core";

const root = path.resolve(__dirname, "..");
const bin = path.join(root, "bin", "seelike.js");
const CHROMIUM = "/usr/bin/chromium";
const HOSTILE_MODEL = path.join(root, "tests/bad-inputs/models/hostile-names.onnx");
const HOSTILE_DATA = path.join(root, "tests/bad-inputs/folders/hostile-classes");
const MIXER = path.join(root, "fixtures/models/mixer_op17.onnx");

const LABEL_A = "<img src=x onerror=alert(1)>";
const LABEL_B = "\"'><svg onload=alert(2)>";
const SITE_SCRIPT = "blocks.0.</script><script>alert(3)</script>";
const SITE_PATH = "blocks.1.../../../../escape/passwd";

function files(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out;
}

describe("hostile names through the CLI into the report", () => {
  let dir: string;
  let out: string;
  let run: ReturnType<typeof spawnSync>;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-hostile-"));
    const models = path.join(dir, "models");
    mkdirSync(models);
    const a = path.join(models, `${LABEL_A}.onnx`);
    const b = path.join(models, `${LABEL_B}.onnx`);
    copyFileSync(HOSTILE_MODEL, a);
    copyFileSync(MIXER, b);
    out = path.join(dir, "out", "report.html");
    run = spawnSync(process.execPath, [bin, "compare", a, b, "--data", HOSTILE_DATA, "--batch", "4", "--analyses", "cka,attention,skip", "--site-set", "all",
      "--site", `${SITE_SCRIPT}=/blocks\\.0\\/(attn\\/qkv|mlp_tokens\\/fc1)\\/Add_output_0$/`, "--site", `${SITE_PATH}=/blocks\\.1\\/(attn\\/qkv|mlp_tokens\\/fc1)\\/Add_output_0$/`, "--quiet", "--threads", "1", "--out", out], { cwd: root, encoding: "utf8", timeout: 300_000 });
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the run succeeds and the results carry the hostile names unchanged", () => {
    expect(run.status, String(run.stderr)).toBe(0);
    const results = JSON.parse(readFileSync(path.join(dir, "out/report/results.json"), "utf8"));
    expect(results.models.map((m: { label: string }) => m.label)).toEqual([LABEL_A, LABEL_B]);
    const rows: string[] = results.cka[0].result.matrices.AB.rows;
    expect(rows).toContain(SITE_SCRIPT);
    expect(rows).toContain(SITE_PATH);
    expect(Object.values(results.settings.models[0].sites).some((t) => String(t).includes("</script><script>alert(1)</script>"))).toBe(true);
  });

  it("every file lies inside the output folder, named by slugs (no ../, no markup)", () => {
    const written = files(path.join(dir, "out"));
    expect(written.length).toBeGreaterThan(5);
    for (const f of written) {
      expect(path.relative(path.join(dir, "out"), f).startsWith("..")).toBe(false);
      expect(path.basename(f), f).toMatch(/^[A-Za-z0-9._-]+$/);
    }
    // Nothing was written next to or above the output folder, or where the ../ site pointed.
    expect(readdirSync(dir).sort()).toEqual(["models", "out"]);
    expect(existsSync(path.join(dir, "escape"))).toBe(false);
    expect(existsSync(path.resolve(dir, "../escape"))).toBe(false);
  });

  it("the report's raw HTML holds no live markup from the names, and a CSP without network access", () => {
    const html = readFileSync(out, "utf8");
    for (const s of [LABEL_A, LABEL_B, "<script>alert(3)</script>", "</script><script>alert(1)</script>"]) expect(html).not.toContain(s);
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? "";
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/connect-src 'none'/);
    expect(csp).not.toMatch(/unsafe-eval|https?:/);
  });

  it.skipIf(!existsSync(CHROMIUM))("in Chromium: no dialog, no network request, names shown as text", async () => {
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
      const page = await browser.newPage();
      const dialogs: string[] = [];
      const requests: string[] = [];
      const errors: string[] = [];
      page.on("dialog", (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      page.on("request", (r) => requests.push(r.url()));
      page.on("pageerror", (e) => errors.push(e.message));
      const url = pathToFileURL(out).href;
      await page.goto(url);
      await page.waitForSelector("html[data-ready=true]", { timeout: 30_000 }).catch(() => undefined);
      // Give any injected handler (onerror of a broken image, onload of an svg) time to fire.
      await page.waitForTimeout(1000);
      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
      expect(requests.filter((u) => u !== url && !/^(data|blob):/.test(u))).toEqual([]);
      const text = await page.evaluate(() => document.body.innerText + " " + [...document.querySelectorAll("svg text, title")].map((e) => e.textContent).join(" "));
      expect(text).toContain(LABEL_A);
      expect(text).toContain(LABEL_B);
      // Long axis labels are shortened with "…": the start of the name is shown, as text.
      expect(text).toContain(SITE_SCRIPT.slice(0, 30));
      expect(text).toContain(SITE_PATH);
      const injected = await page.evaluate(() => ({
        img: document.querySelectorAll('img[src="x"], img[onerror]').length,
        svg: document.querySelectorAll("svg[onload]").length,
        handlers: [...document.querySelectorAll("*")].filter((e) => [...e.attributes].some((a) => /^on/i.test(a.name))).length,
      }));
      expect(injected).toEqual({ img: 0, svg: 0, handlers: 0 });
    } finally {
      await browser?.close();
    }
  }, 120_000);
});
