// releaseBytes (src/onnx/model.ts): a model lets go of its file's bytes during a pass and reads
// them again, checked against the sha256 it was loaded with, when they are next needed.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../src/errors.js";
import { initializerData, loadModel, parseModel, releaseBytes } from "../src/onnx/model.js";

const zoo = path.resolve(__dirname, "../fixtures/zoo/resnet-tiny.onnx");
const dir = mkdtempSync(path.join(tmpdir(), "seelike-release-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function copy(name: string): string {
  const file = path.join(dir, name);
  copyFileSync(zoo, file);
  return file;
}

describe("releaseBytes", () => {
  it("drops the bytes and reads the same bytes again when they are next used", async () => {
    const file = copy("a.onnx");
    const model = await loadModel(file);
    const before = Buffer.from(model.bytes);
    const name = [...model.initializers.keys()][0];
    const weights = await initializerData(model, name);
    expect(releaseBytes(model)).toBe(true);
    // Released: the property is a getter now, no longer holding the buffer.
    expect("value" in Object.getOwnPropertyDescriptor(model, "bytes")!).toBe(false);
    expect(releaseBytes(model)).toBe(true); // a second release is a no-op
    expect(Buffer.from(model.bytes).equals(before)).toBe(true);
    // Read back, the bytes stay until the next release; initializers decode from them as before.
    expect("value" in Object.getOwnPropertyDescriptor(model, "bytes")!).toBe(true);
    const again = await initializerData(model, name);
    expect(again.shape).toEqual(weights.shape);
    expect(Buffer.from(again.data.buffer).equals(Buffer.from(weights.data.buffer))).toBe(true);
  });

  it("names the file when it changed on disk while released", async () => {
    const file = copy("b.onnx");
    const model = await loadModel(file);
    expect(releaseBytes(model)).toBe(true);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1] ^= 1; // same size, different content
    writeFileSync(file, bytes);
    expect(() => model.bytes).toThrow(InputError);
    expect(() => model.bytes).toThrow(/b\.onnx: changed on disk during the run/);
    writeFileSync(file, bytes.subarray(0, bytes.length - 10)); // truncated
    expect(() => model.bytes).toThrow(/changed on disk/);
  });

  it("names the file when it is gone", async () => {
    const file = copy("c.onnx");
    const model = await loadModel(file);
    expect(releaseBytes(model)).toBe(true);
    rmSync(file);
    expect(() => model.bytes).toThrow(/c\.onnx: cannot read it again \(ENOENT\)/);
  });

  it("keeps bytes that are not the file's own", async () => {
    const bytes = readFileSync(zoo);
    // Bytes parsed under a name with no file behind it.
    const orphan = await parseModel(path.join(dir, "nowhere.onnx"), new Uint8Array(bytes));
    expect(releaseBytes(orphan)).toBe(false);
    expect(orphan.bytes.length).toBe(bytes.length);
    // Bytes whose length differs from the file at that path.
    const file = path.join(dir, "d.onnx");
    writeFileSync(file, bytes.subarray(0, 100));
    const other = await parseModel(file, new Uint8Array(bytes));
    expect(releaseBytes(other)).toBe(false);
    expect(other.bytes.length).toBe(bytes.length);
  });
});
