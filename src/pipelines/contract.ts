/**
 * The analysis contract. An analysis is its reducer under analyses/ plus one pipeline file here
 * that declares, in one place: its id (the `--analyses` value, the results key, the report
 * section and the prefix of its files), its options, which models it applies to and the
 * drivers (taps + reducer) it runs, how driver states become its results section, and how that
 * section becomes files and report figures. src/pipelines/index.ts lists them: the registry.
 */
import type { Driver, EngineModel } from "../engine/stream.js";
import type { ModelGeometry } from "../engine/geometry.js";
import type { DataSource } from "../data/types.js";
import type { SettingsRecord } from "../engine/settings.js";
import type { OptionSpec } from "../options.js";
import type { Reducer } from "../../analyses/reducer.js";
import type { ReportData, SanityCheck } from "../../reports/types.js";
import type { CkaSite } from "./sites.js";

/** Which analysis instance a driver is: the analysis, the models it reads, and a part within it. */
export interface DriverKey {
  analysis: string;
  /** Engine model indices (one, or A and B of a pair). */
  models: readonly number[];
  /** A part within the analysis, e.g. the probe representation "cls". */
  part?: string;
}

/** The storage id of a key (checkpoints and state files key driver states by it; never parsed back). */
export function keyId(key: DriverKey): string {
  return [key.analysis, key.models.join("-"), ...(key.part ? [key.part] : [])].join(":");
}

/** A model of the plan: the engine's model plus what planning found out about it. */
export interface PlanModel extends EngineModel {
  /** Index in the engine's model list. */
  index: number;
  /** "model": given by the user; "variant": derived by an analysis (e.g. an inference-ablation). */
  role: "model" | "variant";
  /** Shapes of its sites from a probe run. */
  geometry: ModelGeometry;
  /** The CKA sites used for it (also recorded in the settings). */
  ckaSites: CkaSite[];
  /** The block whose residuals were removed, for an inference-ablation variant. */
  ablatedBlock?: number;
}

/** An analysis that could not apply to a model: recorded in the results and shown in the report. */
export interface SkippedAnalysis {
  analysis: string;
  /** The model's label; absent when the analysis could apply to none of the run's models. */
  model?: string;
  reason: string;
}

/** An option value that could not apply to a model as given, and what was used instead. */
export interface Substitution {
  analysis: string;
  model: string;
  option: string;
  given: string;
  used: string;
  reason: string;
}

/** A driver planned by an analysis, with its structured key and reducer. */
export interface PlannedDriver {
  key: DriverKey;
  driver: Driver;
  reducer: Reducer<any, any, any, any>;
  /** Further analyses that read this driver's state (a driver added with `share`). */
  readers?: string[];
}

/** What an analysis sees while it plans. `O` is the resolved options of the run. */
export interface PlanContext<O = Record<string, unknown>> {
  options: O;
  /** Every model of the run so far (user models first). */
  models: PlanModel[];
  /** The user's models only. */
  userModels: PlanModel[];
  main: DataSource;
  train?: DataSource;
  /** Indices into `main` of the sample, in order. */
  sample: Int32Array;
  /** True when the user named this analysis in `analyses` (a missing input is then an error, not a warning). */
  explicit: boolean;
  warn(message: string): void;
  /**
   * Records that this analysis cannot apply to `model` (all models when omitted) and why, in one
   * line: printed, kept in the results (`skippedAnalyses`) and shown in the report next to the
   * analysis; everything else still runs.
   */
  skip(model: PlanModel | undefined, reason: string): void;
  /**
   * Records that an option's value could not apply to `model` as given and what was used
   * instead (kept in the results' `substitutions`, shown in the report); never silent.
   */
  substitute(model: PlanModel, entry: Omit<Substitution, "analysis" | "model">): void;
  /** Opens the training split (`trainData`), records it in the settings and returns it. */
  trainSplit(): Promise<DataSource>;
  /** Adds a driver (several analyses may share one pass of the data). */
  add(key: Omit<DriverKey, "analysis">, driver: Omit<Driver, "id">, reducer: Reducer<any, any, any, any>): void;
  /**
   * Adds a driver several analyses read (its `key.analysis` names the store, e.g. "pooled"), or,
   * when one with that key is already planned, only makes this analysis one of its readers: its
   * state then comes in the `states` of every reader's finish, computed once per pass.
   */
  share(key: DriverKey, driver: Omit<Driver, "id">, reducer: Reducer<any, any, any, any>): void;
  /**
   * Adds a pass over the data: the probes' training split, or reshuffle r of the main sample
   * (a CKA repeat). The main pass always runs.
   */
  addPass(pass: { name: string; split: "train" } | { name: string; split: "main"; reshuffle: number }): void;
}

