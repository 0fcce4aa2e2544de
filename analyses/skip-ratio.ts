/**
 * Skip-connection norm ratio ‖z‖ / ‖f(z)‖ at each residual sum out = z + f(z)
 * (METHODS.md §3; Raghu et al. 2021 Fig. 7). ViT [B, T, D]: L2 over channels per token;
 * ResNet [B, C, H, W]: L2 over the whole feature map per example, and over channels per position.
 * A branch with zero norm gives an infinite ratio; it is reported, not hidden.
 */
import type { Tensor } from "../src/tensor.js";
import type { Reducer } from "./reducer.js";

/** `mean-of-ratios` (default): mean over images of per-example ratios. `ratio-of-frobenius`: sqrt(Σ‖z‖²) / sqrt(Σ‖f(z)‖²). */
export type SkipRatioConvention = "mean-of-ratios" | "ratio-of-frobenius";
/** The convention ids, default first. */
export const SKIP_RATIO_CONVENTIONS: readonly SkipRatioConvention[] = ["mean-of-ratios", "ratio-of-frobenius"];

/** Ratios of one residual under one convention. */
export interface SkipRatioValues {
  /** ViT: the first prefix token (CLS); NaN without prefix tokens. ResNet: NaN. */
  cls: number;
  /** ViT: over spatial tokens (mean of per-token ratios, or pooled Frobenius). ResNet: NaN. */
  spatial: number;
  /** ResNet: over the whole feature map per example. ViT: NaN. */
  whole: number;
  /** ViT: per token, length T. ResNet: per position, length H·W (row-major, see `positions`). */
  perToken: Float64Array;
}

/** One residual sum's ratios under both conventions. */
export interface SkipRatioEntry {
  residual: string;
  /** The block of the residual and its sublayer ("attn", "mlp", "token_mix", "channel_mix", "unit"), when the caller named them. */
  block?: string;
  sublayer?: string;
  layout: "tokens" | "feature-map";
  images: number;
  /** Token count T, or the feature map [H, W]. */
  positions: number[];
  "mean-of-ratios": SkipRatioValues;
  "ratio-of-frobenius": SkipRatioValues;
}

/** Float64 sums of one residual over images. */
export interface SkipRatioResidualState {
  residual: string;
  block?: string;
  sublayer?: string;
  layout: "tokens" | "feature-map";
  positions: number[];
  images: number;
  /** Σ over images of ‖z‖/‖f(z)‖ per token or position. */
  ratio: Float64Array;
  /** Σ over images of ‖z‖² and ‖f(z)‖² per token or position. */
  skip2: Float64Array;
  branch2: Float64Array;
  /** Whole-map sums (feature-map layout only): [Σ ratio, Σ‖z‖², Σ‖f(z)‖²]. */
  whole: Float64Array;
}

function layoutOf(z: Tensor, fz: Tensor): { layout: "tokens" | "feature-map"; B: number; positions: number[] } {
  const s = z.shape;
  if (s.length !== fz.shape.length || s.some((d, i) => d !== fz.shape[i])) {
    throw new RangeError(`invalid residual: skip [${s}] and branch [${fz.shape}] differ in shape`);
  }
  const n = s.reduce((a, b) => a * b, 1);
  if (z.data.length !== n || fz.data.length !== n) throw new RangeError(`invalid residual: data lengths do not match shape [${s}]`);
  if (s.length === 3) return { layout: "tokens", B: s[0], positions: [s[1]] };
  if (s.length === 4) return { layout: "feature-map", B: s[0], positions: [s[2], s[3]] };
  throw new RangeError(`invalid residual shape [${s}]: expected [B, T, D] or [B, C, H, W]`);
}

function emptyState(residual: string, layout: "tokens" | "feature-map", positions: number[]): SkipRatioResidualState {
  const n = positions.reduce((a, b) => a * b, 1);
  return { residual, layout, positions: [...positions], images: 0, ratio: new Float64Array(n), skip2: new Float64Array(n), branch2: new Float64Array(n), whole: new Float64Array(3) };
}

/** Adds one batch into the sums (the hot loop: per example, per token or position, over channels). */
function accumulate(s: SkipRatioResidualState, z: Tensor, fz: Tensor, B: number): void {
  const Z = z.data;
  const F = fz.data;
  if (s.layout === "tokens") {
    const T = s.positions[0];
    const D = z.shape[2];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const o = (b * T + t) * D;
        let zz = 0;
        let ff = 0;
        for (let d = 0; d < D; d++) {
          const x = Z[o + d];
          const y = F[o + d];
          zz += x * x;
          ff += y * y;
        }
        s.ratio[t] += Math.sqrt(zz) / Math.sqrt(ff);
        s.skip2[t] += zz;
        s.branch2[t] += ff;
      }
    }
  } else {
    const C = z.shape[1];
    const HW = s.positions[0] * s.positions[1];
    const zz = new Float64Array(HW);
    const ff = new Float64Array(HW);
    for (let b = 0; b < B; b++) {
      zz.fill(0);
      ff.fill(0);
      for (let c = 0; c < C; c++) {
        const o = (b * C + c) * HW;
        for (let p = 0; p < HW; p++) {
          const x = Z[o + p];
          const y = F[o + p];
          zz[p] += x * x;
          ff[p] += y * y;
        }
      }
      let zAll = 0;
      let fAll = 0;
      for (let p = 0; p < HW; p++) {
        s.ratio[p] += Math.sqrt(zz[p]) / Math.sqrt(ff[p]);
        s.skip2[p] += zz[p];
        s.branch2[p] += ff[p];
        zAll += zz[p];
        fAll += ff[p];
      }
      s.whole[0] += Math.sqrt(zAll) / Math.sqrt(fAll);
      s.whole[1] += zAll;
      s.whole[2] += fAll;
    }
  }
  s.images += B;
}

