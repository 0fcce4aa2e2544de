/**
 * Mean attention distance (METHODS.md §2; ViT paper Fig. 7 right, Raghu et al. Fig. 3).
 * For patch query q and patch key k at grid cells (r, c), d = P·sqrt(Δr² + Δc²) input pixels;
 * D_q = Σ_k w[q, k]·d(q, k); MAD(l, h) = mean over images of the mean over query patches of D_q.
 */
import type { Tensor } from "../src/tensor.js";
import type { Matrix } from "../src/numeric/linalg.js";
import type { Reducer } from "./reducer.js";

/** `renormalised` (default): weights over patch keys sum to 1. `raw`: A as is, prefix keys at distance 0. */
export type AttentionWeighting = "renormalised" | "raw";
/** The weighting ids, default first. */
export const ATTENTION_WEIGHTINGS: readonly AttentionWeighting[] = ["renormalised", "raw"];

/** Token geometry: a `grid` of patch tokens of `patchSize` pixels after `prefixTokens` (CLS, registers, distillation). */
export interface AttentionGeometry {
  grid: [number, number];
  patchSize: number;
  prefixTokens: number;
}

/** Options of the one-shot helper and the reducer. */
export interface AttentionDistanceOptions extends AttentionGeometry {
  /** Weighting reported as `distance`; both are always computed. Default `renormalised`. */
  weighting?: AttentionWeighting;
  /** Images in the tensor; needed for the merged [B·H, T, T] layout, checked for [B, H, T, T]. */
  batchSize?: number;
}

/** Per-head result of one attention tensor (one layer). */
export interface AttentionDistanceOfLayer {
  analysis: "attention";
  settings: Required<AttentionGeometry> & { weighting: AttentionWeighting; units: "px" };
  weighting: AttentionWeighting;
  images: number;
  heads: number;
  /** MAD per head (pixels) under `weighting`. */
  distance: Float64Array;
  renormalised: Float64Array;
  raw: Float64Array;
  /** Mean attention mass on prefix keys per head (mean over query patches and images). */
  prefixMass: Float64Array;
}

function validateGeometry(g: AttentionGeometry): void {
  const [gh, gw] = g.grid ?? [];
  if (!Number.isInteger(gh) || !Number.isInteger(gw) || gh < 1 || gw < 1) throw new RangeError(`invalid grid: ${g.grid}`);
  if (!(g.patchSize > 0)) throw new RangeError(`invalid patchSize: ${g.patchSize}`);
  if (!Number.isInteger(g.prefixTokens) || g.prefixTokens < 0) throw new RangeError(`invalid prefixTokens: ${g.prefixTokens}`);
}

function validateWeighting(w: string): AttentionWeighting {
  if (!(ATTENTION_WEIGHTINGS as readonly string[]).includes(w)) throw new RangeError(`invalid weighting: ${w}`);
  return w as AttentionWeighting;
}

const distanceCache = new Map<string, Float64Array>();

/**
 * Pixel distances between the patch tokens of a grid, an n × n matrix (n = gh·gw, row-major
 * patch order). Cached per geometry, since it is reused for every head, image and batch.
 * @example patchDistances([2, 2], 16)[1] // 16 (patch 0 to patch 1)
 */
export function patchDistances(grid: [number, number], patchSize: number): Float64Array {
  const key = `${grid[0]}x${grid[1]}@${patchSize}`;
  const cached = distanceCache.get(key);
  if (cached) return cached;
  const [gh, gw] = grid;
  const n = gh * gw;
  const D = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = Math.floor(i / gw);
    const ci = i % gw;
    for (let j = 0; j < n; j++) {
      const dr = ri - Math.floor(j / gw);
      const dc = ci - (j % gw);
      D[i * n + j] = patchSize * Math.sqrt(dr * dr + dc * dc);
    }
  }
  distanceCache.set(key, D);
  return D;
}

/**
 * The mean attention distance of uniform attention over the patch keys of a grid: the
 * "global" ceiling heads are compared against. `includeSelf` (default true) counts the query's
 * own patch (distance 0) among the keys.
 * @example uniformAttentionDistance([14, 14], 16) // 116.49…
 */
