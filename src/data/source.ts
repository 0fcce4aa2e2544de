/**
 * Shared helpers for data sources: the `read` built on `readOne`, code-point string order,
 * and label checks.
 */
import { InputError } from "../errors.js";
import type { RawImage } from "./types.js";

/**
 * Compares strings by Unicode code point, as Python's `sorted` does (JavaScript's default sort
 * compares UTF-16 code units, which orders astral characters differently).
 *
 * @example ["b", "B", "a"].sort(codePointOrder) // ["B", "a", "b"]
 */
export function codePointOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/** Decodes `indices` in order with `readOne`, at most `concurrency` at a time. */
export async function readMany(readOne: (i: number) => Promise<RawImage>, indices: readonly number[], concurrency = 4): Promise<RawImage[]> {
  const out: RawImage[] = new Array(indices.length);
  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      const k = next++;
      out[k] = await readOne(indices[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, indices.length) }, worker));
  return out;
}

/** Throws a RangeError unless `index` is a valid sample index of a source of `size`. */
export function checkIndex(index: number, size: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= size) throw new RangeError(`invalid sample index: ${index} (size ${size})`);
}

/** Throws an InputError naming the labels file when its length differs from the images'. */
export function checkLabelCount(labelsFile: string, labels: Int32Array, imagesFile: string, size: number): void {
  if (labels.length !== size) {
    throw new InputError(labelsFile, `has ${labels.length} labels but ${imagesFile} has ${size} images`);
  }
}
