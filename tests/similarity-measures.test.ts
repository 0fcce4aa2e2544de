/**
 * The registered similarity measures beyond CKA (issue 16: cca, svcca, pwcca, procrustes, rsa,
 * mutual-knn, predictivity) end to end on the zoo: the pooled features the shared store keeps
 * against those exported once (fixtures/reference/similarity/export_zoo_pooled.mjs), the site ×
 * site matrices against the independent numpy reference (site_measures.py, 1e-9 on the exact
 * exported features, plus a p > m site for the CCA family's reduction), the properties each
 * measure claims, and the files and report sections of a run.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execute, finish, prepare } from "../src/plan/index.js";
import { runToFiles, type RunFiles } from "../src/api/index.js";
import { pooledReducer, type PooledFeatures, type SiteFeatures } from "../analyses/similarity/pooled.js";
import { MEASURES, MEASURE_VALUES, SiteBank, nuclearNorm, type Measure } from "../analyses/similarity/site-measures.js";
import type { MeasureSection } from "../src/pipelines/measures.js";
import { readNpy } from "./helpers/npy.js";
import { exported } from "./helpers/pooled.js";

const root = path.resolve(__dirname, "..");
const dir = path.join(root, "fixtures/reference/similarity");
const VIT = path.join(root, "fixtures/zoo/vit-tiny.onnx");
const RESNET = path.join(root, "fixtures/zoo/resnet-tiny.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
// As export_zoo_pooled.mjs: 200 images in batches of 40, the first 160 kept.
const RUN = { data: DATA, limit: 200, batch: 40, measureExamples: 160, seed: 0, threads: 1 };
const ref = JSON.parse(readFileSync(path.join(dir, "site_measures.json"), "utf8"));


const wideX = readNpy(path.join(dir, "zoo_wide.npy"));
const wide: SiteFeatures[] = [{ name: "wide", data: wideX.data, m: wideX.shape[0], p: wideX.shape[1] }];

/** The numpy matrices of a measure's value, forward (rows A) and backward (the pair read the other way). */
const REF_KEYS: Record<string, [string, string | null]> = {
  "cca/mean-r2": ["cca", null], "svcca/mean-rho": ["svcca", null], "pwcca/pwcca": ["pwcca", "pwcca_back"],
  "procrustes/angle": ["angle", null], "procrustes/distance": ["distance", null], "rsa/spearman": ["spearman", null], "rsa/pearson": ["pearson", null],
  "mutual-knn/alignment": ["knn", null], "predictivity/r2": ["r2", "r2_back"], "predictivity/lambda": ["lambda", "lambda_back"],
};

function flat(rows: number[][]): number[] {
  return rows.flat();
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  expect(a.length).toBe(b.length);
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / Math.max(floor, Math.abs(b[i])));
  return e;
}

/** The transpose of a numpy rows × cols matrix (backward values are stored as [cols][rows]). */
function transposed(rows: number[][]): number[] {
  const out: number[] = [];
  for (let j = 0; j < rows[0].length; j++) for (let i = 0; i < rows.length; i++) out.push(rows[i][j]);
  return out;
}

