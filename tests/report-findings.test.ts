/**
 * The report's Findings (reports/findings.ts) on constructed view models: each claim holds,
 * fails or is not judged for the stated reason, with the number behind it; and the views that
 * go with them (small multiples on shared axes, declared data-scale checkpoints, "not shown"
 * notes with a reason, stages).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import sharp from "sharp";
import { findings, farMean, ownPatchRatio, depthAt90, spearman, type Finding } from "../reports/findings.js";
import { reportSections } from "../reports/specs.js";
import { renderReport } from "../reports/render.js";
import type { AttentionDistance, Heatmap, Localisation, ReportData, ReportModel, SkipRatio } from "../reports/types.js";
import { declaredTraining } from "../src/output/report-data.js";
import { writeFigures } from "../src/api/export.js";

const model = (id: string, family: string, extra: Partial<ReportModel> = {}): ReportModel => ({ id, label: id, file: `${id}.onnx`, sha256: "0".repeat(64), family, sites: 8, ...extra });

function run(models: ReportModel[]): ReportData["run"] {
  return { title: "t", toolVersion: "0", created: "2026-01-01T00:00:00Z", models, data: { path: "d", images: 16, sampleDigest: "x" }, settings: {}, timings: {}, sanity: [], warnings: [] };
}

/** An n×n intra-model CKA matrix exp(−|i − j| / (tau·n)) with the site names blocks.k.out. */
function intra(id: string, m: string, n: number, tau: number): Heatmap {
  const rows = Array.from({ length: n }, (_, i) => `blocks.${i}.out`);
  const data = Array.from({ length: n * n }, (_, k) => Math.exp(-Math.abs(Math.floor(k / n) - (k % n)) / (tau * n)));
  return { id, title: id, rowModel: m, colModel: m, rows, cols: rows, data };
}

function crossOf(id: string, a: string, b: string, n: number, m: number, f: (i: number, j: number) => number, names?: [string[], string[]]): Heatmap {
  const rows = names?.[0] ?? Array.from({ length: n }, (_, i) => `blocks.${i}.out`);
  const cols = names?.[1] ?? Array.from({ length: m }, (_, j) => `stages.${j}.out`);
  return { id, title: id, rowModel: a, colModel: b, rows, cols, data: Array.from({ length: n * m }, (_, k) => f(Math.floor(k / m), k % m)) };
}

function byId(list: Finding[], id: string): Finding {
  const f = list.find((x) => x.id === id);
  if (!f) throw new Error(`no finding ${id}`);
  return f;
}

const attention = (m: string, heads: (l: number) => number[], layers = 6, stage?: (l: number) => string): AttentionDistance => ({
  model: m,
  patchSize: 4,
  grid: [7, 7],
  ceiling: 14.44,
  layers: Array.from({ length: layers }, (_, l) => ({ layer: l, heads: heads(l), ...(stage ? { stage: stage(l) } : {}) })),
});