export function uniformAttentionDistance(
  grid: [number, number],
  patchSize: number,
  { includeSelf = true }: { includeSelf?: boolean } = {},
): number {
  validateGeometry({ grid, patchSize, prefixTokens: 0 });
  const n = grid[0] * grid[1];
  const keys = includeSelf ? n : n - 1;
  if (keys < 1) throw new RangeError(`invalid grid: ${grid} has no key besides the query`);
  const D = patchDistances(grid, patchSize);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let row = 0;
    for (let j = 0; j < n; j++) row += D[i * n + j];
    total += row / keys;
  }
  return total / n;
}

interface HeadSums {
  images: number;
  heads: number;
  renormalised: Float64Array;
  raw: Float64Array;
  prefixMass: Float64Array;
}

/** Shape checks; returns images and heads of an attention tensor. */
function attentionLayout(attn: Tensor, g: AttentionGeometry, batchSize?: number): { images: number; heads: number; tokens: number } {
  const tokens = g.prefixTokens + g.grid[0] * g.grid[1];
  const s = attn.shape;
  if (s.length !== 3 && s.length !== 4) throw new RangeError(`invalid attention shape [${s}]: expected [B, H, T, T] or [B·H, T, T]`);
  const T = s[s.length - 1];
  if (s[s.length - 2] !== T) throw new RangeError(`invalid attention shape [${s}]: not square in the last two axes`);
  if (T !== tokens) {
    throw new RangeError(`invalid attention shape [${s}]: ${T} tokens, geometry gives ${g.prefixTokens} + ${g.grid[0]}×${g.grid[1]} = ${tokens}`);
  }
  if (attn.data.length !== s.reduce((a, b) => a * b, 1)) throw new RangeError(`invalid attention tensor: ${attn.data.length} elements for [${s}]`);
  let images: number;
  let heads: number;
  if (s.length === 4) {
    [images, heads] = [s[0], s[1]];
    if (batchSize !== undefined && batchSize !== images) throw new RangeError(`invalid batchSize: ${batchSize} for attention [${s}]`);
  } else {
    if (batchSize === undefined) throw new RangeError(`invalid batchSize: undefined; needed for merged-head attention [${s}]`);
    if (!Number.isInteger(batchSize) || batchSize < 1 || s[0] % batchSize !== 0) {
      throw new RangeError(`invalid batchSize: ${batchSize} does not divide the merged batch·heads axis ${s[0]}`);
    }
    images = batchSize;
    heads = s[0] / batchSize;
  }
  return { images, heads, tokens };
}

/** Adds per-image means over query patches into float64 per-head sums (the hot loop). */
function accumulate(attn: Tensor, g: AttentionGeometry, images: number, heads: number, sums: HeadSums): void {
  const A = attn.data;
  const p = g.prefixTokens;
  const n = g.grid[0] * g.grid[1];
  const T = p + n;
  const D = patchDistances(g.grid, g.patchSize);
  for (let b = 0; b < images; b++) {
    for (let h = 0; h < heads; h++) {
      const base = (b * heads + h) * T * T;
      let renorm = 0;
      let raw = 0;
      let prefix = 0;
      for (let q = 0; q < n; q++) {
        const row = base + (p + q) * T;
        let pm = 0;
        for (let k = 0; k < p; k++) pm += A[row + k];
        let mass = 0;
        let weighted = 0;
        const drow = q * n;
        const keys = row + p;
        for (let k = 0; k < n; k++) {
          const a = A[keys + k];
          mass += a;
          weighted += a * D[drow + k];
        }
        raw += weighted;
        renorm += weighted / mass;
        prefix += pm;
      }
      sums.renormalised[h] += renorm / n;
      sums.raw[h] += raw / n;
      sums.prefixMass[h] += prefix / n;
    }
  }
  sums.images += images;
}

/** Shape checks of per-query sums [B, H, Q, 3] or [B·H, Q, 3]. */
function querySumsLayout(x: Tensor, g: AttentionGeometry, batchSize: number, queries?: number): { images: number; heads: number } {
  const s = x.shape;
  const n = queries ?? g.grid[0] * g.grid[1];
  if ((s.length !== 3 && s.length !== 4) || s[s.length - 1] !== 3 || s[s.length - 2] !== n) {
    throw new RangeError(`invalid query sums shape [${s}]: expected [B, H, ${n}, 3] or [B·H, ${n}, 3]`);
  }
  if (s.length === 4) return { images: s[0], heads: s[1] };
  if (!Number.isInteger(batchSize) || batchSize < 1 || s[0] % batchSize !== 0) throw new RangeError(`invalid batchSize: ${batchSize} for query sums [${s}]`);
  return { images: batchSize, heads: s[0] / batchSize };
}

