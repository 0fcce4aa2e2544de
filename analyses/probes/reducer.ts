import type { FloatArray, Tensor } from "../../src/tensor.js";
import type { Matrix } from "../../src/numeric/linalg.js";
import type { Reducer } from "../reducer.js";
import { BIAS_CONSTANT } from "./ridge.js";
import { appendRows, flatRows, pushRows } from "./rows.js";
import { pruneShots, shotFit, shotModel } from "./shots.js";
import { addFit, addShiftedSums, fullFit, fullModel } from "./full.js";
import { design, predictions } from "./ridge.js";
import { emptyRows } from "./rows.js";
import {
  findBlock, validateConfig,
  type ProbeBlockResult, type ProbeBlockState, type ProbeConfig, type ProbeFit, type ProbeInput, type ProbeResult, type ProbeState,
} from "./state.js";

function finalizeBlock(s: ProbeBlockState, settings: Required<ProbeConfig>): ProbeFit[] {
  if (s.fitted) {
    if (!s.tested) throw new Error(`linear-probe: block ${s.block} has no test examples`);
    return s.fitted.map((f, i) => ({ ...f, testAccuracy: s.correct![i] / s.tested! }));
  }
  const D = s.dim;
  const hold = flatRows(s.holdout, D);
  const test = flatRows(s.test, D);
  const fits: ProbeFit[] = [];
  if (test.labels.length === 0) throw new Error(`linear-probe: block ${s.block} has no test examples`);
  if (hold.labels.length === 0) throw new Error(`linear-probe: block ${s.block} has no holdout examples (holdoutEvery = ${settings.holdoutEvery})`);
  if (settings.full) {
    if (s.fitCount < 1) throw new Error(`linear-probe: block ${s.block} has no training examples`);
    fits.push(fullFit(s, settings.lambdas, settings.classes, hold, test));
  }
  const cand = flatRows(s.shotRows, D);
  for (const k of settings.shots) fits.push(shotFit(s.block, k, cand, settings, hold, test));
  return fits;
}

/**
 * Online scoring: the block's models from its training sums and rows, after which the rows are
 * dropped (only the models and the test counts stay in the state).
 */
function fitBlock(s: ProbeBlockState, settings: Required<ProbeConfig>): void {
  const D = s.dim;
  const hold = flatRows(s.holdout, D);
  if (hold.labels.length === 0) throw new Error(`linear-probe: block ${s.block} has no holdout examples (holdoutEvery = ${settings.holdoutEvery})`);
  const fitted: Omit<ProbeFit, "testAccuracy">[] = [];
  if (settings.full) {
    if (s.fitCount < 1) throw new Error(`linear-probe: block ${s.block} has no training examples`);
    fitted.push(fullModel(s, settings.lambdas, settings.classes, hold));
  }
  const cand = flatRows(s.shotRows, D);
  for (const k of settings.shots) fitted.push(shotModel(s.block, k, cand, settings, hold));
  s.fitted = fitted;
  s.correct = new Float64Array(fitted.length);
  s.tested = 0;
  s.shotRows = emptyRows();
  s.holdout = emptyRows();
}

/** Online scoring: adds one test batch's correct predictions of every fitted model. */
function scoreBatch(s: ProbeBlockState, data: FloatArray, n: number, labels: ArrayLike<number>): void {
  const x: Matrix = { data: data instanceof Float64Array ? data : Float64Array.from(data), shape: [n, s.dim] };
  s.fitted!.forEach((f, i) => {
    const pred = predictions(design(x, f.standardiser), f.weights);
    for (let r = 0; r < n; r++) if (pred[r] === labels[r]) s.correct![i]++;
  });
  s.tested! += n;
}

function featureMatrix(f: Matrix | Tensor): { data: FloatArray; n: number; D: number } {
  if (f.shape.length !== 2) throw new RangeError(`invalid features shape [${f.shape}]: expected pooled [B, D] (see pool)`);
  const [n, D] = f.shape;
  if (f.data.length !== n * D) throw new RangeError(`invalid features: ${f.data.length} elements for [${f.shape}]`);
  return { data: f.data, n, D };
}

function withoutScoring(s: Required<ProbeConfig>): Omit<Required<ProbeConfig>, "scoring"> {
  const { scoring: _scoring, ...rest } = s;
  return rest;
}

/**
 * Streaming linear probes per block: `update` with pooled features of the train and test
 * splits (with sample indices), `merge` shards, `finalize` to test accuracy per block against
 * normalised depth, per shot setting, with the chosen λ. See analyses/probes.ts for the design.
 * @example
 * let s = probeReducer.init({ classes: 10 });
 * s = probeReducer.update(s, { block: "blocks.0", split: "train", features, labels, indices });
 * probeReducer.finalize(s).blocks[0].fits
 */
