/**
 * Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The platonic representation
 * hypothesis"): how many of each example's k nearest neighbours two representations share.
 */
import type { FloatArray } from "../../src/tensor.js";
import { gramSide } from "../../src/numeric/hsic.js";
import { squaredDistances } from "./distances.js";

/** Options of {@link mutualKnn}. */
export interface MutualKnnOptions {
  /** Neighbours per example, 1 ≤ k < m; default 10 (Huh et al.). */
  k?: number;
}

/** Mutual kNN alignment with the settings used. */
export interface MutualKnnValue {
  /** Mean over examples of |N_A(i) ∩ N_B(i)| / k, in [0, 1]. */
  alignment: number;
  /** |N_A(i) ∩ N_B(i)| / k of every example. */
  perExample: Float64Array;
  k: number;
  examples: number;
  metric: "euclidean";
  ties: "lower index first";
}

function neighbours(d2: Float64Array, m: number, k: number): Int32Array {
  const out = new Int32Array(m * k);
  const idx = new Int32Array(m - 1);
  for (let i = 0; i < m; i++) {
    const row = i * m;
    let t = 0;
    for (let j = 0; j < m; j++) if (j !== i) idx[t++] = j;
    idx.sort((a, b) => d2[row + a] - d2[row + b] || a - b);
    out.set(idx.subarray(0, k), i * k);
  }
  return out;
}

/**
 * Each example's k nearest other examples (m×k, row-major, nearest first) by Euclidean distance
 * from a linear Gram; equal distances go to the lower index.
 * @example nearestNeighbours(gram(x), 10).subarray(0, 10) // example 0's ten neighbours
 */
export function nearestNeighbours(gram: FloatArray, k: number): Int32Array {
  const m = gramSide(gram);
  if (!Number.isInteger(k) || k < 1 || k >= m) throw new RangeError(`invalid k: ${k} (needs 1 ≤ k < m = ${m})`);
  return neighbours(squaredDistances(gram), m, k);
}

/**
 * Mutual k-NN alignment of two representations of the same m examples from their linear Grams
 * (centred or not): each example's k nearest neighbours (itself excluded) by Euclidean distance
 * (D² as in squaredDistances) in A and in B, and the mean fraction they share. Ties in distance
 * are broken by the lower example index, so the result is deterministic. Huh et al. normalise
 * features to unit length first; pass Grams of normalised features to match (then Euclidean and
 * cosine neighbours coincide).
 * @example mutualKnn(gram(x), gram(y), {k: 10}).alignment
 */
export function mutualKnn(kA: FloatArray, kB: FloatArray, options: MutualKnnOptions = {}): MutualKnnValue {
  const m = gramSide(kA);
  if (gramSide(kB) !== m) throw new RangeError(`invalid Grams: ${m}×${m} and ${gramSide(kB)}×${gramSide(kB)}`);
  const k = options.k ?? 10;
  const na = nearestNeighbours(kA, k);
  const nb = nearestNeighbours(kB, k);
  const perExample = new Float64Array(m);
  const mark = new Int32Array(m).fill(-1);
  let total = 0;
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) mark[na[i * k + t]] = i;
    let shared = 0;
    for (let t = 0; t < k; t++) if (mark[nb[i * k + t]] === i) shared++;
    perExample[i] = shared / k;
    total += shared;
  }
  return { alignment: total / (m * k), perExample, k, examples: m, metric: "euclidean", ties: "lower index first" };
}
