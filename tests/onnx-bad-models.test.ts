import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../src/errors.js";
import { MAX_OPSET, loadModel } from "../src/onnx/model.js";
import { createSession, run } from "../src/runtime/session.js";

const DIR = path.resolve("tests/bad-models");
interface Case {
  file: string;
  expect: string | null;
  what: string;
  errorFile?: string;
}
const manifest = JSON.parse(readFileSync(path.join(DIR, "manifest.json"), "utf8")) as { cases: Case[] };

describe("loadModel on the bad-model corpus (tests/bad-models/manifest.json)", () => {
  for (const c of manifest.cases.filter((x) => x.expect !== null)) {
    it(`loadModel rejects ${c.file} (${c.what}) with "${c.expect}"`, async () => {
      const err = await loadModel(path.join(DIR, c.file)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InputError);
      const e = err as InputError;
      expect(e.problem).toContain(c.expect);
      expect(e.message.split("\n")).toHaveLength(1);
      expect(e.exitCode).toBe(2);
      // The error names the file at fault: the model, or the external data file it points to.
      expect(path.basename(e.file)).toBe(c.errorFile ?? c.file);
    });
  }

  for (const c of manifest.cases.filter((x) => x.expect === null)) {
    it(`loadModel accepts the control ${c.file} and onnxruntime runs it`, async () => {
      const model = await loadModel(path.join(DIR, c.file));
      expect(model.imageInput.name).toBe("input");
      const session = await createSession(model.bytes);
      const out = await run(session, { input: { data: new Float32Array(2 * 3 * 8 * 8).fill(0.5), shape: [2, 3, 8, 8] } }, ["logits"]);
      expect(out.logits.shape).toEqual([2, 4]);
    });
  }

  it("MAX_OPSET is what onnxruntime-node loads: it refuses opset-27.onnx itself", async () => {
    expect(MAX_OPSET).toBe(26);
    const bytes = readFileSync(path.join(DIR, "opset-27.onnx"));
    await expect(createSession(bytes)).rejects.toThrow(/ValidateOpsetForDomain|opset/i);
  });

  it("parseModel says truncated for a real model cut at any of several offsets", async () => {
    const { parseModel } = await import("../src/onnx/model.js");
    const bytes = readFileSync(path.resolve("fixtures/models/timm_vit_op17.onnx"));
    for (const n of [1, 2, 3, 10, 100, 1000, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const err = await parseModel("cut.onnx", bytes.subarray(0, n)).catch((e: unknown) => e);
      expect(err, `cut at ${n}`).toBeInstanceOf(InputError);
      expect((err as InputError).problem, `cut at ${n}`).toMatch(/truncated/);
    }
  });

  it("loadModel rejects a missing file with an InputError naming it", async () => {
    await expect(loadModel(path.join(DIR, "nope.onnx"))).rejects.toThrow(/nope\.onnx: no such file/);
  });

  it("every file in tests/bad-models is in the manifest", () => {
    const listed = new Set(manifest.cases.map((c) => c.file));
    const data = new Set(["missing-weights.bin", "short-weights.bin", "good-weights.bin", "manifest.json", "make.py"]);
    for (const f of readdirSync(DIR)) if (!data.has(f)) expect(listed.has(f), f).toBe(true);
  });

  it("no module under src/onnx imports onnxruntime (validation never reaches it)", () => {
    const dir = path.resolve("src/onnx");
    for (const f of readdirSync(dir).filter((x) => x.endsWith(".ts"))) {
      expect(readFileSync(path.join(dir, f), "utf8"), f).not.toMatch(/from\s+["']onnxruntime/);
    }
  });
});
