/**
 * Spatial localisation (METHODS.md §5; Raghu et al. 2021 Figs. 9, 10): for a token position t,
 * X_t (m × D) is token t across images; for input grid cell s, Y_s (m × C·P·P) is the
 * preprocessed input patch at s; the map for t is CKA(X_t, Y_s) over all cells, with the
 * minibatch-unbiased estimator (a ratio of HSIC₁ sums over batches, like the CKA reducer).
 * ViT tokens come as [B, T, D] with `prefixTokens` leading non-spatial tokens; a ResNet "token"
 * is all channels at one position of [B, C, H, W], input cells sized by the stride (input H /
 * feature H). The input grid is the site's token grid, so cells of a ViT site are its patches.
 * Several sites share one batch: each input cell's Gram is computed once per grid size.
 */
import type { Tensor } from "../src/tensor.js";
import { gram } from "../src/numeric/gram.js";
import { frobenius, uCentre } from "../src/numeric/hsic.js";
import type { Layout } from "./vocabulary.js";
import { bySite, type PerSite } from "./cka.js";
import type { Reducer } from "./reducer.js";

/** Settings of the localisation reducer. */
export interface LocalisationConfig {
  sites: readonly string[];
  /** Layout of every site's activations. */
  layout: Layout;
  /** Batch size n of every update (n ≥ 4). */
  batch: number;
  /** Token positions [row, col] in the site's grid; default corner (0,0), an edge cell (0, ⌊g/2⌋), the centre. */
  positions?: readonly (readonly [number, number])[];
}

/**
 * One site's batch already reduced upstream (the engine does it inside onnxruntime): with K̃_t
 * the Gram of token t's features centred over the batch and L̃_s that of input cell s, both with
 * a zero diagonal, the HSIC₁ terms need only tr(K̃_t L̃_s), K̃_t, ‖L̃_s‖²_F and L̃_s·1:
 * n(n−3)·HSIC₁(K, L) = tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2)·(K̃1)ᵀ(L̃1).
 */
export interface LocalisationSums {
  /** [rows, cols] of the site's token grid (= the input cell grid). */
  grid: [number, number];
  /** Token positions [row, col], in the order of `cross` and `grams`. */
  positions: [number, number][];
  /** Examples in the batch. */
  n: number;
  /** tr(K̃_t L̃_s), [positions × cells] row-major (cells row-major over the grid). */
  cross: ArrayLike<number>;
  /** K̃_t, [positions × n × n]; the diagonal is ignored. */
  grams: ArrayLike<number>;
  /** ‖L̃_s‖²_F, [cells]. */
  self: ArrayLike<number>;
  /** L̃_s·1 (row sums with a zero diagonal), [cells × n]. */
  rows: ArrayLike<number>;
}

/**
 * One batch: per-site activations and the batch's preprocessed input images [B, C, H, W], or
 * per-site {@link LocalisationSums}.
 */
export type LocalisationInput = { activations: PerSite<Tensor>; images: Tensor } | { sums: PerSite<LocalisationSums> };

interface SiteState {
  /** [rows, cols] of the token grid, 0×0 until the first batch. */
  grid: [number, number];
  positions: [number, number][];
  /** positions × cells Σ_b HSIC₁(K_t, L_s), Σ_b HSIC₁(K_t, K_t), Σ_b HSIC₁(L_s, L_s). */
  sumXY: Float64Array;
  sumXX: Float64Array;
  sumYY: Float64Array;
}

/** Plain-data state: per site, HSIC₁ sums over batches (allocated at the first batch). */
export interface LocalisationState {
  analysis: "localisation";
  estimator: "minibatch-unbiased";
  layout: Layout;
  batch: number;
  sites: string[];
  positions: [number, number][] | null;
  perSite: SiteState[];
  batches: number;
  examples: number;
  droppedExamples: number;
  warnings: string[];
}

/** Per site: one g_h × g_w CKA map per token position (row-major [positions, g_h, g_w]). */
export interface LocalisationResult {
  analysis: "localisation";
  estimator: "minibatch-unbiased";
  layout: Layout;
  batch: number;
  batches: number;
  examples: number;
  droppedExamples: number;
  sites: { site: string; grid: [number, number]; positions: [number, number][]; maps: Float64Array; shape: [number, number, number] }[];
  warnings: string[];
}

