import { readFileSync } from "node:fs";

/** An .npy array with its numpy dtype kept: float32 stays Float32Array, ints become Int32Array. */
export interface NpyArray {
  data: Float32Array | Float64Array | Int32Array;
  shape: number[];
}

/**
 * Reads a little-endian C-order .npy file (<f4, <f8, <i4, <i8) as written by numpy.
 * Test helper only; tests/helpers/npy.ts widens its float results to float64.
 */
export function readNpyTyped(path: string): NpyArray {
  const buf = readFileSync(path);
  if (buf.toString("latin1", 0, 6) !== "\x93NUMPY") throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString("latin1", start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || fortran !== "False" || shapeText === undefined) throw new Error(`${path}: unsupported header ${header}`);
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(start + headerLen);
  switch (descr) {
    case "<f8": {
      const data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = body.readDoubleLE(i * 8);
      return { data, shape };
    }
    case "<f4": {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = body.readFloatLE(i * 4);
      return { data, shape };
    }
    case "<i4": {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = body.readInt32LE(i * 4);
      return { data, shape };
    }
    case "<i8": {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = Number(body.readBigInt64LE(i * 8));
      return { data, shape };
    }
    default:
      throw new Error(`${path}: unsupported dtype ${descr}`);
  }
}

/** Float view of an .npy array (throws on integer arrays). */
export function readFloat(path: string): { data: Float32Array | Float64Array; shape: number[] } {
  const a = readNpyTyped(path);
  if (a.data instanceof Int32Array) throw new Error(`${path}: integer array, expected float`);
  return a as { data: Float32Array | Float64Array; shape: number[] };
}

/** Max over i of |a − b| / max(|b|, floor): relative error with an absolute floor for values near 0. */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), floor);
    if (!(e <= worst)) worst = e; // NaN propagates as a failure
  }
  return worst;
}
