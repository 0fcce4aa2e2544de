/**
 * The streaming engine end to end through the CLI: shards merged equal one run, a run killed
 * with SIGKILL and resumed equals an uninterrupted run, settings mismatches are refused.
 */
import { describe, expect, it, beforeAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(__dirname, "..");
const bin = path.join(root, "bin", "seelike.js");
const A = path.join(root, "fixtures/models/timm_vit_op17.onnx");
const B = path.join(root, "fixtures/models/mixer_op17.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
const TRAIN = path.join(root, "fixtures/data/train2k-images-idx3-ubyte.gz");
const COMMON = ["--data", DATA, "--limit", "192", "--batch", "32", "--seed", "3", "--quiet", "--threads", "1"];

function cli(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 300_000 });
}

function results(dir: string, report = "report.html") {
  return JSON.parse(readFileSync(path.join(dir, report.replace(/\.html$/, ""), "results.json"), "utf8"));
}

/** Every number of the analyses (timings and file paths excluded), flattened with its path. */
function numbers(r: Record<string, unknown>): Map<string, number | null> {
  const out = new Map<string, number | null>();
  const walk = (v: unknown, p: string) => {
    if (typeof v === "number" || v === null) out.set(p, v as number | null);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}[${i}]`));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${p}.${k}`);
  };
  for (const k of ["cka", "attention", "skip", "localisation", "collapse", "probes", "accuracy"]) walk(r[k], k);
  return out;
}

function expectClose(a: Map<string, number | null>, b: Map<string, number | null>, rel: number) {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let worst = 0;
  let where = "";
  for (const [k, x] of a) {
    const y = b.get(k)!;
    if (x === null || y === null) {
      expect(x, k).toBe(y);
      continue;
    }
    const d = Math.abs(x - y) / Math.max(1e-300, Math.abs(x), Math.abs(y));
    if (d > worst && Math.abs(x - y) > 1e-14) {
      worst = d;
      where = k;
    }
  }
  expect(worst, `worst relative difference at ${where}`).toBeLessThanOrEqual(rel);
}

describe("engine", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-engine-"));
    const r = cli(["compare", A, B, ...COMMON, "--train-data", TRAIN, "--probe-shots", "1,5,full", "--out", path.join(dir, "full/report.html")]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("compare writes the report, results.json with the METHODS.md §8 record, and CSVs", () => {
    const r = results(path.join(dir, "full"));
    expect(r.schema).toBe("seelike-results@1");
    expect(r.settings.models.map((m: { sha256: string }) => m.sha256)).toHaveLength(2);
    expect(r.settings.data.images).toBe(192);
    expect(r.settings.estimator).toBe("minibatch-unbiased");
    expect(r.settings.data.sampleDigest).toMatch(/^[0-9a-f]{64}$/);
    const nA = Object.keys(r.settings.models[0].sites).length;
    const nB = Object.keys(r.settings.models[1].sites).length;
    expect(nA).toBeGreaterThan(2);
    expect(r.cka[0].result.matrices.AB.shape).toEqual([nA, nB]);
    expect(r.cka[0].result.matrices.AB.rows).toEqual(Object.keys(r.settings.models[0].sites));
    expect(existsSync(path.join(dir, "full/report.html"))).toBe(true);
    expect(existsSync(path.join(dir, "full/report/cka-timm_vit_op17-mixer_op17-AB.csv"))).toBe(true);
    expect(Object.keys(r.probes)).toHaveLength(2);
    // Localisation and probes read block outputs (blocks.N.out), not a sublayer's output.
    for (const label of Object.keys(r.localisation)) {
      for (const s of r.localisation[label].sites) expect(s.site).toMatch(/^blocks\.\d+\.out$/);
    }
    const probeBlocks = r.probes[r.models[0].label].cls.blocks.map((b: { block: string }) => b.block);
    expect(probeBlocks).toEqual(probeBlocks.map((_: string, i: number) => `blocks.${i}`));
  });

  it("merge of two shards equals one run (1e-12 relative)", () => {
    for (const i of [0, 1]) {
      const r = cli(["compare", A, B, ...COMMON, "--train-data", TRAIN, "--probe-shots", "1,5,full", "--shard", `${i}/2`, "--out", path.join(dir, `shard${i}/report.html`)]);
      expect(r.status, r.stderr).toBe(0);
    }
    const m = cli(["merge", path.join(dir, "shard0/report"), path.join(dir, "shard1/report"), "--out", path.join(dir, "merged/report.html")]);
    expect(m.status, m.stderr).toBe(0);
    expectClose(numbers(results(path.join(dir, "merged"))), numbers(results(path.join(dir, "full"))), 1e-12);
  });

  it("merge refuses shards with different settings, and a missing shard", () => {
    const other = cli(["compare", A, B, ...COMMON.map((x) => (x === "3" ? "4" : x)), "--train-data", TRAIN, "--probe-shots", "1,5,full", "--shard", "1/2", "--out", path.join(dir, "other1/report.html")]);
    expect(other.status, other.stderr).toBe(0);
    const m = cli(["merge", path.join(dir, "shard0/report"), path.join(dir, "other1/report"), "--out", path.join(dir, "bad/report.html")]);
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/settings differ .* in (.*seed|.*data)/);
    const one = cli(["merge", path.join(dir, "shard0/report"), "--out", path.join(dir, "bad/report.html")]);
    expect(one.status).toBe(2);
    expect(one.stderr).toMatch(/missing shard\(s\) 1\/2/);
  });

  it("a run killed with SIGKILL resumes to the numbers of an uninterrupted run", async () => {
    const out = path.join(dir, "killed/report.html");
    const ckpt = path.join(dir, "killed/report/state.seelike");
    const args = [bin, "compare", A, B, ...COMMON, "--train-data", TRAIN, "--probe-shots", "1,5,full", "--checkpoint-every", "1", "--out", out];
    const child = spawn(process.execPath, args, { cwd: root, stdio: "ignore" });
    // Kill once a checkpoint exists and has been rewritten at least once (mid-run).
    const started = Date.now();
    let first = 0;
    await new Promise<void>((resolve, reject) => {
      const t = setInterval(() => {
        if (existsSync(ckpt)) {
          const m = statSync(ckpt).mtimeMs;
          if (!first) first = m;
          else if (m !== first) {
            clearInterval(t);
            child.kill("SIGKILL");
            resolve();
          }
        }
        if (Date.now() - started > 240_000) {
          clearInterval(t);
          reject(new Error("no checkpoint appeared"));
        }
      }, 20);
      child.on("exit", () => {
        clearInterval(t);
        resolve();
      });
    });
    await new Promise((r) => child.on("exit", r).listenerCount("exit") && child.exitCode !== null ? r(null) : undefined);
    expect(existsSync(path.join(dir, "killed/report/results.json"))).toBe(false);
    const resumed = cli(["compare", A, B, ...COMMON, "--train-data", TRAIN, "--probe-shots", "1,5,full", "--checkpoint-every", "1", "--resume", "--out", out]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expectClose(numbers(results(path.join(dir, "killed"))), numbers(results(path.join(dir, "full"))), 0);
  });

  it("--resume refuses a checkpoint made with other settings", () => {
    const r = cli(["compare", A, B, ...COMMON.map((x) => (x === "192" ? "160" : x)), "--train-data", TRAIN, "--probe-shots", "1,5,full", "--resume", "--out", path.join(dir, "killed/report.html")]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/checkpoint was made with different settings/);
    rmSync(dir, { recursive: true, force: true });
  });
});
