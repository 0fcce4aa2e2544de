/**
 * The library API from a script, through the package entry (src/index.ts is what
 * `import { compare } from "seelike"` loads): inspect, compare on two fixture models, report,
 * and the notebook figures (including escaping of hostile names).
 */
import { describe, expect, it, beforeAll } from "vitest";
import path from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { JSDOM } from "jsdom";
import * as seelike from "../src/index.js";
import { compare, inspect, report, figures, display, type Results } from "../src/index.js";

const root = path.resolve(__dirname, "..");
const A = path.join(root, "fixtures/models/timm_vit_op14.onnx");
const B = path.join(root, "fixtures/models/tv_resnet50_op17.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
const manifest = (name: string) => JSON.parse(readFileSync(path.join(root, `fixtures/models/${name}.golden/manifest.json`), "utf8"));

function dom(html: string): Document {
  return new JSDOM(html).window.document;
}

describe("package entry", () => {
  it("index re-exports the documented API", () => {
    for (const name of ["inspect", "analyze", "compare", "report", "merge", "linearCKA", "ckaReducer", "attentionDistance", "skipRatio", "linearProbe",
      "patchEmbeddingComponents", "positionEmbeddingSimilarity", "flatten", "gram", "openData", "readNpy", "writeNpy", "display", "reportData"]) {
      expect(typeof (seelike as Record<string, unknown>)[name], name).not.toBe("undefined");
    }
    for (const name of ["ckaHeatmap", "attentionDistance", "skipRatio", "probes", "localisation", "positionEmbedding", "filters", "collapse"]) {
      expect(typeof (figures as Record<string, unknown>)[name], `figures.${name}`).toBe("function");
    }
  });

  it("package.json main and types point at the built entry", () => {
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
    expect(pkg.main).toBe("dist/src/index.js");
    expect(pkg.types).toBe("dist/src/index.d.ts");
    expect(pkg.exports["."].default).toBe("./dist/src/index.js");
  });

  it.skipIf(!existsSync(path.join(root, "dist/src/index.js")))('import("seelike") resolves to the built entry with the same exports', () => {
    // Node's package self-reference: inside the package, its own name resolves through "exports"
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", 'const m = await import("seelike"); console.log(JSON.stringify(Object.keys(m).sort()))'], { cwd: root, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(Object.keys(seelike).sort());
  });
});

describe("inspect(model)", () => {
  it("inspect finds the blocks, patch size and grid the exporter built (fixture manifest)", async () => {
    const cfg = manifest("timm_vit").config;
    const info = await inspect(A);
    expect(info.blocks.length).toBe(cfg.depth);
    expect(info.patchSize).toBe(cfg.patch_size);
    expect(info.grid).toEqual([cfg.grid, cfg.grid]);
    expect(info.prefixTokens).toBe(cfg.cls_token ? 1 : 0);
  });
});

describe("compare(a, b) on two fixture models", () => {
  let results: Results;
  beforeAll(async () => {
    results = await compare(A, B, { data: DATA, limit: 64, batch: 32, seed: 3, threads: 1, analyses: ["cka", "attention", "skip", "embeddings", "collapse", "localisation"] });
  });

  it("compare returns CKA matrices of shapes [LA, LA], [LB, LB], [LA, LB] over the run's sites", () => {
    expect(results.schema).toBe("seelike-results@1");
    expect(results.cka.length).toBe(1);
    const la = Object.keys(results.models[0].ckaSites).length;
    const lb = Object.keys(results.models[1].ckaSites).length;
    // one CKA row per block at least (site set "blocks"), from the exporters' own configs
    expect(la).toBeGreaterThanOrEqual(manifest("timm_vit").config.depth);
    expect(lb).toBeGreaterThanOrEqual(16); // ResNet-50 layout: 3+4+6+3 units
    const { AA, BB, AB } = results.cka[0].result.matrices;
    expect(AA.shape).toEqual([la, la]);
    expect(BB!.shape).toEqual([lb, lb]);
    expect(AB!.shape).toEqual([la, lb]);
    expect(AB!.data.length).toBe(la * lb);
    expect(AB!.rows).toEqual(Object.keys(results.models[0].ckaSites));
    expect(AB!.cols).toEqual(Object.keys(results.models[1].ckaSites));
    // CKA(X, X) = 1 on the diagonal of an intra-model matrix
    for (let i = 0; i < la; i++) expect(AA.data[i * la + i]).toBeCloseTo(1, 10);
    expect(results.cka[0].result.examples).toBe(64);
    expect(results.settings.data.images).toBe(64);
  });

  it("report(results) returns one HTML page with a figure for each CKA heatmap and the attention distance", () => {
    const html = report(results, { title: "api test" });
    const doc = dom(html);
    const ids = [...doc.querySelectorAll("figure[data-figure]")].map((f) => f.getAttribute("data-figure")!);
    expect(ids.filter((id) => id.startsWith("cka-")).length).toBe(3); // AA, BB, AB
    expect(ids.some((id) => id.startsWith("attention-"))).toBe(true);
    expect(doc.title).toContain("api test");
  });

  it("figures.ckaHeatmap(results) is an SVG figure with one cell per site pair of A×B", () => {
    const html = figures.ckaHeatmap(results);
    const doc = dom(html);
    const svg = doc.querySelector("figure > svg")!;
    expect(svg).not.toBeNull();
    const { AB } = results.cka[0].result.matrices;
    expect(svg.getAttribute("data-render")).toBe("vector");
    expect(svg.querySelectorAll("g.cells > rect").length).toBe(AB!.rows.length * AB!.cols.length);
    const text = svg.textContent!;
    for (const site of [AB!.rows[0], AB!.cols[AB!.cols.length - 1]]) expect(text).toContain(site);
    expect(doc.querySelector("figcaption")!.textContent).toContain("Linear CKA");
    // "AA" picks the intra-model heatmap of A
    const aa = dom(figures.ckaHeatmap(results, "AA")).querySelector("svg")!.textContent!;
    expect(aa).not.toContain(AB!.cols[AB!.cols.length - 1]);
    expect(() => figures.ckaHeatmap(results, "nope")).toThrow(/invalid CKA heatmap: nope/);
  });

  it("figures.attentionDistance and the other figure helpers return SVG markup", () => {
    const label = results.models[0].label;
    const ad = dom(figures.attentionDistance(results, label));
    expect(ad.querySelector("svg")).not.toBeNull();
    expect(ad.querySelector("figcaption")!.textContent).toContain("Mean attention distance");
    for (const f of [figures.skipRatio(results), figures.skipRatio(results, results.models[1].label), figures.positionEmbedding(results), figures.filters(results), figures.collapse(results), figures.localisation(results), figures.sortedHeads(results)]) {
      expect(f).toMatch(/^<figure class="seelike-figure" id="[^"]+"[^>]*><svg/);
    }
    expect(() => figures.probes(results)).toThrow(/no probes figure/);
    expect(() => figures.attentionDistance(results, "no-such-model")).toThrow(/invalid attention distance model: no-such-model/);
  });

  it("two figures of the same results get distinct element ids (a notebook page holds both)", () => {
    const a = dom(figures.ckaHeatmap(results)).querySelector("figure")!.id;
    const b = dom(figures.ckaHeatmap(results)).querySelector("figure")!.id;
    expect(a).not.toBe(b);
  });

  it("display(markup) outside a tslab kernel returns the markup", () => {
    const m = figures.collapse(results);
    expect(display(m)).toBe(m);
  });

  it("figures escape hostile site names and model labels", () => {
    const evil = `<img src=x onerror="alert(1)">&</figure><script>alert(2)</script>`;
    const copy: Results = { ...results, models: results.models.map((m, i) => ({ ...m, label: i === 0 ? `${evil}A` : m.label })), cka: results.cka.map((c) => ({ ...c, a: `${evil}A` })) };
    const src = results.cka[0].result;
    const AB = { ...src.matrices.AB!, rows: [evil, ...src.matrices.AB!.rows.slice(1)] };
    copy.cka[0] = { ...copy.cka[0], result: { ...src, matrices: { ...src.matrices, AB } } };
    copy.attention = { [`${evil}A`]: results.attention[results.models[0].label] };
    for (const html of [figures.ckaHeatmap(copy, "AB"), figures.attentionDistance(copy)]) {
      const doc = dom(`<body>${html}</body>`);
      expect(doc.querySelectorAll("script, img").length).toBe(0);
      expect(doc.querySelectorAll("figure").length).toBe(1);
      expect(doc.body.textContent).toContain(evil);
      expect(html).not.toContain("<script");
      expect(html).not.toContain("<img");
    }
  });
});