/** Adds per-image means over query patches from per-query sums (same float64 sums as accumulate). */
function accumulateQuerySums(x: Tensor, g: AttentionGeometry, images: number, heads: number, sums: HeadSums, win?: WindowedLayer): void {
  const S = x.data;
  const n = win ? win.queries : g.grid[0] * g.grid[1];
  // Padding queries (windows padded past the grid) are no image token: left out of the mean.
  const skip = new Uint8Array(n);
  for (const q of win?.padQueries ?? []) skip[q] = 1;
  const valid = n - (win?.padQueries.length ?? 0);
  for (let b = 0; b < images; b++) {
    for (let h = 0; h < heads; h++) {
      const base = (b * heads + h) * n * 3;
      let renorm = 0;
      let raw = 0;
      let prefix = 0;
      for (let q = 0; q < n; q++) {
        if (skip[q]) continue;
        const weighted = S[base + 3 * q];
        raw += weighted;
        renorm += weighted / S[base + 3 * q + 1];
        prefix += S[base + 3 * q + 2];
      }
      sums.renormalised[h] += renorm / valid;
      sums.raw[h] += raw / valid;
      sums.prefixMass[h] += prefix / valid;
    }
  }
  sums.images += images;
}

/**
 * Mean attention distance per head of one layer's attention, [B, H, T, T] or [B·H, T, T]
 * (pass `batchSize` for the merged layout). Both weightings are computed; `distance` is the
 * chosen one (default `renormalised`). A query whose patch keys get no attention at all has
 * an undefined renormalised distance (NaN), which is reported, not hidden.
 * @example attentionDistance(probs, { grid: [14, 14], patchSize: 16, prefixTokens: 1 }).distance
 */
export function attentionDistance(attn: Tensor, options: AttentionDistanceOptions): AttentionDistanceOfLayer {
  validateGeometry(options);
  const weighting = validateWeighting(options.weighting ?? "renormalised");
  const { images, heads } = attentionLayout(attn, options, options.batchSize);
  const sums: HeadSums = {
    images: 0,
    heads,
    renormalised: new Float64Array(heads),
    raw: new Float64Array(heads),
    prefixMass: new Float64Array(heads),
  };
  accumulate(attn, options, images, heads, sums);
  for (const a of [sums.renormalised, sums.raw, sums.prefixMass]) for (let h = 0; h < heads; h++) a[h] /= images;
  return {
    analysis: "attention",
    settings: { grid: [options.grid[0], options.grid[1]], patchSize: options.patchSize, prefixTokens: options.prefixTokens, weighting, units: "px" },
    weighting,
    images,
    heads,
    distance: weighting === "raw" ? sums.raw : sums.renormalised,
    renormalised: sums.renormalised,
    raw: sums.raw,
    prefixMass: sums.prefixMass,
  };
}

// ---------------------------------------------------------------------------------------------
// Reducer

/**
 * One windowed attention layer (Swin window, MaxViT block or grid attention): queries are the
 * (window, token) pairs of the map, so every image token is a query once; distances are
 * between image cells at `stride` input pixels (docs/methods.md, windowed attention).
 */
export interface WindowedLayer {
  layer: number;
  stage: number;
  kind: "window" | "grid" | "global";
  grid: [number, number];
  stride: number;
  window: [number, number];
  dilation: [number, number];
  shift: [number, number];
  heads: number;
  /** Queries per image in the per-query sums (windows · tokens per window). */
  queries: number;
  /** Query indices that are padding tokens (windows padded past the grid), left out of the mean. */
  padQueries: number[];
  /** Mean distance (px) of uniform attention over the keys of an unshifted window of this geometry, query included. */
  uniform: number;
}

/** Reducer configuration: the model's token geometry and the reported weighting. */
export interface AttentionDistanceConfig extends AttentionGeometry {
  weighting?: AttentionWeighting;
  /** Per-layer geometry of windowed attention; the layers listed here take per-query sums over their windows. */
  windows?: WindowedLayer[];
}

type Settings = Required<AttentionGeometry> & { weighting: AttentionWeighting; windows?: WindowedLayer[] };

/** One layer's float64 sums over images: per-head sums of per-image means, and image counts. */
export interface AttentionDistanceLayerState {
  layer: number;
  heads: number;
  counts: Float64Array;
  renormalised: Float64Array;
  raw: Float64Array;
  prefixMass: Float64Array;
}

