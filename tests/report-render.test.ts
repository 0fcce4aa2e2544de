import { createHash } from "node:crypto";
import * as d3 from "d3";
import { JSDOM } from "jsdom";
import sharp from "sharp";
import { describe, expect, test } from "vitest";
import { clientBundle, d3Source } from "../reports/assets.js";
import { HOSTILE, demoReportData } from "../reports/demo.js";
import { escapeHtml, scriptJson } from "../reports/escape.js";
import { figureSVG } from "../reports/figures.js";
import { png } from "../reports/png.js";
import { contentSecurityPolicy, renderReport } from "../reports/render.js";
import {
  attentionFigures,
  ckaFigure,
  collapseFigure,
  colourDomain,
  filtersFigure,
  localisationFigure,
  modelLabels,
  panelFigure,
  posEmbedFigure,
  probesFigure,
  reportSections,
  skipFigure,
  values,
} from "../reports/specs.js";
import type { Heatmap, ReportData } from "../reports/types.js";

/** Snapshot form: numbers to 2 decimals, data URLs replaced by a short digest of their bytes. */
function rounded(svg: string): string {
  return svg
    .replace(/data:image\/png;base64,[A-Za-z0-9+/=]+/g, (u) => `data:png#${createHash("sha256").update(u).digest("hex").slice(0, 12)}`)
    .replace(/-?\d+\.\d+(e-?\d+)?/g, (v) => String(Number(Number(v).toFixed(2))))
    .replace(/></g, ">\n<");
}

function xml(svg: string): Document {
  // Parsing as XML throws on any well-formedness error.
  return new JSDOM(svg, { contentType: "image/svg+xml" }).window.document;
}

function rgb(css: string): number[] {
  const c = d3.rgb(css);
  return [c.r, c.g, c.b];
}

const models = [
  { id: "a", label: HOSTILE.label, file: "a.onnx", sha256: "0".repeat(64), family: "vit", sites: 3 },
  { id: "b", label: "ResNet", file: "b.onnx", sha256: "1".repeat(64), family: "resnet", sites: 4 },
];

const label = modelLabels(models);
const ids = modelLabels([]);

const small: Heatmap = {
  id: "ab",
  title: "A × B",
  rowModel: "a",
  colModel: "b",
  rows: ["patch_embed", HOSTILE.img, "blocks.0.out"],
  cols: ["stem", HOSTILE.script, "stages.0.units.0.out", "logits"],
  data: new Float64Array([1, 0.5, 0.25, 0, 0.125, 0.75, NaN, 0.9, -0.05, 0.3, 0.6, 0.99]),
  estimator: "minibatch-unbiased",
  tokens: "all",
};

function square(n: number, f: (i: number, j: number) => number): Heatmap {
  const names = Array.from({ length: n }, (_, i) => `blocks.${i}.out`);
  const data = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) data[i * n + j] = f(i, j);
  return { id: `sq${n}`, title: `${n}×${n}`, rowModel: "a", colModel: "a", rows: names, cols: names, data };
}

