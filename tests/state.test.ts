import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../src/errors.js";
import { decodeState, encodeState, readState, writeFileAtomic } from "../src/state.js";

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
    expect(() => decodeState('{"format":"seelike-state","version":9,"value":1}', "ck.json")).toThrow("ck.json: unsupported state version 9 (expected 1)");
  });
});

describe("writeFileAtomic", () => {
  it("writeFileAtomic replaces the file and leaves no temporary files", async () => {
    const file = join(tmp, "ck.json");
    await writeFile(file, "old");
    const text = encodeState({ x: new Float64Array([1, NaN]) });
    await writeFileAtomic(file, text);
    expect(await readFile(file, "utf8")).toBe(text);
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    expect(Array.from(await readFile(file))).toEqual([1, 2, 3]);
    expect(await readdir(tmp)).toEqual(["ck.json"]);
  });

  it("readState reads what writeFileAtomic(encodeState) wrote, and names a missing file", async () => {
    const file = join(tmp, "st.json");
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
