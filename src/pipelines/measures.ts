/**
 * The measures researchers cross-check CKA with (issue 16): mean CCA R², SVCCA, PWCCA,
 * Procrustes distance and angular shape metric, RSA, mutual kNN and linear predictivity, each a
 * registered analysis. They read one shared driver ("pooled", analyses/similarity/pooled.ts):
 * in the main pass it keeps every CKA site's pooled vector (CLS, or GAP without a CLS token or
 * with `--tokens gap`) of the first `--measure-examples` images, and each measure's finish
 * builds its site × site matrices from them (analyses/similarity/site-measures.ts), within each
 * model and across models, as CKA's. The decompositions of the sites are shared by the
 * measures of one run (a cache keyed by the store's state).
 */
import { InputError, UsageError } from "../errors.js";
import type { Driver, BatchView } from "../engine/stream.js";
import type { TapSpec } from "../engine/taps.js";
import { encodeNpy } from "../data/npy.js";
import { pooledReducer, type PooledFeatures, type PooledState } from "../../analyses/similarity/pooled.js";
import { ASYMMETRIC, MEASURES, MEASURE_VALUES, SiteBank, type Measure, type MeasureMatrices, type Products, type SiteNote } from "../../analyses/similarity/site-measures.js";
import { productOf, productSession, release, type ProductSession } from "../runtime/session.js";
import type { HeatmapPanel } from "../../reports/types.js";
import { defaulted, nonNegativeInt, positiveInt } from "../options.js";
import { defineAnalysis, type FinishContext, type OutputContext, type PlanContext, type PlanModel } from "./contract.js";
import type { CkaSite } from "./sites.js";
import { csv, matrixCsv, type Arr } from "./tables.js";

/** The measures' analysis ids, in registry order. */
export const MEASURE_IDS = MEASURES;

/** How a model's sites are pooled for the measures. */
export type MeasurePooling = "cls" | "gap";

export const MEASURE_OPTIONS = [
  defaulted<"measureExamples", number>({
    key: "measureExamples", flag: "--measure-examples <m>", description: "examples whose pooled features the CCA family, Procrustes, RSA, mutual kNN and predictivity keep (the first m of the sample)", default: 1000,
    parse: positiveInt("measure-examples"), owner: "cca", record: true,
  }),
  defaulted<"svccaVariance", number>({
    key: "svccaVariance", flag: "--svcca-variance <f>", description: "SVCCA: share of each site's variance its kept directions explain", default: 0.99,
    parse: (v) => {
      const x = Number(v);
      if (!(x > 0 && x <= 1)) throw new RangeError(`invalid svcca-variance: ${v} (a fraction in (0, 1])`);
      return x;
    },
    owner: "svcca", record: true,
  }),
  defaulted<"svccaKeep", number>({ key: "svccaKeep", flag: "--svcca-keep <k>", description: "SVCCA: keep exactly k directions of each site instead (0 = by --svcca-variance)", default: 0, parse: nonNegativeInt("svcca-keep"), owner: "svcca", record: true }),
  defaulted<"knnK", number>({ key: "knnK", flag: "--knn-k <k>", description: "mutual kNN: neighbours per example", default: 10, parse: positiveInt("knn-k"), owner: "mutual-knn", record: true }),
] as const;

/** A labelled site × site matrix. */
export interface MeasureMatrix {
  rows: string[];
  cols: string[];
  shape: [number, number];
  data: Float64Array;
}

/** One comparison: model A against model B (or A alone); `matrices[value][key]`. */
export interface MeasureComparison {
  a: string;
  b: string | null;
  matrices: Record<string, Partial<Record<"AA" | "BB" | "AB" | "BA", MeasureMatrix>>>;
}

/** The results section of one measure. */
export interface MeasureSection {
  measure: Measure;
  /** The values it writes, one matrix each; asymmetric measures read M[i][j] as row i against (or predicting) column j. */
  values: string[];
  asymmetric: boolean;
  /** What the pooled store kept: m examples (the first of the sample) of `seen`, at most `cap`. */
  examples: { kept: number; cap: number; seen: number };
  pooling: Record<string, MeasurePooling>;
  settings: Record<string, unknown>;
  /** Per model and site: feature count, rank, directions the CCA family used (CCA, SVCCA, PWCCA only). */
  sites?: Record<string, SiteNote[]>;
  comparisons: MeasureComparison[];
}

