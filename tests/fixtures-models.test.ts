import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// Consistency of the committed model fixtures (fixtures/models/make_models.py). The golden
// activations themselves are compared against onnxruntime by the runtime tests.

const dir = join(import.meta.dirname, "..", "fixtures", "models");
const models = ["tv_vit_b16", "tv_resnet50", "timm_vit", "timm_vit_gap", "mixer"];
const opsets = ["14", "17"];

interface Site {
  site: string;
  module: string;
  file: string;
  shape: number[];
  layout: string;
  onnx: Record<string, string | null>;
}

interface Manifest {
  model: string;
  files: Record<string, string>;
  input: { name: string; file: string; shape: number[] };
  logits: { name: string; file: string; shape: number[] };
  sites: Site[];
  graph: Record<string, { opset: number; softmax: unknown[]; residualAdds: unknown[] }>;
}

/** Shape and dtype from a .npy header, checking the payload length. */
function npyHeader(file: string): { descr: string; shape: number[] } {
  const buf = readFileSync(file);
  if (buf.toString("latin1", 1, 6) !== "NUMPY") throw new Error(`${file}: not a .npy file`);
  const len = buf.readUInt16LE(8);
  const header = buf.toString("latin1", 10, 10 + len);
  const descr = /'descr': '([^']*)'/.exec(header)?.[1] ?? "";
  const shape = (/'shape': \(([^)]*)\)/.exec(header)?.[1] ?? "")
    .split(",")
    .filter((s) => s.trim() !== "")
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  if (buf.length - 10 - len !== count * 4) throw new Error(`${file}: payload length mismatch`);
  return { descr, shape };
}

function manifest(name: string): Manifest {
  return JSON.parse(readFileSync(join(dir, `${name}.golden`, "manifest.json"), "utf8")) as Manifest;
}

describe("fixtures/models", () => {
  for (const name of models) {
    it(`${name}: both opset exports exist and are under 3 MB`, () => {
      for (const op of opsets) {
        const file = join(dir, `${name}_op${op}.onnx`);
        expect(existsSync(file), file).toBe(true);
        expect(statSync(file).size).toBeLessThan(3 * 1024 * 1024);
        expect(manifest(name).files[op]).toBe(`${name}_op${op}.onnx`);
      }
    });

    it(`${name}: manifest parses and every .npy matches its declared shape`, () => {
      const m = manifest(name);
      expect(m.model).toBe(name);
      expect(m.input.name).toBe("input");
      expect(m.input.shape).toEqual([2, 3, 64, 64]);
      expect(m.logits.shape).toEqual([2, 10]);
      const entries = [m.input, m.logits, ...m.sites];
      for (const e of entries) {
        const h = npyHeader(join(dir, `${name}.golden`, e.file));
        expect(h.descr, e.file).toBe("<f4");
        expect(h.shape, e.file).toEqual(e.shape);
      }
      expect(new Set(m.sites.map((s) => s.site)).size).toBe(m.sites.length);
    });

    it(`${name}: every site names an ONNX tensor in both opsets`, () => {
      const m = manifest(name);
      for (const s of m.sites) {
        for (const op of opsets) expect(s.onnx[op], `${s.site} op${op}`).toMatch(/^\//);
      }
      for (const op of opsets) expect(m.graph[op].opset).toBe(Number(op));
    });
  }

  it("the ViTs have one Softmax per block and the ResNet 16 residual Adds", () => {
    for (const name of ["tv_vit_b16", "timm_vit", "timm_vit_gap"]) {
      for (const op of opsets) expect(manifest(name).graph[op].softmax).toHaveLength(4);
    }
    for (const op of opsets) expect(manifest("tv_resnet50").graph[op].residualAdds).toHaveLength(16);
    for (const op of opsets) expect(manifest("mixer").graph[op].residualAdds).toHaveLength(8);
  });
});