describe("CKA heatmap (figureSVG of ckaFigure)", () => {
  test("the CKA heatmap of a small matrix matches its snapshot", () => {
    expect(rounded(figureSVG(ckaFigure(small, label)))).toMatchSnapshot();
  });

  test("the CKA heatmap draws one vector cell per value, coloured by viridis on [0, 1]", () => {
    const doc = xml(figureSVG(ckaFigure(small, label)));
    expect(doc.documentElement.getAttribute("data-render")).toBe("vector");
    const cells = [...doc.querySelectorAll("g.cells rect")];
    expect(cells.length).toBe(12);
    const data = small.data as Float64Array;
    cells.forEach((cell, k) => {
      const v = data[k];
      const got = rgb(cell.getAttribute("fill")!);
      if (Number.isNaN(v)) return expect(got).toEqual([217, 217, 217]);
      const want = rgb(d3.interpolateViridis(Math.min(1, Math.max(0, v))));
      // The colour table has 256 steps: one step of viridis is at most a few units per channel.
      got.forEach((c, i) => expect(Math.abs(c - want[i]), `cell ${k}`).toBeLessThanOrEqual(3));
    });
  });

  test("the CKA heatmap escapes site and model names and stays well-formed XML", () => {
    const svg = figureSVG(ckaFigure(small, label));
    expect(svg).not.toContain(HOSTILE.img);
    expect(svg).not.toContain(HOSTILE.script);
    const doc = xml(svg);
    expect(doc.querySelectorAll("img, script, foreignObject").length).toBe(0);
    const text = [...doc.querySelectorAll("text")].map((t) => t.textContent);
    expect(text).toContain(HOSTILE.img);
    expect(text).toContain(HOSTILE.script);
    expect(text).toContain(`${HOSTILE.label} site`);
  });

  test("the CKA heatmap rasterises a 150×150 matrix into a PNG with one pixel per cell", async () => {
    const n = 150;
    const h = square(n, (i, j) => Math.exp(-Math.abs(i - j) / 30));
    const doc = xml(figureSVG(ckaFigure(h, ids)));
    expect(doc.documentElement.getAttribute("data-render")).toBe("raster");
    expect(doc.querySelectorAll("rect").length).toBeLessThan(20);
    const href = doc.querySelector("image.cells")!.getAttribute("href")!;
    const bytes = Buffer.from(href.replace(/^data:image\/png;base64,/, ""), "base64");
    const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([n, n, 4]);
    for (const [i, j] of [[0, 0], [3, 140], [75, 80], [149, 2]]) {
      const want = rgb(d3.interpolateViridis(Math.exp(-Math.abs(i - j) / 30)));
      const p = 4 * (i * n + j);
      for (let c = 0; c < 3; c++) expect(Math.abs(data[p + c] - want[c]), `pixel ${i},${j}`).toBeLessThanOrEqual(3);
    }
  });

  test("the CKA heatmap draws up to 60×60 cells as vectors and rasterises above", () => {
    const at = (n: number) => xml(figureSVG(ckaFigure(square(n, () => 0.5), ids))).documentElement;
    expect(at(60).getAttribute("data-render")).toBe("vector");
    expect(at(60).querySelectorAll("g.cells rect").length).toBe(3600);
    expect(at(61).getAttribute("data-render")).toBe("raster");
    expect(at(61).querySelectorAll("g.cells rect").length).toBe(0);
  });

  test("ckaFigure rejects a matrix whose size does not match its labels", () => {
    expect(() => figureSVG(ckaFigure({ ...small, data: [1, 2, 3] }, ids))).toThrow(/invalid heatmap ab: 3 values for 3×4/);
    expect(() => renderReport({ ...demoReportData(), cka: [{ ...small, data: [1, 2, 3] }] })).toThrow(RangeError);
    expect(() => figureSVG(posEmbedFigure({ model: "a", grid: [3, 3], data: [1] }, ids))).toThrow(/invalid position-embedding similarity of a: 1 values for a 3×3 grid/);
  });
});

