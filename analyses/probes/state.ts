import type { Tensor } from "../../src/tensor.js";
import type { Matrix } from "../../src/numeric/linalg.js";
import { emptyRows, type StoredRows } from "./rows.js";
import type { RidgeForm, Standardiser } from "./ridge.js";

/** Default λ grid: 2^k for k = −5 … 15 (contains big_vision's fixed 2¹⁰). */
export const DEFAULT_LAMBDAS: readonly number[] = Array.from({ length: 21 }, (_, i) => 2 ** (i - 5));
/** Default k-shot settings (examples per class), as Raghu et al. and the ViT paper. */
export const DEFAULT_SHOTS: readonly number[] = [1, 5, 10, 25];

/** Probe settings. */
export interface ProbeConfig {
  classes: number;
  /** k-shot settings (examples per class); default [1, 5, 10, 25]. */
  shots?: number[];
  /** Also fit on the whole training split; default true. */
  full?: boolean;
  /** λ grid; default 2^−5 … 2^15. */
  lambdas?: number[];
  /** Every n-th training example (by sample index) is held out for λ selection; default 5. */
  holdoutEvery?: number;
  /** Block names in depth order; default first-seen order. */
  blocks?: string[];
  /** Form of the k-shot solves; default `auto` (the full-data fit is always primal, from Gram sums). */
  form?: RidgeForm;
  /**
   * `stored` (default): test rows are kept until finalize, so states of shards merge.
   * `online`: every train update comes before any test update (the engine runs the training
   * split first); the first test batch fits the probes and each test batch is scored as it
   * comes, so the state keeps the models and counts instead of the rows. Same results; such
   * states do not merge.
   */
  scoring?: "stored" | "online";
}

/** Float64 state of one block. */
export interface ProbeBlockState {
  block: string;
  dim: number;
  /**
   * Fit part, on shifted rows x − shift: count, Σ [D], Gram [D × D] (full, symmetric),
   * per-class Σ [C × D] and counts [C]. The shift is the mean of the first fit rows seen, so
   * the standardised Gram G − nμμᵀ does not cancel for features with a large mean (the
   * standardisation itself is shift invariant).
   */
  shift: Float64Array;
  fitCount: number;
  fitSum: Float64Array;
  fitGram: Float64Array;
  classSum: Float64Array;
  classCount: Float64Array;
  /** Fit-part candidates for the shots: per class, the max(shots) smallest sample indices. */
  shotRows: StoredRows;
  holdout: StoredRows;
  test: StoredRows;
  /** Online scoring: the fitted models (in fit order) once the first test batch came, and per model the correct test predictions. */
  fitted?: Omit<ProbeFit, "testAccuracy">[];
  correct?: Float64Array;
  tested?: number;
}

/** Plain-data reducer state: one float64 sum set and stored rows per block, in first-seen order. */
export interface ProbeState {
  analysis: "probes";
  settings: Required<ProbeConfig>;
  blocks: ProbeBlockState[];
}

/** One batch of one block's pooled features. */
export interface ProbeInput {
  block: string;
  split: "train" | "test";
  /** Pooled features [B, D] (see `pool`). */
  features: Matrix | Tensor;
  labels: ArrayLike<number>;
  /** Sample indices in the data layer's order (define the holdout and the shots). */
  indices: ArrayLike<number>;
}

/** One fitted variant (full data or k shots). */
export interface ProbeFit {
  /** `full` or the shots per class. */
  shots: "full" | number;
  testAccuracy: number;
  lambda: number;
  /** Holdout accuracy per λ of the grid. */
  holdoutAccuracy: Float64Array;
  trainExamples: number;
  /** False when some class had fewer fit-part examples than the shots asked for. */
  complete: boolean;
  /** The final model: standardiser and weights [D + 1, C] (bias row last). */
  standardiser: Standardiser;
  weights: Matrix;
}

/** Probe fits of one block. */
export interface ProbeBlockResult {
  block: string;
  /** Normalised depth: block position / (blocks − 1), 0 for a single block. */
  depth: number;
  dim: number;
  fits: ProbeFit[];
}

/** Finalized result: blocks in depth order with normalised depth, each with its fits. */
export interface ProbeResult {
  analysis: "probes";
  /** The settings (the scoring route, which does not change a number, left out). */
  settings: Omit<Required<ProbeConfig>, "scoring"> & { targets: "pm1"; standardise: "train-mean-std+1e-5"; biasConstant: number; selection: "holdout" };
  blocks: ProbeBlockResult[];
}

/** The settings with their defaults filled in; RangeError on any invalid one. */
export function validateConfig(config: ProbeConfig): Required<ProbeConfig> {
  const { classes } = config;
  if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`invalid classes: ${classes}`);
  const shots = [...(config.shots ?? DEFAULT_SHOTS)];
  for (const k of shots) if (!Number.isInteger(k) || k < 1) throw new RangeError(`invalid shots: ${k}`);
  const lambdas = [...(config.lambdas ?? DEFAULT_LAMBDAS)];
  if (lambdas.length === 0) throw new RangeError(`invalid lambdas: empty grid`);
  for (const l of lambdas) if (!(l > 0) || !Number.isFinite(l)) throw new RangeError(`invalid lambda: ${l}`);
  const holdoutEvery = config.holdoutEvery ?? 5;
  if (!Number.isInteger(holdoutEvery) || holdoutEvery < 2) throw new RangeError(`invalid holdoutEvery: ${holdoutEvery}`);
  const form = config.form ?? "auto";
  if (!["primal", "dual", "auto"].includes(form)) throw new RangeError(`invalid form: ${form}`);
  const scoring = config.scoring ?? "stored";
  if (scoring !== "stored" && scoring !== "online") throw new RangeError(`invalid scoring: ${scoring}`);
  return { classes, shots, full: config.full ?? true, lambdas, holdoutEvery, blocks: [...(config.blocks ?? [])], form, scoring };
}

/** An empty block state. */
export function blockState(block: string, dim: number, classes: number): ProbeBlockState {
  return {
    block,
    dim,
    shift: new Float64Array(dim),
    fitCount: 0,
    fitSum: new Float64Array(dim),
    fitGram: new Float64Array(dim * dim),
    classSum: new Float64Array(classes * dim),
    classCount: new Float64Array(classes),
    shotRows: emptyRows(),
    holdout: emptyRows(),
    test: emptyRows(),
  };
}

/** The state of `block`, added on first sight; RangeError when its width changes. */
export function findBlock(state: ProbeState, block: string, dim: number): ProbeBlockState {
  let s = state.blocks.find((b) => b.block === block);
  if (!s) {
    s = blockState(block, dim, state.settings.classes);
    state.blocks.push(s);
  } else if (s.dim !== dim) {
    throw new RangeError(`invalid features for block ${block}: ${dim} columns, earlier batches had ${s.dim}`);
  }
  return s;
}