export const probeReducer: Reducer<ProbeConfig, ProbeState, ProbeInput, ProbeResult> = {
  id: "probes",
  init(config) {
    return { analysis: "probes", settings: validateConfig(config), blocks: [] };
  },
  update(state, { block, split, features, labels, indices }) {
    const { data, n, D } = featureMatrix(features);
    if (labels.length !== n || indices.length !== n) throw new RangeError(`invalid batch for ${block}: ${n} rows, ${labels.length} labels, ${indices.length} indices`);
    const C = state.settings.classes;
    for (let i = 0; i < n; i++) {
      const c = labels[i];
      if (!Number.isInteger(c) || c < 0 || c >= C) throw new RangeError(`invalid label: ${c} (classes = ${C})`);
      if (!Number.isInteger(indices[i]) || indices[i] < 0) throw new RangeError(`invalid sample index: ${indices[i]}`);
    }
    const s = findBlock(state, block, D);
    const all = Array.from({ length: n }, (_, i) => i);
    if (split === "test") {
      if (state.settings.scoring === "stored") {
        pushRows(s.test, data, D, all, labels, indices);
        return state;
      }
      if (!s.fitted) fitBlock(s, state.settings);
      scoreBatch(s, data, n, labels);
      return state;
    }
    if (split !== "train") throw new RangeError(`invalid split: ${split}`);
    if (s.fitted) throw new Error(`linear-probe: training rows for block ${block} after its test rows (online scoring needs the training split first)`);
    const every = state.settings.holdoutEvery;
    const held = all.filter((i) => indices[i] % every === every - 1);
    const fit = all.filter((i) => indices[i] % every !== every - 1);
    pushRows(s.holdout, data, D, held, labels, indices);
    if (state.settings.full) addFit(s, data, fit, labels);
    if (state.settings.shots.length) {
      pushRows(s.shotRows, data, D, fit, labels, indices);
      s.shotRows = pruneShots(s.shotRows, D, C, Math.max(...state.settings.shots));
    }
    return state;
  },
  merge(a, b) {
    const x = a.settings;
    const y = b.settings;
    if (JSON.stringify(x) !== JSON.stringify(y)) throw new RangeError(`invalid merge: settings differ (${JSON.stringify(x)} vs ${JSON.stringify(y)})`);
    if (x.scoring === "online") throw new RangeError("invalid merge: probe states scored online do not merge (shard runs keep their test rows: scoring \"stored\")");
    for (const sb of b.blocks) {
      const sa = findBlock(a, sb.block, sb.dim);
      addShiftedSums(sa, sb);
      for (const key of ["holdout", "test", "shotRows"] as const) appendRows(sa[key], sb[key]);
      if (x.shots.length) sa.shotRows = pruneShots(sa.shotRows, sa.dim, x.classes, Math.max(...x.shots));
    }
    return a;
  },
  finalize(state) {
    if (state.blocks.length === 0) throw new Error("linear-probe: no features were seen");
    const order = state.settings.blocks;
    const known = new Set(order);
    const names = [...order.filter((b) => state.blocks.some((s) => s.block === b)), ...state.blocks.map((s) => s.block).filter((b) => !known.has(b))];
    const L = names.length;
    return {
      analysis: "probes",
      settings: { ...withoutScoring(state.settings), targets: "pm1", standardise: "train-mean-std+1e-5", biasConstant: BIAS_CONSTANT, selection: "holdout" },
      blocks: names.map((name, i) => {
        const s = state.blocks.find((b) => b.block === name)!;
        return { block: name, depth: L > 1 ? i / (L - 1) : 0, dim: s.dim, fits: finalizeBlock(s, state.settings) };
      }),
    };
  },
};

/**
 * One-shot probe of one block: train and test pooled features [N, D] with labels; training
 * sample indices are the row order (so every `holdoutEvery`-th row is held out).
 * @example linearProbe({ features: tr, labels: ytr }, { features: te, labels: yte }, { classes: 10 }).fits
 */
export function linearProbe(
  train: { features: Matrix | Tensor; labels: ArrayLike<number> },
  test: { features: Matrix | Tensor; labels: ArrayLike<number> },
  config: ProbeConfig,
): ProbeBlockResult {
  let s = probeReducer.init({ ...config, blocks: ["probe"] });
  const range = (n: number) => Float64Array.from({ length: n }, (_, i) => i);
  s = probeReducer.update(s, { block: "probe", split: "train", features: train.features, labels: train.labels, indices: range(train.labels.length) });
  s = probeReducer.update(s, { block: "probe", split: "test", features: test.features, labels: test.labels, indices: range(test.labels.length) });
  return probeReducer.finalize(s).blocks[0];
}