describe("the site × site measures on exported zoo features against numpy (site_measures.py)", () => {
  const vit = exported("vit-tiny");
  const res = exported("resnet-tiny");
  const bank = new SiteBank([vit, res, wide]);
  // The angle's slope is infinite at ρ = 1, so on identical sites 1e-9 in ρ is ~4e-5 in angle; compared as ρ.
  const asRho = (v: string, x: number) => (v === "angle" ? Math.cos(x) : v === "distance" ? 1 - (x * x) / 2 : x);
  for (const measure of MEASURES) {
    for (const value of MEASURE_VALUES[measure]) {
      // PWCCA's weights come from eigenvectors, whose error grows as canonical correlations cluster: 1e-8.
      const tol = measure === "pwcca" ? 1e-8 : 1e-9;
      it(`${measure} ${value}: AA, BB, AB, BA and a p > m site within ${tol}`, () => {
        const [fwd, back] = REF_KEYS[`${measure}/${value}`];
        for (const [key, a, b] of [["AA", 0, 0], ["BB", 1, 1], ["AB", 0, 1], ["AW", 0, 2]] as const) {
          const got = bank.matrix(measure, a, b);
          const want = ref[key][fwd];
          const f = Array.from(got.forward[value], (x) => asRho(value, x));
          expect(maxRel(f, flat(want).map((x) => asRho(value, x)), value === "lambda" ? 0 : 1e-3), `${key} forward`).toBeLessThan(tol);
          if (back && a !== b) expect(maxRel(Array.from(got.backward[value], (x) => asRho(value, x)), transposed(ref[key][back]).map((x) => asRho(value, x)), value === "lambda" ? 0 : 1e-3), `${key} backward`).toBeLessThan(tol);
        }
      });
    }
  }

  it("reduces a p > m site to ⌊(m − 1)/2⌋ directions for CCA, and records it", () => {
    const notes = bank.notes(2);
    expect(notes[0].p).toBeGreaterThan(notes[0].rank);
    expect(notes[0].ccaDims).toBe(ref.dims.wide.cca);
    expect(notes[0].ccaDims).toBe(Math.floor((160 - 1) / 2));
    expect(notes[0].svccaDims).toBe(ref.dims.wide.svcca);
  });

  // A ridge read-out of X from itself leaves R² = 1 − O(λ/s²) at the smallest λ (1e-6): 1e-6.
  it("identical sites: similarity 1 (predictivity to λ), distance and angle 0; symmetric measures symmetric, predictivity and PWCCA not", () => {
    const four = vit.slice(0, 4);
    const n = four.length;
    const own = new SiteBank([four]);
    const same = new SiteBank([four, four]);
    for (const measure of MEASURES) {
      const aa = own.matrix(measure, 0, 0).forward;
      const ab = same.matrix(measure, 0, 1).forward;
      const v = MEASURE_VALUES[measure][0];
      for (let i = 0; i < n; i++) {
        const expected = measure === "procrustes" ? 0 : 1;
        expect(Math.abs(aa[v][i * n + i] - expected), `${measure} AA diagonal ${i}`).toBeLessThan(measure === "procrustes" || measure === "predictivity" ? 1e-6 : 1e-9);
        expect(Math.abs(ab[v][i * n + i] - expected), `${measure} of a model with itself`).toBeLessThan(measure === "procrustes" || measure === "predictivity" ? 1e-6 : 1e-9);
      }
      let asym = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) asym = Math.max(asym, Math.abs(aa[v][i * n + j] - aa[v][j * n + i]));
      if (measure === "predictivity" || measure === "pwcca") expect(asym, measure).toBeGreaterThan(1e-3);
      else expect(asym, measure).toBeLessThan(1e-12);
    }
  });

  it("Procrustes does not change under a rotation and scaling of one site, and CCA under an invertible map, but Procrustes does", () => {
    const x = vit[3];
    const p = x.p;
    // A Givens rotation of every feature pair (2j, 2j+1) and ×3; then a column stretch (invertible, not orthogonal).
    const rot = new Float64Array(x.data.length), str = new Float64Array(x.data.length);
    for (let i = 0; i < x.m; i++) for (let j = 0; j < p; j += 2) {
      const a = x.data[i * p + j], b = x.data[i * p + j + 1];
      rot[i * p + j] = 3 * (0.6 * a - 0.8 * b);
      rot[i * p + j + 1] = 3 * (0.8 * a + 0.6 * b);
    }
    for (let i = 0; i < x.data.length; i++) str[i] = x.data[i] * (1 + (i % p)) ** 1.5;
    const b = new SiteBank([[x, vit[7]], [{ ...x, data: rot }, { ...vit[7], data: str }], [{ ...x, data: str }]]);
    const ang = (a: number, c: number) => b.matrix("procrustes", a, c).forward.angle;
    const cc = (a: number, c: number) => b.matrix("cca", a, c).forward["mean-r2"];
    expect(Math.abs(ang(0, 1)[0] - 0)).toBeLessThan(1e-6);
    expect(Math.abs(ang(0, 0)[1] - ang(1, 0)[1])).toBeLessThan(1e-9);
    expect(Math.abs(cc(0, 2)[0] - 1)).toBeLessThan(1e-9);
    expect(ang(0, 2)[0]).toBeGreaterThan(0.05);
  });

  it("nuclearNorm is the sum of singular values (a diagonal matrix rotated)", () => {
    const c = Math.cos(0.3), s = Math.sin(0.3);
    // [[c, −s], [s, c]] · diag(5, 1e-9)
    expect(Math.abs(nuclearNorm(Float64Array.from([5 * c, -1e-9 * s, 5 * s, 1e-9 * c]), 2, 2) - (5 + 1e-9))).toBeLessThan(1e-15);
  });
});