/**
 * A fresh localisation state.
 * @example localisationInit({sites: ["blocks.11.out"], layout: {layout: "BTD", prefixTokens: 1}, batch: 64})
 */
export function localisationInit(config: LocalisationConfig): LocalisationState {
  if (!Number.isInteger(config.batch) || config.batch < 4) throw new RangeError(`invalid batch: ${config.batch} (needs n ≥ 4)`);
  if (config.sites.length === 0) throw new RangeError("invalid sites: empty");
  const positions = config.positions ? config.positions.map(([r, c]) => [r, c] as [number, number]) : null;
  return {
    analysis: "localisation", estimator: "minibatch-unbiased", layout: { ...config.layout }, batch: config.batch,
    sites: [...config.sites], positions,
    perSite: config.sites.map(() => ({ grid: [0, 0], positions: [], sumXY: new Float64Array(0), sumXX: new Float64Array(0), sumYY: new Float64Array(0) })),
    batches: 0, examples: 0, droppedExamples: 0, warnings: [],
  };
}

/** Token grid [rows, cols] of a site's activation tensor. */
function tokenGrid(x: Tensor, layout: Layout): [number, number] {
  if (layout.layout === "BCHW") {
    if (x.shape.length !== 4) throw new RangeError(`invalid activation shape [${x.shape}] for layout BCHW`);
    return [x.shape[2], x.shape[3]];
  }
  if (x.shape.length !== 3) throw new RangeError(`invalid activation shape [${x.shape}] for layout BTD`);
  const spatial = x.shape[1] - layout.prefixTokens;
  const g = Math.round(Math.sqrt(spatial));
  if (spatial < 1 || g * g !== spatial) throw new RangeError(`invalid token count: ${x.shape[1]} with ${layout.prefixTokens} prefix tokens is not 1 square grid`);
  return [g, g];
}

/** X_t: the n × D (or n × C) matrix of the token at grid position (r, c). */
function tokenMatrix(x: Tensor, layout: Layout, grid: [number, number], [r, c]: [number, number]): Tensor {
  const n = x.shape[0];
  if (layout.layout === "BTD") {
    const [, t, d] = x.shape;
    const tok = layout.prefixTokens + r * grid[1] + c;
    const out = new Float64Array(n * d);
    for (let b = 0; b < n; b++) for (let k = 0; k < d; k++) out[b * d + k] = x.data[(b * t + tok) * d + k];
    return { data: out, shape: [n, d] };
  }
  const [, ch, h, w] = x.shape;
  const out = new Float64Array(n * ch);
  for (let b = 0; b < n; b++) for (let k = 0; k < ch; k++) out[b * ch + k] = x.data[((b * ch + k) * h + r) * w + c];
  return { data: out, shape: [n, ch] };
}

/**
 * Calls `visit(s, U(L_s))` for every cell s of a gh × gw grid over images [n, C, H, W], in
 * row-major cell order. One cell's U-centred Gram lives at a time: a stage-1 ResNet grid has
 * 56² cells, and holding all their n×n Grams would need gigabytes.
 */
function eachCell(images: Tensor, [gh, gw]: [number, number], visit: (cell: number, u: Float64Array) => void): void {
  const [n, ch, h, w] = images.shape;
  if (h % gh !== 0 || w % gw !== 0) throw new RangeError(`invalid grid: ${gh}×${gw} does not divide the ${h}×${w} input`);
  const ph = h / gh, pw = w / gw;
  const p = ch * ph * pw;
  const buf = new Float64Array(n * p);
  for (let sr = 0; sr < gh; sr++) {
    for (let sc = 0; sc < gw; sc++) {
      let o = 0;
      for (let b = 0; b < n; b++) {
        for (let k = 0; k < ch; k++) {
          for (let y = 0; y < ph; y++) {
            const row = ((b * ch + k) * h + sr * ph + y) * w + sc * pw;
            for (let x = 0; x < pw; x++) buf[o++] = images.data[row + x];
          }
        }
      }
      visit(sr * gw + sc, uCentre(gram({ data: buf, shape: [n, p] }, { centre: true })));
    }
  }
}

