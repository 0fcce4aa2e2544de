/**
 * Resource limits (src/limits.ts): sizes parse, estimates follow the documented formulas, and a
 * model or image over the limit is refused from its file size / header before it is loaded or
 * decoded. (End-to-end CLI cases: tests/bad-inputs max-memory-* and png-huge-header.)
 */
import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { deflateSync } from "node:zlib";
import { InputError } from "../src/errors.js";
import { MODEL_FILE_FACTOR, checkFreeSpace, checkModelFile, graphMemory, imageMemory, maxMemory, modelMemory, parseMemory, setMaxMemory, writeProblem } from "../src/limits.js";
import { chooseBatch } from "../src/plan/memory.js";
import { loadModel } from "../src/onnx/model.js";
import { decodeImage } from "../src/data/image.js";

const root = path.resolve(__dirname, "..");
const VALID = path.join(root, "tests/bad-models/valid.onnx");

afterEach(() => setMaxMemory(undefined));

describe("limits", () => {
  it("parseMemory reads bytes, binary units and percentages, and names a bad value", () => {
    expect(parseMemory("1024")).toBe(1024);
    expect(parseMemory("512M")).toBe(512 * 2 ** 20);
    expect(parseMemory("2g")).toBe(2 * 2 ** 30);
    expect(parseMemory("1.5GiB")).toBe(1.5 * 2 ** 30);
    expect(parseMemory("50%")).toBe(Math.floor(os.totalmem() / 2));
    for (const bad of ["", "lots", "-1G", "0", "120%", "5X"]) expect(() => parseMemory(bad), bad).toThrow(RangeError);
    expect(() => parseMemory("lots")).toThrow("invalid max-memory: lots");
  });

  it("the default limit is 80% of the machine's memory", () => {
    expect(maxMemory()).toBe(Math.floor(os.totalmem() * 0.8));
    setMaxMemory(12345);
    expect(maxMemory()).toBe(12345);
  });

  it("checkModelFile refuses size × MODEL_FILE_FACTOR over the limit, naming the file", async () => {
    const size = 1430; // tests/bad-models/valid.onnx
    expect(await checkModelFile(VALID, size * MODEL_FILE_FACTOR)).toBe(size * MODEL_FILE_FACTOR);
    const err = await checkModelFile(VALID, size * MODEL_FILE_FACTOR - 1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).file).toBe(VALID);
    expect((err as InputError).message).toMatch(/model would need about .* more than --max-memory/);
  });

  it("graphMemory: tensors live from producer to last consumer, in place where an elementwise op may, through the arena model", () => {
    // valid.onnx's shape: Conv → Relu → GlobalAveragePool → Flatten → Gemm at batch 5.
    const size: Record<string, number> = { conv: 5 * 8 * 64 * 4, relu: 5 * 8 * 64 * 4, pool: 5 * 8 * 4, flat: 5 * 8 * 4, logits: 5 * 4 * 4 };
    const nodes = [
      { op: "Conv", inputs: ["x", "w"], outputs: ["conv"] },
      { op: "Relu", inputs: ["conv"], outputs: ["relu"] }, // writes into conv's buffer (its last use)
      { op: "GlobalAveragePool", inputs: ["relu"], outputs: ["pool"] },
      { op: "Flatten", inputs: ["pool"], outputs: ["flat"] }, // a view of pool
      { op: "Gemm", inputs: ["flat", "wg"], outputs: ["logits"] },
    ];
    // Peak: relu's 10,240 bytes and pool's 160 at GlobalAveragePool. The arena's first 1 MiB
    // region is touched up to 10,240 + 256 (pool, in 256-byte granules); logits reuses the freed 10,240.
    expect(graphMemory(nodes, (t) => size[t] ?? 0, ["logits"])).toEqual({ live: 10_400, arena: 10_496 });
    // A consumer of conv after Relu keeps it alive: Relu then allocates.
    const more = [...nodes, { op: "Add", inputs: ["conv", "conv"], outputs: ["late"] }];
    expect(graphMemory(more, (t) => size[t] ?? (t === "late" ? 10_240 : 0), ["logits", "late"]).live).toBe(10_240 * 2 + 160);
  });

  it("modelMemory (the probe run's guard) is file × factor + input + the arena of one plain run, refused above the limit", async () => {
    const model = await loadModel(VALID);
    const B = 5;
    const expected = model.bytes.length * MODEL_FILE_FACTOR + B * 3 * 8 * 8 * 4 + 10_496; // the arena of the test above
    expect(modelMemory(model, { batch: B, inputShape: [B, 3, 8, 8], maxMemory: 1e12 })).toBe(expected);
    expect(() => modelMemory(model, { batch: B, inputShape: [B, 3, 8, 8], maxMemory: expected - 1 })).toThrow(/running this model on batches of 5/);
  });

  it("graphMemory's arena grows by regions of doubling size and keeps what it touched", () => {
    const MiB = 2 ** 20;
    const nodes = [
      { op: "A", inputs: ["x"], outputs: ["a"] },
      { op: "B", inputs: ["x"], outputs: ["b"] },
      { op: "C", inputs: ["a", "b"], outputs: ["c"] },
    ];
    // a: 3 MiB → a 4 MiB region (1 MiB doubled until it fits); b: 5 MiB → an 8 MiB region; c: 1 KiB in the first's rest.
    const bytes: Record<string, number> = { a: 3 * MiB, b: 5 * MiB, c: 1024 };
    expect(graphMemory(nodes, (t) => bytes[t] ?? 0, ["c"])).toEqual({ live: 8 * MiB + 1024, arena: 3 * MiB + 1024 + 5 * MiB });
  });

  it("chooseBatch: auto takes the largest power of two that fits; a given batch that does not fit is refused with one that does", () => {
    const est = (b: number) => ({ batch: b, total: b * 1e8, phases: [] });
    expect(chooseBatch("auto", est, 3.3e9).batch).toBe(32);
    expect(chooseBatch("auto", est, 1e12, 16).batch).toBe(16);
    expect(chooseBatch(48, est, 5e9).batch).toBe(48);
    expect(() => chooseBatch(64, est, 3.3e9)).toThrow(/^batches of 64 would need about 6\.0 GiB, more than --max-memory 3\.1 GiB; try --batch 32$/);
    expect(() => chooseBatch("auto", est, 3e8)).toThrow(/^batches of 4 \(the smallest auto tries\) would need about 381\.5 MiB, more than --max-memory 286\.1 MiB: raise --max-memory or run fewer analyses \(--analyses\)$/);
    const named = (() => { try { chooseBatch(64, est, 3.3e9, 64, 4, ["a.onnx", "b.onnx"]); } catch (e) { return e; } })();
    expect(named).toBeInstanceOf(InputError);
    expect((named as Error).message).toBe("a.onnx, b.onnx: running these models on batches of 64 would need about 6.0 GiB, more than --max-memory 3.1 GiB; try --batch 32");
  });

  it("imageMemory refuses from the header: w × h × channels × (bytes per sample + 4)", () => {
    expect(imageMemory("a.png", { width: 100, height: 50, channels: 3, depth: "uchar" }, 1e9)).toBe(100 * 50 * 3 * 5);
    expect(imageMemory("a.png", { width: 100, height: 50, channels: 1, depth: "ushort" }, 1e9)).toBe(100 * 50 * 6);
    expect(() => imageMemory("big.png", { width: 1e5, height: 1e5, channels: 3, depth: "uchar" }, 2 ** 30)).toThrow(/big\.png: decoding this 100000×100000 image/);
  });

  it("decodeImage refuses a decompression bomb before decoding it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "seelike-limits-"));
    try {
      // 8-bit RGB PNG whose IHDR claims 20000×20000 (1.2 GB decoded) with almost no data.
      const crc = (b: Buffer) => {
        let c = ~0 >>> 0;
        for (const x of b) {
          c ^= x;
          for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
        }
        return ~c >>> 0;
      };
      const chunk = (type: string, data: Buffer) => {
        const td = Buffer.concat([Buffer.from(type, "latin1"), data]);
        const len = Buffer.alloc(4);
        len.writeUInt32BE(data.length);
        const c = Buffer.alloc(4);
        c.writeUInt32BE(crc(td));
        return Buffer.concat([len, td, c]);
      };
      const ihdr = Buffer.alloc(13);
      ihdr.writeUInt32BE(20000, 0);
      ihdr.writeUInt32BE(20000, 4);
      ihdr[8] = 8;
      ihdr[9] = 2;
      const file = path.join(dir, "bomb.png");
      writeFileSync(file, Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(Buffer.alloc(64))), chunk("IEND", Buffer.alloc(0))]));
      setMaxMemory(2 ** 30);
      const t0 = performance.now();
      await expect(decodeImage(file)).rejects.toThrow(/bomb\.png: decoding this 20000×20000 image would need about 5\.6 GiB, more than --max-memory 1\.0 GiB/);
      expect(performance.now() - t0).toBeLessThan(5000); // refused from the header, not decoded
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("checkFreeSpace and writeProblem explain an output folder that cannot be used", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "seelike-limits-"));
    try {
      expect(await checkFreeSpace(dir, 1)).toBeGreaterThan(0);
      await expect(checkFreeSpace(dir, Number.MAX_SAFE_INTEGER)).rejects.toThrow(/free on this file system.*no space left on device/);
      const file = path.join(dir, "f");
      writeFileSync(file, "x");
      expect(await writeProblem(path.join(file, "sub", "dir"), Object.assign(new Error("x"), { code: "ENOENT" }))).toBe("ENOTDIR");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
