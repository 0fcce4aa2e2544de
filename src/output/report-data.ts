/**
 * Results → the report's view model (reports/types.ts). Accepts results straight from a run
 * (typed arrays) or read back from results.json (plain arrays, NaN as null).
 */
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import path from "node:path";
import type { Results } from "../plan/types.js";
import type { ReportData, ReportModel, SanityCheck, SectionId } from "../../reports/types.js";
import { REGISTRY } from "../pipelines/index.js";
import type { AnalysisDefinition } from "../pipelines/contract.js";
import { num } from "../pipelines/tables.js";
import { outputContext } from "./files.js";
import { ALL_OPTIONS } from "../plan/types.js";

/** The report section an analysis fills, for its skip notes (issue 14, item 6). */
const SKIP_SECTIONS: Record<string, SectionId> = {
  cka: "cka", attention: "attentionDistance", skip: "skipRatio", probes: "probes", localisation: "localisation",
  embeddings: "posEmbed", collapse: "collapse", ablation: "ablation",
};

/**
 * The declared training data of a model: its model card's `train_images` and the id of its
 * recipe (architecture, configuration and training recipe except the subset of the data), so
 * checkpoints of one recipe on different amounts of data are recognised and never guessed from
 * names. Undefined without a card (or a card without train_images).
 */
export function declaredTraining(modelFile: string): ReportModel["training"] {
  const base = modelFile.replace(/\.onnx$/i, "");
  for (const file of [`${base}.json`, `${base}.card.json`]) {
    let card: Record<string, any>;
    try {
      card = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    if (typeof card?.train_images !== "number") return undefined;
    const { train_subset: _subset, untrained, ...recipe } = card.recipe ?? {};
    const id = createHash("sha256").update(JSON.stringify([card.architecture ?? null, card.config ?? null, card.dataset ?? null, recipe])).digest("hex").slice(0, 12);
    return { images: card.train_images, recipe: id, ...(untrained === true ? { untrained: true } : {}) };
  }
  return undefined;
}

/** Options of reportData. */
export interface ReportDataOptions {
  /**
   * Declared checkpoints of one recipe (label → training images), for models without a model
   * card; overrides the cards. All declared models share one recipe id.
   */
  checkpoints?: Record<string, number>;
}

/**
 * The report view model of a run's results.
 * @example renderReport(reportData(await compare("a.onnx", "b.onnx", { data: "images/" })))
 */
export function reportData(results: Results, title?: string, options: ReportDataOptions = {}): ReportData {
  const labels = results.models.map((m) => m.label);
  const sanity: SanityCheck[] = [];
  const ctx = outputContext(results);
  const sections = results as unknown as Record<string, unknown>;
  const ran = (REGISTRY as readonly AnalysisDefinition<any, any, any, any>[]).filter((d) => results.settings.analyses.includes(d.id));
  for (const d of ran) if (d.checks && sections[d.id] !== undefined) sanity.push(...d.checks(sections[d.id], ctx));
  // The recorded options of the run and of the analyses that ran (METHODS.md §8), from the options table.
  const settings: Record<string, string | number | boolean> = {};
  for (const o of ALL_OPTIONS) {
    if (!o.record || (o.owner !== "run" && !results.settings.analyses.includes(o.owner))) continue;
    const key = o.key === "shard" ? "shards" : o.key;
    const v = (results.settings as Record<string, unknown>)[key];
    if (v === undefined || (Array.isArray(v) && v.length === 0) || (key === "shards" && v === 1)) continue;
    settings[key.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)] = Array.isArray(v) ? v.join(", ") : (v as string | number | boolean);
  }
  if (results.shard) settings.shard = `${results.shard.index}/${results.shard.count}`;
  // Identical preprocessing is shown once; models that differ get their own row.
  const prep = results.models.map((m, i) => JSON.stringify(results.settings.models[i]?.preprocessing ?? {}));
  const distinct = [...new Set(prep)];
  if (distinct.length === 1) settings["preprocessing (all models)"] = distinct[0];
  else results.models.forEach((m, i) => (settings[`preprocessing: ${m.label}`] = prep[i]));
  for (const [label, acc] of Object.entries(results.accuracy ?? {})) settings[`accuracy: ${label}`] = Number(num(acc.accuracy).toFixed(4));

  const data: ReportData = {
    run: {
      title: title ?? (labels.length > 1 ? `${labels[0]} vs ${labels[1]}` : `${labels[0]}`),
      toolVersion: results.settings.version,
      created: new Date().toISOString(),
      models: results.models.map((m): ReportModel => {
        const declared = options.checkpoints?.[m.label];
        const training = declared !== undefined ? { images: declared, recipe: "declared" } : m.ablatedBlock === undefined ? declaredTraining(m.file) : undefined;
        return {
          id: ctx.modelId(m.label),
          label: m.label,
          file: path.basename(m.file),
          sha256: m.sha256,
          family: m.family,
          sites: Object.keys(m.ckaSites).length,
          ...(typeof m.prefixTokens === "number" ? { prefixTokens: m.prefixTokens } : {}),
          ...(m.ablatedBlock !== undefined && m.ablatedBlock !== null ? { ablatedBlock: m.ablatedBlock } : {}),
          ...(training ? { training } : {}),
        };
      }),
      data: { path: results.settings.data.path, images: results.settings.data.images, sampleDigest: results.settings.data.sampleDigest },
      settings,
      timings: results.timings,
      sanity,
      warnings: results.warnings,
    },
    omitted: {},
  };

  // Each analysis draws its own part, in registry order; `omitted` notes accumulate.
  for (const d of ran) {
    if (!d.report) continue;
    const part = d.report(sections[d.id], ctx, sections);
    const { omitted, sections: generic, ...rest } = part;
    Object.assign(data, rest);
    if (generic) (data.sections ??= []).push(...generic);
    Object.assign(data.omitted!, omitted ?? {});
  }
  if (results.skippedAnalyses?.length) {
    data.skippedAnalyses = results.skippedAnalyses.map((k) => ({ section: SKIP_SECTIONS[k.analysis] ?? "run", ...k }));
  }
  if (results.substitutions?.length) {
    data.substitutions = results.substitutions.map((k) => ({ section: SKIP_SECTIONS[k.analysis] ?? "run", ...k }));
  }
  return data;
}
