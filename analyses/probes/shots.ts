/**
 * k-shot probes: the shots are the k fit-part examples of each class with the smallest sample
 * index (never holdout examples), so the choice is the same however the data was sharded.
 */
import type { Matrix } from "../../src/numeric/linalg.js";
import { accuracy, bestLambda, design, predictions, ridgeTargets, ridgeWeights, standardiser, type RidgeForm } from "./ridge.js";
import { flatRows, type StoredRows } from "./rows.js";
import type { ProbeFit } from "./state.js";

/** Row numbers of `labels` keeping, per class, the `keep` with the smallest sample indices, in index order. */
function firstPerClass(labels: Float64Array, indices: Float64Array, classes: number, keep: number): number[] {
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => indices[a] - indices[b]);
  const taken = new Float64Array(classes);
  const kept: number[] = [];
  for (const i of order) {
    const c = labels[i];
    if (taken[c] < keep) {
      taken[c]++;
      kept.push(i);
    }
  }
  return kept;
}

/** Keeps, per class, the `keep` rows with the smallest sample indices. */
export function pruneShots(r: StoredRows, dim: number, classes: number, keep: number): StoredRows {
  const { x, labels, indices } = flatRows(r, dim);
  const kept = firstPerClass(labels, indices, classes, keep);
  const f = new Float64Array(kept.length * dim);
  const l = new Float64Array(kept.length);
  const ix = new Float64Array(kept.length);
  kept.forEach((i, k) => {
    f.set(x.data.subarray(i * dim, (i + 1) * dim), k * dim);
    l[k] = labels[i];
    ix[k] = indices[i];
  });
  return { features: [f], labels: [l], indices: [ix] };
}

/**
 * The k-shot fit: λ chosen on the holdout, the final model the k-shot fit at that λ (the k-shot
 * training set is the whole of its training data), scored on the test split.
 */
export function shotFit(
  block: string, k: number, cand: { x: Matrix; labels: Float64Array; indices: Float64Array },
  settings: { classes: number; lambdas: readonly number[]; form: RidgeForm },
  hold: { x: Matrix; labels: Float64Array }, test: { x: Matrix; labels: Float64Array },
): ProbeFit {
  const model = shotModel(block, k, cand, settings, hold);
  return { ...model, testAccuracy: accuracy(predictions(design(test.x, model.standardiser), model.weights), test.labels) };
}

/** The k-shot model (λ chosen on the holdout), not yet scored. */
export function shotModel(
  block: string, k: number, cand: { x: Matrix; labels: Float64Array; indices: Float64Array },
  settings: { classes: number; lambdas: readonly number[]; form: RidgeForm },
  hold: { x: Matrix; labels: Float64Array },
): Omit<ProbeFit, "testAccuracy"> {
  const { classes: C, lambdas } = settings;
  const D = cand.x.shape[1];
  const rows = firstPerClass(cand.labels, cand.indices, C, k);
  if (rows.length === 0) {
    throw new Error(`linear-probe: block ${block} has no fit-part training examples for ${k}-shot`);
  }
  const x = new Float64Array(rows.length * D);
  const labels = new Float64Array(rows.length);
  const taken = new Float64Array(C);
  rows.forEach((r, i) => {
    x.set(cand.x.data.subarray(r * D, (r + 1) * D), i * D);
    labels[i] = cand.labels[r];
    taken[cand.labels[r]]++;
  });
  const complete = taken.every((t) => t === k);
  const train: Matrix = { data: x, shape: [rows.length, D] };
  const st = standardiser(train);
  const X = design(train, st);
  const Y = ridgeTargets(labels, C);
  const holdX = design(hold.x, st);
  const holdoutAccuracy = new Float64Array(lambdas.length);
  const weights = lambdas.map((l, i) => {
    const W = ridgeWeights(X, Y, l, settings.form);
    holdoutAccuracy[i] = accuracy(predictions(holdX, W), hold.labels);
    return W;
  });
  const best = bestLambda(lambdas, holdoutAccuracy);
  return {
    shots: k,
    lambda: lambdas[best],
    holdoutAccuracy,
    trainExamples: rows.length,
    complete,
    standardiser: st,
    weights: weights[best],
  };
}