describe("the registered measures end to end on the zoo", () => {
  let features: PooledFeatures;
  let sections: Partial<Record<Measure, MeasureSection>>;
  let out: string;
  let run: RunFiles;

  beforeAll(async () => {
    const plan = await prepare([VIT, RESNET], { ...RUN, analyses: [...MEASURES] });
    const r = await execute(plan);
    expect(Object.keys(r.states).filter((k) => k.startsWith("pooled:"))).toEqual(["pooled:0-1"]);
    features = pooledReducer.finalize(r.states["pooled:0-1"] as never);
    const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
    sections = results as unknown as Partial<Record<Measure, MeasureSection>>;
    out = mkdtempSync(path.join(tmpdir(), "seelike-measures-"));
    run = await runToFiles([VIT, RESNET], { ...RUN, analyses: ["cka", ...MEASURES] }, path.join(out, "r.html"));
  }, 300_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("the shared store kept the first 160 of 200 examples, the features exported once (float32 onnxruntime, 1e-4)", () => {
    expect(features.examples).toBe(160);
    expect(features.seen).toBe(200);
    for (const [mi, label] of ["vit-tiny", "resnet-tiny"].entries()) {
      const want = exported(label);
      expect(features.models[mi].map((s) => s.name)).toEqual(want.map((s) => s.name));
      features.models[mi].forEach((s, si) => {
        let e = 0;
        for (let i = 0; i < s.data.length; i++) e = Math.max(e, Math.abs(s.data[i] - want[si].data[i]) / Math.max(1, Math.abs(want[si].data[i])));
        expect(e, `${label} ${s.name}`).toBeLessThan(1e-4);
      });
    }
  });

  it("every measure's section: its matrices are the numpy reference's (1e-3 for the run's own float32 features; 1e-9 on the store's)", () => {
    const bank = new SiteBank(features.models);
    for (const measure of MEASURES) {
      const s = sections[measure]!;
      expect(s, measure).toBeDefined();
      expect(s.examples).toEqual({ kept: 160, cap: 160, seen: 200 });
      expect(s.pooling).toEqual({ "vit-tiny": "cls", "resnet-tiny": "gap" });
      const c = s.comparisons[0];
      expect([c.a, c.b]).toEqual(["vit-tiny", "resnet-tiny"]);
      for (const value of s.values) {
        const [fwd, back] = REF_KEYS[`${measure}/${value}`];
        for (const key of ["AA", "BB", "AB"] as const) {
          const mat = c.matrices[value][key]!;
          const own = bank.matrix(measure, key === "BB" ? 1 : 0, key === "AA" ? 0 : 1).forward[value];
          expect(maxRel(mat.data, own, Number.MIN_VALUE), `${measure} ${value} ${key} against the store`).toBeLessThan(1e-12);
          if (value !== "lambda") expect(Math.max(...Array.from(mat.data, (x, i) => Math.abs(x - flat(ref[key][fwd])[i]))), `${measure} ${value} ${key}`).toBeLessThan(measure === "procrustes" ? 3e-3 : 1e-3);
        }
        if (back) expect(c.matrices[value].BA!.shape).toEqual([c.matrices[value].AB!.shape[1], c.matrices[value].AB!.shape[0]]);
        else expect(c.matrices[value].BA).toBeUndefined();
      }
    }
  });

  it("writes each measure's CSV and .npy per matrix, records the cap, and draws a report section for each", () => {
    const files = readdirSync(run.paths.dir);
    for (const f of ["cca-vit-tiny-resnet-tiny-AB.csv", "cca-vit-tiny-resnet-tiny-AA.npy", "cca-sites.csv", "svcca-vit-tiny-resnet-tiny-BB.npy", "pwcca-vit-tiny-resnet-tiny-BA.csv",
      "procrustes-vit-tiny-resnet-tiny-angle-AB.npy", "procrustes-vit-tiny-resnet-tiny-distance-AB.csv", "rsa-vit-tiny-resnet-tiny-spearman-AB.npy", "rsa-vit-tiny-resnet-tiny-pearson-AA.csv",
      "mutual-knn-vit-tiny-resnet-tiny-AB.csv", "predictivity-vit-tiny-resnet-tiny-r2-AB.npy", "predictivity-vit-tiny-resnet-tiny-r2-BA.npy"]) expect(files, f).toContain(f);
    const csv = readFileSync(path.join(run.paths.dir, "cca-vit-tiny-resnet-tiny-AB.csv"), "utf8").trim().split("\n");
    expect(csv.length).toBe(1 + 12);
    expect(csv[0].split(",").length).toBe(1 + 6);
    const json = JSON.parse(readFileSync(path.join(run.paths.dir, "results.json"), "utf8"));
    expect(json.cca.examples).toEqual({ kept: 160, cap: 160, seen: 200 });
    expect(json.settings.measureExamples).toBe(160);
    const html = readFileSync(run.paths.report, "utf8");
    for (const id of MEASURES) expect(html, id).toContain(`<section id="${id}"`);
  });
});
