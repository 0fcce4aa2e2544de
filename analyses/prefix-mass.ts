/**
 * Attention mass on each prefix token (class, distillation, register tokens): for layer l,
 * head h and prefix token j, the mean over images and over patch queries q of A[q, j], the
 * attention probability a patch query puts on that token. METHODS.md §2 reports the total mass
 * on prefix keys beside the attention distance; Darcet et al. 2024 ("Vision Transformers Need
 * Registers") read register tokens by where attention goes, which needs the mass per token.
 */
import type { Tensor } from "../src/tensor.js";
import type { Reducer } from "./reducer.js";

/** Reducer configuration: how many prefix tokens lead the sequence, how many patch tokens follow, and their names. */
export interface PrefixMassConfig {
  prefixTokens: number;
  patches: number;
  /** One name per prefix token (e.g. `class_token`, `register_tokens.0`); default `prefix.i`. */
  names?: string[];
}

/**
 * One batch of one layer: the attention map [B, H, T, T] or [B·H, T, T], or its per-head sums
 * over patch queries already reduced upstream, `sums` [B, H, 1, P] or [B·H, 1, P] holding
 * Σ_{patch q} A[q, j] for each prefix token j (the engine's `prefix-mass` tap).
 */
export type PrefixMassInput =
  | { layer: number; attention: Tensor; batchSize: number }
  | { layer: number; sums: Tensor; batchSize: number };

export interface PrefixMassLayerState {
  layer: number;
  heads: number;
  /** Images seen. */
  images: number;
  /** Σ over images of the mean over patch queries, [H, P] row-major. */
  sums: Float64Array;
}

export interface PrefixMassState {
  analysis: "prefix-mass";
  settings: Required<PrefixMassConfig>;
  layers: PrefixMassLayerState[];
}

/** Finalized: `mass` [L, H, P] (layer rows in ascending order). */
export interface PrefixMassResult {
  analysis: "prefix-mass";
  settings: Required<PrefixMassConfig>;
  layers: number[];
  heads: number;
  images: number[];
  mass: { data: Float64Array; shape: [number, number, number] };
}

function validate(c: PrefixMassConfig): Required<PrefixMassConfig> {
  if (!Number.isInteger(c.prefixTokens) || c.prefixTokens < 1) throw new RangeError(`invalid prefixTokens: ${c.prefixTokens} (prefix mass needs at least one prefix token)`);
  if (!Number.isInteger(c.patches) || c.patches < 1) throw new RangeError(`invalid patches: ${c.patches}`);
  const names = c.names ?? Array.from({ length: c.prefixTokens }, (_, i) => `prefix.${i}`);
  if (names.length !== c.prefixTokens) throw new RangeError(`invalid names: ${names.length} names for ${c.prefixTokens} prefix tokens`);
  return { prefixTokens: c.prefixTokens, patches: c.patches, names: [...names] };
}

/** Images and heads of a [B, H, ·, ·] or [B·H, ·, ·] tensor whose last two axes are `rows` × `cols`. */
function layout(x: Tensor, rows: number, cols: number, batchSize: number, what: string): { images: number; heads: number } {
  const s = x.shape;
  if ((s.length !== 3 && s.length !== 4) || s[s.length - 2] !== rows || s[s.length - 1] !== cols) {
    throw new RangeError(`invalid ${what} shape [${s}]: expected [B, H, ${rows}, ${cols}] or [B·H, ${rows}, ${cols}]`);
  }
  if (x.data.length !== s.reduce((a, b) => a * b, 1)) throw new RangeError(`invalid ${what}: ${x.data.length} elements for [${s}]`);
  if (s.length === 4) {
    if (s[0] !== batchSize) throw new RangeError(`invalid batchSize: ${batchSize} for ${what} [${s}]`);
    return { images: s[0], heads: s[1] };
  }
  if (!Number.isInteger(batchSize) || batchSize < 1 || s[0] % batchSize !== 0) throw new RangeError(`invalid batchSize: ${batchSize} does not divide the merged batch·heads axis ${s[0]}`);
  return { images: batchSize, heads: s[0] / batchSize };
}

