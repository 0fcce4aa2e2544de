/**
 * What the CKA reducer is configured with, fed, keeps and returns, and the small helpers both
 * estimator families share. The state is one plain object: a header (settings, counts,
 * warnings) plus the minibatch sums (analyses/cka/minibatch.ts) and the full m×m Grams
 * (analyses/cka/full.ts); the part an estimator does not use is left empty.
 */
import type { FloatArray, Tensor } from "../../src/tensor.js";
import type { TokenMode } from "../vocabulary.js";
import type { Estimator } from "./linear.js";
import type { MinibatchSums } from "./minibatch.js";
import type { FullGrams } from "./full.js";
import type { StatisticsConfig, StatisticsSettings, StatisticsState } from "./statistics.js";

/**
 * Settings of the CKA reducer; all are recorded in the result (METHODS.md §8). The statistics
 * settings (perBatch, resamples, level, permutations; analyses/cka/statistics.ts) are minibatch only.
 */
export interface CKAConfig extends StatisticsConfig {
  sitesA: readonly string[];
  /** Sites of a second model; omit for an intra-model heatmap only. */
  sitesB?: readonly string[];
  estimator?: Estimator;
  tokens?: TokenMode;
  /** Reshuffles (Raghu: 20); each repeat has its own accumulators. Default 1. */
  repeats?: number;
  seed?: number;
  /** Batch size n of every Gram passed to update. */
  batch: number;
  /** m, required by the full estimators (the side of the full Gram). */
  examples?: number;
  /** Accumulate the shuffled-pairing control (default true; minibatch only). */
  control?: boolean;
}

/** Per-site Grams (or features) of one batch: an array in site order or a record by site name. */
export type PerSite<T> = readonly T[] | Readonly<Record<string, T>>;

/** One batch's Grams; see analyses/cka.ts for `repeat` and `block`. */
export interface CKAGrams {
  gramsA: PerSite<FloatArray>;
  gramsB?: PerSite<FloatArray>;
  repeat?: number;
  /**
   * Seed of this batch's shuffled-pairing permutation. The engine derives it from the batch's
   * first sample, so shards and resumed runs draw the same permutations as one run; without it
   * the seed follows the batch count (stable only for a single uninterrupted stream).
   */
  controlSeed?: number;
  /**
   * Key of this batch in the per-batch statistics (the engine: its first sample index), unique
   * per repeat; without it the batch count (stable only for a single uninterrupted stream).
   */
  batchKey?: number;
  /** Full estimators only: offsets (in examples) of this block in the m×m Gram. */
  block?: { row: number; col: number; rows: number; cols: number };
}

/** One batch's per-site feature tensors (example axis first); Grams are computed here. */
export interface CKAFeatures {
  featuresA: PerSite<Tensor>;
  featuresB?: PerSite<Tensor>;
  repeat?: number;
  controlSeed?: number;
  batchKey?: number;
}

/** Settings and counts every CKA state carries, whatever its estimator. */
export interface CKAStateHeader {
  analysis: "cka";
  estimator: Estimator;
  tokens: TokenMode;
  batch: number;
  repeats: number;
  seed: number;
  control: boolean;
  sitesA: string[];
  sitesB: string[] | null;
}

/** Batches and examples seen (per repeat), and what was dropped or warned about. */
export interface CKACounts {
  /** Batches and examples per repeat. */
  batches: Float64Array;
  examples: Float64Array;
  droppedBatches: number;
  droppedExamples: number;
  warnings: string[];
}

/**
 * Plain-data state: Float64Array sums, per repeat, row-major. The minibatch sums are empty
 * for the full estimators and the full Grams empty for the minibatch one; the state stays one
 * flat object so saved states and the engine's drivers read it as before.
 */
export type CKAState = CKAStateHeader & MinibatchSums & FullGrams & CKACounts & StatisticsState;

/** A labelled matrix of the result. */
export interface CKAMatrix {
  data: Float64Array;
  shape: [number, number];
  rows: string[];
  cols: string[];
  /** Standard deviation across repeats (present when repeats > 1). */
  std?: Float64Array;
  /** Percentile bootstrap interval over batches (present when perBatch). */
  lower?: Float64Array;
  upper?: Float64Array;
  /** Permutation p-values, (1 + #null ≥ observed)/(R + 1) (AB, or AA without B; when permutations > 0). */
  p?: Float64Array;
  /** R × rows × cols null CKA values behind `p`. */
  permutationNull?: Float64Array;
}

/** Finalized CKA result. */
export interface CKAResult {
  analysis: "cka";
  estimator: Estimator;
  tokens: TokenMode;
  batch: number;
  /** Examples used per repeat (batches × n; m for the full estimators). */
  examples: number;
  batches: number;
  repeats: number;
  seed: number;
  droppedExamples: number;
  matrices: { AA: CKAMatrix; BB?: CKAMatrix; AB?: CKAMatrix };
  /** Mean per-batch self-HSIC of every site (averaged over repeats); ≤ 0 flags a degenerate site. */
  hsicDiag: { A: Float64Array; B?: Float64Array };
  /** CKA with B's (or A's) examples permuted within each batch; ≈ 0 when all is well. */
  shuffled?: CKAMatrix;
  /** The statistics settings used (present when perBatch or permutations were asked for). */
  statistics?: StatisticsSettings;
  warnings: string[];
}

export function warn(state: { warnings: string[] }, message: string): void {
  if (!state.warnings.includes(message)) state.warnings.push(message);
}

/** The per-site values of `input` in the order of `sites`. */
export function bySite<T>(sites: readonly string[], input: PerSite<T>, what: string): T[] {
  if (Array.isArray(input)) {
    if (input.length !== sites.length) throw new RangeError(`invalid ${what}: ${input.length} entries for ${sites.length} sites`);
    return [...input];
  }
  const rec = input as Readonly<Record<string, T>>;
  return sites.map((s) => {
    const v = rec[s];
    if (v === undefined) throw new RangeError(`invalid ${what}: no entry for site ${s}`);
    return v;
  });
}

export function addInto(target: Float64Array, at: number, values: Float64Array): void {
  for (let i = 0; i < values.length; i++) target[at + i] += values[i];
}

/** CKA[i,j] = S[i,j] / √(dX[i]·dY[j]) for one repeat's sums. */
export function ratio(sum: Float64Array, at: number, r: number, c: number, dx: Float64Array, dy: Float64Array): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[i * c + j] = sum[at + i * c + j] / Math.sqrt(dx[i] * dy[j]);
  return out;
}

export function diagonal(sum: Float64Array, at: number, l: number): Float64Array {
  const d = new Float64Array(l);
  for (let i = 0; i < l; i++) d[i] = sum[at + i * l + i];
  return d;
}

export function labelled(data: Float64Array, rows: string[], cols: string[], std?: Float64Array): CKAMatrix {
  const m: CKAMatrix = { data, shape: [rows.length, cols.length], rows: [...rows], cols: [...cols] };
  if (std) m.std = std;
  return m;
}
