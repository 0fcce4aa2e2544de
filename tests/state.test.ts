import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../src/errors.js";
import { decodeState, encodeState, readState, stateHeader, writeFileAtomic } from "../src/engine/state.js";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "seelike-state-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function bytes(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

describe("encodeState / decodeState", () => {
  it("decodeState(encodeState(x)) keeps every bit of typed arrays: NaN payloads, -0, subnormals", () => {
    const f64 = new Float64Array([NaN, -0, 0, 5e-324, -2.2250738585072014e-308 / 3, Infinity, -Infinity, Math.PI, 1e308]);
    // A NaN with a non-default payload, written through the bytes.
    new DataView(f64.buffer).setBigUint64(0, 0x7ff8_dead_beef_0001n, true);
    const f32 = new Float32Array([NaN, -0, 1e-45, 1.1754942e-38, 3.4028235e38, -1.5]);
    new DataView(f32.buffer).setUint32(0, 0xffc0_1234, true);
    const state = {
      sums: f64,
      acts: f32,
      counts: new Int32Array([-1, 0, 2147483647]),
      mask: new Uint8Array([0, 255]),
      nested: { list: [new Float64Array([1, 2]), { deep: new Float32Array([-0]) }], empty: new Float64Array(0) },
    };
    const back = decodeState(encodeState(state)) as typeof state;
    expect(back.sums).toBeInstanceOf(Float64Array);
    expect(bytes(back.sums).equals(bytes(f64))).toBe(true);
    expect(bytes(back.acts).equals(bytes(f32))).toBe(true);
    expect(Array.from(back.counts)).toEqual([-1, 0, 2147483647]);
    expect(Array.from(back.mask)).toEqual([0, 255]);
    expect(Object.is((back.nested.list[1] as { deep: Float32Array }).deep[0], -0)).toBe(true);
    expect(back.nested.empty.length).toBe(0);
  });

  it("encodeState keeps plain numbers JSON cannot hold, bigints, and $-keys", () => {
    const state = { a: NaN, b: -0, c: Infinity, d: -Infinity, e: 0.1 + 0.2, f: 5e-324, g: 12345678901234567890n, h: [1, null, "s", true], $x: { $typed: "no" } };
    const back = decodeState(encodeState(state)) as typeof state;
    expect(back.a).toBeNaN();
    expect(Object.is(back.b, -0)).toBe(true);
    expect([back.c, back.d, back.e, back.f, back.g]).toEqual([Infinity, -Infinity, 0.1 + 0.2, 5e-324, 12345678901234567890n]);
    expect(back.h).toEqual([1, null, "s", true]);
    expect(back.$x).toEqual({ $typed: "no" });
  });

  it("encodeState of a subarray stores only its elements", () => {
    const big = new Float64Array([1, 2, 3, 4]);
    const back = decodeState(encodeState({ v: big.subarray(1, 3) })) as { v: Float64Array };
    expect(Array.from(back.v)).toEqual([2, 3]);
  });

  it("encodeState rejects values it cannot round-trip, naming the path", () => {
    expect(() => encodeState({ a: { m: new Map() } })).toThrow("invalid state value at state.a.m: Map");
    expect(() => encodeState({ f: () => 1 })).toThrow("invalid state value at state.f: function");
  });

  it("decodeState rejects text that is not a state, naming the file", () => {
    expect(() => decodeState("{", "ck.json")).toThrow(InputError);
    expect(() => decodeState("{", "ck.json")).toThrow(/^ck.json: not a state file/);
    expect(() => decodeState(new Uint8Array(0), "ck")).toThrow("ck: empty file, not a seelike state");
    expect(() => decodeState(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), "ck")).toThrow("ck: not a state file (no seelike state signature)");
  });

  it("typed arrays of every class come back bit-exact, as their class, each in its own buffer", () => {
    const state = {
      f64: new Float64Array([NaN, -0, Infinity, -Infinity, 0.1, 5e-324]),
      f32: new Float32Array([NaN, -0, Infinity, -Infinity, 0.1, 1e-45]),
      i32: new Int32Array([-2147483648, -1, 0, 2147483647]),
      u32: new Uint32Array([0, 1, 4294967295]),
      i16: new Int16Array([-32768, 32767]),
      u16: new Uint16Array([0, 65535]),
      i8: new Int8Array([-128, 127]),
      u8: new Uint8Array([0, 1, 255]),
      u8c: new Uint8ClampedArray([0, 128, 255]),
      i64: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
      u64: new BigUint64Array([0n, 2n ** 64n - 1n]),
    };
    const back = decodeState(encodeState(state)) as Record<string, ArrayBufferView>;
    for (const [k, v] of Object.entries(state)) {
      expect(back[k].constructor, k).toBe(v.constructor);
      expect(bytes(back[k]).equals(bytes(v)), k).toBe(true);
      expect(back[k].byteOffset, k).toBe(0);
      expect(back[k].buffer.byteLength, k).toBe(v.byteLength);
    }
  });

  it("stores a Float64Array of float32 values as float32, losslessly, and keeps other values in float64", () => {
    const n = 4096;
    const asF32 = Float64Array.from(new Float32Array(n).map((_, i) => Math.sin(i) * 1e3), (x) => x);
    asF32[0] = -0;
    asF32[1] = Infinity;
    const notF32 = Float64Array.from(asF32, (x) => x);
    notF32[7] += 1e-9;
    const withNaN = Float64Array.from(asF32, (x) => x);
    withNaN[3] = NaN;
    const narrow = encodeState({ x: asF32 }), wide = encodeState({ x: notF32 }), nan = encodeState({ x: withNaN });
    expect(narrow.length).toBeLessThan(n * 4 + 1024);
    expect(wide.length).toBeGreaterThan(n * 8);
    expect(nan.length).toBeGreaterThan(n * 8);
    for (const [file, src] of [[narrow, asF32], [wide, notF32], [nan, withNaN]] as const) {
      const back = (decodeState(file) as { x: Float64Array }).x;
      expect(back).toBeInstanceOf(Float64Array);
      expect(bytes(back).equals(bytes(src))).toBe(true);
    }
  });

  it("stores arrays of equal content once, and decodes each reference to its own copy", () => {
    const labels = new Float64Array(2000).map((_, i) => i % 10);
    const zeros = Array.from({ length: 12 }, () => new Float64Array(512));
    const state = { a: labels, b: Float64Array.from(labels), zeros, other: new Float64Array(512).fill(1) };
    const once = encodeState(state);
    const single = encodeState({ a: labels, zero: zeros[0], other: state.other });
    expect(once.length).toBeLessThan(single.length + 2048); // only the header grows
    const back = decodeState(once) as typeof state;
    expect(Array.from(back.b)).toEqual(Array.from(labels));
    expect(back.zeros.every((z) => z.length === 512 && z.every((x) => x === 0))).toBe(true);
    back.a[0] = 99;
    back.zeros[0][0] = 1;
    expect([back.b[0], back.zeros[1][0]]).toEqual([0, 0]);
    expect(back.a.buffer).not.toBe(back.b.buffer);
  });

  it("the file is the signature, a JSON header with format, version, digests, then the aligned payload", () => {
    const file = encodeState({ g: new Float64Array([0.1, 0.2]), n: 3 }, { settingsDigest: "abc123" });
    const buf = Buffer.from(file);
    expect(buf.subarray(0, 8).toString("latin1")).toBe("SEELIKE\0");
    const h = buf.readUInt32LE(8);
    expect(buf.readUInt32LE(12)).toBe(0);
    const header = JSON.parse(buf.subarray(16, 16 + h).toString("utf8"));
    expect(header).toMatchObject({ format: "seelike-state", version: 2, settingsDigest: "abc123", payloadBytes: 16, blobs: [{ type: "Float64Array", stored: "Float64Array", offset: 0, length: 2 }], value: { g: { $blob: 0 }, n: 3 } });
    expect(header.sha256).toMatch(/^[0-9a-f]{64}$/);
    const start = Math.ceil((16 + h) / 8) * 8;
    expect(buf.length).toBe(start + 16);
    expect(Array.from(new Float64Array(file.buffer, start, 2))).toEqual([0.1, 0.2]);
    expect(stateHeader(file, "f")).toEqual({ settingsDigest: "abc123" });
    expect(stateHeader(encodeState(1), "f")).toEqual({ settingsDigest: null });
  });

  it("decodes from a view at any byte offset (a Buffer from Node's pool, a slice of a larger read)", () => {
    const state = { f64: new Float64Array([0.1, -0, NaN]), f32: Float64Array.from([1.5, -2.25]), i16: new Int16Array([-7, 9]) };
    const file = encodeState(state);
    for (const shift of [1, 3, 4, 8]) {
      const big = new Uint8Array(file.length + shift);
      big.set(file, shift);
      const back = decodeState(big.subarray(shift), "s") as typeof state;
      for (const k of Object.keys(state) as (keyof typeof state)[]) expect(bytes(back[k]).equals(bytes(state[k])), `${k} at +${shift}`).toBe(true);
    }
  });

  it("refuses a state of another version, one without a digest, and a torn preamble, naming the file", () => {
    const file = Buffer.from(encodeState({ x: new Float64Array([1, 2]) }));
    const v9 = Buffer.from(file);
    v9.write('"version":9', 16 + '{"format":"seelike-state",'.length, "latin1");
    expect(() => decodeState(v9, "s")).toThrow("s: unsupported state version 9 (expected 2)");
    expect(() => decodeState(file.subarray(0, 10), "s")).toThrow("s: truncated: 10 bytes, shorter than the 16-byte preamble of a state file");
    const reserved = Buffer.from(file);
    reserved[13] = 1;
    expect(() => decodeState(reserved, "s")).toThrow("s: corrupted state preamble");
  });
});

