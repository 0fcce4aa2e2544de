/**
 * The analysis registry and the options table: one name per analysis everywhere (the
 * `--analyses` value, the results key, the file names, the reducer id), and every option of the
 * table reaching the CLI's flags, the settings record and the user's reference (docs/methods.md).
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import path from "node:path";
import { ANALYSES, DEFAULT_ANALYSES, REGISTRY } from "../src/pipelines/index.js";
import { ALL_OPTIONS, resolveOptions } from "../src/plan/types.js";
import { keyId } from "../src/pipelines/contract.js";
import { prepare } from "../src/plan/index.js";
import { runToFiles, type RunFiles } from "../src/api/index.js";
import { demoReportData } from "../reports/demo.js";
import { reportSections } from "../reports/specs.js";
import { renderReport } from "../reports/render.js";

const root = path.resolve(__dirname, "..");
const VIT = path.join(root, "fixtures/models/timm_vit_op17.onnx");
const RESNET = path.join(root, "fixtures/zoo/resnet-tiny.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
const TRAIN = path.join(root, "fixtures/data/train2k-images-idx3-ubyte.gz");
const ZOO_VIT = path.join(root, "fixtures/zoo/vit-tiny.onnx");

describe("the registry", () => {
  it("has one definition per id, and every option key once", () => {
    expect(new Set(ANALYSES).size).toBe(REGISTRY.length);
    const keys = ALL_OPTIONS.map((o) => o.key);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    const flags = ALL_OPTIONS.filter((o) => o.flag).map((o) => o.flag!.split(" ")[0]);
    expect(flags.filter((f, i) => flags.indexOf(f) !== i)).toEqual([]);
    for (const o of ALL_OPTIONS) expect(o.owner === "run" || (ANALYSES as readonly string[]).includes(o.owner), `${o.key} owned by ${o.owner}`).toBe(true);
  });

  it("resolveOptions applies every table default and keeps what was given", () => {
    const r = resolveOptions({ data: "x", batch: 16 }) as Record<string, unknown>;
    expect(r.batch).toBe(16);
    for (const o of ALL_OPTIONS) if (o.default !== undefined && o.key !== "batch") expect(r[o.key], o.key).toEqual(o.default);
    expect(r.analyses).toEqual(DEFAULT_ANALYSES);
  });

  it("keyId is distinct for distinct structured keys", () => {
    const ids = [
      { analysis: "cka", models: [0, 1] }, { analysis: "cka", models: [0, 11] }, { analysis: "cka", models: [0] },
      { analysis: "probes", models: [0], part: "cls" }, { analysis: "probes", models: [0], part: "mean" }, { analysis: "ablation", models: [0, 2], part: "cka-3" },
    ].map(keyId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("every flag of the table is in `seelike compare --help` and in docs/methods.md", () => {
    const help = spawnSync(process.execPath, [path.join(root, "bin/seelike.js"), "compare", "--help"], { encoding: "utf8" });
    expect(help.status, help.stderr).toBe(0);
    const docs = readFileSync(path.join(root, "docs/methods.md"), "utf8");
    for (const o of ALL_OPTIONS) {
      if (!o.flag) continue;
      const flag = o.flag.split(" ")[0];
      expect(help.stdout, flag).toContain(flag);
      expect(docs, `docs/methods.md does not mention ${flag}`).toContain(flag);
    }
    for (const id of ANALYSES) expect(docs, `docs/methods.md does not mention the analysis id ${id}`).toContain(`\`${id}\``);
  });
});

describe("one name per analysis in a run's outputs", () => {
  let dir: string;
  let run: RunFiles;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-registry-"));
    run = await runToFiles([ZOO_VIT, RESNET], { data: DATA, trainData: TRAIN, limit: 64, batch: 32, seed: 1, threads: 1, probeShots: [1, "full"], ablate: [1] }, path.join(dir, "r.html"));
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("results keys are the analysis ids (plus CKA's dataScale), and each section is stamped with its id", () => {
    const base = new Set(["schema", "settings", "shard", "timings", "models", "skipped", "warnings", "dataScale", "skippedAnalyses", "substitutions", "memory"]);
    const r = run.results as unknown as Record<string, unknown>;
    for (const k of Object.keys(r)) expect(base.has(k) || (ANALYSES as readonly string[]).includes(k), `results key ${k}`).toBe(true);
    for (const id of ["cka", "attention", "skip", "localisation", "probes", "embeddings", "collapse", "accuracy", "ablation"]) expect(r[id], id).toBeDefined();
    const stamps = (v: unknown, out: Set<string>): Set<string> => {
      if (v && typeof v === "object" && !ArrayBuffer.isView(v)) {
        const a = (v as { analysis?: unknown }).analysis;
        if (typeof a === "string") out.add(a);
        for (const x of Object.values(v)) stamps(x, out);
      }
      return out;
    };
    for (const id of ANALYSES) for (const s of stamps(r[id], new Set())) expect(id === "ablation" ? ["cka", "accuracy"] : [id], `${id} holds a result stamped ${s}`).toContain(s);
  });

  it("every output file is named after the analysis that wrote it", () => {
    const files = readdirSync(run.paths.dir).filter((f) => f !== "results.json" && !/^(state|checkpoint)\b/.test(f));
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) expect(ANALYSES.some((id) => f.startsWith(`${id}-`) || f.startsWith(`${id}.`)), f).toBe(true);
    expect(files).toContain("cka-vit-tiny-resnet-tiny-AB.npy");
    expect(files).toContain("skip-vit-tiny.csv");
    expect(files).toContain("ablation.csv");
  });

  it("the settings record holds every recorded option of the table", () => {
    const s = run.results.settings as Record<string, unknown>;
    for (const o of ALL_OPTIONS) if (o.record) expect(s[o.key === "shard" ? "shards" : o.key], o.key).toBeDefined();
    expect(s.probeShots).toBe("1,full");
    expect(s.ablate).toEqual([1]);
    // The default set: every analysis but the opt-in measures beyond CKA (src/pipelines/measures.ts).
    expect(s.analyses).toEqual([...DEFAULT_ANALYSES].sort());
  });

  it("every CKA matrix of a run carries a bootstrap interval per cell, written to its cells CSV", () => {
    const ab = run.results.cka![0].result.matrices.AB!;
    expect(ab.lower).toBeDefined();
    expect(ab.upper).toBeDefined();
    const n = ab.data.length;
    let inside = 0;
    for (let k = 0; k < n; k++) {
      expect(ab.lower![k]).toBeLessThanOrEqual(ab.upper![k]);
      if (ab.lower![k] <= ab.data[k] && ab.data[k] <= ab.upper![k]) inside++;
    }
    expect(inside / n).toBeGreaterThan(0.9);
    expect(run.results.cka![0].result.statistics).toMatchObject({ resamples: 1000, level: 0.95, permutations: 0 });
    const cells = readFileSync(path.join(run.paths.dir, "cka-vit-tiny-resnet-tiny-AB-cells.csv"), "utf8").trim().split("\n");
    expect(cells[0]).toBe("row,col,cka,lower,upper,level,p,std_across_repeats");
    expect(cells.length).toBe(n + 1);
    const [r, c, v, lo, hi, level] = cells[1].split(",");
    expect([r, c]).toEqual([ab.rows[0], ab.cols[0]]);
    expect([Number(v), Number(lo), Number(hi), Number(level)]).toEqual([ab.data[0], ab.lower![0], ab.upper![0], 0.95]);
  });

  it("--permutations R gives a p-value per cross cell, ≥ 1/(R + 1)", async () => {
    const plan = await prepare([ZOO_VIT, RESNET], { data: DATA, limit: 64, batch: 32, seed: 1, threads: 1, analyses: ["cka"], permutations: 9, bootstrap: 0 });
    const { execute, finish } = await import("../src/plan/index.js");
    const r = await execute(plan);
    const res = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
    const ab = res.cka![0].result.matrices.AB!;
    expect(ab.lower).toBeUndefined();
    expect(ab.p).toBeDefined();
    for (const p of ab.p!) {
      expect(p).toBeGreaterThanOrEqual(1 / 10);
      expect(p).toBeLessThanOrEqual(1);
    }
    // Trained models on the same images: the best-matching cells beat every shuffled pairing.
    expect(Math.min(...ab.p!)).toBeCloseTo(1 / 10, 12);
  }, 120_000);

  it("an analysis that cannot apply to a model is skipped for it with the reason, the others still run", async () => {
    const plan = await prepare([RESNET], { data: DATA, limit: 32, batch: 16, threads: 1, analyses: ["attention", "skip"] });
    expect(plan.warnings.some((w) => /resnet-tiny: attention distance skipped/.test(w))).toBe(true);
    expect(plan.drivers.map((d) => d.key.analysis)).toEqual(["skip"]);
  });

  it("a model without attention gives no attention driver; a timm ViT gets one per model", async () => {
    const plan = await prepare([VIT, RESNET], { data: DATA, limit: 32, batch: 16, threads: 1, analyses: ["attention"] });
    expect(plan.drivers.map((d) => d.key)).toEqual([{ analysis: "attention", models: [0] }]);
  });
});

describe("generic report sections (an analysis' panels without a new figure kind)", () => {
  it("reportSections draws ReportData.sections after the fixed sections, and renderReport anchors them", () => {
    const data = demoReportData();
    data.sections = [{
      id: "toy-measure", title: "Toy measure", intro: "A measure the report has no figure kind for.",
      panels: [{ kind: "line", id: "toy", title: "Toy against depth", xLabel: "block", yLabel: "value", series: [{ name: "m0", points: [{ x: 0, y: 1 }, { x: 1, y: 0.5 }] }] }],
    }];
    const sections = reportSections(data);
    const last = sections[sections.length - 1];
    expect(last.id).toBe("toy-measure");
    expect(last.figures.map((f) => f.kind)).toEqual(["lines"]);
    const html = renderReport(data);
    expect(html).toContain('id="toy-measure"');
    expect(html).toContain('href="#toy-measure"');
    data.sections.push({ ...data.sections[0] });
    expect(() => reportSections(data)).toThrow(/two sections with the id toy-measure/);
  });
});

describe("the generated RunOptions type, as a user's compiler sees the published .d.ts", () => {
  for (const strict of [true, false]) {
    it(`keeps every option key under strict: ${strict} (tslab and plain JS-checked projects are not strict)`, () => {
      const tmp = mkdtempSync(path.join(tmpdir(), "seelike-types-"));
      try {
        const entry = path.join(root, "dist/src/index.js").replace(/\\/g, "/");
        writeFileSync(path.join(tmp, "use.ts"), [
          `import type { RunOptions } from ${JSON.stringify(entry)};`,
          `const ok: RunOptions = { data: "images/", limit: 8, batch: 4, estimator: "full-biased", attentionWeighting: "raw", probeShots: [1, "full"], ablate: [3], analyses: ["cka", "skip"] };`,
          `// @ts-expect-error an unknown option is refused`,
          `const bad: RunOptions = { data: "images/", nope: 1 };`,
          `// @ts-expect-error a value outside the choices is refused`,
          `const bad2: RunOptions = { data: "images/", estimator: "biased" };`,
          `export { ok, bad, bad2 };`,
        ].join("\n"));
        writeFileSync(path.join(tmp, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict, noEmit: true, skipLibCheck: true, types: [] }, files: ["use.ts"] }));
        const r = spawnSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", tmp], { encoding: "utf8" });
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }, 120_000);
  }
});
