import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { batchIndices, parseShard, sampleDigest, sampleIndices, shard, splitmix64 } from "../src/data/sampling.js";

interface Refs {
  splitmix64: Record<string, string[]>;
  samples: { size: number; limit: number; seed: number; indices: number[] }[];
  digests: { ids: string[]; sha256: string }[];
}
const refs: Refs = JSON.parse(await readFile("fixtures/data-tests/refs/sampling.json", "utf8"));

describe("splitmix64", () => {
  it("splitmix64 matches the Python port of Vigna's C reference", () => {
    for (const [seed, outs] of Object.entries(refs.splitmix64)) {
      const next = splitmix64(BigInt(seed));
      expect(outs.map(() => next().toString())).toEqual(outs);
    }
  });
});

describe("sampleIndices", () => {
  it("sampleIndices matches the Python reference sample for each (size, limit, seed)", () => {
    for (const { size, limit, seed, indices } of refs.samples) {
      expect(Array.from(sampleIndices(size, { limit, seed }))).toEqual(indices);
    }
  });

  it("sampleIndices is a prefix for a smaller limit and a permutation for no limit", () => {
    const all = sampleIndices(500, { seed: 9 });
    expect(Array.from(sampleIndices(500, { seed: 9, limit: 40 }))).toEqual(Array.from(all.subarray(0, 40)));
    expect(Array.from(all).sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(Array.from(sampleIndices(500, { seed: 10, limit: 40 }))).not.toEqual(Array.from(all.subarray(0, 40)));
  });

  it("sampleIndices without a seed takes the first indices in order", () => {
    expect(Array.from(sampleIndices(10, { limit: 3 }))).toEqual([0, 1, 2]);
    expect(sampleIndices(4).length).toBe(4);
  });

  it("sampleIndices rejects bad arguments", () => {
    expect(() => sampleIndices(10, { limit: -1 })).toThrow(/invalid limit: -1/);
    expect(() => sampleIndices(10, { seed: 1.5 })).toThrow(/invalid seed: 1.5/);
  });
});

describe("shard", () => {
  for (const mode of ["contiguous", "strided"] as const) {
    it(`shard (${mode}) partitions: disjoint, union is everything, order kept`, () => {
      for (const len of [0, 1, 7, 64, 101]) {
        for (const n of [1, 2, 3, 8]) {
          const items = Array.from({ length: len }, (_, i) => 1000 + i);
          const parts = Array.from({ length: n }, (_, i) => shard(items, i, n, mode));
          const union = parts.flat().sort((a, b) => a - b);
          expect(union).toEqual(items);
          expect(new Set(union).size).toBe(len);
          for (const p of parts) {
            expect(p.length === 0 || p.every((v, k) => k === 0 || v > p[k - 1])).toBe(true);
            expect(Math.abs(p.length - len / n)).toBeLessThan(1);
          }
        }
      }
    });
  }

  it("shard gives the documented pieces", () => {
    expect(shard([0, 1, 2, 3, 4], 0, 2)).toEqual([0, 1]);
    expect(shard([0, 1, 2, 3, 4], 1, 2)).toEqual([2, 3, 4]);
    expect(shard([0, 1, 2, 3, 4], 1, 2, "strided")).toEqual([1, 3]);
  });

  it("parseShard reads 0-based i/n and rejects the rest", () => {
    expect(parseShard("2/4")).toEqual({ index: 2, count: 4 });
    expect(parseShard(" 0 / 1 ")).toEqual({ index: 0, count: 1 });
    expect(() => parseShard("4/4")).toThrow("invalid shard: 4/4 (shards are numbered 0..n-1)");
    expect(() => parseShard("1/0")).toThrow(/invalid shard: 1\/0/);
    expect(() => parseShard("a/b")).toThrow("invalid shard: a/b (expected i/n, e.g. 0/4)");
    expect(() => shard([1], 1, 1)).toThrow("invalid shard: 1/1 (shards are numbered 0..0)");
  });
});

describe("batchIndices and sampleDigest", () => {
  it("batchIndices splits in order, keeping or dropping the short last batch", () => {
    expect(batchIndices([5, 3, 9, 1, 7], 2)).toEqual([[5, 3], [9, 1], [7]]);
    expect(batchIndices(Int32Array.from([5, 3, 9, 1, 7]), 2, { dropLast: true })).toEqual([[5, 3], [9, 1]]);
    expect(() => batchIndices([1], 0)).toThrow("invalid batch size: 0");
  });

  it("sampleDigest is sha256 of the JSON id list, as Python computes it", () => {
    for (const { ids, sha256 } of refs.digests) expect(sampleDigest(ids)).toBe(sha256);
    expect(sampleDigest(["a", "b"])).not.toBe(sampleDigest(["b", "a"]));
    expect(sampleDigest(["a,b"])).not.toBe(sampleDigest(["a", "b"]));
  });
});