/**
 * Token positions mapped by default: the corner (0,0), an edge cell (0, ⌊g/2⌋), the centre.
 * @example defaultLocalisationPositions([7, 7]) // [[0,0],[0,3],[3,3]]
 */
export function defaultLocalisationPositions([gh, gw]: [number, number]): [number, number][] {
  return [[0, 0], [0, Math.floor(gw / 2)], [Math.floor(gh / 2), Math.floor(gw / 2)]];
}

/**
 * Adds one batch: per site and position, the HSIC₁ terms against every input cell. Cells are
 * visited one at a time (memory O(n²) per cell), each shared by the sites on its grid.
 * @example localisationUpdate(state, {activations: [act], images})
 */
export function localisationUpdate(state: LocalisationState, input: LocalisationInput): LocalisationState {
  if ("sums" in input) return updateFromSums(state, input.sums);
  const acts = bySite(state.sites, input.activations, "activations");
  const images = input.images;
  if (images.shape.length !== 4) throw new RangeError(`invalid images shape [${images.shape}]: expected [B, C, H, W]`);
  const n = images.shape[0];
  for (const [i, a] of acts.entries()) {
    if (a.shape[0] !== n) throw new RangeError(`invalid activations for ${state.sites[i]}: batch ${a.shape[0]}, images have ${n}`);
  }
  if (shortBatch(state, n)) return state;
  // Validate every site and build its position Grams before touching the state, so a bad
  // input leaves the state as it was.
  const norm = n * (n - 3);
  const prepared = acts.map((x, i) => {
    const site = state.perSite[i];
    const grid = tokenGrid(x, state.layout);
    if (site.grid[0] !== 0 && (site.grid[0] !== grid[0] || site.grid[1] !== grid[1])) {
      throw new RangeError(`invalid activations for ${state.sites[i]}: grid ${grid} changed from ${site.grid}`);
    }
    if (images.shape[2] % grid[0] !== 0 || images.shape[3] % grid[1] !== 0) {
      throw new RangeError(`invalid grid: ${grid[0]}×${grid[1]} does not divide the ${images.shape[2]}×${images.shape[3]} input`);
    }
    const positions = site.grid[0] !== 0 ? site.positions : state.positions ?? defaultLocalisationPositions(grid);
    for (const [r, c] of positions) {
      if (!(Number.isInteger(r) && Number.isInteger(c) && r >= 0 && c >= 0 && r < grid[0] && c < grid[1])) {
        throw new RangeError(`invalid position: [${r}, ${c}] in a ${grid[0]}×${grid[1]} grid`);
      }
    }
    const ux = positions.map((pos) => uCentre(gram(tokenMatrix(x, state.layout, grid, pos), { centre: true })));
    return { site, grid, positions, ux };
  });
  // Sites that share a grid share the input-cell Grams: group them, visit each cell once.
  const groups = new Map<string, { grid: [number, number]; members: { site: SiteState; ux: Float64Array[] }[] }>();
  for (const { site, grid, positions, ux } of prepared) {
    if (site.grid[0] === 0) {
      const cells = grid[0] * grid[1];
      site.grid = grid;
      site.positions = positions.map(([r, c]) => [r, c]);
      site.sumXY = new Float64Array(positions.length * cells);
      site.sumXX = new Float64Array(positions.length);
      site.sumYY = new Float64Array(cells);
    }
    ux.forEach((u, k) => (site.sumXX[k] += frobenius(u, u) / norm));
    const key = grid.join("x");
    const group = groups.get(key) ?? { grid, members: [] };
    group.members.push({ site, ux });
    groups.set(key, group);
  }
  for (const { grid, members } of groups.values()) {
    const cells = grid[0] * grid[1];
    eachCell(images, grid, (cell, uy) => {
      const yy = frobenius(uy, uy) / norm;
      for (const { site, ux } of members) {
        site.sumYY[cell] += yy;
        // HSIC₁(K_t, L_s) = ⟨U(K_t), U(L_s)⟩ / (n(n−3)) for every position t of the site.
        ux.forEach((u, k) => (site.sumXY[k * cells + cell] += frobenius(u, uy) / norm));
      }
    });
  }
  state.batches += 1;
  state.examples += n;
  return state;
}

