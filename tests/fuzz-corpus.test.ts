/**
 * The bad-input corpora through the real CLI: tests/bad-inputs/manifest.json (image folders,
 * .npy, IDX, CSV, hostile names; built by tests/bad-inputs/make.py) and the model corpus of
 * tests/bad-models/manifest.json. A bad input ends with exit code 2 and exactly one stderr line
 * naming the file and the problem; a legal-but-odd input (1×1, 16-bit, CMYK) ends with exit 0,
 * its conversion documented in the manifest. Needs `npm run build`.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(__dirname, "..");
const bin = path.join(root, "bin", "seelike.js");
const INPUTS = path.join(root, "tests", "bad-inputs");
const MODELS = path.join(root, "tests", "bad-models");
const VIT = path.join(root, "fixtures/models/timm_vit_op17.onnx");

interface InputCase {
  id: string;
  data: string;
  what: string;
  exit: 0 | 2;
  file?: string;
  message?: string;
  conversion?: string;
  model?: string;
  args?: string[];
}
interface ModelCase {
  file: string;
  expect: string | null;
  what: string;
  errorFile?: string;
}

const inputs = JSON.parse(readFileSync(path.join(INPUTS, "manifest.json"), "utf8")) as { cases: InputCase[] };
const models = JSON.parse(readFileSync(path.join(MODELS, "manifest.json"), "utf8")) as { cases: ModelCase[] };

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking the test worker (spawnSync would starve vitest's RPC). */
function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("exit", (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** Exit 2, one stderr line starting "seelike: " that names `file` and holds `message`. */
function expectOneLine(r: Run, file: string, message: string) {
  expect(r.signal, `killed by ${r.signal}`).toBeNull();
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^seelike: /);
  expect(lines[0]).toContain(file);
  expect(lines[0]).toContain(message);
}

describe("bad-input corpus through the CLI (tests/bad-inputs/manifest.json)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-corpus-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is built (run /usr/bin/python3 tests/bad-inputs/make.py) and the CLI is built", () => {
    expect(inputs.cases.length).toBeGreaterThanOrEqual(20);
    expect(existsSync(path.join(root, "dist/src/cli/index.js"))).toBe(true);
  });

  for (const c of inputs.cases) {
    const title = c.exit === 2 ? `${c.id}: ${c.what} → exit 2 naming ${c.file}: "${c.message}"` : `${c.id}: ${c.what} → exit 0 (${c.conversion})`;
    it(title, async () => {
      const out = path.join(dir, `${c.id}.html`);
      const model = c.model ? path.join(INPUTS, c.model) : VIT;
      const r = await cli(["analyze", model, "--data", path.join(INPUTS, c.data), "--batch", "4", "--analyses", "cka", "--quiet", "--threads", "1", "--out", out, ...(c.args ?? [])]);
      if (c.exit === 2) {
        expectOneLine(r, c.file!, c.message!);
        // A refused input leaves no results behind.
        expect(existsSync(path.join(dir, c.id, "results.json"))).toBe(false);
      } else {
        expect(r.status, r.stderr).toBe(0);
        const results = JSON.parse(readFileSync(path.join(dir, c.id, "results.json"), "utf8"));
        expect(results.skipped).toEqual([]);
        expect(results.cka.length).toBe(1);
        const diag = results.cka[0].result.matrices.AA;
        expect(diag.data.every((v: number | null) => v === null || Number.isFinite(v))).toBe(true);
      }
    });
  }
});

describe("bad-model corpus through the CLI (tests/bad-models/manifest.json)", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-corpus-models-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const DATA = path.join(INPUTS, "arrays", "npy-uint8-ok.npy");

  for (const c of models.cases) {
    it(c.expect === null ? `${c.file}: ${c.what} → exit 0` : `${c.file}: ${c.what} → exit 2 "${c.expect}"`, async () => {
      // The corpus models are tiny convnets without blocks (no CKA sites): `embeddings` still
      // loads the model, opens an onnxruntime session and runs a batch (the geometry probe).
      const r = await cli(["analyze", path.join(MODELS, c.file), "--data", DATA, "--batch", "4", "--analyses", "embeddings", "--quiet", "--threads", "1", "--out", path.join(dir, `${c.file}.html`)]);
      if (c.expect === null) expect(r.status, r.stderr).toBe(0);
      else expectOneLine(r, c.errorFile ?? c.file, c.expect);
    });
  }
});
