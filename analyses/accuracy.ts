/**
 * Top-1 accuracy of a model's logits against integer labels: a mergeable count, used for the
 * skip-ablation accuracy drop (METHODS.md §4) and reported with every labelled run.
 */
import type { Tensor } from "../src/tensor.js";
import type { Reducer } from "./reducer.js";

export interface AccuracyState {
  analysis: "accuracy";
  correct: number;
  total: number;
  /** Images whose logits held NaN or ±Inf (counted wrong). */
  nonFinite: number;
}

export interface AccuracyInput {
  /** [B, C] logits. */
  logits: Tensor;
  labels: ArrayLike<number>;
}

export interface AccuracyResult {
  analysis: "accuracy";
  accuracy: number;
  correct: number;
  total: number;
  nonFinite: number;
}

/**
 * @example
 * let s = accuracyReducer.init({});
 * s = accuracyReducer.update(s, { logits: { data: new Float32Array([0, 1, 1, 0]), shape: [2, 2] }, labels: [1, 1] });
 * accuracyReducer.finalize(s).accuracy; // 0.5
 */
export const accuracyReducer: Reducer<Record<string, never>, AccuracyState, AccuracyInput, AccuracyResult> = {
  id: "accuracy",
  init: () => ({ analysis: "accuracy", correct: 0, total: 0, nonFinite: 0 }),
  update(state, { logits, labels }) {
    if (logits.shape.length !== 2) throw new RangeError(`invalid logits shape: [${logits.shape}]`);
    const [b, c] = logits.shape;
    if (labels.length !== b) throw new RangeError(`invalid labels: ${labels.length} for a batch of ${b}`);
    const x = logits.data;
    for (let i = 0; i < b; i++) {
      let best = 0;
      let finite = true;
      for (let j = 0; j < c; j++) {
        const v = x[i * c + j];
        if (!Number.isFinite(v)) finite = false;
        if (v > x[i * c + best]) best = j;
      }
      if (!finite) state.nonFinite++;
      else if (best === labels[i]) state.correct++;
      state.total++;
    }
    return state;
  },
  merge(a, b) {
    return { analysis: "accuracy", correct: a.correct + b.correct, total: a.total + b.total, nonFinite: a.nonFinite + b.nonFinite };
  },
  finalize: (s) => ({ analysis: "accuracy", accuracy: s.total ? s.correct / s.total : NaN, correct: s.correct, total: s.total, nonFinite: s.nonFinite }),
};
