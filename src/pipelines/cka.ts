/**
 * Linear CKA (METHODS.md §1): the intra-model heatmap of a single model, or model A against
 * every other model, from in-graph centred Grams; and the per-block data-scale comparison
 * (Raghu Fig. 12) of further checkpoints against A.
 */
import { InputError, UsageError } from "../errors.js";
import type { FloatArray } from "../tensor.js";
import type { Driver, BatchView } from "../engine/stream.js";
import type { TapSpec } from "../engine/taps.js";
import { encodeNpy } from "../data/npy.js";
import { ckaReducer, blockwiseCKA, estimators, type CKAResult, type CKAState, type Estimator, type BlockwiseCKA } from "../../analyses/cka.js";
import { ckaSanity, type SanityReport } from "../../analyses/sanity.js";
import { tokenModes, type TokenMode } from "../../analyses/vocabulary.js";
import type { Heatmap, Panel, SanityCheck } from "../../reports/types.js";
import { defaulted, nonNegativeInt, oneOf, positiveInt } from "../options.js";
import { defineAnalysis, type PlanContext, type PlanModel } from "./contract.js";
import { SITE_SETS, type CkaSite, type SiteSet } from "./sites.js";
import { csv, matrixCsv, num, type Arr } from "./tables.js";

/** One CKA comparison of the results: model A against model B (or A alone). */
export interface CKAComparison {
  a: string;
  b: string | null;
  result: CKAResult;
  sanity: SanityReport;
}

export const CKA_OPTIONS = [
  defaulted<"estimator", Estimator>({ key: "estimator", flag: "--estimator <id>", description: "CKA estimator", default: "minibatch-unbiased", choices: estimators, parse: oneOf("estimator", estimators), owner: "cka", record: true }),
  defaulted<"tokens", TokenMode>({ key: "tokens", flag: "--tokens <mode>", description: "how a site's activation is flattened per example", default: "all", choices: tokenModes, parse: oneOf("tokens", tokenModes), owner: "cka", record: true }),
  defaulted<"siteSet", SiteSet>({ key: "siteSet", flag: "--site-set <set>", description: "CKA sites: one per residual sum, or every named intermediate", default: "blocks", choices: SITE_SETS, parse: oneOf("site-set", SITE_SETS), owner: "cka", record: true }),
  defaulted<"bootstrap", number>({
    key: "bootstrap", flag: "--bootstrap <n>", description: "bootstrap resamples of the batches for CKA intervals (minibatch-unbiased; 0 = off)", default: 1000,
    parse: nonNegativeInt("bootstrap"), owner: "cka", record: true,
  }),
  defaulted<"level", number>({
    key: "level", flag: "--level <p>", description: "level of the bootstrap intervals", default: 0.95,
    parse: (v) => {
      const x = Number(v);
      if (!(x > 0 && x < 1)) throw new RangeError(`invalid level: ${v} (between 0 and 1)`);
      return x;
    },
    owner: "cka", record: true,
  }),
  defaulted<"permutations", number>({
    key: "permutations", flag: "--permutations <r>", description: "permutations of the pairing within batches for a p-value per CKA cell (minibatch-unbiased; 0 = off)", default: 0,
    parse: nonNegativeInt("permutations"), owner: "cka", record: true,
  }),
  defaulted<"repeats", number>({ key: "repeats", flag: "--repeats <n>", description: "CKA reshuffles averaged (Raghu et al. use 20)", default: 1, parse: positiveInt("repeats"), owner: "cka", record: true }),
] as const;

/** Options a CKA driver reads. */
export interface CKADriverConfig {
  estimator: Estimator;
  /** Bootstrap resamples (0: no per-batch terms kept), interval level, permutations (minibatch only). */
  bootstrap: number;
  level: number;
  permutations: number;
  tokens: TokenMode;
  repeats: number;
  seed: number;
  batch: number;
  examples: number;
}

/** The in-graph Gram taps of CKA sites (shared with RBF CKA: the engine computes each once). */
export function gramTaps(sites: CkaSite[], tokens: TokenMode, prefixTokens: number): TapSpec[] {
  return sites.map((s) => ({
    kind: "gram",
    tensor: s.tensor,
    layout: s.layout,
    // `cls`/`spatial` make sense only for token sites; a [B,C,H,W] site uses all positions.
    tokens: s.layout === "BCHW" && tokens === "cls" ? "gap" : s.layout === "BD" ? "all" : tokens,
    prefixTokens: s.layout === "BTD" ? prefixTokens : 0,
  }));
}

