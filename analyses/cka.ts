/**
 * Linear CKA (METHODS.md §1): a one-shot `linearCKA` on tensors and the mergeable CKA reducer
 * that builds intra-model (L×L) and cross-model (L₁×L₂) heatmaps from per-batch Grams
 * (Raghu et al. 2021 Figs. 1, 2; Nguyen, Raghu & Kornblith 2021 minibatch estimator).
 *
 * How the engine calls the reducer:
 * - `minibatch-unbiased`: for each repeat r = 0..repeats−1, shuffle the m examples with a
 *   per-repeat permutation (`batchOrder(m, seed, r)`), cut them into consecutive batches of
 *   `batch` examples (drop the remainder), and for each batch call
 *   `update(state, {gramsA, gramsB, repeat: r})` with one n×n Gram per site (K = XXᵀ of that
 *   batch's flattened activations; float32 from an ONNX Gemm with centred features is fine).
 *   A Gram belongs to one batch partition: for repeats > 1 the data must be re-batched, a Gram
 *   can never be reused across repeats. Each repeat yields a ratio of sums; the result is the
 *   mean over repeats (Raghu average 20 reshuffles), with the spread across repeats.
 * - `full-biased` / `full-debiased`: the estimate needs the full m×m Gram per site. Sufficient
 *   statistics like XᵀX are p×p, hopeless for p ≫ m, so the state keeps each site's m×m Gram
 *   and fills it block by block: `update` without `block` places the batch's Gram on the
 *   diagonal at the running offset; the off-diagonal blocks X_b X_cᵀ (see `crossGram`) come as
 *   `update(state, {gramsA, gramsB, block: {row, col, rows, cols}})`. Blocks of one full Gram
 *   must share one origin, so features may be centred per batch only when there is a single
 *   batch. Simplest: one batch of all m examples. Memory is L·m² float64: small m only.
 * Each minibatch update also accumulates a shuffled-pairing control (`control`, default true):
 * HSIC₁ of A's Grams against B's (or A's) with the examples deranged within the batch, which
 * should give CKA ≈ 0 (see analyses/sanity.ts).
 *
 * One concept per file under analyses/cka/: linear (one-shot linearCKA, estimator ids), state
 * (config, inputs, state and result types), minibatch (the minibatch sums), full (the m×m
 * Grams), reducer (init/update/merge/finalize dispatching on the estimator), blockwise.
 */
export { estimators, estimatorId, linearCKA, linearCKABatch, linearCKAOfGrams, hsicMatrix, type Estimator, type LinearCKAOptions, type CKAValue } from "./cka/linear.js";
export {
  bySite,
  type CKAConfig, type PerSite, type CKAGrams, type CKAFeatures, type CKAStateHeader, type CKACounts, type CKAState, type CKAMatrix, type CKAResult,
} from "./cka/state.js";
export { batchOrder, type MinibatchSums } from "./cka/minibatch.js";
export type { FullGrams } from "./cka/full.js";
export { ckaInit, ckaUpdate, ckaUpdateFeatures, ckaMerge, ckaFinalize, ckaReducer } from "./cka/reducer.js";
export { blockwiseCKA, type BlockwiseCKA } from "./cka/blockwise.js";
export {
  bootstrapCKA, bootstrapIndices, bootstrapSeed, ckaIntervals, percentileInterval, permutationPValues, permutationSeed, ratioTerms,
  type BatchTerms, type CKAIntervals, type RatioTerms, type StatisticsConfig, type StatisticsSettings, type StatisticsState,
} from "./cka/statistics.js";