/** What an analysis sees while it finishes. */
export interface FinishContext<O = Record<string, unknown>, R = Record<string, unknown>> {
  options: O;
  models: PlanModel[];
  labels: string[];
  settings: SettingsRecord;
  /** The states of this analysis' drivers, in planning order. */
  states: { key: DriverKey; state: unknown; reducer: Reducer<any, any, any, any> }[];
  /** Results of the analyses before this one in the registry. */
  results: Partial<R>;
  warn(message: string): void;
}

/** What `files` and `report` see of the run. */
export interface OutputContext {
  /** Model labels in engine order. */
  labels: string[];
  /** The report's model id of a label. */
  modelId(label: string): string;
  /** A file-name-safe slug of a label. */
  slug(label: string): string;
}

/** One analysis: see the module comment. `Id` and `Section` type the results key and value. */
export interface AnalysisDefinition<Id extends string = string, O extends readonly OptionSpec<string, any>[] = readonly OptionSpec<string, any>[], Section = unknown, Extra extends object = {}> {
  id: Id;
  /** One line for `--help` and the docs. */
  summary: string;
  /** Options it owns (merged into the run's options table). */
  options: O;
  /** Part of the default set when `analyses` is not given. */
  default: boolean;
  /** Models it derives from the user's (before geometry is probed), e.g. inference-ablated variants. */
  variants?(ctx: PlanContext<any>): Promise<Omit<PlanModel, "index" | "geometry" | "ckaSites">[]> | Omit<PlanModel, "index" | "geometry" | "ckaSites">[];
  /** Checks and drivers; runs after every model's geometry is known. */
  plan(ctx: PlanContext<any>): void | Promise<void>;
  /** Driver states → this analysis' results section (undefined: nothing to report). */
  finish(ctx: FinishContext<any, any>): Section | undefined | Promise<Section | undefined>;
  /** Further top-level results keys it fills (e.g. CKA's `dataScale`). */
  extra?(section: Section, ctx: FinishContext<any, any>): Extra | undefined;
  /** Output files (CSV, .npy) of its section: name → content; names start with the id. */
  files?(section: Section, ctx: OutputContext, extra?: Extra): Iterable<[string, string | Uint8Array]>;
  /** Sanity checks of its section, listed in the report's run details. */
  checks?(section: Section, ctx: OutputContext): SanityCheck[];
  /** Its part of the report's view model; `omitted` explains a figure it cannot draw. */
  report?(section: Section | undefined, ctx: OutputContext, extra?: Extra): Partial<ReportData>;
}

/**
 * The finish of an analysis with one driver per model: each state finalized under its model's
 * label (undefined when no model had a driver).
 * @example finish: (ctx) => perModel<SkipRatioResult>(ctx)
 */
export function perModel<R>(ctx: FinishContext<any, any>): Record<string, R> | undefined {
  const out: Record<string, R> = {};
  for (const { key, state, reducer } of ctx.states) out[ctx.labels[key.models[0]]] = reducer.finalize(state);
  return Object.keys(out).length ? out : undefined;
}

/** Declares an analysis, keeping its literal id, option and section types for the registry. */
export function defineAnalysis<Id extends string, const O extends readonly OptionSpec<string, any>[], Section, Extra extends object = {}>(
  def: AnalysisDefinition<Id, O, Section, Extra>,
): AnalysisDefinition<Id, O, Section, Extra> {
  return def;
}