describe("other figures", () => {
  const data = demoReportData();
  const ad = {
    model: "a",
    patchSize: 16,
    grid: [14, 14] as [number, number],
    ceiling: 116.49,
    layers: [0, 1, 2, 3, 4].map((l) => ({ layer: l, heads: [10 + l, 40 + 10 * l, 80 + 5 * l, 110] })),
  };

  test("the attention-distance figure draws a dot per head and the dashed uniform ceiling", () => {
    const svg = figureSVG(attentionFigures(ad, label)[0]);
    expect(rounded(svg)).toMatchSnapshot();
    const doc = xml(svg);
    expect(doc.querySelectorAll("g.marks circle").length).toBe(20);
    const ref = doc.querySelector("line.ref")!;
    expect(ref.getAttribute("stroke-dasharray")).toBe("5,4");
    // y of the ceiling lies between the y of 110 px and the top of the plot.
    const ys = [...doc.querySelectorAll("g.marks circle")].map((c) => Number(c.getAttribute("cy")));
    expect(Number(ref.getAttribute("y1"))).toBeLessThan(Math.min(...ys));
  });

  test("the sorted-heads figure shows the first two and last two layers, heads in ascending order", () => {
    const svg = figureSVG(attentionFigures(ad, label)[1]);
    expect(rounded(svg)).toMatchSnapshot();
    const doc = xml(svg);
    const panels = [...doc.querySelectorAll("g.panel")];
    expect(panels.map((p) => p.querySelector("text")!.textContent)).toEqual(["layer 0", "layer 1", "layer 3", "layer 4"]);
    for (const p of panels) {
      const ys = [...p.querySelectorAll("circle")].map((c) => Number(c.getAttribute("cy")));
      expect(ys).toEqual([...ys].sort((a, b) => b - a)); // larger distance, smaller y
    }
  });

  test("the skip, probes, localisation, position-embedding, filters, collapse and panel figures match their snapshots", () => {
    const pe = { model: "a", grid: [2, 2] as [number, number], data: Array.from({ length: 16 }, (_, k) => Math.cos(k)) };
    const figs = {
      skip: figureSVG(skipFigure({ model: "a", rows: [0, 1, 2].flatMap((b) => [{ block: b, sublayer: "attn" as const, cls: 5 - b, spatial: 1 + b }, { block: b, sublayer: "mlp" as const, cls: 4 - b, spatial: 2 + b }]) }, label)),
      probes: figureSVG(probesFigure([{ model: "a", series: [{ name: "cls, 10-shot", points: [0, 0.5, 1].map((d) => ({ depth: d, accuracy: 0.1 + 0.8 * d, site: HOSTILE.img })) }] }], label)),
      localisation: figureSVG(localisationFigure({ model: "a", grid: [3, 3], maps: [{ position: [1, 2], label: HOSTILE.script, data: [0, 0.1, 0.2, 0.1, 0.3, 0.9, 0, 0, 0.2] }] }, label)),
      posEmbed: figureSVG(posEmbedFigure(pe, label)),
      filters: figureSVG(filtersFigure({ model: "a", patchSize: 2, channels: 3, components: [{ data: Array.from({ length: 12 }, (_, k) => k), variance: 0.5 }, { data: Array.from({ length: 12 }, (_, k) => -k), variance: 0.25 }] }, label)),
      collapse: figureSVG(collapseFigure({ ...square(3, (i, j) => (i === j ? 1 : 0.5)), model: "a" }, label)),
      panel: figureSVG(panelFigure(data.dataScale![0], "panel", 0, label)),
    };
    for (const [name, svg] of Object.entries(figs)) {
      expect(() => xml(svg), name).not.toThrow();
      expect(svg, name).not.toContain(HOSTILE.script);
      expect(rounded(svg)).toMatchSnapshot(name);
    }
  });

  test("the position-embedding figure puts the cosine of patch (i, j) with (k, l) at tile (i, j), cell (k, l)", async () => {
    const g = 3;
    const values = Array.from({ length: g ** 4 }, (_, k) => (k % 7) / 3 - 1);
    const doc = xml(figureSVG(posEmbedFigure({ model: "a", grid: [g, g], data: values }, ids)));
    const href = doc.querySelector("image")!.getAttribute("href")!;
    const { data, info } = await sharp(Buffer.from(href.split(",")[1], "base64")).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([g * (g + 1) - 1, g * (g + 1) - 1]);
    for (const [i, j, k, l] of [[0, 0, 0, 0], [1, 2, 0, 1], [2, 1, 2, 2]]) {
      const v = values[(i * g + j) * g * g + k * g + l];
      const want = rgb(d3.interpolateRdBu(1 - (v + 1) / 2));
      const p = 4 * ((i * (g + 1) + k) * info.width + j * (g + 1) + l);
      for (let c = 0; c < 3; c++) expect(Math.abs(data[p + c] - want[c])).toBeLessThanOrEqual(3);
    }
    // Separators between tiles are white.
    const sep = 4 * (g * info.width + 1);
    expect([data[sep], data[sep + 1], data[sep + 2]]).toEqual([255, 255, 255]);
  });
});

describe("values", () => {
  test("values(array) keeps 6 significant digits and turns NaN and ±Infinity into null", () => {
    expect(values(new Float64Array([1 / 3, NaN, Infinity, -2e-9, 123456789]))).toEqual([0.333333, null, null, -2e-9, 123457000]);
    expect(values([null, 1])).toEqual([null, 1]);
  });
});

describe("png", () => {
  test("png(width, height, rgba) decodes to the same pixels", async () => {
    const rgba = new Uint8ClampedArray(5 * 3 * 4).map((_, k) => (k * 37) % 256);
    const { data, info } = await sharp(png(5, 3, rgba)).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([5, 3, 4]);
    expect([...data]).toEqual([...rgba]);
  });

  test("png rejects a buffer of the wrong length", () => {
    expect(() => png(2, 2, new Uint8Array(15))).toThrow(RangeError);
  });
});

