/**
 * Attention collapse (METHODS.md §7; Zhou et al. 2021 "DeepViT", arXiv 2103.11886, eq. 4):
 * cosine similarity between column t of head h's attention map at layers p and q
 * (the attention every query pays to key t), averaged over t, h and images; an L×L matrix.
 * The state holds the sums of per-(image, head, column) cosines and their counts, so shards merge.
 */
import type { Tensor } from "../src/tensor.js";
import { bySite, type PerSite } from "./cka.js";
import type { Reducer } from "./reducer.js";

/** Settings: the attention sites (one per layer) and, for [B·H, T, T] maps, the head count. */
export interface CollapseConfig {
  sites: readonly string[];
  /** Heads per layer when maps come as [B·H, T, T]; inferred from [B, H, T, T] otherwise. */
  heads?: number;
}

/** One batch: per layer, post-softmax attention [B, H, T, T] (or [B·H, T, T] with `heads`). */
export interface CollapseInput {
  attention: PerSite<Tensor>;
}

/** Plain-data state: sums of cosines and their counts. */
export interface CollapseState {
  analysis: "collapse";
  sites: string[];
  heads: number;
  tokens: number;
  /** L×L Σ cos and the number of (image, head, column) terms in it. */
  sum: Float64Array;
  count: Float64Array;
  images: number;
  /** Columns skipped because all their attention was 0 (cosine undefined). */
  zeroColumns: number;
}

/** Finalized attention-collapse result: the L×L mean cosine matrix. */
export interface CollapseResult {
  analysis: "collapse";
  sites: string[];
  heads: number;
  tokens: number;
  images: number;
  matrix: { data: Float64Array; shape: [number, number]; rows: string[]; cols: string[] };
  warnings: string[];
  /**
   * Windowed models (Swin, MaxViT): one result per group of layers with maps of one shape
   * within a stage (its `stage`); `matrix` then joins them, NaN between groups. `tokens` of a
   * windowed group counts key columns per image and head (windows · tokens per window).
   */
  groups?: (CollapseResult & { stage: number })[];
}

/**
 * A fresh collapse state.
 * @example collapseInit({sites: ["blocks.0.attn.probs", "blocks.1.attn.probs"]})
 */
export function collapseInit(config: CollapseConfig): CollapseState {
  if (config.sites.length === 0) throw new RangeError("invalid sites: empty");
  if (config.heads !== undefined && (!Number.isInteger(config.heads) || config.heads < 1)) throw new RangeError(`invalid heads: ${config.heads}`);
  const l = config.sites.length;
  return {
    analysis: "collapse", sites: [...config.sites], heads: config.heads ?? 0, tokens: 0,
    sum: new Float64Array(l * l), count: new Float64Array(l * l), images: 0, zeroColumns: 0,
  };
}

/** [B, H, T] of an attention tensor. */
function dims(x: Tensor, heads: number, site: string): [number, number, number] {
  if (x.shape.length === 4) {
    const [b, h, t, t2] = x.shape;
    if (t !== t2) throw new RangeError(`invalid attention shape [${x.shape}] at ${site}: not square`);
    if (heads && h !== heads) throw new RangeError(`invalid attention shape [${x.shape}] at ${site}: expected ${heads} heads`);
    return [b, h, t];
  }
  if (x.shape.length === 3) {
    const [bh, t, t2] = x.shape;
    if (!heads) throw new RangeError(`invalid attention shape [${x.shape}] at ${site}: [B·H, T, T] needs the heads option`);
    if (t !== t2 || bh % heads !== 0) throw new RangeError(`invalid attention shape [${x.shape}] at ${site} for ${heads} heads`);
    return [bh / heads, heads, t];
  }
  throw new RangeError(`invalid attention shape [${x.shape}] at ${site}`);
}

/**
 * Adds one batch of per-layer attention maps.
 * @example collapseUpdate(state, {attention: [a0, a1, a2]})
 */