/**
 * Every batch of an update must have the configured n (the minibatch estimator's sums assume
 * it): a shorter one (the last of a pass) is dropped and counted; a longer one is an error.
 */
function shortBatch(state: LocalisationState, n: number): boolean {
  if (n === state.batch) return false;
  if (n > state.batch) throw new RangeError(`invalid batch: ${n} examples for batch ${state.batch}`);
  state.droppedExamples += n;
  if (!state.warnings.includes("dropped short batches")) state.warnings.push("dropped short batches");
  return true;
}

/** The per-batch update from upstream sums (see {@link LocalisationSums}); validates before writing. */
function updateFromSums(state: LocalisationState, input: PerSite<LocalisationSums>): LocalisationState {
  const sums = bySite(state.sites, input, "sums");
  const n = sums[0].n;
  for (const [i, s] of sums.entries()) {
    if (s.n !== n) throw new RangeError(`invalid sums for ${state.sites[i]}: batch ${s.n}, other sites ${n}`);
    const site = state.perSite[i];
    const cells = s.grid[0] * s.grid[1];
    if (site.grid[0] !== 0 && (site.grid[0] !== s.grid[0] || site.grid[1] !== s.grid[1])) throw new RangeError(`invalid sums for ${state.sites[i]}: grid ${s.grid} changed from ${site.grid}`);
    const want = site.grid[0] !== 0 ? site.positions : state.positions ?? defaultLocalisationPositions(s.grid);
    if (JSON.stringify(want) !== JSON.stringify(s.positions)) throw new RangeError(`invalid sums for ${state.sites[i]}: positions ${JSON.stringify(s.positions)}, expected ${JSON.stringify(want)}`);
    const p = s.positions.length;
    if (s.cross.length !== p * cells || s.grams.length !== p * n * n || s.self.length !== cells || s.rows.length !== cells * n) throw new RangeError(`invalid sums for ${state.sites[i]}: lengths do not match ${p} positions, ${cells} cells, batch ${n}`);
  }
  if (shortBatch(state, n)) return state;
  const norm = n * (n - 3);
  const c1 = 1 / ((n - 1) * (n - 2));
  const c2 = 2 / (n - 2);
  for (const [i, s] of sums.entries()) {
    const site = state.perSite[i];
    const cells = s.grid[0] * s.grid[1];
    const p = s.positions.length;
    if (site.grid[0] === 0) {
      site.grid = [s.grid[0], s.grid[1]];
      site.positions = s.positions.map(([r, c]) => [r, c]);
      site.sumXY = new Float64Array(p * cells);
      site.sumXX = new Float64Array(p);
      site.sumYY = new Float64Array(cells);
    }
    // Cells: L̃_s·1 and its total; HSIC₁(L_s, L_s).
    const lTot = new Float64Array(cells);
    for (let c = 0; c < cells; c++) {
      let t = 0, sq = 0;
      for (let j = 0; j < n; j++) {
        const v = s.rows[c * n + j];
        t += v;
        sq += v * v;
      }
      lTot[c] = t;
      site.sumYY[c] += (s.self[c] + t * t * c1 - c2 * sq) / norm;
    }
    for (let k = 0; k < p; k++) {
      // Token k: U(K̃_k) in float64 for HSIC₁(K, K); K̃·1 and its total for the cross terms.
      const kg = new Float64Array(n * n);
      for (let j = 0, o = k * n * n; j < n * n; j++) kg[j] = s.grams[o + j];
      for (let j = 0; j < n; j++) kg[j * n + j] = 0;
      const u = uCentre(kg);
      site.sumXX[k] += frobenius(u, u) / norm;
      const kRow = new Float64Array(n);
      let kTot = 0;
      for (let a = 0; a < n; a++) {
        let t = 0;
        for (let b = 0; b < n; b++) t += kg[a * n + b];
        kRow[a] = t;
        kTot += t;
      }
      for (let c = 0; c < cells; c++) {
        let dot = 0;
        for (let j = 0; j < n; j++) dot += kRow[j] * s.rows[c * n + j];
        site.sumXY[k * cells + c] += (s.cross[k * cells + c] + kTot * lTot[c] * c1 - c2 * dot) / norm;
      }
    }
  }
  state.batches += 1;
  state.examples += n;
  return state;
}

