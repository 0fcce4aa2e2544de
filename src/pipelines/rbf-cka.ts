/**
 * RBF-kernel CKA (Kornblith et al. 2019): CKA of Gaussian kernels of each site's distances,
 * σ = f × the median distance of each batch. Reads the same in-graph linear Grams as linear
 * CKA (the engine computes each tap once), so it costs no extra inference.
 */
import type { FloatArray } from "../tensor.js";
import type { Driver, BatchView } from "../engine/stream.js";
import { rbfCkaReducer, type RbfCKAResult, type RbfCKAState } from "../../analyses/similarity/rbf-cka.js";
import { defaulted } from "../options.js";
import { defineAnalysis, type PlanModel } from "./contract.js";
import { checkTokens, ckaConfig, ckaFiles, ckaHeatmap, gramTaps, type CKADriverConfig } from "./cka.js";
import type { HeatmapPanel } from "../../reports/types.js";

/** One RBF CKA comparison: model A against model B (or A alone). */
export interface RbfCKAComparison {
  a: string;
  b: string | null;
  result: RbfCKAResult;
}

export const RBF_OPTIONS = [
  defaulted<"rbfSigma", number>({
    key: "rbfSigma", flag: "--rbf-sigma <f>", description: "RBF CKA bandwidth: σ = f × the median distance of each batch", default: 0.5,
    parse: (v) => {
      const x = Number(v);
      if (!(x > 0 && Number.isFinite(x))) throw new RangeError(`invalid rbf-sigma: ${v}`);
      return x;
    },
    owner: "rbf-cka", record: true,
  }),
] as const;

function rbfDriver(a: PlanModel, b: PlanModel | null, config: CKADriverConfig, sigmaFactor: number): Omit<Driver<RbfCKAState>, "id"> {
  const tapsA = gramTaps(a.ckaSites, config.tokens, a.sites.prefixTokens);
  const tapsB = b ? gramTaps(b.ckaSites, config.tokens, b.sites.prefixTokens) : [];
  return {
    taps: (pass, m) => (pass !== "main" ? [] : [...(m === a.index ? tapsA : []), ...(b && m === b.index ? tapsB : [])]),
    init: () => rbfCkaReducer.init({
      sitesA: a.ckaSites.map((s) => s.name),
      sitesB: b?.ckaSites.map((s) => s.name),
      estimator: config.estimator,
      tokens: config.tokens,
      batch: config.estimator === "minibatch-unbiased" ? config.batch : config.examples,
      examples: config.examples,
      sigmaFactor,
    }),
    update(state: RbfCKAState, view: BatchView) {
      if (view.pass !== "main") return state;
      const gramsA: FloatArray[] = tapsA.map((t) => view.tap(a.index, t).data);
      const gramsB = b ? tapsB.map((t) => view.tap(b.index, t).data) : undefined;
      return rbfCkaReducer.update(state, { gramsA, gramsB });
    },
    merge: rbfCkaReducer.merge,
  };
}

export const rbfCka = defineAnalysis({
  id: "rbf-cka",
  summary: "RBF-kernel CKA between every pair of sites (σ = f × median distance per batch), from the same Grams as linear CKA",
  options: RBF_OPTIONS,
  default: true,
  plan(ctx) {
    checkTokens(ctx);
    const users = ctx.userModels;
    const config = ckaConfig(ctx);
    const has = (m: PlanModel) => m.ckaSites.length > 0;
    if (users.length === 1 && has(users[0])) ctx.add({ models: [0] }, rbfDriver(users[0], null, config, ctx.options.rbfSigma), rbfCkaReducer);
    for (const b of users.slice(1)) if (has(users[0]) && has(b)) ctx.add({ models: [0, b.index] }, rbfDriver(users[0], b, config, ctx.options.rbfSigma), rbfCkaReducer);
  },
  finish(ctx) {
    const out: RbfCKAComparison[] = ctx.states.map(({ key, state, reducer }) => {
      const [a, b] = key.models;
      const result = reducer.finalize(state) as RbfCKAResult;
      for (const w of result.warnings) ctx.warn(`RBF CKA ${ctx.labels[a]}${b === undefined ? "" : ` × ${ctx.labels[b]}`}: ${w}`);
      return { a: ctx.labels[a], b: b === undefined ? null : ctx.labels[b], result };
    });
    return out.length ? out : undefined;
  },
  *files(section, ctx) {
    for (const c of section) yield* ckaFiles(c.result, `rbf-cka-${ctx.slug(c.a)}${c.b === null ? "" : `-${ctx.slug(c.b)}`}`);
  },
  report(section, ctx) {
    if (!section?.length) return {};
    const panels = section.flatMap((c) => {
      const keys = c.b === null ? (["AA"] as const) : (["AB"] as const);
      return keys.map((key) => {
        const h = ckaHeatmap(c.result, key, `rbf-cka-${ctx.modelId(c.a)}-${c.b === null ? "" : ctx.modelId(c.b)}-${key}`, `RBF CKA: ${c.a}${c.b ? ` × ${c.b}` : ""}`, ctx.modelId(c.a), ctx.modelId(c.b ?? c.a));
        return h ? { kind: "heatmap" as const, ...h, caption: `RBF-kernel CKA (σ = ${c.result.sigmaFactor} × the median distance of each batch) between the sites of ${c.a} and ${c.b ?? c.a}; invariant to rotations, isotropic scaling and shifts, and more sensitive than linear CKA to local neighbourhood structure.` } : null;
      }).filter((p): p is HeatmapPanel & { caption: string } => p !== null);
    });
    return {
      sections: [{ id: "rbf-cka", title: "RBF-kernel CKA", intro: "CKA with a Gaussian kernel on each site's distances (Kornblith et al. 2019), from the same Grams as linear CKA: a cross-check of the linear heatmaps that weighs local neighbourhoods more.", panels }],
    };
  },
});