export function collapseUpdate(state: CollapseState, input: CollapseInput): CollapseState {
  const maps = bySite(state.sites, input.attention, "attention");
  const L = maps.length;
  const d = maps.map((x, i) => dims(x, state.heads, state.sites[i]));
  const [b, h, t] = d[0];
  for (const [i, [bi, hi, ti]] of d.entries()) {
    if (bi !== b || hi !== h || ti !== t) throw new RangeError(`invalid attention at ${state.sites[i]}: [${bi}, ${hi}, ${ti}] differs from [${b}, ${h}, ${t}]`);
  }
  if (state.tokens && (state.tokens !== t || state.heads !== h)) {
    throw new RangeError(`invalid attention: ${h} heads × ${t} tokens, earlier batches had ${state.heads} × ${state.tokens}`);
  }
  state.heads = h;
  state.tokens = t;
  // Per (image, head): column norms of every layer, then for each layer pair the column dot
  // products, all in row-major passes (contiguous reads); cos = dot / (‖col_p‖·‖col_r‖).
  const norms = maps.map(() => new Float64Array(t));
  const dots = new Float64Array(t);
  const tt = t * t;
  for (let img = 0; img < b; img++) {
    for (let head = 0; head < h; head++) {
      const base = (img * h + head) * tt;
      for (let l = 0; l < L; l++) {
        const x = maps[l].data;
        const n = norms[l];
        n.fill(0);
        for (let q = 0; q < t; q++) {
          const o = base + q * t;
          for (let col = 0; col < t; col++) {
            const v = x[o + col];
            n[col] += v * v;
          }
        }
        for (let col = 0; col < t; col++) {
          n[col] = Math.sqrt(n[col]);
          if (n[col] === 0) state.zeroColumns += 1;
        }
      }
      for (let p = 0; p < L; p++) {
        const xp = maps[p].data;
        const np = norms[p];
        for (let r = p; r < L; r++) {
          const xr = maps[r].data;
          const nr = norms[r];
          dots.fill(0);
          for (let q = 0; q < t; q++) {
            const o = base + q * t;
            for (let col = 0; col < t; col++) dots[col] += xp[o + col] * xr[o + col];
          }
          let s = 0, c = 0;
          for (let col = 0; col < t; col++) {
            if (np[col] === 0 || nr[col] === 0) continue;
            s += dots[col] / (np[col] * nr[col]);
            c += 1;
          }
          state.sum[p * L + r] += s;
          state.count[p * L + r] += c;
          if (r !== p) {
            state.sum[r * L + p] += s;
            state.count[r * L + p] += c;
          }
        }
      }
    }
  }
  state.images += b;
  return state;
}

/** One batch already reduced upstream (the engine does it inside onnxruntime). */
export interface CollapseSums {
  /** L×L Σ over the batch's (image, head) of Σ_t cos(A_p[:, t], A_r[:, t]). */
  sum: ArrayLike<number>;
  images: number;
  heads: number;
  tokens: number;
}

/**
 * Adds one batch given its L×L sums of column cosines (every column counted: softmax columns
 * are never all zero, so the count is images · heads · tokens per pair).
 * @example collapseUpdateSums(state, {sum: s, images: 64, heads: 12, tokens: 197})
 */
export function collapseUpdateSums(state: CollapseState, input: CollapseSums): CollapseState {
  const L = state.sites.length;
  if (input.sum.length !== L * L) throw new RangeError(`invalid sum: ${input.sum.length} values for ${L}×${L} layers`);
  if (state.tokens && (state.tokens !== input.tokens || state.heads !== input.heads)) {
    throw new RangeError(`invalid attention: ${input.heads} heads × ${input.tokens} tokens, earlier batches had ${state.heads} × ${state.tokens}`);
  }
  state.heads = input.heads;
  state.tokens = input.tokens;
  const c = input.images * input.heads * input.tokens;
  for (let i = 0; i < L * L; i++) {
    state.sum[i] += input.sum[i];
    state.count[i] += c;
  }
  state.images += input.images;
  return state;
}

/**
 * Merges two states of the same sites into `a`.
 * @example collapseMerge(shard0, shard1)
 */
export function collapseMerge(a: CollapseState, b: CollapseState): CollapseState {
  if (a.sites.join("\n") !== b.sites.join("\n")) throw new Error("cannot merge attention-collapse states: sites differ");
  if (a.tokens && b.tokens && (a.tokens !== b.tokens || a.heads !== b.heads)) throw new Error("cannot merge attention-collapse states: heads or tokens differ");
  for (let i = 0; i < a.sum.length; i++) {
    a.sum[i] += b.sum[i];
    a.count[i] += b.count[i];
  }
  a.heads ||= b.heads;
  a.tokens ||= b.tokens;
  a.images += b.images;
  a.zeroColumns += b.zeroColumns;
  return a;
}

/**
 * The L×L matrix of mean cosine similarities.
 * @example collapseFinalize(state).matrix.data
 */
export function collapseFinalize(state: CollapseState): CollapseResult {
  if (state.images === 0) throw new Error("cannot finalize attention-collapse: no images");
  const data = new Float64Array(state.sum.length);
  for (let i = 0; i < data.length; i++) data[i] = state.sum[i] / state.count[i];
  const warnings = state.zeroColumns ? [`skipped ${state.zeroColumns} all-zero attention columns`] : [];
  return {
    analysis: "collapse", sites: [...state.sites], heads: state.heads, tokens: state.tokens, images: state.images,
    matrix: { data, shape: [state.sites.length, state.sites.length], rows: [...state.sites], cols: [...state.sites] },
    warnings,
  };
}

/**
 * The attention-collapse reducer (id "attention-collapse").
 * @example
 * let s = collapseReducer.init({ sites: ["blocks.0.attn.probs", "blocks.1.attn.probs"] });
 * s = collapseReducer.update(s, { attention: [a0, a1] });
 * collapseReducer.finalize(s).matrix.data; // 2×2 mean column cosine
 */
export const collapseReducer: Reducer<CollapseConfig, CollapseState, CollapseInput, CollapseResult> = {
  id: "collapse",
  init: collapseInit,
  update: collapseUpdate,
  merge: collapseMerge,
  finalize: collapseFinalize,
};
