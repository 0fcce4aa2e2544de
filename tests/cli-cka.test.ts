/**
 * `seelike cka` (the built CLI) on arrays dumped by numpy, against numpy's own CKA computed in
 * fixtures/interop/make.py (METHODS.md §1 written out independently: raw HSIC₁ form, biased
 * HSIC with the centring matrix). Needs `npm run build`; reading the matrix it writes back into
 * numpy needs /usr/bin/python3 with numpy (skipped without).
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeNpy } from "../src/index.js";

const root = path.resolve(__dirname, "..");
const dir = path.join(root, "fixtures", "interop");
const bin = path.join(root, "bin", "seelike.js");
const expected = JSON.parse(readFileSync(path.join(dir, "expected.json"), "utf8"));
const hasNumpy = spawnSync("/usr/bin/python3", ["-c", "import numpy"]).status === 0;

interface Pair {
  x: string;
  y: string;
  estimator: string;
  batchFlag: number | null;
  tokens: string;
  cka: number;
  batch: number;
  batches: number;
  examples: number;
}

/** Runs the built CLI (async, so the test worker stays responsive). */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, "cka", ...args], { cwd: root, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : null) : 0;
      resolve({ status: code, stdout, stderr });
    });
  });
}

function relClose(actual: number, want: number, tol = 1e-9) {
  expect(Math.abs(actual - want) / Math.max(Math.abs(want), 1e-300), `${actual} vs numpy ${want}`).toBeLessThan(tol);
}

function flags(p: Pair): string[] {
  return [path.join(dir, p.x), path.join(dir, p.y), "--estimator", p.estimator, "--tokens", p.tokens, ...(p.batchFlag ? ["--batch", String(p.batchFlag)] : [])];
}

beforeAll(() => {
  if (!existsSync(path.join(root, "dist", "src", "cli", "index.js"))) throw new Error("dist/src/cli/index.js is missing: run `npm run build` before this test");
});

