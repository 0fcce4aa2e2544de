/**
 * Deterministic sampling, sharding and batching of sample indices.
 *
 * The generator is SplitMix64 (Steele, Lea & Flood 2014, "Fast splittable pseudorandom number
 * generators"; constants of Vigna's reference `splitmix64.c`), state = the seed as an unsigned
 * 64-bit integer. Integers below n are drawn by rejection (no modulo bias). A sample of k of
 * N indices is the first k steps of a forward Fisher–Yates shuffle of 0..N−1, so a smaller
 * `limit` with the same seed gives a prefix of a larger one, and the subset and its order depend
 * only on (N, limit, seed): every model of a comparison sees the same ids in the same order.
 * fixtures/data-tests/make_refs.py reimplements all of this in Python from the C reference.
 */
import { createHash } from "node:crypto";

const MASK = (1n << 64n) - 1n;

/**
 * A SplitMix64 generator: each call returns the next unsigned 64-bit output as a bigint.
 *
 * @example const next = splitmix64(0); next() // 16294208416658607535n
 */
export function splitmix64(seed: number | bigint): () => bigint {
  let state = BigInt.asUintN(64, BigInt(seed));
  return () => {
    state = (state + 0x9e3779b97f4a7c15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
    return z ^ (z >> 31n);
  };
}

/** A uniform integer in [0, n) from a 64-bit generator, by rejection of the biased tail. */
function below(next: () => bigint, n: number): number {
  const bn = BigInt(n);
  const limit = (1n << 64n) - ((1n << 64n) % bn);
  for (;;) {
    const r = next();
    if (r < limit) return Number(r % bn);
  }
}

/** Options of {@link sampleIndices}. */
export interface SampleOptions {
  /** Number of samples (default: all). */
  limit?: number;
  /** Seed of the shuffle; without one the first `limit` indices are taken in order. */
  seed?: number;
}

/**
 * The indices of a fixed sample of a data set of `size`: with a seed, the first `limit` of a
 * seeded Fisher–Yates shuffle (in shuffled order); without, 0..limit−1.
 *
 * @example sampleIndices(60000, { limit: 1000, seed: 0 }) // Int32Array(1000), the same on every run
 */
export function sampleIndices(size: number, { limit, seed }: SampleOptions = {}): Int32Array {
  if (!Number.isInteger(size) || size < 0 || size > 2 ** 31 - 1) throw new RangeError(`invalid size: ${size}`);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) throw new RangeError(`invalid limit: ${limit}`);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) throw new RangeError(`invalid seed: ${seed}`);
  const k = Math.min(limit ?? size, size);
  if (seed === undefined) return Int32Array.from({ length: k }, (_, i) => i);
  const p = new Int32Array(size);
  for (let i = 0; i < size; i++) p[i] = i;
  const next = splitmix64(seed);
  for (let i = 0; i < k; i++) {
    const j = i + below(next, size - i);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p.slice(0, k);
}

/** How {@link shard} splits: consecutive runs, or every n-th item. */
export type ShardMode = "contiguous" | "strided";

/**
 * Shard `index` of `count` (0-based) of a list: `contiguous` gives items
 * [⌊index·L/count⌋, ⌊(index+1)·L/count⌋), `strided` gives items index, index+count, ….
 * The shards of 0..count−1 are disjoint and their union is the list. Shard a list of batches
 * (not of indices) so a sharded run sees the same batches as an unsharded one.
 *
 * @example shard([0, 1, 2, 3, 4], 1, 2) // [2, 3, 4]
 */
export function shard<T>(items: ArrayLike<T>, index: number, count: number, mode: ShardMode = "contiguous"): T[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`invalid shard count: ${count}`);
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new RangeError(`invalid shard: ${index}/${count} (shards are numbered 0..${count - 1})`);
  const out: T[] = [];
  if (mode === "strided") {
    for (let i = index; i < items.length; i += count) out.push(items[i]);
    return out;
  }
  if (mode !== "contiguous") throw new RangeError(`invalid shard mode: ${mode}`);
  const start = Math.floor((index * items.length) / count);
  const end = Math.floor(((index + 1) * items.length) / count);
  for (let i = start; i < end; i++) out.push(items[i]);
  return out;
}

/**
 * Parses `"i/n"` (0-based shard i of n).
 *
 * @example parseShard("2/4") // { index: 2, count: 4 }
 */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new RangeError(`invalid shard: ${text} (expected i/n, e.g. 0/4)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index >= count) throw new RangeError(`invalid shard: ${text} (shards are numbered 0..n-1)`);
  return { index, count };
}

/**
 * Splits indices into consecutive batches of `batchSize` (the last one shorter unless dropped).
 *
 * @example batchIndices([5, 3, 9, 1, 7], 2) // [[5, 3], [9, 1], [7]]
 */
export function batchIndices(indices: ArrayLike<number>, batchSize: number, { dropLast = false } = {}): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`invalid batch size: ${batchSize}`);
  const out: number[][] = [];
  for (let s = 0; s < indices.length; s += batchSize) {
    const b = Array.from({ length: Math.min(batchSize, indices.length - s) }, (_, k) => indices[s + k]);
    if (b.length === batchSize || !dropLast) out.push(b);
  }
  return out;
}

/**
 * sha256 (hex) of a list of sample ids in order, over the UTF-8 of `JSON.stringify(ids)`:
 * recorded with every result so results computed on different samples never merge silently.
 *
 * @example sampleDigest(["idx:0", "idx:1"]) // sha256 of '["idx:0","idx:1"]'
 */
export function sampleDigest(ids: readonly string[]): string {
  return createHash("sha256").update(JSON.stringify(ids), "utf8").digest("hex");
}