/** Plain-data reducer state. */
export interface AttentionDistanceState {
  analysis: "attention";
  settings: Settings;
  layers: AttentionDistanceLayerState[];
}

/**
 * One batch of one layer: the attention probabilities, or per-query sums already reduced
 * upstream (the engine computes them inside onnxruntime): `querySums` [B, H, Q, 3] or
 * [B·H, Q, 3] holding, for each query patch q, Σ_k A[q,k]·d(q,k) and Σ_k A[q,k] over patch keys
 * and Σ_k A[q,k] over prefix keys.
 */
export type AttentionDistanceInput =
  | { layer: number; attention: Tensor; batchSize: number }
  | { layer: number; querySums: Tensor; batchSize: number };

/** Finalized result: L × H matrices (rows in ascending layer order). */
export interface AttentionDistanceResult {
  analysis: "attention";
  settings: Settings & { units: "px"; default: "renormalised" };
  layers: number[];
  /** Columns of the matrices: the most heads of any layer (windowed models change heads per stage; missing heads are NaN). */
  heads: number;
  /** Heads of each layer. */
  headsPerLayer: number[];
  /** Windowed models: each layer's stage and its window's uniform-attention distance (px). */
  stages?: number[];
  windowUniform?: number[];
  /** Images per layer (the minimum over heads, which agree unless states were mis-merged). */
  images: number[];
  /** MAD under `settings.weighting`, [L, H]. */
  distance: Matrix;
  renormalised: Matrix;
  raw: Matrix;
  prefixMass: Matrix;
  /** Per layer, head indices sorted by ascending `distance`, [L, H] (stored as float64). */
  sortedHeads: Matrix;
  /** `distance` with each row sorted ascending, [L, H] (Raghu Fig. 3). */
  sortedDistance: Matrix;
  /** Uniform attention over the patch keys of the grid (px), the "global" ceiling. */
  uniform: { includingSelf: number; excludingSelf: number };
}

function layerState(layer: number, heads: number): AttentionDistanceLayerState {
  return {
    layer,
    heads,
    counts: new Float64Array(heads),
    renormalised: new Float64Array(heads),
    raw: new Float64Array(heads),
    prefixMass: new Float64Array(heads),
  };
}

function findLayer(state: AttentionDistanceState, layer: number, heads: number): AttentionDistanceLayerState {
  let s = state.layers.find((l) => l.layer === layer);
  if (!s) {
    s = layerState(layer, heads);
    state.layers.push(s);
    state.layers.sort((a, b) => a.layer - b.layer);
  } else if (s.heads !== heads) {
    throw new RangeError(`invalid attention for layer ${layer}: ${heads} heads, earlier batches had ${s.heads}`);
  }
  return s;
}

/**
 * Streaming mean attention distance: `update` with each layer's attention batch, `merge`
 * shards, `finalize` to per layer × head matrices with heads sorted by distance.
 * @example
 * let s = attentionDistanceReducer.init({ grid: [14, 14], patchSize: 16, prefixTokens: 1 });
 * s = attentionDistanceReducer.update(s, { layer: 0, attention, batchSize: 64 });
 * attentionDistanceReducer.finalize(s).distance // [L, H]
 */