/**
 * `--tokens cls` where a model has no CLS token (issue 14, item 10): a token model without a
 * prefix token (a GAP ViT) is an error naming it; a convolutional model's [B,C,H,W] sites use
 * their global average instead (what such a model pools for its classifier), recorded as a
 * substitution. Shared with RBF CKA (the same Gram taps).
 */
export function checkTokens(ctx: PlanContext<any>): void {
  if (ctx.options.tokens !== "cls") return;
  for (const m of ctx.userModels) {
    const tokenSites = m.ckaSites.filter((s) => s.layout === "BTD");
    if (tokenSites.length && m.sites.prefixTokens < 1) {
      throw new UsageError(`--tokens cls: ${m.label} (${m.file}) has no CLS token (no prefix token was found at its ${tokenSites.length} token sites); use --tokens all, spatial or gap`);
    }
    if (m.ckaSites.some((s) => s.layout === "BCHW")) {
      ctx.substitute(m, { option: "tokens", given: "cls", used: "gap", reason: "its [B,C,H,W] sites have no CLS token; their global average over positions is used" });
    }
  }
}

function repeatOf(pass: string): number | null {
  if (pass === "main") return 0;
  const m = /^repeat-(\d+)$/.exec(pass);
  return m ? Number(m[1]) : null;
}

/** The pass name of CKA reshuffle r (r ≥ 1; reshuffle 0 is the main pass). */
export function repeatPass(r: number): string {
  return `repeat-${r}`;
}

/** NaN or ±Inf in a site's activations shows in its Gram; stop with the model and site named. */
function finiteOrThrow(grams: ArrayLike<number>[], sites: CkaSite[], file: string, firstId: string): void {
  grams.forEach((g, i) => {
    for (let k = 0; k < g.length; k++) {
      if (!Number.isFinite(g[k])) throw new InputError(file, `non-finite activations (NaN or Inf) at site ${sites[i].name} (${sites[i].tensor}) in the batch starting at sample ${firstId}`);
    }
  });
}

/** CKA between model `a` and model `b` (or within `a` alone when b is null). */
export function ckaDriver(a: PlanModel, b: PlanModel | null, config: CKADriverConfig): Omit<Driver<CKAState>, "id"> {
  const tapsA = gramTaps(a.ckaSites, config.tokens, a.sites.prefixTokens);
  const tapsB = b ? gramTaps(b.ckaSites, config.tokens, b.sites.prefixTokens) : [];
  return {
    taps(pass, m) {
      if (repeatOf(pass) === null) return [];
      return [...(m === a.index ? tapsA : []), ...(b && m === b.index ? tapsB : [])];
    },
    init: () =>
      ckaReducer.init({
        sitesA: a.ckaSites.map((s) => s.name),
        sitesB: b?.ckaSites.map((s) => s.name),
        estimator: config.estimator,
        tokens: config.tokens,
        repeats: config.repeats,
        seed: config.seed,
        batch: config.estimator === "minibatch-unbiased" ? config.batch : config.examples,
        examples: config.examples,
        ...(config.estimator === "minibatch-unbiased" && config.bootstrap > 0 ? { perBatch: true, resamples: config.bootstrap, level: config.level } : {}),
        ...(config.estimator === "minibatch-unbiased" && config.permutations > 0 ? { permutations: config.permutations } : {}),
      }),
    update(state: CKAState, view: BatchView) {
      const repeat = repeatOf(view.pass);
      if (repeat === null) return state;
      const gramsA: FloatArray[] = tapsA.map((t) => view.tap(a.index, t).data);
      const gramsB = b ? tapsB.map((t) => view.tap(b.index, t).data) : undefined;
      finiteOrThrow(gramsA, a.ckaSites, a.file, view.batch.ids[0]);
      if (gramsB && b) finiteOrThrow(gramsB, b.ckaSites, b.file, view.batch.ids[0]);
      // The control permutation is seeded by the batch's first sample, not by the batch count, so
      // shards merged and resumed runs equal one uninterrupted run.
      const controlSeed = (config.seed * 1_000_003 + repeat * 7919 + (view.batch.indices[0] ?? 0) * 31) | 0;
      // The full estimators place each batch's Grams as the next diagonal block of the m×m Gram.
      // The batch key (its first sample) orders the per-batch terms and seeds the permutations, so
      // shards and resumed runs hold the same batches as one run.
      return ckaReducer.update(state, config.estimator === "minibatch-unbiased" ? { gramsA, gramsB, repeat, controlSeed, batchKey: view.batch.indices[0] ?? 0 } : { gramsA, gramsB, repeat });
    },
    merge: ckaReducer.merge,
  };
}