describe("escaping", () => {
  test("escapeHtml escapes the five HTML metacharacters", () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  test("scriptJson leaves no <, >, & or line separator and round-trips", () => {
    const value = { a: HOSTILE.script, b: "<!-- x & y -->", c: "\u2028\u2029" };
    const text = scriptJson(value);
    expect(text).not.toMatch(/[<>&\u2028\u2029]/);
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe("renderReport", () => {
  const data = demoReportData();
  const html = renderReport(data);
  const doc = new JSDOM(html).window.document; // scripts do not run in jsdom by default

  test("renderReport puts a strict CSP first in <head> whose hashes match the inline scripts", () => {
    const metas = [...doc.head.children];
    expect(metas[0].getAttribute("charset")).toBe("utf-8");
    expect(metas[1].getAttribute("http-equiv")).toBe("Content-Security-Policy");
    const csp = metas[1].getAttribute("content")!;
    const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(" ")[0], d.split(" ").slice(1)]));
    expect(directives.get("default-src")).toEqual(["'none'"]);
    expect(directives.get("connect-src")).toEqual(["'none'"]);
    expect(directives.get("img-src")).toEqual(["data:", "blob:"]);
    expect(directives.get("style-src")).toEqual(["'unsafe-inline'"]);
    const scripts = [...doc.querySelectorAll("script:not([type])")];
    expect(scripts.length).toBe(2); // d3, then the client bundle
    const hashes = scripts.map((s) => `'sha256-${createHash("sha256").update(s.textContent!, "utf8").digest("base64")}'`);
    expect(directives.get("script-src")).toEqual(hashes);
    expect(csp).not.toContain("unsafe-eval");
    expect(contentSecurityPolicy(["x"])).toContain("default-src 'none'");
  });

  test("renderReport inlines d3 and the data, and loads nothing from outside the file", () => {
    const d3Text = d3Source();
    expect(doc.querySelectorAll("script")[1].textContent).toBe(d3Text);
    expect(doc.querySelectorAll("script")[2].textContent).toBe(clientBundle());
    // No element may point anywhere but into the page or at data:/blob:.
    for (const el of doc.querySelectorAll("*")) {
      for (const attr of ["src", "href", "xlink:href", "action", "formaction", "poster", "srcset", "background", "data", "ping", "manifest"]) {
        const v = el.getAttribute(attr);
        if (v !== null) expect(v, `${el.tagName} ${attr}`).toMatch(/^(#|data:|blob:)/);
      }
    }
    // CSS may not fetch either: no url() except fragments and data:, no @import.
    const css = [doc.querySelector("style")!.textContent!, ...[...doc.querySelectorAll("[style]")].map((e) => e.getAttribute("style")!)].join("\n");
    expect(css).not.toMatch(/url\(\s*['"]?(?!#|data:)/i);
    expect(css).not.toMatch(/@import/i);
    // Every http(s) URL in the file is d3's licence line or an XML namespace name (a string, never fetched).
    const licence = d3Text.slice(0, d3Text.indexOf("\n"));
    expect(licence).toMatch(/^\/\/ https:\/\/d3js\.org v7/);
    const licenceAt = html.indexOf(licence);
    expect(licenceAt).toBeGreaterThan(0);
    const namespaces = new Set([
      "http://www.w3.org/2000/svg",
      "http://www.w3.org/1999/xhtml",
      "http://www.w3.org/1999/xlink",
      "http://www.w3.org/2000/xmlns/",
      "http://www.w3.org/XML/1998/namespace",
    ]);
    const urls = [...html.matchAll(/https?:\/\/[^\s"'`)<>]*/g)];
    expect(urls.length).toBeGreaterThan(0);
    for (const m of urls) {
      const inLicence = m.index! >= licenceAt && m.index! < licenceAt + licence.length;
      expect(inLicence || namespaces.has(m[0]), `unexpected URL ${m[0]}`).toBe(true);
      if (!inLicence) {
        // A namespace name only ever appears as a JS string literal.
        expect(`"'`).toContain(html[m.index! - 1]);
      }
    }
  });

  test("renderReport escapes hostile names everywhere and keeps them as text", () => {
    expect(html).not.toContain(HOSTILE.img);
    expect(html).not.toContain(HOSTILE.script);
    expect(html).not.toContain("<b>");
    expect(doc.querySelectorAll("img, b, iframe, object, embed").length).toBe(0);
    expect(doc.querySelectorAll("script").length).toBe(3);
    expect(doc.body.textContent).toContain(HOSTILE.img);
    expect(doc.body.textContent).toContain(HOSTILE.script);
    const payload = JSON.parse(doc.getElementById("seelike-data")!.textContent!);
    expect(payload.figures[0].spec.rows[40]).toBe(HOSTILE.img);
  });

  test("renderReport writes a summary of models, data, settings, timings and sanity checks", () => {
    const run = doc.getElementById("run")!;
    const text = run.textContent!;
    for (const m of data.run.models) {
      expect(text).toContain(m.sha256);
      expect(text).toContain(m.file);
    }
    expect(text).toContain(data.run.data.sampleDigest);
    expect(text).toContain("minibatch-unbiased");
    expect(text).toContain("962"); // total of the timings
    expect([...run.querySelectorAll(".badge")].map((b) => b.textContent)).toEqual(["pass", "pass", "pass", "FAIL"]);
    expect(run.querySelector("details.sanity > summary")!.textContent).toBe("3 of 4 passed (1 failed: probe.chance)");
    // A failed check opens the table; the timings stay collapsed behind their one-line summary.
    expect(run.querySelector("details.sanity")!.hasAttribute("open")).toBe(true);
    expect(run.querySelector("details.timings > summary")!.textContent).toBe("4 phases, 962 s in total");
  });

  test("renderReport has one figure with a caption per spec, in section order", () => {
    const sections = reportSections(data);
    expect([...doc.querySelectorAll("body > section")].map((s) => s.id)).toEqual(["findings", ...sections.map((s) => s.id), "run"]);
    const figs = [...doc.querySelectorAll("figure[data-figure]")];
    expect(figs.map((f) => f.getAttribute("data-figure"))).toEqual(sections.flatMap((s) => s.figures.map((f) => f.id)));
    for (const f of figs) expect(f.querySelector("figcaption")!.textContent!.length).toBeGreaterThan(40);
    expect(html).toMatch(/@media print/);
  });

  test("renderReport leaves out absent sections and says why when a reason is given", () => {
    const bare: ReportData = { run: data.run, cka: [small], omitted: { attentionDistance: "no attention: both models are CNNs" } };
    const d = new JSDOM(renderReport(bare)).window.document;
    expect([...d.querySelectorAll("body > section")].map((s) => s.id)).toEqual(["findings", "cka", "attentionDistance", "run"]);
    expect(d.getElementById("attentionDistance")!.textContent).toContain("no attention: both models are CNNs");
    expect(d.querySelectorAll("#attentionDistance figure").length).toBe(0);
  });

  test("reportSections names the models a per-model section has no result for", () => {
    const { omitted, ...rest } = data;
    void omitted;
    const s = reportSections(rest).find((x) => x.id === "attentionDistance")!;
    expect(s.notes).toEqual(["Not shown: ResNet-50: convolutional, no attention layers."]);
  });

  test("renderReport writes canonical HTML: an HTML parser serialises the page it reads back to the same text", () => {
    // The page is a string template; a tag left open, a stray "<" or an unescaped quote would make
    // the parsed page serialise differently. escapeHtml writes quotes as entities and the
    // serialiser writes them bare (and U+00A0 as &nbsp;): the only spelling allowed to differ.
    const spelling = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&nbsp;/g, "\u00a0");
    const parsed = new JSDOM(html).window.document;
    // The newline after </html> is parsed into <body>; it is the page's last character.
    expect(html.endsWith("</html>\n")).toBe(true);
    parsed.body.lastChild!.remove();
    expect(spelling(`<!DOCTYPE html>\n${parsed.documentElement.outerHTML}\n`)).toBe(spelling(html));
    const hostile = renderReport({ ...data, run: { ...data.run, title: `${HOSTILE.script}"'&<b>` } });
    const again = new JSDOM(hostile).window.document;
    expect(again.title).toBe(`${HOSTILE.script}"'&<b>`);
    again.body.lastChild!.remove();
    expect(spelling(`<!DOCTYPE html>\n${again.documentElement.outerHTML}\n`)).toBe(spelling(hostile));
  });

  test("renderReport inlines the run summary in the JSON data", () => {
    const payload = JSON.parse(doc.getElementById("seelike-data")!.textContent!);
    expect(payload.run).toEqual(JSON.parse(JSON.stringify(data.run)));
  });

  test("renderReport rejects data without a run", () => {
    expect(() => renderReport({} as ReportData)).toThrow(TypeError);
  });

  test("colourDomain is symmetric and diverging for negative data, [0, 1] viridis otherwise", () => {
    expect(colourDomain([0.2, -0.5])).toEqual({ domain: [-0.5, 0.5], scheme: "rdbu" });
    expect(colourDomain([0.2, 0.7])).toEqual({ domain: [0, 1], scheme: "viridis" });
    expect(colourDomain([0.2, 3])).toEqual({ domain: [0, 3], scheme: "viridis" });
  });
});
