/**
 * Outputs go where the user said: model labels with `../` and slashes (possible through the
 * library API) never become file paths unescaped; every file a run writes is inside its
 * output folder (or is the report path itself).
 */
import { describe, expect, it, afterAll } from "vitest";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { runToFiles } from "../src/api/index.js";
import { slug } from "../src/output/files.js";

const root = path.resolve(__dirname, "..");
const MIXER = path.join(root, "fixtures/models/mixer_op17.onnx");
const VIT = path.join(root, "fixtures/models/timm_vit_op17.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

describe("names never become paths", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "seelike-paths-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("slug() leaves no separator, no leading dot and no markup", () => {
    for (const s of ["../../etc/passwd", "..\\..\\win", "a/b/c", "<img src=x>", ".hidden", "", "..", "/abs", "\u0000nul", "é/𝔘"]) {
      const out = slug(s);
      expect(out, s).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$|^x$/);
      expect(out).not.toContain("..");
    }
  });

  it("runToFiles with labels like ../../escape and a/b writes only inside the output folder", async () => {
    const outDir = path.join(dir, "deep", "out");
    const report = path.join(outDir, "r.html");
    const io = { out: () => undefined, err: () => undefined };
    const { files: written } = await runToFiles([VIT, MIXER], { data: DATA, limit: 16, batch: 8, analyses: ["cka", "skip", "attention"], threads: 1, modelLabels: ["../../escape/a", "b/../../c\\d"] }, report, io, true);
    expect(written.length).toBeGreaterThan(4);
    const all = files(dir);
    for (const f of all) {
      expect(path.relative(outDir, f).startsWith(".."), f).toBe(false);
      if (f !== report) expect(path.basename(f), f).toMatch(/^[A-Za-z0-9._-]+$/);
    }
    expect(readdirSync(dir)).toEqual(["deep"]);
    expect(readdirSync(path.join(dir, "deep"))).toEqual(["out"]);
    // The label-named CSVs exist, slugged.
    expect(all.some((f) => /skip-escape_a\.csv$/.test(f) || /skip-.*escape.*\.csv$/.test(f))).toBe(true);
  }, 300_000);
});