describe("findings on constructed results", () => {
  test("the statistics: farMean, Spearman, own-patch ratio, depth at 90%", () => {
    expect(farMean({ rows: ["a", "b"], data: [1, 0.4, 0.4, 1] })).toBeCloseTo(0.4, 12);
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // own patch 0.9, the other 8 cells 0.1 → ×9
    const loc: Localisation = { model: "a", grid: [3, 3], maps: [{ position: [1, 1], label: "t", data: [0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1] }] };
    expect(ownPatchRatio(loc)).toBeCloseTo(9, 12);
    expect(depthAt90([{ depth: 0, accuracy: 0.1 }, { depth: 0.5, accuracy: 0.85 }, { depth: 1, accuracy: 0.9 }])).toBe(0.5);
  });

  test("uniformity holds when the ViT's far-apart CKA is higher, fails when lower, is a tie within 0.01, and is not judged without a CNN", () => {
    const models = [model("v", "vit", { prefixTokens: 1 }), model("r", "resnet")];
    const holds = findings({ run: run(models), cka: [intra("v-v", "v", 8, 2), intra("r-r", "r", 8, 0.2)] });
    const f = byId(holds, "uniformity");
    expect(f.verdict).toBe("holds");
    expect(f.text).toContain(farMean(intra("x", "v", 8, 2)).toFixed(2));
    expect(f.figure).toMatch(/^cka-/);
    expect(byId(findings({ run: run(models), cka: [intra("v-v", "v", 8, 0.2), intra("r-r", "r", 8, 2)] }), "uniformity").verdict).toBe("does not hold");
    expect(byId(findings({ run: run(models), cka: [intra("v-v", "v", 8, 1), intra("r-r", "r", 8, 1)] }), "uniformity").verdict).toBe("not judged");
    const alone = byId(findings({ run: run([models[0]]), cka: [intra("v-v", "v", 8, 2)] }), "uniformity");
    expect(alone.verdict).toBe("not judged");
    expect(alone.text).toMatch(/needs the intra-model CKA of a ViT and of a CNN/);
  });

  test("an inference-ablation variant or an untrained model never stands for its architecture", () => {
    const models = [model("abl", "vit", { ablatedBlock: 2 }), model("init", "vit", { training: { images: 0, recipe: "r", untrained: true } }), model("r", "resnet")];
    const f = byId(findings({ run: run(models), cka: [intra("a", "abl", 8, 2), intra("i", "init", 8, 2), intra("r-r", "r", 8, 0.2)] }), "uniformity");
    expect(f.verdict).toBe("not judged");
  });

  test("correspondence holds for a monotone best-match map whose lower CNN half maps into the ViT's lowest quarter", () => {
    const models = [model("v", "vit"), model("r", "resnet")];
    // CNN site j (of 4) is closest to ViT site round(j²/2) (of 8): 0, 0, 2, 4 → lower half in the lowest quarter.
    const target = [0, 1, 2, 5];
    const h = crossOf("v-r", "v", "r", 8, 4, (i, j) => 1 - Math.abs(i - target[j]) / 8);
    const f = byId(findings({ run: run(models), cka: [h] }), "correspondence");
    expect(f.verdict).toBe("holds");
    expect(f.text).toMatch(/^100% of the lower half/);
    const late = crossOf("v-r", "v", "r", 8, 4, (i, j) => 1 - Math.abs(i - [4, 5, 6, 7][j]) / 8);
    expect(byId(findings({ run: run(models), cka: [late] }), "correspondence").verdict).toBe("does not hold");
  });

  test("attention: no head below 0.8 × uniform is the small-data case; local heads low and global heads high hold; distance growth by Spearman", () => {
    const models = [model("v", "vit")];
    const uniform = findings({ run: run(models), attentionDistance: [attention("v", () => [14.2, 14.4, 14.5, 14.3])] });
    const lg = byId(uniform, "local-global");
    expect(lg.verdict).toBe("does not hold");
    expect(lg.text).toMatch(/small-data case/);
    expect(lg.text).toMatch(/7×7 grid/);
    expect(byId(uniform, "distance-depth").verdict).toBe("not judged");
    const paper = findings({ run: run(models), attentionDistance: [attention("v", (l) => (l < 3 ? [2 + l, 6, 13, 14] : [12, 13, 14, 14.4]))] });
    expect(byId(paper, "local-global").verdict).toBe("holds");
    expect(byId(paper, "local-global").text).toMatch(/^v has \d+ local heads/);
    const grows = byId(paper, "distance-depth");
    expect(grows.verdict).toBe("holds");
    expect(grows.figure).toBe("attention-v");
  });

  test("skip ratios: ViT above CNN, and CLS high early with spatial high late", () => {
    const models = [model("v", "vit", { prefixTokens: 1 }), model("r", "resnet")];
    const vit: SkipRatio = { model: "v", rows: [0, 1, 2, 3].flatMap((b) => [{ block: b, sublayer: "attn" as const, cls: 10 - 2 * b, spatial: 2 + b }, { block: b, sublayer: "mlp" as const, cls: 9 - 2 * b, spatial: 2 + b }]) };
    const res: SkipRatio = { model: "r", rows: [0, 1, 2, 3].map((b) => ({ block: b, sublayer: "unit" as const, spatial: 0.9 })) };
    const list = findings({ run: run(models), skipRatio: [vit, res] });
    expect(byId(list, "skip-vit-cnn").verdict).toBe("holds");
    expect(byId(list, "skip-vit-cnn").text).toContain("0.90");
    expect(byId(list, "skip-cls-spatial").verdict).toBe("holds");
    const flipped: SkipRatio = { model: "v", rows: vit.rows.map((r) => ({ ...r, cls: 1 + r.block })) };
    expect(byId(findings({ run: run(models), skipRatio: [flipped, res] }), "skip-cls-spatial").verdict).toBe("does not hold");
  });

  test("localisation: CLS ViT above GAP ViT and CNN holds; without a GAP ViT it is not judged", () => {
    const map = (own: number, rest: number): Localisation["maps"][number] => ({ position: [0, 0], label: "t", data: [own, rest, rest, rest] });
    const loc = (m: string, own: number): Localisation => ({ model: m, grid: [2, 2], site: "blocks.5.out", maps: [map(own, 0.1)] });
    const models = [model("c", "vit", { prefixTokens: 1 }), model("g", "vit", { prefixTokens: 0 }), model("r", "resnet")];
    const f = byId(findings({ run: run(models), localisation: [loc("c", 0.8), loc("g", 0.1), loc("r", 0.3)] }), "localisation");
    expect(f.verdict).toBe("holds");
    expect(f.text).toContain("×8.00");
    expect(f.text).toContain("×1.00");
    expect(byId(findings({ run: run(models), localisation: [loc("c", 0.1), loc("g", 0.8)] }), "localisation").verdict).toBe("does not hold");
    expect(byId(findings({ run: run([models[0], models[2]]), localisation: [loc("c", 0.8)] }), "localisation").text).toMatch(/global average pooling/);
  });

  test("data scale is judged only for declared checkpoints of one recipe", () => {
    const full = model("full", "vit", { training: { images: 60000, recipe: "r1" } });
    const small = model("small", "vit", { training: { images: 6000, recipe: "r1" } });
    const other = model("gap", "vit", { training: { images: 60000, recipe: "r2" } });
    const names = Array.from({ length: 6 }, (_, i) => `blocks.${i}.out`);
    const h = crossOf("full-small", "full", "small", 6, 6, (i, j) => (i === j ? 1 - 0.05 * i : 0.3), [names, names]);
    const f = byId(findings({ run: run([full, small, other]), cka: [h] }), "data-scale");
    expect(f.verdict).toBe("holds");
    expect(f.text).toMatch(/small \(6,000 training images\) against full \(60,000\)/);
    const undeclared = byId(findings({ run: run([model("full", "vit"), model("small", "vit")]), cka: [h] }), "data-scale");
    expect(undeclared.verdict).toBe("not judged");
    expect(undeclared.text).toMatch(/declared in their model cards/);
  });

  test("probes, Mixer, position embeddings, collapse and ablation each give a verdict with their number", () => {
    const models = [model("v", "vit", { prefixTokens: 1 }), model("r", "resnet"), model("x", "mixer"), model("v-abl", "vit", { ablatedBlock: 2 })];
    const pts = (f: (d: number) => number) => [0, 0.25, 0.5, 0.75, 1].map((d) => ({ depth: d, accuracy: f(d), site: `b${d}` }));
    const g = 3;
    const pos = Array.from({ length: g ** 4 }, (_, k) => {
      const a = Math.floor(k / (g * g));
      const b = k % (g * g);
      return Math.exp(-Math.hypot(Math.floor(a / g) - Math.floor(b / g), (a % g) - (b % g)));
    });
    const names = Array.from({ length: 4 }, (_, i) => `blocks.${i}.out`);
    const data: ReportData = {
      run: run(models),
      cka: [intra("v-v", "v", 8, 2), intra("r-r", "r", 8, 0.2), intra("x-x", "x", 8, 1.6)],
      probes: [{ model: "v", series: [{ name: "cls, full data", points: pts((d) => 0.1 + 0.8 * d ** 3) }, { name: "mean, full data", points: pts((d) => 0.8 + 0.1 * d) }] }],
      posEmbed: [{ model: "v", grid: [g, g], data: pos }],
      collapse: [{ ...intra("c", "v", 6, 0.5), model: "v" }],
      ablation: [
        { kind: "line", id: "ablation-accuracy", title: "acc", xLabel: "model", yLabel: "accuracy", xCategories: ["intact", "block 2 ablated"], series: [{ name: "accuracy", points: [{ x: 0, y: 0.9, label: "intact" }, { x: 1, y: 0.2, label: "v-abl" }] }] },
        { kind: "heatmap", ...crossOf("ablation-block2-AB", "v", "v-abl", 4, 4, (i, j) => (i === j ? (i < 2 ? 1 : 0.3) : 0.2), [names, names]) },
      ],
    };
    const list = findings(data);
    expect(byId(list, "probes").verdict).toBe("holds");
    expect(byId(list, "probes").text).toMatch(/1\.00 from the CLS token and 0\.25 from the mean/);
    expect(byId(list, "mixer").verdict).toBe("holds");
    expect(byId(list, "mixer").text).toMatch(/no x × r matrix/);
    expect(byId(list, "position-embedding").verdict).toBe("holds");
    const c = byId(list, "collapse");
    expect(["holds", "does not hold", "not judged"]).toContain(c.verdict);
    expect(c.text).toMatch(/upper half against/);
    const abl = byId(list, "removing-skips");
    expect(abl.verdict).toBe("holds");
    expect(abl.text).toMatch(/1\.00 before block 2 and 0\.30 from it on, and accuracy falls from 0\.900 to 0\.200/);
    // Every finding is one of the three verdicts, and a linked figure exists in the report.
    const ids = new Set(reportSections(data).flatMap((s) => s.figures.map((f) => f.id)));
    for (const f of list) if (f.figure) expect(ids.has(f.figure), f.id).toBe(true);
  });

  test("the rendered report opens with the Findings section, each line linking to its figure anchor", () => {
    const models = [model("v", "vit", { prefixTokens: 1 }), model("r", "resnet")];
    const html = renderReport({ run: run(models), cka: [intra("v-v", "v", 8, 2), intra("r-r", "r", 8, 0.2)] });
    const first = html.indexOf('<section id="findings">');
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(html.indexOf('<section id="cka">'));
    expect(html.indexOf('<section id="run">')).toBeGreaterThan(html.indexOf('<section id="cka">'));
    expect(html).toMatch(/<li class="holds" data-finding="uniformity">.*href="#figure-cka-0-v-v"/);
  });
});