/** The sites a model's measures read: CKA's, where a pooled vector exists. */
function measureSites(m: PlanModel): CkaSite[] {
  return m.ckaSites.filter((s) => s.layout !== "other");
}

/** CLS when asked for (or by default) and the model has one; GAP (mean of spatial tokens, of H·W) otherwise. */
export function measurePooling(m: PlanModel, tokens: string): MeasurePooling {
  return tokens !== "gap" && m.sites.prefixTokens > 0 && m.ckaSites.some((s) => s.layout === "BTD") ? "cls" : "gap";
}

function poolTap(s: CkaSite, pooling: MeasurePooling, prefixTokens: number): TapSpec {
  // The probes' pool tap: the engine computes an identical tap once for both.
  return { kind: "pool", tensor: s.tensor, layout: s.layout, mode: s.layout === "BCHW" ? "gap" : s.layout === "BD" ? "mean" : pooling === "cls" ? "cls" : "mean", prefixTokens };
}

function pooledDriver(models: PlanModel[], pooling: MeasurePooling[], sample: Int32Array, cap: number): Omit<Driver<PooledState>, "id"> {
  const taps = models.map((m, i) => measureSites(m).map((s) => poolTap(s, pooling[i], m.sites.prefixTokens)));
  const sites = models.map((m) => measureSites(m).map((s) => s.name));
  const position = new Map<number, number>();
  sample.forEach((idx, pos) => position.set(idx, pos));
  return {
    taps: (pass, mi) => (pass !== "main" ? [] : taps[models.findIndex((m) => m.index === mi)] ?? []),
    init: () => pooledReducer.init({ sites, cap }),
    update(state, view: BatchView) {
      if (view.pass !== "main") return state;
      const n = view.batch.indices.length;
      // Once the store is full, further batches only count (their pool taps are cheap and shared).
      if (state.count >= state.cap) {
        state.seen += n;
        return state;
      }
      const features = models.map((m, i) => taps[i].map((t, si) => {
        const x = view.tap(m.index, t);
        for (let k = 0; k < x.data.length; k++) {
          if (!Number.isFinite(x.data[k])) throw new InputError(m.file, `non-finite activations (NaN or Inf) at site ${sites[i][si]} in the batch starting at sample ${view.batch.ids[0]}`);
        }
        return x;
      }));
      return pooledReducer.update(state, { positions: Array.from(view.batch.indices, (i) => position.get(i) ?? i), features });
    },
    merge: pooledReducer.merge,
  };
}

/** The store's planned models: the user's models with measure sites (an error naming the model if asked for by name and none has). */
function plannedModels(ctx: PlanContext<any>): PlanModel[] {
  const out: PlanModel[] = [];
  for (const m of ctx.userModels) {
    if (measureSites(m).length) out.push(m);
    else if (ctx.explicit) throw new InputError(m.file, `no sites for the similarity measures (site set ${ctx.options.siteSet}); name some with --site NAME=TENSOR`);
    else ctx.warn(`${m.label}: no sites for the similarity measures`);
  }
  return out;
}

/** Plans (or joins) the shared pooled store. */
function planPooled(ctx: PlanContext<any>): void {
  const models = plannedModels(ctx);
  if (!models.length || (models[0] !== ctx.userModels[0] && ctx.userModels.length > 1)) return;
  const pooling = models.map((m) => measurePooling(m, ctx.options.tokens));
  if (ctx.options.tokens === "cls") for (const [i, m] of models.entries()) if (pooling[i] === "gap") ctx.warn(`${m.label}: no CLS token; the similarity measures pool its sites by GAP`);
  ctx.share({ analysis: "pooled", models: models.map((m) => m.index) }, pooledDriver(models, pooling, ctx.sample, ctx.options.measureExamples), pooledReducer);
}

interface Store {
  features: PooledFeatures;
  bank: SiteBank;
  /** One product session for every measure of the run (opening one costs tens of ms), closed after the last. */
  session?: Promise<ProductSession>;
  /** The run's measures that have not finished yet. */
  pending: Set<Measure>;
}

