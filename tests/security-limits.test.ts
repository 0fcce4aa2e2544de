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
import { MODEL_FILE_FACTOR, checkFreeSpace, checkModelFile, imageMemory, maxMemory, modelMemory, parseMemory, setMaxMemory, writeProblem } from "../src/limits.js";
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

  it("modelMemory is file × factor + input + every inferred node output, for the batch", async () => {
    const model = await loadModel(VALID);
    // valid.onnx: Conv(8) → Relu → GlobalAveragePool → Flatten → Gemm(4) on [B, 3, 8, 8].
    const B = 5;
    const outputs = B * 8 * 8 * 8 * 2 + B * 8 + B * 8 + B * 4; // conv, relu, pool, flatten, logits
    const expected = model.bytes.length * MODEL_FILE_FACTOR + B * 3 * 8 * 8 * 4 + outputs * 4;
    expect(modelMemory(model, { batch: B, inputShape: [B, 3, 8, 8], maxMemory: 1e12 })).toBe(expected);
    expect(() => modelMemory(model, { batch: B, inputShape: [B, 3, 8, 8], maxMemory: expected - 1 })).toThrow(/running this model on batches of 5/);
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
