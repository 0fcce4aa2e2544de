// The shipped model zoo and probe data (fixtures/zoo, fixtures/data), checked against their cards.
// Runs every model through onnxruntime-node directly (this test only: it checks the fixtures,
// not src/runtime) and compares per-image predictions with the torch predictions in the card.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { onnx } from "../src/onnx/proto/onnx.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const zoo = join(root, "fixtures", "zoo");
const data = join(root, "fixtures", "data");
const MODELS = [
  "vit-tiny",
  "vit-tiny-gap",
  "vit-tiny-10pct",
  "vit-tiny-noskip",
  "vit-tiny-init",
  "resnet-tiny",
  "mixer-tiny",
];
const MAX_BYTES = 4 * 1024 * 1024;

interface Card {
  name: string;
  file: string;
  sha256: string;
  bytes: number;
  parameters: number;
  epochs: number;
  preprocessing: { mean: number[]; std: number[] };
  probe_correct: number;
  probe_accuracy: number;
  probe_images: number;
  probe_predictions: string;
  test_accuracy: number;
  noskip_block?: number;
}

/** Minimal IDX (unsigned byte) reader for gzip files: header then row-major bytes. */
function idx(file: string): { data: Uint8Array; shape: number[] } {
  const raw = gunzipSync(readFileSync(file));
  if (raw[0] !== 0 || raw[1] !== 0 || raw[2] !== 0x08) throw new Error(`${file}: not an unsigned-byte IDX file`);
  const ndim = raw[3];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i, false));
  const data = raw.subarray(4 + 4 * ndim);
  if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${file}: size does not match shape ${shape}`);
  return { data, shape };
}

function card(name: string): Card {
  return JSON.parse(readFileSync(join(zoo, `${name}.json`), "utf8")) as Card;
}

function sha256(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** Names of the nodes that sit directly in scope `/blocks.N/` (not in a sub-module). */
function directBlockNodes(file: string, block: number): onnx.INodeProto[] {
  const model = onnx.ModelProto.decode(readFileSync(file));
  const prefix = `/blocks.${block}/`;
  return (model.graph?.node ?? []).filter(
    (n) => typeof n.name === "string" && n.name.startsWith(prefix) && !n.name.slice(prefix.length).includes("/"),
  );
}

const images = idx(join(data, "probe-images-idx3-ubyte.gz"));
const labels = idx(join(data, "probe-labels-idx1-ubyte.gz"));

describe("fixtures/data", () => {
  it("probe and train2k sets hold 2,000 28x28 images, 200 per class", () => {
    for (const set of ["probe", "train2k"]) {
      const x = idx(join(data, `${set}-images-idx3-ubyte.gz`));
      const y = idx(join(data, `${set}-labels-idx1-ubyte.gz`));
      expect(x.shape).toEqual([2000, 28, 28]);
      expect(y.shape).toEqual([2000]);
      const counts = new Array(10).fill(0);
      for (const c of y.data) counts[c]++;
      expect(counts).toEqual(new Array(10).fill(200));
    }
  });

  it("indices.json records strictly increasing source indices and the files' sha256", () => {
    const rec = JSON.parse(readFileSync(join(data, "indices.json"), "utf8"));
    for (const [set, split] of [["probe", "t10k"], ["train2k", "train"]] as const) {
      const s = rec.sets[set];
      expect(s.source_split).toBe(split);
      expect(s.indices).toHaveLength(2000);
      for (let i = 1; i < s.indices.length; i++) expect(s.indices[i]).toBeGreaterThan(s.indices[i - 1]);
      for (const [file, hash] of Object.entries(s.files)) expect(sha256(join(data, file))).toBe(hash);
    }
    expect(existsSync(join(data, "LICENSE-fashion-mnist"))).toBe(true);
  });
});

describe("fixtures/zoo", () => {
  for (const name of MODELS) {
    describe(name, () => {
      it("card's sha256 and size match the file, which is at most 4 MB", () => {
        const c = card(name);
        const file = join(zoo, c.file);
        expect(c.name).toBe(name);
        expect(sha256(file)).toBe(c.sha256);
        expect(statSync(file).size).toBe(c.bytes);
        expect(c.bytes).toBeLessThanOrEqual(MAX_BYTES);
      });

      it("onnxruntime reproduces the card's probe-set predictions (≤ 3 of 2,000 disagree)", async () => {
        const c = card(name);
        const file = join(zoo, c.file);
        const session = await ort.InferenceSession.create(file);
        expect(session.inputNames).toEqual(["input"]);
        expect(session.outputNames).toEqual(["logits"]);
        const [mean] = c.preprocessing.mean;
        const [std] = c.preprocessing.std;
        const n = images.shape[0];
        const x = new Float32Array(images.data.length);
        for (let i = 0; i < x.length; i++) x[i] = (images.data[i] / 255 - mean) / std;
        const pred = new Uint8Array(n);
        // uneven batch sizes exercise the dynamic batch axis
        for (const [start, size] of [[0, 1], [1, 499], [500, 500], [1000, 1000]]) {
          const input = new ort.Tensor("float32", x.subarray(start * 784, (start + size) * 784), [size, 1, 28, 28]);
          const out = await session.run({ input });
          const logits = out.logits;
          expect(logits.dims).toEqual([size, 10]);
          const v = logits.data as Float32Array;
          for (let i = 0; i < size; i++) {
            let best = 0;
            for (let k = 1; k < 10; k++) if (v[i * 10 + k] > v[i * 10 + best]) best = k;
            pred[start + i] = best;
          }
        }
        await session.release();
        let correct = 0;
        let disagree = 0;
        for (let i = 0; i < n; i++) {
          if (pred[i] === labels.data[i]) correct++;
          if (pred[i] !== Number(c.probe_predictions[i])) disagree++;
        }
        expect(c.probe_predictions).toHaveLength(n);
        expect(disagree).toBeLessThanOrEqual(3);
        expect(Math.abs(correct - c.probe_correct)).toBeLessThanOrEqual(3);
        expect(c.probe_accuracy).toBeCloseTo(c.probe_correct / n, 12);
      });
    });
  }

  it("cards meet the issue's test-accuracy targets (vit-tiny ≥ 87%, resnet-tiny ≥ 90%, mixer-tiny ≥ 86%)", () => {
    for (const [name, target] of [["vit-tiny", 0.87], ["resnet-tiny", 0.9], ["mixer-tiny", 0.86]] as const) {
      expect(card(name).test_accuracy, name).toBeGreaterThanOrEqual(target);
    }
  });

  it("vit-tiny-init is vit-tiny's architecture and seed, untrained", () => {
    const init = JSON.parse(readFileSync(join(zoo, "vit-tiny-init.json"), "utf8"));
    const trained = JSON.parse(readFileSync(join(zoo, "vit-tiny.json"), "utf8"));
    expect(init.config).toEqual(trained.config);
    expect(init.seed).toBe(trained.seed);
    expect(init.parameters).toBe(trained.parameters);
    expect(init.epochs).toBe(0);
  });

  it("trained models beat chance by far and the untrained one does not", () => {
    for (const name of MODELS) {
      const c = card(name);
      if (c.epochs === 0) expect(c.probe_accuracy).toBeLessThan(0.3);
      else expect(c.probe_accuracy).toBeGreaterThan(0.7);
    }
  });

  it("vit-tiny-noskip has no residual Add in its skip-free block; vit-tiny has two there", () => {
    const c = card("vit-tiny-noskip");
    expect(c.noskip_block).toBe(3);
    const b = c.noskip_block as number;
    const adds = (f: string) => directBlockNodes(join(zoo, f), b).filter((n) => n.op_type === "Add");
    expect(directBlockNodes(join(zoo, c.file), b).length).toBe(0);
    expect(adds("vit-tiny.onnx")).toHaveLength(2);
    // the other blocks of the no-skip model keep both residual adds
    for (const other of [0, 1, 2, 4, 5]) {
      const n = directBlockNodes(join(zoo, c.file), other).filter((x) => x.op_type === "Add");
      expect(n).toHaveLength(2);
    }
  });
});
