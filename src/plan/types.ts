/**
 * The types of a run, generated from the options table and the registry: `RunOptions` (what a
 * library caller passes), the resolved options (every default applied), `Results` and `Plan`.
 */
import { UsageError } from "../errors.js";
import type { Driver, EngineModel, Pass } from "../engine/stream.js";
import type { ProgressCallback } from "../engine/progress.js";
import type { SettingsRecord } from "../engine/settings.js";
import type { SkippedSample } from "../data/loader.js";
import type { ModelSites } from "../onnx/sites.js";
import { ANALYSES, ANALYSIS_OPTIONS, DEFAULT_ANALYSES, type AnalysisId, type AnalysisOptionSpec, type Sections } from "../pipelines/index.js";
import type { PlanModel, PlannedDriver, SkippedAnalysis, Substitution } from "../pipelines/contract.js";
import { CLI_FLAGS, RUN_OPTIONS, defaulted, type DefaultedKeys, type OptionSpec, type OptionValues } from "../options.js";

export type { AnalysisId } from "../pipelines/index.js";

function parseAnalyses(s: string): AnalysisId[] {
  const list = s.split(",").map((x) => x.trim()).filter(Boolean);
  for (const a of list) if (!(ANALYSES as readonly string[]).includes(a)) throw new UsageError(`invalid --analyses: ${a} (choose from ${ANALYSES.join(", ")})`);
  return list as AnalysisId[];
}

/** The `analyses` option: its choices are the registry's ids. */
export const ANALYSES_OPTION = defaulted<"analyses", readonly AnalysisId[]>({
  key: "analyses", flag: "--analyses <list>", description: `comma-separated subset: ${ANALYSES.join(",")}`, default: DEFAULT_ANALYSES,
  parse: parseAnalyses, owner: "run", record: (v) => [...v].sort(),
});

/**
 * Every option of a run: the run's own, then each analysis' in registry order.
 * @example ALL_OPTIONS.find((o) => o.key === "estimator")?.default // "minibatch-unbiased"
 */
export const ALL_OPTIONS: readonly OptionSpec<string, any>[] = [...RUN_OPTIONS, ...CLI_FLAGS, ANALYSES_OPTION, ...ANALYSIS_OPTIONS];

type Spec = (typeof RUN_OPTIONS)[number] | typeof ANALYSES_OPTION | AnalysisOptionSpec;

/** Options of a run: every option of the table (each with its documented default), plus callbacks. */
export type RunOptions = OptionValues<Spec> & {
  onProgress?: ProgressCallback;
  onWarning?: (message: string) => void;
  /** What the run settled before it starts (the batch and its memory estimate), one line each. */
  onInfo?: (message: string) => void;
  shouldStop?: () => boolean;
};

/** Keys of options that have a default. */
type Defaulted = DefaultedKeys<Spec>;

/** Run options with every default applied: the options with a default are never undefined. */
export type ResolvedOptions = Omit<RunOptions, Defaulted> & { [K in Defaulted & keyof RunOptions]-?: NonNullable<RunOptions[K]> };

/** Applies the table's defaults. */
export function resolveOptions(options: RunOptions): ResolvedOptions {
  const out: Record<string, unknown> = { ...options };
  for (const o of ALL_OPTIONS) if (out[o.key] === undefined && o.default !== undefined) out[o.key] = o.default;
  return out as ResolvedOptions;
}

/** The recorded options of the settings record (METHODS.md §8), by the table's `record` rules. */
export function recordedOptions(options: ResolvedOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const values = options as Record<string, unknown>;
  for (const o of ALL_OPTIONS) {
    if (!o.record) continue;
    // `shard` is recorded as the shard count (1 for a single run) under `shards`.
    const key = o.key === "shard" ? "shards" : o.key;
    out[key] = o.record === true ? values[o.key] : (o.record as (v: unknown) => unknown)(values[o.key]);
  }
  return out;
}

/** A model as described in the results. */
export interface ModelSummary {
  label: string;
  file: string;
  sha256: string;
  family: ModelSites["family"];
  opset: number;
  producer: string;
  patchSize: number | null;
  grid: [number, number] | null;
  prefixTokens: number;
  blocks: number;
  /** canonical → exporter names of the CKA sites used */
  ckaSites: Record<string, string>;
  ablatedBlock?: number;
}

/** Everything a run produces; JSON-ready after `toJSONValue`. Each analysis' section is under its id. */
export type Results = {
  schema: "seelike-results@1";
  settings: SettingsRecord;
  shard?: { index: number; count: number };
  timings: Record<string, number>;
  models: ModelSummary[];
  skipped: SkippedSample[];
  /** Analyses that could not apply to a model, with the reason (issue 14, item 6). */
  skippedAnalyses?: SkippedAnalysis[];
  /** Option values that could not apply to a model as given, and what was used (issue 14, item 10). */
  substitutions?: Substitution[];
  /** The batch and the memory estimate of the run (absent in results of earlier versions). */
  memory?: RunMemory;
  warnings: string[];
} & Sections;

/** A prepared run: what the engine needs and what finish needs. */
export interface Plan {
  settings: SettingsRecord;
  digest: string;
  models: PlanModel[];
  passes: Pass[];
  /** Drivers in planning order, with their structured keys and reducers. */
  drivers: PlannedDriver[];
  options: ResolvedOptions;
  /** The analyses asked for, in registry order. */
  analyses: AnalysisId[];
  warnings: string[];
  /** Analyses skipped for a model at planning (a tap that cannot apply, no attention, …). */
  skippedAnalyses: SkippedAnalysis[];
  substitutions: Substitution[];
  /** The batch chosen and the run's memory estimate (bytes), recorded in the results. */
  memory: RunMemory;
}

/** The batch of a run, where it came from, and the estimated peak memory against the limit. */
export interface RunMemory {
  batch: number;
  /** "auto" (largest fitting power of two), "option" (--batch), "model" (a fixed-batch export). */
  batchFrom: "auto" | "option" | "model";
  estimate: number;
  limit: number;
  phases: { phase: string; bytes: number; models: Record<string, number> }[];
}

/** The engine's view of a plan's drivers. */
export function engineDrivers(plan: Plan): Driver[] {
  return plan.drivers.map((d) => d.driver);
}

/** The engine's view of a plan's models. */
export function engineModels(plan: Plan): EngineModel[] {
  return plan.models;
}

/** The plan's pass over the evaluation data. */
export function mainPass(plan: Plan): Pass {
  const p = plan.passes.find((x) => x.name === "main");
  if (!p) throw new Error("a plan without its main pass");
  return p;
}
