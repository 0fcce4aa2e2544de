/**
 * fastRanks (site-measures.ts, RSA's Spearman ranks by a radix sort of the values' bit patterns)
 * against averageRanks (rsa.ts, a comparison sort): average ranks over exact ties, negative values,
 * ±0, subnormals, values sharing their high word, and the NaN/Inf fallback.
 */
import { describe, expect, it } from "vitest";
import { fastRanks } from "../analyses/similarity/site-measures.js";
import { averageRanks } from "../analyses/similarity/rsa.js";

/** A seeded LCG in [0, 1). */
function uniform(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function same(v: Float64Array): void {
  expect(Array.from(fastRanks(v))).toEqual(Array.from(averageRanks(v)));
}

describe("fastRanks", () => {
  it("is averageRanks on many ties of negative and positive values", () => {
    const r = uniform(1);
    same(Float64Array.from({ length: 20_000 }, () => Math.round(r() * 40 - 20) / 4));
  });

  it("is averageRanks with −0 and +0 tied, subnormals of both signs and huge magnitudes", () => {
    const r = uniform(2);
    const pick = [0, -0, 5e-324, -5e-324, 1e-310, -1e-310, 1e300, -1e300, 1, -1];
    same(Float64Array.from({ length: 5_000 }, () => (r() < 0.5 ? pick[Math.floor(r() * pick.length)] : (r() - 0.5) * 1e-300)));
  });

  it("is averageRanks on values sharing their high 32 bits (order from the low word)", () => {
    const r = uniform(3);
    // 1 + 2⁻⁴⁰·k: one high word for all, many exact ties; 1 + 2⁻³⁰·k: a few high bits differ.
    same(Float64Array.from({ length: 30_000 }, () => 1 + Math.floor(r() * 20_000) * 2 ** -40));
    same(Float64Array.from({ length: 30_000 }, () => 1 + Math.floor(r() * 2 ** 20) * 2 ** -30 + (r() < 0.5 ? 2 ** -52 : 0)));
    // Values alike in their top 64 − 20 bits beyond the key's reach: long runs ordered by value.
    same(Float64Array.from({ length: 10_000 }, () => 1 + Math.floor(r() * 2 ** 20) * 2 ** -52 + (r() < 0.5 ? 0.5 : 0)));
  });

  it("is averageRanks on smooth dissimilarities (RSA's case) and on constant and tiny inputs", () => {
    const r = uniform(4);
    same(Float64Array.from({ length: 50_000 }, () => 0.2 + 1.5 * r() ** 2));
    same(new Float64Array(1000).fill(0.7));
    same(new Float64Array([3]));
    same(new Float64Array([2, 1]));
    expect(fastRanks(new Float64Array(0)).length).toBe(0);
  });

  it("falls back to averageRanks on NaN and ±Inf", () => {
    same(new Float64Array([3, Infinity, -Infinity, 1, 3]));
    const v = new Float64Array([2, NaN, 1]);
    expect(Array.from(fastRanks(v))).toEqual(Array.from(averageRanks(v)));
  });
});