describe("writeFileAtomic", () => {
  it("writeFileAtomic replaces the file and leaves no temporary files", async () => {
    const file = join(tmp, "ck.json");
    await writeFile(file, "old");
    const state = encodeState({ x: new Float64Array([1, NaN]) });
    await writeFileAtomic(file, state);
    expect(Buffer.from(await readFile(file)).equals(Buffer.from(state))).toBe(true);
    await writeFileAtomic(file, "text");
    expect(await readFile(file, "utf8")).toBe("text");
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect(Array.from(await readFile(file))).toEqual([1, 2, 3]);
    expect(await readdir(tmp)).toEqual(["ck.json"]);
  });

  it("readState reads what writeFileAtomic(encodeState) wrote, and names a missing file", async () => {
    const file = join(tmp, "st.seelike");
    await writeFileAtomic(file, encodeState({ g: new Float64Array([0.1, -0]) }));
    const back = (await readState(file)) as { g: Float64Array };
    expect(Object.is(back.g[1], -0)).toBe(true);
    await rm(file);
    await expect(readState(file)).rejects.toThrow(`${file}: no such file or directory`);
  });

  it("writeFileAtomic fails in a missing folder and leaves nothing behind", async () => {
    await expect(writeFileAtomic(join(tmp, "no", "x.json"), "x")).rejects.toThrow(/ENOENT/);
    expect(await readdir(tmp)).toEqual(["ck.json"]);
  });
});