// One decomposition of the sites per run, shared by every measure that reads the store.
const stores = new WeakMap<object, Store>();

function store(ctx: FinishContext<any, any>): { store: Store; models: number[] } | undefined {
  const shared = ctx.states.find((s) => s.key.analysis === "pooled");
  if (!shared) return undefined;
  let s = stores.get(shared.state as object);
  if (!s) {
    const features = pooledReducer.finalize(shared.state as PooledState);
    const o = ctx.options;
    const asked = new Set(ctx.settings.analyses);
    s = {
      features,
      bank: new SiteBank(features.models, { svccaVariance: o.svccaVariance, svccaKeep: o.svccaKeep > 0 ? o.svccaKeep : null, k: o.knnK }),
      pending: new Set(MEASURES.filter((id) => asked.has(id))),
    };
    stores.set(shared.state as object, s);
  }
  return { store: s, models: shared.key.models as number[] };
}

function labelled(rows: string[], cols: string[], data: Float64Array): MeasureMatrix {
  return { rows, cols, shape: [rows.length, cols.length], data };
}

const SETTINGS: Record<Measure, (o: any) => Record<string, unknown>> = {
  cca: () => ({ centre: true, value: "mean ρ² over min(r_x, r_y) directions", reduction: "top ⌊(m−1)/2⌋ principal directions when p ≥ m" }),
  svcca: (o) => ({ variance: o.svccaVariance, keep: o.svccaKeep > 0 ? o.svccaKeep : null, value: "mean ρ" }),
  pwcca: () => ({ centre: true, weights: "row site's canonical variates", reduction: "top ⌊(m−1)/2⌋ principal directions when p ≥ m" }),
  procrustes: () => ({ centre: true, normalise: "unit Frobenius norm" }),
  rsa: () => ({ rdm: "1 − Pearson correlation between examples", compared: "upper triangles", spearmanTies: "average ranks" }),
  "mutual-knn": (o) => ({ k: o.knnK, metric: "euclidean on unit-normalised features", ties: "lower index first" }),
  predictivity: () => ({ holdoutEvery: 5, lambdas: "1e-6 … 1e6 (13)", standardise: "fit-mean-std+1e-5", intercept: "unpenalised", scoredOn: "holdout", r2: "pooled-over-outputs" }),
};

async function finishMeasure(measure: Measure, ctx: FinishContext<any, any>): Promise<MeasureSection | undefined> {
  const got = store(ctx);
  if (!got) return undefined;
  try {
    return await measureSection(measure, ctx, got.store, got.models);
  } finally {
    const s = got.store;
    s.pending.delete(measure);
    if (s.pending.size === 0 && s.session) {
      const session = s.session;
      s.session = undefined;
      await release((await session).session);
    }
  }
}