/** The CKA driver configuration of a run's resolved options. */
export function ckaConfig(ctx: PlanContext<any>): CKADriverConfig {
  const o = ctx.options;
  return { estimator: o.estimator, tokens: o.tokens, repeats: o.repeats, seed: o.seed, batch: o.batch, examples: ctx.sample.length, bootstrap: o.bootstrap, level: o.level, permutations: o.permutations };
}

/** Finalizes one CKA state, warning about what its sanity checks flag. */
export function ckaComparison(state: unknown, a: string, b: string | null, what: string, warn: (m: string) => void): CKAComparison {
  const result = ckaReducer.finalize(state as CKAState);
  const sanity = ckaSanity(result);
  for (const w of [...result.warnings, ...sanity.warnings]) warn(`CKA ${what}: ${w}`);
  return { a, b, result, sanity };
}

/** The sanity checks of one comparison, named by its models. */
export function comparisonChecks(c: CKAComparison): SanityCheck[] {
  const name = c.b === null ? c.a : `${c.a} × ${c.b}`;
  return c.sanity.checks.map((check) => ({ id: `${name}: ${check.id}`, passed: check.passed, value: check.value, detail: check.detail }));
}

/** CSV and .npy files of a CKA result's matrices, under `base`; with statistics, one row per cell with its interval and p-value. */
export function* ckaFiles(result: Pick<CKAResult, "matrices" | "statistics">, base: string): Iterable<[string, string | Uint8Array]> {
  for (const [key, m] of Object.entries(result.matrices)) {
    if (!m) continue;
    yield [`${base}-${key}.csv`, matrixCsv(m.rows, m.cols, m.data)];
    yield [`${base}-${key}.npy`, encodeNpy(Float64Array.from(m.data), m.shape)];
    if (!m.lower && !m.p && !m.std) continue;
    const rows: unknown[][] = [["row", "col", "cka", "lower", "upper", "level", "p", "std_across_repeats"]];
    const level = result.statistics?.level;
    m.rows.forEach((r, i) => m.cols.forEach((c, j) => {
      const k = i * m.cols.length + j;
      rows.push([r, c, m.data[k], m.lower?.[k], m.upper?.[k], m.lower ? level : undefined, m.p?.[k], m.std?.[k]]);
    }));
    yield [`${base}-${key}-cells.csv`, csv(rows)];
  }
}

/** The report heatmap of one matrix of a CKA result. */
export function ckaHeatmap(result: Pick<CKAResult, "matrices" | "statistics" | "estimator" | "tokens">, key: "AA" | "BB" | "AB", id: string, title: string, rowModel: string, colModel: string): Heatmap | undefined {
  const m = result.matrices[key];
  if (!m) return undefined;
  return {
    id, title, rowModel, colModel, rows: m.rows, cols: m.cols, data: m.data as Arr, estimator: result.estimator, tokens: result.tokens,
    ...(m.lower && m.upper ? { lower: m.lower as Arr, upper: m.upper as Arr, level: result.statistics?.level } : {}),
    ...(m.p ? { p: m.p as Arr } : {}),
  };
}

