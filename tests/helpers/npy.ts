import { readFileSync } from "node:fs";
import type { Tensor } from "../../src/tensor.js";

/**
 * Reads a little-endian float64/float32 C-order .npy file (format 1.0–3.0) written by numpy.
 * Test helper only; the library's own .npy loader lives in src/data.
 */
export function readNpy(path: string): Tensor<Float64Array> {
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
  const data = new Float64Array(count);
  if (descr === "<f8") for (let i = 0; i < count; i++) data[i] = body.readDoubleLE(i * 8);
  else if (descr === "<f4") for (let i = 0; i < count; i++) data[i] = body.readFloatLE(i * 4);
  else throw new Error(`${path}: unsupported dtype ${descr}`);
  return { data, shape };
}