async function measureSection(measure: Measure, ctx: FinishContext<any, any>, shared: Store, models: number[]): Promise<MeasureSection | undefined> {
  const { features, bank } = shared;
  const labels = models.map((i) => ctx.labels[i]);
  const sites = features.models.map((ms) => ms.map((s) => s.name));
  const m = features.examples;
  if (m < 3) {
    ctx.warn(`${measure}: only ${m} examples kept; the similarity measures need at least 3`);
    return undefined;
  }
  const asym = ASYMMETRIC.has(measure);
  const comparisons: MeasureComparison[] = [];
  // The larger products through onnxruntime's float64 Gemm (analyses/ cannot import it).
  const session = await (shared.session ??= productSession({ threads: ctx.options.threads ?? 0 }));
  const products: Products = (q) => productOf(session, q.a, q.rows, q.b, q.cols, q.k);
  try {
    const pairs: [number, number | null][] = models.length === 1 ? [[0, null]] : models.slice(1).map((_, j) => [0, j + 1]);
    let aa: MeasureMatrices | undefined;
    for (const [a, b] of pairs) {
      aa ??= await bank.matrixAsync(measure, a, a, products);
      const bb = b === null ? undefined : await bank.matrixAsync(measure, b, b, products);
      const ab = b === null ? undefined : await bank.matrixAsync(measure, a, b, products);
      const matrices: MeasureComparison["matrices"] = {};
      for (const v of MEASURE_VALUES[measure]) {
        const out: MeasureComparison["matrices"][string] = { AA: labelled(sites[a], sites[a], aa.forward[v]) };
        if (b !== null && bb && ab) {
          out.BB = labelled(sites[b], sites[b], bb.forward[v]);
          out.AB = labelled(sites[a], sites[b], ab.forward[v]);
          if (asym) out.BA = labelled(sites[b], sites[a], ab.backward[v]);
        }
        matrices[v] = out;
      }
      comparisons.push({ a: labels[a], b: b === null ? null : labels[b], matrices });
      if (b !== null) bank.release(b);
    }
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    ctx.warn(`${measure} skipped: ${e.message}`);
    return undefined;
  }
  const section: MeasureSection = {
    measure,
    values: [...MEASURE_VALUES[measure]],
    asymmetric: asym,
    examples: { kept: m, cap: features.cap, seen: features.seen },
    pooling: Object.fromEntries(models.map((i, k) => [ctx.labels[i], measurePooling(ctx.models[i], ctx.options.tokens)])),
    settings: SETTINGS[measure](ctx.options),
    comparisons,
  };
  if (measure === "cca" || measure === "svcca" || measure === "pwcca") {
    section.sites = Object.fromEntries(labels.map((l, i) => [l, bank.notes(i)]));
    if (measure === "pwcca") {
      // rx + ry ≥ m leaves rx + ry − (m − 1) canonical correlations forced to 1, whose variates (hence weights) are arbitrary.
      const dims = Object.values(section.sites).map((ns) => ns.map((n) => n.ccaDims));
      const bad = dims.slice(1).reduce((acc, d) => acc + d.filter((y) => dims[0].some((x) => x + y >= m)).length, dims[0].filter((x) => dims[0].some((y) => x + y >= m)).length);
      if (bad) ctx.warn(`pwcca: sites with r_x + r_y ≥ m = ${m} examples have canonical correlations forced to 1, so their PWCCA weights are not determined; raise --measure-examples`);
    }
    if (measure !== "svcca") {
      for (const [l, notes] of Object.entries(section.sites)) for (const n of notes) {
        if (n.ccaDims < n.p) ctx.warn(`${measure}: ${l} ${n.site} has p = ${n.p} features for m = ${m} examples${n.p >= m ? "" : ` but rank ${n.rank}`}; CCA used its top ${n.ccaDims} principal directions`);
      }
    }
  }
  return section;
}

function* measureFiles(id: string, section: MeasureSection, ctx: OutputContext): Iterable<[string, string | Uint8Array]> {
  for (const c of section.comparisons) {
    const base = `${id}-${ctx.slug(c.a)}${c.b === null ? "" : `-${ctx.slug(c.b)}`}`;
    for (const [value, keys] of Object.entries(c.matrices)) {
      const name = section.values.length > 1 ? `${base}-${value}` : base;
      for (const [key, mat] of Object.entries(keys)) {
        if (!mat) continue;
        yield [`${name}-${key}.csv`, matrixCsv(mat.rows, mat.cols, mat.data)];
        yield [`${name}-${key}.npy`, encodeNpy(Float64Array.from(mat.data), mat.shape)];
      }
    }
  }
  if (section.sites) {
    const rows: unknown[][] = [["model", "site", "features", "rank", "cca_directions", "svcca_directions", "svcca_variance"]];
    for (const [l, notes] of Object.entries(section.sites)) for (const n of notes) rows.push([l, n.site, n.p, n.rank, n.ccaDims, n.svccaDims, n.svccaVariance]);
    yield [`${id}-sites.csv`, csv(rows)];
  }
}

interface MeasureText {
  title: string;
  intro: string;
  /** Per value: the panel's name and caption, and its colour domain. */
  value: Record<string, { name: string; caption: string; domain: [number, number] }>;
}

