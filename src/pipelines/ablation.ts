/**
 * Inference-time skip ablation (METHODS.md §4): model A with both residuals of a block removed
 * from the frozen graph (out = f(z)), compared with the intact A by CKA and accuracy. A different,
 * cheaper experiment than Raghu's retrained models (Fig. 8), and always labelled so.
 */
import { UsageError } from "../errors.js";
import { removeResidual } from "../onnx/surgery.js";
import { ckaReducer } from "../../analyses/cka.js";
import { accuracyReducer } from "../../analyses/accuracy.js";
import type { Heatmap, Panel } from "../../reports/types.js";
import { defaulted, option } from "../options.js";
import { defineAnalysis } from "./contract.js";
import { ckaComparison, comparisonChecks, ckaConfig, ckaDriver, ckaFiles, ckaHeatmap, type CKAComparison } from "./cka.js";
import { accuracyDriver } from "./accuracy.js";
import { csv, num } from "./tables.js";

/** One ablated block of the results. */
export interface AblationEntry {
  block: number;
  /** Label of the ablated variant. */
  label: string;
  accuracyIntact?: number;
  accuracyAblated?: number;
  /** CKA of intact A (rows) against the ablated graph (columns). */
  cka?: CKAComparison;
  kind: "inference-ablation";
}

function parseBlocks(s: string): number[] {
  return s.split(",").map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid --ablate: ${s}`);
    return n;
  });
}

export const ABLATION_OPTIONS = [
  defaulted<"ablate", readonly number[]>({
    key: "ablate", flag: "--ablate <blocks>", description: "inference-ablation: remove both residuals of these blocks of the first model (comma-separated, 0-based)",
    default: [], parse: parseBlocks, owner: "ablation", record: (v) => [...v],
  }),
] as const;

export const ablation = defineAnalysis({
  id: "ablation",
  summary: "inference-time removal of both residuals of a block of model A: CKA against intact A and the accuracy drop",
  options: ABLATION_OPTIONS,
  default: true,
  variants(ctx) {
    const a = ctx.userModels[0];
    return (ctx.options.ablate as readonly number[]).map((blockIndex) => {
      const block = a.sites.blocks[blockIndex];
      if (!block) throw new UsageError(`invalid ablate: block ${blockIndex} (${a.label} has ${a.sites.blocks.length} blocks)`);
      return { ...a, role: "variant" as const, label: `${a.label} −${block.name} (inference-ablation)`, bytes: removeResidual(a.model, block.name, a.sites), ablatedBlock: blockIndex };
    });
  },
  plan(ctx) {
    const a = ctx.userModels[0];
    const variants = ctx.models.filter((m) => m.ablatedBlock !== undefined);
    const config = ckaConfig(ctx);
    for (const v of variants) {
      const part = String(v.ablatedBlock);
      if (a.ckaSites.length && v.ckaSites.length) ctx.add({ models: [a.index, v.index], part: `cka-${part}` }, ckaDriver(a, v, config), ckaReducer);
      if (ctx.main.labels) ctx.add({ models: [v.index], part: `accuracy-${part}` }, accuracyDriver(v.index, v.sites.logits), accuracyReducer);
    }
    if (variants.length && !ctx.main.labels) ctx.warn("skip ablation: no labels, so no accuracy drop (CKA only)");
  },
  finish(ctx) {
    const variants = ctx.models.filter((m) => m.ablatedBlock !== undefined);
    if (!variants.length) return undefined;
    const intact = ctx.results.accuracy?.[ctx.labels[0]]?.accuracy;
    return variants.map((v): AblationEntry => {
      const of = (prefix: string) => ctx.states.find((s) => s.key.part === `${prefix}-${v.ablatedBlock}`);
      const c = of("cka");
      const acc = of("accuracy");
      return {
        block: v.ablatedBlock!,
        label: v.label,
        accuracyIntact: intact,
        accuracyAblated: acc ? acc.reducer.finalize(acc.state).accuracy : undefined,
        ...(c ? { cka: ckaComparison(c.state, ctx.labels[0], v.label, `${ctx.labels[0]} × ${v.label}`, ctx.warn) } : {}),
        kind: "inference-ablation",
      };
    });
  },
  checks(section) {
    return section.flatMap((e) => (e.cka ? comparisonChecks(e.cka) : []));
  },
  *files(section, ctx) {
    yield ["ablation.csv", csv([["block", "variant", "accuracy_intact", "accuracy_ablated"], ...section.map((e) => [e.block, e.label, e.accuracyIntact, e.accuracyAblated])])];
    for (const e of section) if (e.cka) yield* ckaFiles(e.cka.result, `ablation-${ctx.slug(e.cka.a)}-block${e.block}`);
  },
  report(section, ctx) {
    if (!section?.length) return {};
    const panels: Panel[] = [];
    const accs = section.filter((a) => a.accuracyIntact !== undefined && a.accuracyAblated !== undefined);
    if (accs.length) {
      panels.push({
        kind: "line",
        id: "ablation-accuracy",
        title: "Accuracy with residuals removed at inference",
        caption: "inference-ablation: both skip connections of one block removed from the frozen graph (out = f(z)); not the retrained models of Raghu et al. Fig. 8.",
        xLabel: "model",
        yLabel: "accuracy",
        // Categories, not a numeric block axis: the intact model and each ablated variant.
        xCategories: ["intact", ...accs.map((a) => `block ${a.block} ablated`)],
        series: [
          {
            name: "accuracy",
            points: [{ x: 0, y: num(accs[0].accuracyIntact), label: "intact" }, ...accs.map((a, k) => ({ x: k + 1, y: num(a.accuracyAblated), label: a.label }))],
          },
        ],
      });
    }
    for (const e of section) {
      if (!e.cka) continue;
      const h: Heatmap | undefined = ckaHeatmap(e.cka.result, "AB", `ablation-block${e.block}-AB`, `CKA: ${e.cka.a} × ${e.label}`, ctx.modelId(e.cka.a), ctx.modelId(e.label));
      if (h) panels.push({ kind: "heatmap", ...h, caption: `Inference-ablation (not the paper's retrained model): CKA between ${e.cka.a} and the same graph with both residuals of block ${e.block} removed at inference.` });
    }
    return panels.length ? { ablation: panels } : {};
  },
});
