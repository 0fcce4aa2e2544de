import { gram } from "../../src/numeric/gram.js";
import { tokenMode } from "../vocabulary.js";
import type { Reducer } from "../reducer.js";
import { estimatorId } from "./linear.js";
import { minibatchFinalize, minibatchMerge, minibatchSums, minibatchUpdate } from "./minibatch.js";
import { fullFinalize, fullGrams, fullMerge, fullUpdate } from "./full.js";
import { sameStatistics, statisticsMerge, statisticsSettings, statisticsState } from "./statistics.js";
import { addInto, bySite, warn, type CKAConfig, type CKAFeatures, type CKAGrams, type CKAResult, type CKAState } from "./state.js";

function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`invalid ${what}: ${v}`);
  return v;
}

/**
 * A fresh CKA state.
 * @example const s = ckaInit({sitesA: ["blocks.0.out", "blocks.1.out"], batch: 256})
 */
export function ckaInit(config: CKAConfig): CKAState {
  const estimator = estimatorId(config.estimator ?? "minibatch-unbiased");
  const tokens = tokenMode(config.tokens ?? "all");
  const repeats = positiveInt(config.repeats ?? 1, "repeats");
  const batch = positiveInt(config.batch, "batch");
  const seed = config.seed ?? 0;
  if (!Number.isInteger(seed)) throw new RangeError(`invalid seed: ${seed}`);
  const sitesA = [...config.sitesA];
  const sitesB = config.sitesB ? [...config.sitesB] : null;
  if (sitesA.length === 0) throw new RangeError("invalid sitesA: empty");
  if (sitesB && sitesB.length === 0) throw new RangeError("invalid sitesB: empty");
  const la = sitesA.length;
  const lb = sitesB?.length ?? 0;
  const full = estimator !== "minibatch-unbiased";
  if (!full && batch < 4) throw new RangeError(`invalid batch: ${batch} (minibatch-unbiased needs n ≥ 4)`);
  if (full && repeats !== 1) throw new RangeError(`invalid repeats: ${repeats} (${estimator} uses all examples once)`);
  const m = full ? positiveInt(config.examples ?? NaN, "examples") : 0;
  const control = !full && (config.control ?? true);
  const statistics = statisticsSettings(config);
  if (full && statistics) throw new RangeError(`invalid perBatch/permutations: ${estimator} has no batches to resample or permute`);
  // Field order as before the split, so a state saved now encodes to the same bytes as then.
  const { offset, ...grams } = fullGrams(full, m, la, lb);
  return {
    analysis: "cka", estimator, tokens, batch, repeats, seed, control, sitesA, sitesB,
    ...minibatchSums(!full, control, repeats, la, lb),
    batches: new Float64Array(repeats),
    examples: new Float64Array(repeats),
    droppedBatches: 0, droppedExamples: 0,
    ...grams,
    offset,
    warnings: [],
    // Only when asked for: a state without statistics encodes to the same bytes as before.
    ...statisticsState(statistics, repeats, la, lb),
  };
}

/**
 * Adds one batch's per-site Grams (n×n, float32 or float64). Minibatch: U-centres each Gram
 * once, then all intra- and cross-model HSIC₁ terms come from three matrix products.
 * `repeat` (input field or third argument) selects the accumulator of a reshuffle.
 * @example ckaUpdate(state, {gramsA: [k0, k1], gramsB: [l0], repeat: 0})
 */
export function ckaUpdate(state: CKAState, input: CKAGrams, repeat = input.repeat ?? 0): CKAState {
  if (!Number.isInteger(repeat) || repeat < 0 || repeat >= state.repeats) {
    throw new RangeError(`invalid repeat: ${repeat} (repeats: ${state.repeats})`);
  }
  const ga = bySite(state.sitesA, input.gramsA, "gramsA");
  const gb = state.sitesB ? bySite(state.sitesB, input.gramsB ?? [], "gramsB") : [];
  if (!state.sitesB && input.gramsB !== undefined) throw new RangeError("invalid gramsB: the state has no sitesB");
  if (state.estimator !== "minibatch-unbiased") return fullUpdate(state, ga, gb, input.block);
  if (input.block) throw new RangeError("invalid block: only the full estimators take Gram blocks");
  return minibatchUpdate(state, ga, gb, repeat, input.controlSeed, input.batchKey);
}