function normsLayoutOf(zn: Tensor, fn: Tensor): { layout: "tokens" | "feature-map"; B: number; positions: number[] } {
  const s = zn.shape;
  if (s.length !== fn.shape.length || s.some((d, i) => d !== fn.shape[i])) {
    throw new RangeError(`invalid residual norms: skip [${s}] and branch [${fn.shape}] differ in shape`);
  }
  if (s.length === 2) return { layout: "tokens", B: s[0], positions: [s[1]] };
  if (s.length === 3) return { layout: "feature-map", B: s[0], positions: [s[1], s[2]] };
  throw new RangeError(`invalid residual norms shape [${s}]: expected [B, T] or [B, H, W]`);
}

/** Adds one batch given per-token (or per-position) channel norms ‖z‖, ‖f(z)‖. */
function accumulateNorms(s: SkipRatioResidualState, zn: Tensor, fn: Tensor, B: number): void {
  const Z = zn.data;
  const F = fn.data;
  const n = s.ratio.length;
  for (let b = 0; b < B; b++) {
    let zAll = 0;
    let fAll = 0;
    for (let p = 0; p < n; p++) {
      const z = Z[b * n + p];
      const f = F[b * n + p];
      const zz = z * z;
      const ff = f * f;
      s.ratio[p] += z / f;
      s.skip2[p] += zz;
      s.branch2[p] += ff;
      zAll += zz;
      fAll += ff;
    }
    if (s.layout === "feature-map") {
      s.whole[0] += Math.sqrt(zAll) / Math.sqrt(fAll);
      s.whole[1] += zAll;
      s.whole[2] += fAll;
    }
  }
  s.images += B;
}

function entryOf(s: SkipRatioResidualState, prefixTokens: number): SkipRatioEntry {
  const n = s.ratio.length;
  const m = s.images;
  const meanPer = new Float64Array(n);
  const frobPer = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    meanPer[t] = s.ratio[t] / m;
    frobPer[t] = Math.sqrt(s.skip2[t]) / Math.sqrt(s.branch2[t]);
  }
  const mean: SkipRatioValues = { cls: NaN, spatial: NaN, whole: NaN, perToken: meanPer };
  const frob: SkipRatioValues = { cls: NaN, spatial: NaN, whole: NaN, perToken: frobPer };
  if (s.layout === "tokens") {
    if (prefixTokens > n) throw new RangeError(`invalid prefixTokens: ${prefixTokens} for ${n} tokens at ${s.residual}`);
    if (prefixTokens > 0) {
      mean.cls = meanPer[0];
      frob.cls = frobPer[0];
    }
    let r = 0;
    let zz = 0;
    let ff = 0;
    for (let t = prefixTokens; t < n; t++) {
      r += s.ratio[t];
      zz += s.skip2[t];
      ff += s.branch2[t];
    }
    mean.spatial = r / (m * (n - prefixTokens));
    frob.spatial = Math.sqrt(zz) / Math.sqrt(ff);
  } else {
    mean.whole = s.whole[0] / m;
    frob.whole = Math.sqrt(s.whole[1]) / Math.sqrt(s.whole[2]);
  }
  return {
    residual: s.residual, ...(s.block !== undefined ? { block: s.block } : {}), ...(s.sublayer !== undefined ? { sublayer: s.sublayer } : {}),
    layout: s.layout, images: m, positions: [...s.positions], "mean-of-ratios": mean, "ratio-of-frobenius": frob,
  };
}

/**
 * Norm ratios of one residual sum from its skip input z and branch output f(z), both
 * [B, T, D] (ViT) or [B, C, H, W] (ResNet). `prefixTokens` (default 1) marks CLS and other
 * non-spatial tokens of the token layout.
 * @example skipRatio(blockInput, attnOut, { residual: "blocks.0.attn" })["mean-of-ratios"].cls
 */
export function skipRatio(z: Tensor, fz: Tensor, { residual = "residual", prefixTokens = 1 }: { residual?: string; prefixTokens?: number } = {}): SkipRatioEntry {
  if (!Number.isInteger(prefixTokens) || prefixTokens < 0) throw new RangeError(`invalid prefixTokens: ${prefixTokens}`);
  const { layout, B, positions } = layoutOf(z, fz);
  const s = emptyState(residual, layout, positions);
  accumulate(s, z, fz, B);
  return entryOf(s, prefixTokens);
}