function measureReport(id: string, text: MeasureText, section: MeasureSection | undefined, ctx: OutputContext) {
  if (!section?.comparisons.length) return {};
  const panels: HeatmapPanel[] = [];
  const panel = (c: MeasureComparison, value: string, key: "AA" | "BB" | "AB" | "BA") => {
    const mat = c.matrices[value]?.[key];
    const t = text.value[value];
    if (!mat || !t) return;
    const [r, cl] = key === "AA" ? [c.a, c.a] : key === "BB" ? [c.b!, c.b!] : key === "AB" ? [c.a, c.b!] : [c.b!, c.a];
    panels.push({
      kind: "heatmap", id: `${id}-${ctx.modelId(c.a)}-${c.b === null ? "" : ctx.modelId(c.b)}-${value}-${key}`,
      // The asymmetric measures read row → column; the arrow says it in the title's own width.
      title: `${t.name}: ${r === cl ? r : section.asymmetric ? `${r} → ${cl}` : `${r} × ${cl}`}`,
      rowModel: ctx.modelId(r), colModel: ctx.modelId(cl), rows: mat.rows, cols: mat.cols, data: mat.data as Arr, tokens: section.pooling[c.a],
      caption: t.caption, domain: t.domain,
    });
  };
  // Every value of the first comparison; the headline value of the others' cross matrices.
  const [first, ...rest] = section.comparisons;
  for (const value of section.values) for (const key of ["AA", "BB", "AB", "BA"] as const) panel(first, value, key);
  for (const c of rest) panel(c, section.values[0], "AB");
  const pooled = Object.entries(section.pooling).map(([l, p]) => `${l}: ${p}`).join(", ");
  const notes = [`Pooled features (${pooled}) of the first ${section.examples.kept} examples of the sample (of ${section.examples.seen}; --measure-examples ${section.examples.cap}).`];
  if (section.sites && section.measure !== "svcca") {
    const reduced = Object.entries(section.sites).flatMap(([l, ns]) => ns.filter((n) => n.ccaDims < n.p).map((n) => `${l} ${n.site} (p = ${n.p}: ${n.ccaDims} directions)`));
    if (reduced.length) notes.push(`Reduced before CCA (p ≥ m, or rank-deficient): ${reduced.join("; ")}.`);
  }
  return { sections: [{ id, title: text.title, intro: text.intro, panels, notes }] };
}

function measureAnalysis<Id extends Measure>(id: Id, summary: string, text: MeasureText) {
  return defineAnalysis({
    id,
    summary,
    options: id === "cca" ? MEASURE_OPTIONS.slice(0, 1) : id === "svcca" ? MEASURE_OPTIONS.slice(1, 3) : id === "mutual-knn" ? MEASURE_OPTIONS.slice(3) : ([] as const),
    // Opt-in (--analyses): their finish is not within 20% of a CKA-only run on the zoo (bench/index.ts --measures; docs/methods.md).
    default: false,
    plan(ctx) {
      if (ctx.options.measureExamples < 3) throw new UsageError(`invalid measure-examples: ${ctx.options.measureExamples} (at least 3)`);
      planPooled(ctx);
    },
    finish: (ctx) => finishMeasure(id, ctx),
    files: (section: MeasureSection, ctx) => measureFiles(id, section, ctx),
    report: (section: MeasureSection | undefined, ctx) => measureReport(id, text, section, ctx),
  });
}

const ROTATE = "invariant to orthogonal maps and isotropic scaling of either side";

export const cca = measureAnalysis("cca", "mean CCA R² between the pooled features of every pair of sites (Kornblith et al. 2019)", {
  title: "Mean CCA R²",
  intro: "Canonical correlation analysis of each pair of sites' pooled features: the mean squared canonical correlation over min(p, q) directions. Invariant to any invertible linear map of either side, so it counts any linear re-encoding as the same representation; it needs fewer features than examples.",
  value: { "mean-r2": { name: "Mean CCA R²", caption: "Mean ρᵢ² of the canonical correlations between the sites' centred pooled features; invariant to invertible linear maps and shifts. Sites with p ≥ m are reduced to their top principal directions first (see the notes).", domain: [0, 1] } },
});