/**
 * Adds one batch given per-site feature tensors (example axis first, flattened per example);
 * Grams are computed with the JS kernel (features centred per batch for the minibatch
 * estimator, uncentred for the full ones, whose blocks must share one origin).
 * @example ckaUpdateFeatures(state, {featuresA: [x0, x1]})
 */
export function ckaUpdateFeatures(state: CKAState, input: CKAFeatures, repeat = input.repeat ?? 0): CKAState {
  const centreFeatures = state.estimator === "minibatch-unbiased";
  const fa = bySite(state.sitesA, input.featuresA, "featuresA");
  const fb = state.sitesB ? bySite(state.sitesB, input.featuresB ?? [], "featuresB") : [];
  const gramsA = fa.map((x) => gram(x, { centre: centreFeatures }));
  const gramsB = fb.map((x) => gram(x, { centre: centreFeatures }));
  return ckaUpdate(state, { gramsA, gramsB: state.sitesB ? gramsB : undefined, controlSeed: input.controlSeed, batchKey: input.batchKey }, repeat);
}

/** Throws unless two states were made with the same settings (METHODS.md §8). */
function sameSettings(a: CKAState, b: CKAState): void {
  const keys = ["estimator", "tokens", "batch", "repeats", "seed", "control", "m"] as const;
  for (const k of keys) {
    if (a[k] !== b[k]) throw new Error(`cannot merge CKA states: ${k} differs (${a[k]} vs ${b[k]})`);
  }
  if (a.sitesA.join("\n") !== b.sitesA.join("\n")) throw new Error("cannot merge CKA states: sitesA differ");
  if ((a.sitesB ?? []).join("\n") !== (b.sitesB ?? []).join("\n")) throw new Error("cannot merge CKA states: sitesB differ");
  sameStatistics(a, b);
}

/**
 * Merges two states of the same settings (shards or resumed runs) into `a`.
 * @example ckaMerge(shard0, shard1)
 */
export function ckaMerge(a: CKAState, b: CKAState): CKAState {
  sameSettings(a, b);
  minibatchMerge(a, b);
  for (const k of ["batches", "examples"] as const) addInto(a[k], 0, b[k]);
  a.droppedBatches += b.droppedBatches;
  a.droppedExamples += b.droppedExamples;
  fullMerge(a, b);
  statisticsMerge(a, b);
  for (const w of b.warnings) warn(a, w);
  return a;
}

/**
 * The CKA matrices: per repeat a ratio of HSIC₁ sums (never a mean of per-batch CKA), then the
 * mean over repeats. Negative HSIC and CKA values are reported as they are.
 * @example ckaFinalize(state).matrices.AA.data // LA×LA Float64Array
 */
export function ckaFinalize(state: CKAState): CKAResult {
  return state.estimator === "minibatch-unbiased" ? minibatchFinalize(state) : fullFinalize(state);
}

/**
 * The CKA reducer (id "cka"); see analyses/cka.ts for how the engine drives it.
 * @example
 * let s = ckaReducer.init({ sitesA: ["a0", "a1"], sitesB: ["b0"], batch: 64 });
 * s = ckaReducer.update(s, { gramsA: [k0, k1], gramsB: [l0] });
 * ckaReducer.finalize(s).matrices.AB.data; // CKA of a0 and a1 with b0
 */
export const ckaReducer: Reducer<CKAConfig, CKAState, CKAGrams, CKAResult> & {
  updateFeatures: typeof ckaUpdateFeatures;
} = {
  id: "cka",
  init: ckaInit,
  update: (state, input) => ckaUpdate(state, input),
  merge: ckaMerge,
  finalize: ckaFinalize,
  updateFeatures: ckaUpdateFeatures,
};
