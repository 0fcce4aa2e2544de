import type { Tensor } from "../../src/tensor.js";
import { readNpyTyped } from "./npy-b.js";

/**
 * Reads a little-endian float64/float32 C-order .npy file written by numpy, widened to float64.
 * Test helper only (the header parser lives in npy-b.ts); the library's own loader is in src/data.
 */
export function readNpy(path: string): Tensor<Float64Array> {
  const { data, shape } = readNpyTyped(path);
  if (data instanceof Int32Array) throw new Error(`${path}: unsupported dtype (integers)`);
  return { data: data instanceof Float64Array ? data : Float64Array.from(data), shape };
}
