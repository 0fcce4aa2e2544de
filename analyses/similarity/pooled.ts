/**
 * The pooled-feature store the measures beyond CKA share (CCA family, Procrustes, RSA, mutual
 * kNN, predictivity): they need the same examples' features at every site, across batches, which
 * in-graph Grams of one batch cannot give. It keeps each site's pooled vector (CLS or GAP: p of
 * a few hundred, not the T·D flattening CKA uses) for the first `cap` examples of the sample, so
 * its memory is cap × Σp × 8 bytes whatever the data size. Rows are keyed by their position in
 * the sample: a merge keeps the union's `cap` lowest positions, so shards merged, resumed runs
 * and one uninterrupted run keep the same rows in the same order.
 */
import type { Tensor } from "../../src/tensor.js";
import type { Reducer } from "../reducer.js";

/** What the store keeps: the site names of each model it reads, and the cap on examples. */
export interface PooledConfig {
  /** Per model (in the driver's order), the names of its sites. */
  sites: string[][];
  /** Examples kept at most (the first `cap` of the sample). */
  cap: number;
}

/** Plain-data state: rows in arrival order, `features[model][site]` holding `count × dims` values. */
export interface PooledState {
  sites: string[][];
  cap: number;
  /** Examples kept and examples seen (kept or not). */
  count: number;
  seen: number;
  /** Sample position of each kept row. */
  positions: Float64Array;
  /** Feature count of each site (0 until its first batch). */
  dims: number[][];
  features: Float64Array[][];
}

/** One batch: the rows' sample positions and, per model and site, its pooled [B, p] features. */
export interface PooledInput {
  positions: ArrayLike<number>;
  features: Tensor[][];
}

/** The pooled features of one site for the kept examples, in sample order. */
export interface SiteFeatures {
  name: string;
  /** m × p, row-major. */
  data: Float64Array;
  m: number;
  p: number;
}

/** The finalized store. */
export interface PooledFeatures {
  cap: number;
  /** Examples kept (m) and seen. */
  examples: number;
  seen: number;
  positions: Float64Array;
  /** `models[model][site]`. */
  models: SiteFeatures[][];
}

function init(config: PooledConfig): PooledState {
  if (!(Number.isInteger(config.cap) && config.cap >= 1)) throw new RangeError(`invalid cap: ${config.cap}`);
  return {
    sites: config.sites.map((s) => [...s]),
    cap: config.cap,
    count: 0,
    seen: 0,
    positions: new Float64Array(0),
    dims: config.sites.map((s) => s.map(() => 0)),
    features: config.sites.map((s) => s.map(() => new Float64Array(0))),
  };
}

/** `a` with room for `length` values, doubling (up to `most`) so a store filled batch by batch copies O(cap) values. */
function grow(a: Float64Array, length: number, most: number): Float64Array {
  if (a.length >= length) return a;
  const b = new Float64Array(Math.max(length, Math.min(2 * a.length, most)));
  b.set(a);
  return b;
}

function update(state: PooledState, input: PooledInput): PooledState {
  const n = input.positions.length;
  state.seen += n;
  const take = Math.min(n, state.cap - state.count);
  if (take <= 0) return state;
  const start = state.count;
  state.positions = grow(state.positions, start + take, state.cap);
  for (let r = 0; r < take; r++) state.positions[start + r] = input.positions[r];
  state.sites.forEach((names, mi) => names.forEach((name, si) => {
    const t = input.features[mi]?.[si];
    if (!t || t.shape[0] !== n) throw new RangeError(`invalid features: model ${mi} site ${name} needs [${n}, p]`);
    const p = t.data.length / n;
    if (state.dims[mi][si] === 0) state.dims[mi][si] = p;
    else if (state.dims[mi][si] !== p) throw new RangeError(`invalid features: site ${name} has ${p} features, earlier batches ${state.dims[mi][si]}`);
    const f = (state.features[mi][si] = grow(state.features[mi][si], (start + take) * p, state.cap * p));
    for (let i = 0; i < take * p; i++) f[start * p + i] = t.data[i];
  }));
  state.count += take;
  return state;
}

/** Row order by sample position (positions are distinct: each example is in one batch). */
function order(positions: Float64Array, count: number): number[] {
  return Array.from({ length: count }, (_, i) => i).sort((i, j) => positions[i] - positions[j]);
}

function merge(a: PooledState, b: PooledState): PooledState {
  if (JSON.stringify(a.sites) !== JSON.stringify(b.sites) || a.cap !== b.cap) throw new RangeError("invalid merge: pooled stores of different sites or caps");
  const all = new Float64Array(a.count + b.count);
  all.set(a.positions.subarray(0, a.count));
  all.set(b.positions.subarray(0, b.count), a.count);
  const keep = order(all, all.length).slice(0, a.cap);
  const out = init({ sites: a.sites, cap: a.cap });
  out.seen = a.seen + b.seen;
  out.count = keep.length;
  out.positions = Float64Array.from(keep, (i) => all[i]);
  out.sites.forEach((names, mi) => names.forEach((name, si) => {
    const pa = a.dims[mi][si], pb = b.dims[mi][si];
    if (pa && pb && pa !== pb) throw new RangeError(`invalid merge: site ${name} has ${pa} and ${pb} features`);
    const p = pa || pb;
    out.dims[mi][si] = p;
    const f = new Float64Array(keep.length * p);
    keep.forEach((i, r) => {
      const src = i < a.count ? a.features[mi][si].subarray(i * p, (i + 1) * p) : b.features[mi][si].subarray((i - a.count) * p, (i - a.count + 1) * p);
      f.set(src, r * p);
    });
    out.features[mi][si] = f;
  }));
  return out;
}

function finalize(state: PooledState): PooledFeatures {
  const o = order(state.positions, state.count);
  const m = o.length;
  return {
    cap: state.cap,
    examples: m,
    seen: state.seen,
    positions: Float64Array.from(o, (i) => state.positions[i]),
    models: state.sites.map((names, mi) => names.map((name, si) => {
      const p = state.dims[mi][si];
      const src = state.features[mi][si];
      const data = new Float64Array(m * p);
      o.forEach((i, r) => data.set(src.subarray(i * p, (i + 1) * p), r * p));
      return { name, data, m, p };
    })),
  };
}

/**
 * The pooled-feature store as a mergeable reducer.
 * @example pooledReducer.finalize(pooledReducer.update(pooledReducer.init({ sites: [["blocks.0.out"]], cap: 1000 }), batch)).models[0][0].m
 */
export const pooledReducer: Reducer<PooledConfig, PooledState, PooledInput, PooledFeatures> = { id: "pooled", init, update, merge, finalize };