export const cka = defineAnalysis({
  id: "cka",
  summary: "linear CKA between every pair of sites, within a model and across models (Raghu Figs. 1, 2, 12)",
  options: CKA_OPTIONS,
  default: true,
  plan(ctx) {
    const o = ctx.options;
    if (o.estimator === "minibatch-unbiased" && o.batch < 4) throw new UsageError(`invalid batch: ${o.batch} (the minibatch-unbiased CKA estimator needs batches of at least 4)`);
    const users = ctx.userModels;
    for (const m of users) {
      if (m.ckaSites.length > 0) continue;
      const problem = `no CKA sites found (site set ${o.siteSet}); name some with --site NAME=TENSOR`;
      if (ctx.explicit) throw new InputError(m.file, problem);
      ctx.warn(`${m.label}: ${problem}`);
    }
    checkTokens(ctx);
    const has = (m: PlanModel) => m.ckaSites.length > 0;
    const config = ckaConfig(ctx);
    if (users.length === 1 && has(users[0])) ctx.add({ models: [0] }, ckaDriver(users[0], null, config), ckaReducer);
    for (const b of users.slice(1)) if (has(users[0]) && has(b)) ctx.add({ models: [0, b.index] }, ckaDriver(users[0], b, config), ckaReducer);
    if (o.estimator === "minibatch-unbiased") {
      for (let r = 1; r < o.repeats; r++) ctx.addPass({ name: repeatPass(r), split: "main", reshuffle: r });
    }
  },
  finish(ctx) {
    const out: CKAComparison[] = ctx.states.map(({ key, state }) => {
      const [a, b] = key.models;
      return ckaComparison(state, ctx.labels[a], b === undefined ? null : ctx.labels[b], b === undefined ? ctx.labels[a] : `${ctx.labels[a]} × ${ctx.labels[b]}`, ctx.warn);
    });
    if (out.length === 0) {
      ctx.warn("no CKA result");
      return undefined;
    }
    return out;
  },
  // Data scale (Raghu Fig. 12): per-block CKA of further checkpoints against model A. Only
  // checkpoints whose sites carry A's canonical names (same architecture) have a diagonal.
  extra(section): { dataScale?: BlockwiseCKA } | undefined {
    const same = section.filter((c) => c.b !== null && c.result.matrices.AB?.rows.some((r) => c.result.matrices.AB!.cols.includes(r)));
    if (same.length === 0) return undefined;
    return { dataScale: blockwiseCKA(section[0].a, Object.fromEntries(same.map((c) => [c.b!, c.result]))) };
  },
  checks(section) {
    return section.flatMap((c) => comparisonChecks(c));
  },
  *files(section, ctx, extra) {
    for (const c of section) yield* ckaFiles(c.result, `cka-${ctx.slug(c.a)}${c.b === null ? "" : `-${ctx.slug(c.b)}`}`);
    const ds = extra?.dataScale;
    if (ds) yield ["cka-data-scale.csv", csv([["block", ...ds.series.map((s) => s.name)], ...ds.blocks.map((b, i) => [b, ...ds.series.map((s) => s.values[i])])])];
  },
  report(section, ctx, extra) {
    if (!section?.length) return { omitted: { cka: "CKA was not run" } };
    // A×A, B×B, A×B of the main pair, then the other pairs' cross matrices.
    const heatmaps: Heatmap[] = [];
    const id = (c: CKAComparison, key: string) => `cka-${ctx.modelId(c.a)}${c.b === null ? "" : `-${ctx.modelId(c.b)}`}-${key}`;
    const first = section[0];
    const push = (h: Heatmap | undefined) => h && heatmaps.push(h);
    push(ckaHeatmap(first.result, "AA", id(first, "AA"), `CKA: ${first.a}`, ctx.modelId(first.a), ctx.modelId(first.a)));
    if (first.b) push(ckaHeatmap(first.result, "BB", id(first, "BB"), `CKA: ${first.b}`, ctx.modelId(first.b), ctx.modelId(first.b)));
    // The other models' own matrices too: the report shows every model's intra-model CKA in one row.
    for (const c of section.slice(1)) if (c.b) push(ckaHeatmap(c.result, "BB", id(c, "BB"), `CKA: ${c.b}`, ctx.modelId(c.b), ctx.modelId(c.b)));
    for (const c of section) if (c.b) push(ckaHeatmap(c.result, "AB", id(c, "AB"), `CKA: ${c.a} × ${c.b}`, ctx.modelId(c.a), ctx.modelId(c.b)));
    const out: { cka: Heatmap[]; dataScale?: Panel[] } = { cka: heatmaps };
    const ds = extra?.dataScale;
    if (ds) {
      const n = ds.blocks.length;
      out.dataScale = [{
        kind: "line",
        id: "cka-data-scale",
        title: `Per-block CKA against ${ds.reference}`,
        caption: `Raghu et al. Fig. 12: CKA between each block of ${ds.reference} and the same block of each other checkpoint (diagonal of the cross-model matrix). Lower layers of models trained on less data stay close to the reference; higher layers drift.`,
        xLabel: "normalised depth",
        yLabel: "CKA",
        series: ds.series.map((s) => ({ name: s.name, points: Array.from(s.values as Arr, (v, i) => ({ x: i / Math.max(1, n - 1), y: num(v), label: ds.blocks[i] })) })),
      }];
    }
    return out;
  },
});
