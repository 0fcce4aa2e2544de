// Exposed site tensors, run in onnxruntime, against torch forward-hook activations
// (fixtures/models/<name>.golden/*.npy, written by fixtures/models/make_models.py).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadModel } from "../src/onnx/model.js";
import { discoverSites } from "../src/onnx/sites.js";
import { exposeOutputs } from "../src/onnx/surgery.js";
import { createSession, run } from "../src/runtime/session.js";

const MODELS = path.resolve("fixtures/models");

/** Little-endian float32 C-order .npy (format 1.x). */
function readNpy(file: string): { data: Float32Array; shape: number[] } {
  const buf = readFileSync(file);
  const headerLen = buf.readUInt16LE(8);
  const header = buf.toString("latin1", 10, 10 + headerLen);
  if (!header.includes("'descr': '<f4'") || header.includes("'fortran_order': True")) throw new Error(`${file}: expected <f4 C order`);
  const shape = header.match(/'shape': \(([^)]*)\)/)![1].split(",").filter((s) => s.trim() !== "").map(Number);
  const start = 10 + headerLen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + start, buf.byteOffset + buf.length));
  return { data, shape };
}

interface Manifest {
  model: string;
  files: Record<string, string>;
  input: { name: string; file: string; shape: number[] };
  logits: { name: string; file: string };
  sites: { site: string; file: string; shape: number[] }[];
}
const dirs = existsSync(MODELS) ? readdirSync(MODELS).filter((d) => d.endsWith(".golden") && existsSync(path.join(MODELS, d, "manifest.json"))) : [];

describe("exposeOutputs + run reproduce the torch-hook activations", () => {
  for (const d of dirs) {
    const m = JSON.parse(readFileSync(path.join(MODELS, d, "manifest.json"), "utf8")) as Manifest;
    for (const file of Object.values(m.files)) {
      it(`every manifest site of ${file} matches its golden .npy (|diff| ≤ 1e-4·max(1, max|golden|))`, async () => {
        const model = await loadModel(path.join(MODELS, file));
        const sites = discoverSites(model);
        const byName = new Map(sites.sites.map((s) => [s.name, s.tensor]));
        const wanted = m.sites.map((e) => ({ ...e, tensor: byName.get(e.site) }));
        for (const w of wanted) expect(w.tensor, `${w.site} discovered`).toBeDefined();
        const names = [...new Set([...wanted.map((w) => w.tensor!), m.logits.name])];
        const session = await createSession(exposeOutputs(model, names), { threads: 1 });
        const x = readNpy(path.join(MODELS, d, m.input.file));
        const out = await run(session, { [m.input.name]: x }, names);
        const failures: string[] = [];
        for (const w of [...wanted, { site: "logits", file: m.logits.file, tensor: m.logits.name }]) {
          const gold = readNpy(path.join(MODELS, d, w.file));
          const got = out[w.tensor!];
          if (JSON.stringify(got.shape) !== JSON.stringify(gold.shape)) {
            failures.push(`${w.site}: shape ${got.shape} vs ${gold.shape}`);
            continue;
          }
          let maxAbs = 0;
          let maxDiff = 0;
          for (let i = 0; i < gold.data.length; i++) {
            maxAbs = Math.max(maxAbs, Math.abs(gold.data[i]));
            maxDiff = Math.max(maxDiff, Math.abs(gold.data[i] - got.data[i]));
          }
          if (!(maxDiff <= 1e-4 * Math.max(1, maxAbs))) failures.push(`${w.site}: max |diff| ${maxDiff} (max |golden| ${maxAbs})`);
        }
        expect(failures).toEqual([]);
      });
    }
  }
});