/**
 * Merges two states of the same settings into `a`.
 * @example localisationMerge(shard0, shard1)
 */
export function localisationMerge(a: LocalisationState, b: LocalisationState): LocalisationState {
  if (a.batch !== b.batch || a.sites.join("\n") !== b.sites.join("\n") || JSON.stringify(a.layout) !== JSON.stringify(b.layout) || JSON.stringify(a.positions) !== JSON.stringify(b.positions)) {
    throw new Error("cannot merge localisation states: batch, sites, layout or positions differ");
  }
  a.perSite.forEach((s, i) => {
    const t = b.perSite[i];
    if (t.grid[0] === 0) return;
    if (s.grid[0] === 0) {
      a.perSite[i] = { grid: [...t.grid], positions: t.positions.map(([r, c]) => [r, c]), sumXY: t.sumXY.slice(), sumXX: t.sumXX.slice(), sumYY: t.sumYY.slice() };
      return;
    }
    if (s.grid[0] !== t.grid[0] || s.grid[1] !== t.grid[1]) throw new Error(`cannot merge localisation states: grid of ${a.sites[i]} differs`);
    for (const k of ["sumXY", "sumXX", "sumYY"] as const) for (let j = 0; j < s[k].length; j++) s[k][j] += t[k][j];
  });
  a.batches += b.batches;
  a.examples += b.examples;
  a.droppedExamples += b.droppedExamples;
  for (const w of b.warnings) if (!a.warnings.includes(w)) a.warnings.push(w);
  return a;
}

/**
 * Per site and position, the CKA map Σ HSIC₁(K_t, L_s) / √(Σ HSIC₁(K_t,K_t) · Σ HSIC₁(L_s,L_s)).
 * @example localisationFinalize(state).sites[0].maps // [positions, g, g]
 */
export function localisationFinalize(state: LocalisationState): LocalisationResult {
  if (state.batches === 0) throw new Error("cannot finalize localisation: no batches");
  return {
    analysis: "localisation", estimator: state.estimator, layout: { ...state.layout }, batch: state.batch,
    batches: state.batches, examples: state.examples, droppedExamples: state.droppedExamples,
    sites: state.perSite.map((s, i) => {
      const cells = s.grid[0] * s.grid[1];
      const maps = new Float64Array(s.sumXY.length);
      for (let p = 0; p < s.positions.length; p++) {
        for (let c = 0; c < cells; c++) maps[p * cells + c] = s.sumXY[p * cells + c] / Math.sqrt(s.sumXX[p] * s.sumYY[c]);
      }
      return { site: state.sites[i], grid: [...s.grid] as [number, number], positions: s.positions.map(([r, c]) => [r, c] as [number, number]), maps, shape: [s.positions.length, s.grid[0], s.grid[1]] as [number, number, number] };
    }),
    warnings: [...state.warnings],
  };
}

/**
 * The localisation reducer (id "localisation").
 * @example
 * let s = localisationReducer.init({ sites: ["blocks.5.out"], layout: { layout: "BTD", prefixTokens: 1 }, batch: 64 });
 * s = localisationReducer.update(s, { activations: [tokens], images });
 * localisationReducer.finalize(s).sites[0].maps; // [positions, g, g] CKA maps
 */
export const localisationReducer: Reducer<LocalisationConfig, LocalisationState, LocalisationInput, LocalisationResult> = {
  id: "localisation",
  init: localisationInit,
  update: localisationUpdate,
  merge: localisationMerge,
  finalize: localisationFinalize,
};
