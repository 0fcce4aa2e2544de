/**
 * Results → the report's view model (reports/types.ts). Accepts results straight from a run
 * (typed arrays) or read back from results.json (plain arrays, NaN as null).
 */
import path from "node:path";
import type { Results } from "../plan/types.js";
import type { ReportData, SanityCheck, SectionId } from "../../reports/types.js";
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
 * The report view model of a run's results.
 * @example renderReport(reportData(await compare("a.onnx", "b.onnx", { data: "images/" })))
 */
export function reportData(results: Results, title?: string): ReportData {
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
  for (const m of results.models) {
    settings[`preprocessing: ${m.label}`] = JSON.stringify(results.settings.models[results.models.indexOf(m)]?.preprocessing ?? {});
  }
  for (const [label, acc] of Object.entries(results.accuracy ?? {})) settings[`accuracy: ${label}`] = Number(num(acc.accuracy).toFixed(4));

  const data: ReportData = {
    run: {
      title: title ?? (labels.length > 1 ? `${labels[0]} vs ${labels[1]}` : `${labels[0]}`),
      toolVersion: results.settings.version,
      created: new Date().toISOString(),
      models: results.models.map((m) => ({ id: ctx.modelId(m.label), label: m.label, file: path.basename(m.file), sha256: m.sha256, family: m.family, sites: Object.keys(m.ckaSites).length })),
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