describe("seelike cka X.npy Y.npy", () => {
  for (const p of expected.pairs as Pair[]) {
    const name = `${p.x} ${p.y} --estimator ${p.estimator}${p.batchFlag ? ` --batch ${p.batchFlag}` : ""} --tokens ${p.tokens}`;

    // the plain value for a few pairs (each run of the CLI costs a Node start)
    if (p.estimator === "minibatch-unbiased" && p.batchFlag !== 32) {
      it(`seelike cka ${name} prints numpy's CKA (1e-9 relative)`, async () => {
        const r = await cli(...flags(p));
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^-?\d[\d.e+-]*\n$/);
        relClose(Number(r.stdout), p.cka);
      });
    }

    it(`seelike cka ${name} --json records value, estimator, batch and examples`, async () => {
      const r = await cli(...flags(p), "--json");
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      relClose(j.cka, p.cka);
      expect(j.estimator).toBe(p.estimator);
      expect(j.batch).toBe(p.batch);
      expect(j.batches).toBe(p.batches);
      expect(j.examples).toBe(p.examples);
      expect(j.dropped).toBe(100 - p.examples);
      expect(j.tokens).toBe(p.tokens);
      relClose(j.hsic.xy / Math.sqrt(j.hsic.xx * j.hsic.yy), p.cka, 1e-12);
    });
  }

  it("seelike cka on a file that is not .npy exits 2 with one line naming the file", async () => {
    const bad = path.join(dir, "bad", "not-npy.npy");
    const r = await cli(path.join(dir, "x.npy"), bad);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(bad);
  });

  it("seelike cka on arrays with different example counts exits 2 with one line naming the file", async () => {
    const short = path.join(dir, "bad", "x_short.npy");
    const r = await cli(short, path.join(dir, "y.npy"));
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(short);
    expect(r.stderr).toMatch(/99/);
    expect(r.stderr).toMatch(/100/);
  });

  it("seelike cka on a missing file exits 2 naming it", async () => {
    const r = await cli(path.join(dir, "nope.npy"), path.join(dir, "y.npy"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("nope.npy");
  });

  it("seelike cka --estimator foo is bad usage (exit 2)", async () => {
    const r = await cli(path.join(dir, "x.npy"), path.join(dir, "y.npy"), "--estimator", "foo");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("foo");
  });

  it("seelike cka --tokens gap reads [N, T, D] arrays and passes 2-D [N, D] arrays through", async () => {
    const r = await cli(path.join(dir, "a", "s2.npy"), path.join(dir, "x.npy"), "--tokens", "gap", "--batch", "20");
    expect(r.status, r.stderr).toBe(0);
  });

  it("seelike cka --tokens cls on a 5-D array exits 2 naming the file", async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), "seelike-cka5-"));
    try {
      const file = path.join(tmp, "five.npy");
      writeFileSync(file, encodeNpy(new Float32Array(100 * 2 * 2 * 2 * 2), [100, 2, 2, 2, 2]));
      const r = await cli(file, path.join(dir, "x.npy"), "--tokens", "cls");
      expect(r.status).toBe(2);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(file);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe("seelike cka A/ B/ (folders of per-site arrays)", () => {
  const f = expected.folder as { estimator: string; batch: number; rows: string[]; cols: string[]; cka: number[][] };
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "seelike-cka-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const args = () => [path.join(dir, "a"), path.join(dir, "b"), "--batch", String(f.batch)];

  it("seelike cka A/ B/ --json gives numpy's matrix, rows = A's files, cols = B's", async () => {
    const r = await cli(...args(), "--json");
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rows).toEqual(f.rows);
    expect(j.cols).toEqual(f.cols);
    expect(j.estimator).toBe(f.estimator);
    expect(j.batch).toBe(f.batch);
    expect(j.examples).toBe(100);
    f.rows.forEach((_, i) => f.cols.forEach((_, k) => relClose(j.cka[i][k], f.cka[i][k])));
  });

  it("seelike cka A/ B/ --json counts only the examples of whole batches", async () => {
    const r = await cli(path.join(dir, "a"), path.join(dir, "b"), "--batch", "32", "--json");
    const j = JSON.parse(r.stdout);
    expect(j.examples).toBe(96);
    expect(j.dropped).toBe(4);
  });

  it("seelike cka A/ B/ --out m.csv writes the labelled matrix", async () => {
    const out = path.join(tmp, "m.csv");
    const r = await cli(...args(), "--out", out);
    expect(r.status, r.stderr).toBe(0);
    const lines = readFileSync(out, "utf8").trim().split("\n").map((l) => l.split(","));
    expect(lines[0]).toEqual(["", ...f.cols]);
    f.rows.forEach((row, i) => {
      expect(lines[i + 1][0]).toBe(row);
      f.cols.forEach((_, k) => relClose(Number(lines[i + 1][k + 1]), f.cka[i][k]));
    });
  });

  it("seelike cka A/ B/ --out m.json writes the CKA result with its labelled AB matrix", async () => {
    const out = path.join(tmp, "m.json");
    expect((await cli(...args(), "--out", out)).status).toBe(0);
    const j = JSON.parse(readFileSync(out, "utf8"));
    expect(j.analysis).toBe("cka");
    expect(j.estimator).toBe(f.estimator);
    expect(j.matrices.AB.rows).toEqual(f.rows);
    expect(j.matrices.AB.shape).toEqual([f.rows.length, f.cols.length]);
    f.rows.forEach((_, i) => f.cols.forEach((_, k) => relClose(j.matrices.AB.data[i * f.cols.length + k], f.cka[i][k])));
  });

  it.skipIf(!hasNumpy)("seelike cka A/ B/ --out m.npy loads in numpy with shape [rows, cols] and numpy's values", async () => {
    const out = path.join(tmp, "m.npy");
    expect((await cli(...args(), "--out", out)).status).toBe(0);
    const py = spawnSync("/usr/bin/python3", ["-c", `import numpy as np, json; a = np.load(${JSON.stringify(out)}); print(json.dumps({"shape": a.shape, "dtype": str(a.dtype), "v": a.tolist()}))`], { encoding: "utf8" });
    expect(py.status, py.stderr).toBe(0);
    const j = JSON.parse(py.stdout);
    expect(j.shape).toEqual([f.rows.length, f.cols.length]);
    expect(j.dtype).toBe("float64");
    f.rows.forEach((_, i) => f.cols.forEach((_, k) => relClose(j.v[i][k], f.cka[i][k])));
  });
});