function layerOf(state: PrefixMassState, layer: number, heads: number): PrefixMassLayerState {
  let l = state.layers.find((x) => x.layer === layer);
  if (!l) {
    l = { layer, heads, images: 0, sums: new Float64Array(heads * state.settings.prefixTokens) };
    state.layers.push(l);
    state.layers.sort((a, b) => a.layer - b.layer);
  } else if (l.heads !== heads) throw new RangeError(`invalid attention for layer ${layer}: ${heads} heads, earlier batches had ${l.heads}`);
  return l;
}

/**
 * Streaming prefix mass: `update` with each layer's map (or its in-graph sums), `merge`
 * shards, `finalize` to [L, H, P].
 * @example
 * let s = prefixMassReducer.init({ prefixTokens: 5, patches: 256, names: ["cls", "reg0", "reg1", "reg2", "reg3"] });
 * s = prefixMassReducer.update(s, { layer: 0, attention, batchSize: 32 });
 * prefixMassReducer.finalize(s).mass // [L, H, 5]
 */
export const prefixMassReducer: Reducer<PrefixMassConfig, PrefixMassState, PrefixMassInput, PrefixMassResult> = {
  id: "prefix-mass",
  init(config) {
    return { analysis: "prefix-mass", settings: validate(config), layers: [] };
  },
  update(state, input) {
    const { prefixTokens: p, patches: n } = state.settings;
    if (!Number.isInteger(input.layer) || input.layer < 0) throw new RangeError(`invalid layer: ${input.layer}`);
    const T = p + n;
    if ("sums" in input) {
      const { images, heads } = layout(input.sums, 1, p, input.batchSize, "prefix sums");
      const l = layerOf(state, input.layer, heads);
      const S = input.sums.data;
      for (let b = 0; b < images; b++) for (let h = 0; h < heads; h++) for (let j = 0; j < p; j++) l.sums[h * p + j] += S[(b * heads + h) * p + j] / n;
      l.images += images;
      return state;
    }
    const { images, heads } = layout(input.attention, T, T, input.batchSize, "attention");
    const l = layerOf(state, input.layer, heads);
    const A = input.attention.data;
    const row = new Float64Array(p);
    for (let b = 0; b < images; b++) {
      for (let h = 0; h < heads; h++) {
        row.fill(0);
        const base = (b * heads + h) * T * T;
        // Patch queries only (rows p…T−1); the prefix keys are the first p columns.
        for (let q = p; q < T; q++) for (let j = 0; j < p; j++) row[j] += A[base + q * T + j];
        for (let j = 0; j < p; j++) l.sums[h * p + j] += row[j] / n;
      }
    }
    l.images += images;
    return state;
  },
  merge(a, b) {
    const x = a.settings;
    const y = b.settings;
    if (x.prefixTokens !== y.prefixTokens || x.patches !== y.patches || x.names.join("\u0000") !== y.names.join("\u0000")) {
      throw new RangeError(`invalid merge: settings differ (${JSON.stringify(x)} vs ${JSON.stringify(y)})`);
    }
    for (const lb of b.layers) {
      const la = layerOf(a, lb.layer, lb.heads);
      for (let i = 0; i < la.sums.length; i++) la.sums[i] += lb.sums[i];
      la.images += lb.images;
    }
    return a;
  },
  finalize(state) {
    const L = state.layers.length;
    if (L === 0) throw new Error("prefix-mass: no attention was seen");
    const H = state.layers[0].heads;
    const P = state.settings.prefixTokens;
    for (const l of state.layers) if (l.heads !== H) throw new RangeError(`invalid state: layer ${l.layer} has ${l.heads} heads, layer ${state.layers[0].layer} has ${H}`);
    const data = new Float64Array(L * H * P);
    state.layers.forEach((l, i) => {
      for (let k = 0; k < H * P; k++) data[i * H * P + k] = l.sums[k] / l.images;
    });
    return {
      analysis: "prefix-mass",
      settings: { ...state.settings, names: [...state.settings.names] },
      layers: state.layers.map((l) => l.layer),
      heads: H,
      images: state.layers.map((l) => l.images),
      mass: { data, shape: [L, H, P] },
    };
  },
};