// ---------------------------------------------------------------------------------------------
// Reducer

/** Reducer configuration. */
export interface SkipRatioConfig {
  /** Convention of the headline `value`s; both are always computed. Default `mean-of-ratios`. */
  convention?: SkipRatioConvention;
  /** Non-spatial tokens at the start of the token layout (CLS = token 0). Default 1. */
  prefixTokens?: number;
}

/** Plain-data state: one float64 sum set per residual, in first-seen order. */
export interface SkipRatioState {
  analysis: "skip";
  settings: Required<SkipRatioConfig>;
  residuals: SkipRatioResidualState[];
}

/**
 * One batch at one residual: `residual` names it ("blocks.3.attn", "blocks.3.mlp",
 * "stages.1.units.2"). Either the tensors themselves, or their channel L2 norms computed
 * upstream (the engine reduces them inside onnxruntime: [B, T] for tokens, [B, H, W] for
 * feature maps), which avoids copying whole activations out of the runtime.
 */
export type SkipRatioInput = { residual: string; block?: string; sublayer?: string } & ({ skip: Tensor; branch: Tensor } | { skipNorms: Tensor; branchNorms: Tensor });

/** Finalized result: per residual both conventions; read `entry[settings.convention]` for the chosen one. */
export interface SkipRatioResult {
  analysis: "skip";
  settings: Required<SkipRatioConfig> & { default: "mean-of-ratios" };
  residuals: SkipRatioEntry[];
}

/**
 * Streaming skip-connection norm ratios: `update` with (skip, branch) batches per residual,
 * `merge` shards, `finalize` to per-residual ratios under both conventions.
 * @example
 * let s = skipRatioReducer.init({});
 * s = skipRatioReducer.update(s, { residual: "blocks.0.attn", skip: z, branch: fz });
 * skipRatioReducer.finalize(s).residuals[0]["mean-of-ratios"].spatial
 */
export const skipRatioReducer: Reducer<SkipRatioConfig, SkipRatioState, SkipRatioInput, SkipRatioResult> = {
  id: "skip",
  init(config) {
    const convention = config.convention ?? "mean-of-ratios";
    if (!(SKIP_RATIO_CONVENTIONS as readonly string[]).includes(convention)) throw new RangeError(`invalid convention: ${convention}`);
    const prefixTokens = config.prefixTokens ?? 1;
    if (!Number.isInteger(prefixTokens) || prefixTokens < 0) throw new RangeError(`invalid prefixTokens: ${prefixTokens}`);
    return { analysis: "skip", settings: { convention, prefixTokens }, residuals: [] };
  },
  update(state, input) {
    const residual = input.residual;
    const byNorms = "skipNorms" in input;
    const { layout, B, positions } = byNorms ? normsLayoutOf(input.skipNorms, input.branchNorms) : layoutOf(input.skip, input.branch);
    let s = state.residuals.find((r) => r.residual === residual);
    if (!s) {
      s = emptyState(residual, layout, positions);
      if (input.block !== undefined) s.block = input.block;
      if (input.sublayer !== undefined) s.sublayer = input.sublayer;
      state.residuals.push(s);
    } else if (s.layout !== layout || s.positions.some((p, i) => p !== positions[i])) {
      throw new RangeError(`invalid residual ${residual}: shape [${positions}] differs from earlier batches`);
    }
    if (byNorms) accumulateNorms(s, input.skipNorms, input.branchNorms, B);
    else accumulate(s, input.skip, input.branch, B);
    return state;
  },
  merge(a, b) {
    if (a.settings.convention !== b.settings.convention || a.settings.prefixTokens !== b.settings.prefixTokens) {
      throw new RangeError(`invalid merge: settings differ (${JSON.stringify(a.settings)} vs ${JSON.stringify(b.settings)})`);
    }
    for (const rb of b.residuals) {
      const ra = a.residuals.find((r) => r.residual === rb.residual);
      if (!ra) {
        a.residuals.push({ ...rb, positions: [...rb.positions], ratio: rb.ratio.slice(), skip2: rb.skip2.slice(), branch2: rb.branch2.slice(), whole: rb.whole.slice() });
        continue;
      }
      if (ra.layout !== rb.layout || ra.ratio.length !== rb.ratio.length) throw new RangeError(`invalid merge: residual ${rb.residual} differs in shape`);
      ra.images += rb.images;
      for (let i = 0; i < ra.ratio.length; i++) {
        ra.ratio[i] += rb.ratio[i];
        ra.skip2[i] += rb.skip2[i];
        ra.branch2[i] += rb.branch2[i];
      }
      for (let i = 0; i < 3; i++) ra.whole[i] += rb.whole[i];
    }
    return a;
  },
  finalize(state) {
    if (state.residuals.length === 0) throw new Error("skip-ratio: no residual was seen");
    return {
      analysis: "skip",
      settings: { ...state.settings, default: "mean-of-ratios" },
      residuals: state.residuals.map((r) => entryOf(r, state.settings.prefixTokens)),
    };
  },
};