export const attentionDistanceReducer: Reducer<AttentionDistanceConfig, AttentionDistanceState, AttentionDistanceInput, AttentionDistanceResult> = {
  id: "attention",
  init(config) {
    validateGeometry(config);
    const weighting = validateWeighting(config.weighting ?? "renormalised");
    for (const w of config.windows ?? []) {
      if (!Number.isInteger(w.queries) || w.queries < 1 || !Number.isInteger(w.heads) || w.heads < 1) throw new RangeError(`invalid windowed layer ${w.layer}: ${w.heads} heads, ${w.queries} queries`);
    }
    return {
      analysis: "attention",
      settings: { grid: [config.grid[0], config.grid[1]], patchSize: config.patchSize, prefixTokens: config.prefixTokens, weighting, ...(config.windows?.length ? { windows: config.windows } : {}) },
      layers: [],
    };
  },
  update(state, input) {
    const { layer, batchSize } = input;
    if (!Number.isInteger(layer) || layer < 0) throw new RangeError(`invalid layer: ${layer}`);
    const win = state.settings.windows?.find((w) => w.layer === layer);
    if (win && !("querySums" in input)) throw new RangeError(`invalid input for windowed layer ${layer}: per-query sums are needed`);
    const { images, heads } = "querySums" in input ? querySumsLayout(input.querySums, state.settings, batchSize, win?.queries) : attentionLayout(input.attention, state.settings, batchSize);
    if (win && heads !== win.heads) throw new RangeError(`invalid attention for layer ${layer}: ${heads} heads, its geometry has ${win.heads}`);
    const s = findLayer(state, layer, heads);
    const sums: HeadSums = { images: 0, heads, renormalised: s.renormalised, raw: s.raw, prefixMass: s.prefixMass };
    if ("querySums" in input) accumulateQuerySums(input.querySums, state.settings, images, heads, sums, win);
    else accumulate(input.attention, state.settings, images, heads, sums);
    for (let h = 0; h < heads; h++) s.counts[h] += images;
    return state;
  },
  merge(a, b) {
    const x = a.settings;
    const y = b.settings;
    if (x.grid[0] !== y.grid[0] || x.grid[1] !== y.grid[1] || x.patchSize !== y.patchSize || x.prefixTokens !== y.prefixTokens || x.weighting !== y.weighting || JSON.stringify(x.windows ?? []) !== JSON.stringify(y.windows ?? [])) {
      throw new RangeError(`invalid merge: settings differ (${JSON.stringify(x)} vs ${JSON.stringify(y)})`);
    }
    for (const lb of b.layers) {
      const la = findLayer(a, lb.layer, lb.heads);
      for (let h = 0; h < lb.heads; h++) {
        la.counts[h] += lb.counts[h];
        la.renormalised[h] += lb.renormalised[h];
        la.raw[h] += lb.raw[h];
        la.prefixMass[h] += lb.prefixMass[h];
      }
    }
    return a;
  },
  finalize(state) {
    const L = state.layers.length;
    if (L === 0) throw new Error("attention-distance: no attention was seen");
    const windowed = Boolean(state.settings.windows?.length);
    // Heads may change per layer only in windowed models (stages); then missing heads are NaN.
    const H = Math.max(...state.layers.map((l) => l.heads));
    if (!windowed) for (const l of state.layers) if (l.heads !== H) throw new RangeError(`invalid state: layer ${l.layer} has ${l.heads} heads, layer ${state.layers[0].layer} has ${H}`);
    const mat = (): Matrix => ({ data: new Float64Array(L * H).fill(NaN), shape: [L, H] });
    const renormalised = mat();
    const raw = mat();
    const prefixMass = mat();
    const sortedHeads = mat();
    const sortedDistance = mat();
    const images: number[] = [];
    state.layers.forEach((l, i) => {
      let minCount = Infinity;
      for (let h = 0; h < l.heads; h++) {
        const c = l.counts[h];
        minCount = Math.min(minCount, c);
        renormalised.data[i * H + h] = l.renormalised[h] / c;
        raw.data[i * H + h] = l.raw[h] / c;
        prefixMass.data[i * H + h] = l.prefixMass[h] / c;
      }
      images.push(minCount);
    });
    const distance = state.settings.weighting === "raw" ? raw : renormalised;
    for (let i = 0; i < L; i++) {
      const order = Array.from({ length: state.layers[i].heads }, (_, h) => h).sort((p, q) => distance.data[i * H + p] - distance.data[i * H + q] || p - q);
      order.forEach((h, r) => {
        sortedHeads.data[i * H + r] = h;
        sortedDistance.data[i * H + r] = distance.data[i * H + h];
      });
    }
    const { grid, patchSize } = state.settings;
    return {
      analysis: "attention",
      settings: { ...state.settings, grid: [grid[0], grid[1]], units: "px", default: "renormalised" },
      layers: state.layers.map((l) => l.layer),
      heads: H,
      headsPerLayer: state.layers.map((l) => l.heads),
      ...(windowed
        ? {
            stages: state.layers.map((l) => state.settings.windows!.find((w) => w.layer === l.layer)?.stage ?? -1),
            windowUniform: state.layers.map((l) => state.settings.windows!.find((w) => w.layer === l.layer)?.uniform ?? NaN),
          }
        : {}),
      images,
      distance,
      renormalised,
      raw,
      prefixMass,
      sortedHeads,
      sortedDistance,
      uniform: {
        includingSelf: uniformAttentionDistance(grid, patchSize, { includeSelf: true }),
        excludingSelf: uniformAttentionDistance(grid, patchSize, { includeSelf: false }),
      },
    };
  },
};