describe("views that go with the findings", () => {
  test("data scale shows only declared checkpoints, names the rest, and labels its axis as normalised depth", () => {
    const models = [model("full", "vit", { training: { images: 60000, recipe: "r1" } }), model("small", "vit", { training: { images: 6000, recipe: "r1" } }), model("gap", "vit", { training: { images: 60000, recipe: "r2" } })];
    const panel = { kind: "line" as const, id: "cka-data-scale", title: "ds", xLabel: "block", yLabel: "CKA", series: ["small", "gap"].map((name) => ({ name, points: [{ x: 0, y: 0.9 }, { x: 1, y: 0.8 }] })) };
    const s = reportSections({ run: run(models), dataScale: [panel] }).find((x) => x.id === "dataScale")!;
    expect(s.figures).toHaveLength(1);
    const spec = s.figures[0].spec as { series: { name: string }[]; xLabel: string };
    expect(spec.series.map((x) => x.name)).toEqual(["small (6,000 training images)"]);
    expect(spec.xLabel).toBe("normalised depth");
    expect(s.notes.join(" ")).toMatch(/Not shown: gap, not declared/);
    // A series that names no model of the run is the caller's own and stays.
    const own = reportSections({ run: run(models), dataScale: [{ ...panel, series: [{ name: "3% data", points: panel.series[0].points }] }] }).find((x) => x.id === "dataScale")!;
    expect(own.figures).toHaveLength(1);
    const none = reportSections({ run: run([model("full", "vit"), model("small", "vit"), model("gap", "vit")]), dataScale: [panel] }).find((x) => x.id === "dataScale")!;
    expect(none.figures).toHaveLength(0);
    expect(none.notes[0]).toMatch(/^Not shown: data scale needs checkpoints of one recipe/);
  });

  test("skip ratios share one axis convention and list only the groups a model has", () => {
    const models = [model("v", "vit", { prefixTokens: 1 }), model("g", "vit", { prefixTokens: 0 })];
    const rows = (cls: number | undefined) => [0, 1].flatMap((b) => [{ block: b, sublayer: "attn" as const, ...(cls === undefined ? { cls: NaN } : { cls }), spatial: 1 + 40 * b }]);
    const s = reportSections({ run: run(models), skipRatio: [{ model: "v", rows: rows(3) }, { model: "g", rows: rows(undefined) }] }).find((x) => x.id === "skipRatio")!;
    const specs = s.figures.map((f) => f.spec as { yLog: boolean; yDomain: [number, number]; series: { name: string }[] });
    expect(specs.map((x) => x.yLog)).toEqual([true, true]);
    expect(specs[0].yDomain).toEqual(specs[1].yDomain);
    expect(specs[0].series.map((x) => x.name)).toEqual(["CLS, attention", "spatial tokens, attention"]);
    expect(specs[1].series.map((x) => x.name)).toEqual(["spatial tokens, attention"]);
  });

  test("attention distance of all models shares its axes and groups layers by stage; the ablation variant's absence says why", () => {
    const models = [model("a", "vit"), model("b", "swin"), model("r", "resnet"), model("abl", "vit", { ablatedBlock: 1 })];
    const s = reportSections({
      run: run(models),
      attentionDistance: [attention("a", () => [5, 10]), attention("b", (l) => [2, 20 + l], 4, (l) => (l < 2 ? "0" : "1"))],
      collapse: [{ ...intra("c", "b", 4, 1), model: "b", stages: ["0", "0", "1", "1"] }],
    });
    const att = s.find((x) => x.id === "attentionDistance")!;
    const dots = att.figures.filter((f) => f.kind === "dots").map((f) => f.spec as { yMax: number; xDomain: [number, number]; layers: { stage?: string }[] });
    expect(dots).toHaveLength(2);
    expect(dots[0].yMax).toBe(23);
    expect(dots[1].yMax).toBe(23);
    expect(dots[0].xDomain).toEqual(dots[1].xDomain);
    expect(dots[1].layers.map((l) => l.stage)).toEqual(["0", "0", "1", "1"]);
    expect(att.notes[0]).toMatch(/r: convolutional, no attention layers/);
    expect(att.notes[0]).toMatch(/abl: inference-ablation variant; its attention is not measured separately/);
    const col = s.find((x) => x.id === "collapse")!;
    expect(col.figures.map((f) => (f.spec as { rows: string[] }).rows.length)).toEqual([2, 2]);
  });

  test("localisation is one grid of model · site × token position with every label in full", () => {
    const maps = (m: string, site: string): Localisation => ({ model: m, grid: [2, 2], site, maps: [[0, 0], [1, 1]].map((p) => ({ position: p as [number, number], label: `${site} token (${p[0]}, ${p[1]})`, data: [0.5, 0.1, 0.1, 0.2] })) });
    const s = reportSections({ run: run([model("a", "vit"), model("b", "vit")]), localisation: [maps("a", "blocks.2.out"), maps("a", "blocks.5.out"), maps("b", "blocks.5.out")] }).find((x) => x.id === "localisation")!;
    expect(s.figures).toHaveLength(1);
    const spec = s.figures[0].spec as { rowLabels: string[]; colLabels: string[]; maps: { row: number; col: number }[] };
    expect(spec.rowLabels).toEqual(["a · blocks.2.out", "a · blocks.5.out", "b · blocks.5.out"]);
    expect(spec.colLabels).toEqual(["token (0, 0)", "token (1, 1)"]);
    expect(spec.maps.map((m) => [m.row, m.col])).toEqual([[0, 0], [0, 1], [1, 0], [1, 1], [2, 0], [2, 1]]);
  });

  test("probes get one panel per representation with one line per model; GAP and mean are the same representation", () => {
    const pts = [{ depth: 0, accuracy: 0.5, site: "s" }, { depth: 1, accuracy: 0.9, site: "t" }];
    const s = reportSections({
      run: run([model("v", "vit"), model("r", "resnet")]),
      probes: [
        { model: "v", series: ["cls, 1-shot", "cls, full data", "mean, 1-shot", "mean, full data"].map((name) => ({ name, points: pts })) },
        { model: "r", series: ["gap, 5-shot", "gap, full data"].map((name) => ({ name, points: pts })) },
      ],
    }).find((x) => x.id === "probes")!;
    expect(s.figures.map((f) => (f.spec as { title: string }).title)).toEqual(["Probes: CLS token", "Probes: mean of spatial tokens"]);
    expect(s.figures.map((f) => (f.spec as { series: { name: string }[] }).series.map((x) => x.name))).toEqual([["v"], ["v", "r"]]);
    expect(s.figures[0].caption).toMatch(/full data/);
  });

  test("a caption shared by several figures of a section is said once after the introduction", () => {
    const panel = (id: string) => ({ kind: "line" as const, id, title: `${id}: mass`, caption: "Mean attention on each prefix token.", xLabel: "layer", yLabel: "mass", series: [{ name: "s", points: [{ x: 0, y: 1 }] }] });
    const s = reportSections({ run: run([model("a", "vit")]), sections: [{ id: "prefix-mass", title: "Prefix", intro: "Intro.", panels: [panel("a"), panel("b")] }] })[0];
    expect(s.intro).toBe("Intro. Mean attention on each prefix token.");
    expect(s.figures.map((f) => f.caption)).toEqual(["a: mass.", "b: mass."]);
  });

  test("declaredTraining reads train_images and a recipe id from the model card; checkpoints of one recipe share it", () => {
    const zoo = join(__dirname, "..", "fixtures", "zoo");
    const full = declaredTraining(join(zoo, "vit-tiny.onnx"))!;
    const small = declaredTraining(join(zoo, "vit-tiny-10pct.onnx"))!;
    const gap = declaredTraining(join(zoo, "vit-tiny-gap.onnx"))!;
    const init = declaredTraining(join(zoo, "vit-tiny-init.onnx"))!;
    expect([full.images, small.images]).toEqual([60000, 6000]);
    expect(small.recipe).toBe(full.recipe);
    expect(gap.recipe).not.toBe(full.recipe);
    expect(init.untrained).toBe(true);
    expect(declaredTraining(join(tmpdir(), "no-such-model.onnx"))).toBeUndefined();
  });

  test("writeFigures writes every figure of the report as an SVG and a PNG of the same size", async () => {
    const dir = mkdtempSync(join(tmpdir(), "seelike-figures-"));
    const data: ReportData = { run: run([model("v", "vit"), model("r", "resnet")]), cka: [intra("v-v", "v", 8, 2)], attentionDistance: [attention("v", () => [5, 10])] };
    const files = await writeFigures(data, dir);
    const ids = reportSections(data).flatMap((s) => s.figures.map((f) => f.id));
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual(ids.flatMap((id) => [`${id}.png`, `${id}.svg`]).sort());
    for (const id of ids) {
      const svg = readFileSync(join(dir, `${id}.svg`), "utf8");
      const w = Number(/<svg[^>]*\swidth="(\d+(?:\.\d+)?)"/.exec(svg)![1]);
      const meta = await sharp(join(dir, `${id}.png`)).metadata();
      expect(meta.format).toBe("png");
      expect(meta.width).toBe(Math.round(2 * w));
    }
  });
});