export const svcca = measureAnalysis("svcca", "SVCCA between the pooled features of every pair of sites (Raghu et al. 2017)", {
  title: "SVCCA",
  intro: "CCA after keeping each site's top singular directions (99% of its variance by default): low-variance directions are treated as noise.",
  value: { "mean-rho": { name: "SVCCA", caption: `Mean canonical correlation of the directions keeping --svcca-variance of each site's variance (or --svcca-keep of them); ${ROTATE}, not to general invertible maps.`, domain: [0, 1] } },
});

export const pwcca = measureAnalysis("pwcca", "projection-weighted CCA between the pooled features of every pair of sites (Morcos et al. 2018); asymmetric", {
  title: "PWCCA",
  intro: "Canonical correlations weighted by how much of the row site's features each canonical variate accounts for (Morcos, Raghu & Bengio 2018); asymmetric: row i, column j weighs by site i's variates.",
  value: { pwcca: { name: "PWCCA", caption: "Σ αᵢ ρᵢ with αᵢ ∝ Σⱼ |⟨hᵢ, xⱼ⟩| over the row site's features; invariant to isotropic scaling, permutations and sign flips of features, not to rotations of them.", domain: [0, 1] } },
});

export const procrustes = measureAnalysis("procrustes", "orthogonal Procrustes distance and angular shape metric between every pair of sites (Williams et al. 2021)", {
  title: "Procrustes shape metrics",
  intro: "The angle arccos ρ and the distance √(2 − 2ρ) between the sites' centred, unit-norm pooled features after the best rotation, ρ = ‖XᵀY‖_* / (‖X‖‖Y‖); true metrics, and more sensitive than CKA to small functional changes (Ding et al. 2021). 0 means the same shape.",
  value: {
    angle: { name: "Shape angle (rad)", caption: `The angular shape metric: arccos of the normalised nuclear norm ‖XᵀY‖_*; 0 for the same shape; ${ROTATE} and shifts.`, domain: [0, Math.PI / 2] },
    distance: { name: "Procrustes distance", caption: `√(2 − 2ρ): the Frobenius distance after the best orthogonal alignment of unit-norm X and Y; ${ROTATE} and shifts.`, domain: [0, Math.SQRT2] },
  },
});

export const rsa = measureAnalysis("rsa", "RSA: Pearson and Spearman correlation of the sites' representational dissimilarity matrices", {
  title: "Representational similarity analysis",
  intro: "Each site's representational dissimilarity matrix (1 − correlation between examples' pooled features), compared across sites by Spearman and Pearson correlation of the upper triangles (Kriegeskorte et al. 2008): the usual bridge to brain data.",
  value: {
    spearman: { name: "RSA (Spearman)", caption: "Spearman correlation of the RDMs' upper triangles; invariant to each example's own shift and scale and to monotone maps of the dissimilarities.", domain: [-1, 1] },
    pearson: { name: "RSA (Pearson)", caption: "Pearson correlation of the RDMs' upper triangles; invariant to each example's own shift and scale.", domain: [-1, 1] },
  },
});

export const mutualKnn = measureAnalysis("mutual-knn", "mutual k-nearest-neighbour alignment of every pair of sites (Huh et al. 2024)", {
  title: "Mutual k-nearest-neighbour alignment",
  intro: "The mean share of each example's k nearest neighbours (unit-normalised pooled features, k = --knn-k, default 10) the two sites have in common (Huh et al. 2024): local agreement that ignores global geometry.",
  value: { alignment: { name: "Mutual kNN", caption: "Mean over examples of |N_A(i) ∩ N_B(i)| / k; invariant to rotations and scaling, and to anything that keeps each example's neighbour ranks.", domain: [0, 1] } },
});

export const predictivity = measureAnalysis("predictivity", "linear predictivity R² of every site from every other (ridge, λ on a held-out fifth); asymmetric, both ways", {
  title: "Linear predictivity",
  intro: "Held-out R² of a ridge read-out of the column site from the row site (λ from 10⁻⁶ … 10⁶ chosen on every fifth example, which is also where R² is scored): asks whether one representation is linearly decodable from the other; asymmetric.",
  value: { r2: { name: "Predictivity R²", caption: "Share of the column site's variance a ridge regression from the row site explains on held-out examples; invariant to per-feature affine maps of the predictor.", domain: [0, 1] } },
});
