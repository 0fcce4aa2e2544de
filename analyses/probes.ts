/**
 * Linear probes (METHODS.md §6; Raghu et al. 2021 Figs. 11, 13; ViT paper "few-shot linear"):
 * closed-form regularised least squares to {−1, +1}^C targets on standardised features with a
 * constant bias feature, as big_vision's `fewshot_lsr` evaluator, predicting the argmax.
 *
 * Design of λ selection (honest and streamable):
 * - A training example with sample index i is *held out* when i % holdoutEvery === holdoutEvery − 1
 *   (default every 5th, 20%); the rest is the *fit part*. Indices are the sample order the data
 *   layer produced (shuffled by its seed), so the split is deterministic and shard-independent.
 * - Full data: float64 sums of the fit part (count, Σx, XᵀX, per-class Σx) are accumulated; the
 *   holdout and test features are stored (their predictions need W, known only at finalize).
 *   For each λ of the grid, W is solved from the fit part's standardised Gram and scored on the
 *   holdout; the best λ (ties: the larger λ) is refit on the whole training split (fit sums plus
 *   the holdout's), standardised with the whole split's statistics, and scored on the test split.
 * - k-shot: the shots are the k fit-part examples of each class with the smallest sample index
 *   (never holdout examples); λ is chosen on the same holdout; the final model is the k-shot fit
 *   at that λ (the k-shot training set is the whole of its training data).
 * Memory: stored holdout and test features cost 8·D bytes per example per block.
 *
 * One concept per file under analyses/probes/: pooling (features of a site), ridge (the
 * closed-form fit), rows (stored examples), state (settings and per-block sums), full (the
 * full-data fit from sums), shots (k-shot fits), reducer (the mergeable reducer).
 */
export { pool, spaceToDepth, type PoolMode } from "./probes/pooling.js";
export {
  BIAS_CONSTANT, STD_EPSILON, ridgeTargets, standardiser, design, ridgeWeights, predictions,
  type Standardiser, type RidgeForm,
} from "./probes/ridge.js";
export type { StoredRows } from "./probes/rows.js";
export {
  DEFAULT_LAMBDAS, DEFAULT_SHOTS,
  type ProbeConfig, type ProbeBlockState, type ProbeState, type ProbeInput, type ProbeFit, type ProbeBlockResult, type ProbeResult,
} from "./probes/state.js";
export { probeReducer, linearProbe } from "./probes/reducer.js";
