/**
 * A run: models + data + options → a plan (engine models, passes, drivers, settings record),
 * the engine over it, and the finalized results. `compare`, `analyze` and `merge` in the API
 * all go through here, so a merged shard run and a single run finalize the same way.
 */
import path from "node:path";
import { InputError, UsageError } from "./errors.js";
import { VERSION } from "./version.js";
import type { Tensor } from "./tensor.js";
import { loadModel, initializerData, type OnnxModel } from "./onnx/model.js";
import { discoverSites, type ModelSites } from "./onnx/sites.js";
import { exposeOutputs, removeResidual } from "./onnx/surgery.js";
import { createSession, release, run, type Device } from "./runtime/session.js";
import { openData } from "./data/open.js";
import { setMaxMemory, checkModelFile, modelMemory } from "./limits.js";
import { modelPreprocess, preprocessSize, type PreprocessOptions, type PreprocessOverrides } from "./data/preprocess.js";
import { sampleIndices, sampleDigest, batchIndices } from "./data/sampling.js";
import type { DataSource } from "./data/types.js";
import type { SkippedSample } from "./data/loader.js";
import { runEngine, type Driver, type EngineModel, type Pass } from "./engine/run.js";
import {
  accuracyDriver, attentionDriver, ckaDriver, ckaSites, collapseDriver, localisationDriver, probeDriver, skipDriver,
  type ModelGeometry, type ProbeRepresentation,
} from "./engine/drivers.js";
import { settingsDigest, type SettingsRecord } from "./engine/settings.js";
import type { ProgressCallback } from "./engine/progress.js";
import { ckaReducer, blockwiseCKA, type CKAResult, type CKAState, type Estimator } from "../analyses/cka.js";
import { attentionDistanceReducer, type AttentionDistanceResult, type AttentionWeighting } from "../analyses/attention-distance.js";
import { skipRatioReducer, type SkipRatioResult } from "../analyses/skip-ratio.js";
import { localisationReducer, type LocalisationResult } from "../analyses/localisation.js";
import { collapseReducer, type CollapseResult } from "../analyses/collapse.js";
import { probeReducer, type ProbeResult } from "../analyses/probes.js";
import { accuracyReducer, type AccuracyResult } from "../analyses/accuracy.js";
import { patchEmbeddingComponents, positionEmbeddingSimilarity, type PatchEmbeddingComponents, type PositionEmbeddingSimilarity } from "../analyses/embeddings.js";
import { ckaSanity, type SanityReport } from "../analyses/sanity.js";
import type { TokenMode } from "../analyses/flatten.js";
import type { Reducer } from "../analyses/reducer.js";

/** Every analysis a run can do. */
export const ANALYSES = ["cka", "attention", "skip", "localisation", "probes", "embeddings", "collapse", "ablation"] as const;
/** One analysis id, e.g. "cka" or "attention". */
export type AnalysisId = (typeof ANALYSES)[number];

/** Options of a run; every METHODS.md choice is here with its documented default. */
export interface RunOptions {
  /** Evaluation data: folder, IDX, .npy or CSV. */
  data: string | DataSource;
  labels?: string;
  /** Training split for the probes. */
  trainData?: string | DataSource;
  trainLabels?: string;
  analyses?: readonly AnalysisId[];
  estimator?: Estimator;
  tokens?: TokenMode;
  siteSet?: "blocks" | "all";
  extraSites?: Record<string, string | RegExp>;
  limit?: number;
  seed?: number;
  batch?: number;
  repeats?: number;
  attentionWeighting?: AttentionWeighting;
  /** k-shot settings; `full` adds the whole-training-split fit. Default [1, 5, 10, 25, "full"]. */
  probeShots?: readonly (number | "full")[];
  /** Blocks (0-based) of model A whose residuals are removed at inference (METHODS.md §4). */
  ablate?: readonly number[];
  preprocess?: PreprocessOptions["preset"];
  preprocessOverrides?: PreprocessOverrides;
  /** Model labels shown in the report (default: file names without .onnx). */
  modelLabels?: readonly string[];
  threads?: number;
  device?: Device;
  shard?: { index: number; count: number };
  /** Checkpoint file (state saved every `checkpointEvery` batches). */
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: boolean;
  skipBad?: boolean;
  /** Memory limit in bytes (`--max-memory`, src/limits.ts); default 80% of the machine's RAM. */
  maxMemory?: number;
  onProgress?: ProgressCallback;
  onWarning?: (message: string) => void;
  shouldStop?: () => boolean;
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

/** Everything a run produces; JSON-ready after `toJSONValue`. */
export interface Results {
  schema: "seelike-results@1";
  settings: SettingsRecord;
  shard?: { index: number; count: number };
  timings: Record<string, number>;
  models: ModelSummary[];
  cka: { id: string; a: string; b: string | null; result: CKAResult; sanity: SanityReport }[];
  attention: Record<string, AttentionDistanceResult>;
  skip: Record<string, SkipRatioResult>;
  localisation: Record<string, LocalisationResult>;
  collapse: Record<string, CollapseResult>;
  probes: Record<string, Partial<Record<ProbeRepresentation, ProbeResult>>>;
  accuracy: Record<string, AccuracyResult>;
  embeddings: Record<string, { filters?: PatchEmbeddingComponents; positions?: PositionEmbeddingSimilarity }>;
  dataScale?: ReturnType<typeof blockwiseCKA>;
  ablation?: { block: number; label: string; accuracyIntact?: number; accuracyAblated?: number; ckaId: string; kind: "inference-ablation" }[];
  skipped: SkippedSample[];
  warnings: string[];
}

/** A prepared run: what the engine needs and what finalize needs. */
export interface Plan {
  settings: SettingsRecord;
  digest: string;
  models: EngineModel[];
  geometry: ModelGeometry[];
  passes: Pass[];
  drivers: Driver[];
  /** driver id → reducer, for merge and finalize */
  reducers: Map<string, Reducer<any, any, any, any>>;
  options: RunOptions;
  warnings: string[];
  /** Ablated variants of model A: block index and engine model index. */
  ablated: { block: number; m: number }[];
}

const DEFAULT_SHOTS: (number | "full")[] = [1, 5, 10, 25, "full"];

/** Labels of models: file names without extension, made unique. */
function modelLabels(files: readonly string[], given?: readonly string[]): string[] {
  const out: string[] = [];
  files.forEach((f, i) => {
    let base = given?.[i] ?? path.basename(f).replace(/\.onnx$/i, "");
    while (out.includes(base)) base += "′";
    out.push(base);
  });
  return out;
}

/** Channels, height and width of a model's image input, where the graph fixes them. */
export function modelInputSize(model: OnnxModel): { channels?: number; height?: number; width?: number } {
  const shape = model.imageInput.shape ?? [];
  const num = (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined);
  return { channels: num(shape[1]), height: num(shape[2]), width: num(shape[3]) };
}

function modelInput(file: string, model: OnnxModel, options: RunOptions): Promise<PreprocessOptions> {
  return modelPreprocess(file, { preset: options.preprocess, overrides: options.preprocessOverrides, input: modelInputSize(model) });
}

/**
 * Shapes of every site tensor, from one run of the model with them exposed on a small batch of
 * zeros. Runtime shapes settle what the graph leaves symbolic (heads of a [B·H, T, T] map).
 */
async function probeGeometry(model: OnnxModel, sites: ModelSites, bytes: Uint8Array, pre: PreprocessOptions, threads: number | undefined): Promise<ModelGeometry> {
  const probeBatch = 2;
  const tensors = new Set<string>();
  for (const b of sites.blocks) {
    for (const t of Object.values(b.sites)) tensors.add(t);
    if (b.attention) tensors.add(b.attention.tensor);
  }
  for (const r of sites.residuals) {
    tensors.add(r.z);
    tensors.add(r.fz);
  }
  const names = [...tensors];
  const shape = batchShape(model, pre, probeBatch);
  if (!shape) throw new UsageError(`${model.path}: the model's input size is symbolic; give --resize/--crop`);
  const [, c, h, w] = shape;
  const session = await createSession(exposeOutputs({ ...model, bytes }, names), { threads: threads ?? 0, file: model.path });
  try {
    const out = await run(session, { [model.imageInput.name]: { data: new Float32Array(probeBatch * c * h * w), shape } }, names);
    return { sites, shapes: new Map(names.map((n) => [n, [...out[n].shape]])), probeBatch, input: { name: model.imageInput.name, shape: [c, h, w] }, opset: model.opset };
  } finally {
    await release(session);
  }
}

/** The NCHW shape of one batch for `model`, when its input size is known. */
function batchShape(model: OnnxModel, pre: PreprocessOptions, batch: number): number[] | undefined {
  const shape = model.imageInput.shape ?? [];
  const size = preprocessSize(pre);
  const c = typeof shape[1] === "number" ? shape[1] : pre.channels;
  const h = typeof shape[2] === "number" ? shape[2] : size?.[0];
  const w = typeof shape[3] === "number" ? shape[3] : size?.[1];
  return c && h && w ? [batch, c, h, w] : undefined;
}

async function source(data: string | DataSource, labels?: string): Promise<DataSource> {
  return typeof data === "string" ? openData(data, { labels }) : data;
}

/** Splits a sample into batches and keeps the shard's contiguous run of whole batches. */
function shardIndices(indices: Int32Array, batch: number, shard?: { index: number; count: number }): number[] {
  if (!shard) return Array.from(indices);
  const all = batchIndices(indices, batch);
  const per = Math.ceil(all.length / shard.count);
  return all.slice(shard.index * per, (shard.index + 1) * per).flat();
}

/**
 * Prepares a run over `files` (model A, model B, then further checkpoints compared with A).
 *
 * @example const plan = await prepare(["vit.onnx", "resnet.onnx"], { data: "images/" });
 */
export async function prepare(files: readonly string[], options: RunOptions): Promise<Plan> {
  if (files.length === 0) throw new UsageError("no model given");
  const warnings: string[] = [];
  const warn = (m: string) => {
    if (!warnings.includes(m)) {
      warnings.push(m);
      options.onWarning?.(m);
    }
  };
  const analyses = new Set<AnalysisId>(options.analyses ?? ANALYSES);
  for (const a of analyses) if (!ANALYSES.includes(a)) throw new RangeError(`invalid analysis: ${a}`);
  const estimator = options.estimator ?? "minibatch-unbiased";
  const tokens = options.tokens ?? "all";
  const siteSet = options.siteSet ?? "blocks";
  const seed = options.seed ?? 0;
  const batch = options.batch ?? 64;
  const repeats = options.repeats ?? 1;
  const weighting = options.attentionWeighting ?? "renormalised";
  const shots = options.probeShots ?? DEFAULT_SHOTS;
  if (estimator === "minibatch-unbiased" && batch < 4) throw new UsageError(`invalid batch: ${batch} (the minibatch-unbiased CKA estimator needs batches of at least 4)`);

  // Models.
  const labels = modelLabels(files, options.modelLabels);
  const loaded: { file: string; model: OnnxModel; sites: ModelSites; sha256: string; pre: PreprocessOptions }[] = [];
  setMaxMemory(options.maxMemory);
  for (const f of files) {
    await checkModelFile(f); // --max-memory: refused from the file size, before reading it
    const model = await loadModel(f);
    const sites = discoverSites(model, { extraSites: options.extraSites });
    const pre = await modelInput(f, model, options);
    // A fixed-size input and a known preprocessing size that differ: refused before any image is read.
    const fixed = model.imageInput.shape ?? [];
    const size = preprocessSize(pre);
    if (size && typeof fixed[2] === "number" && typeof fixed[3] === "number" && (size[0] !== fixed[2] || size[1] !== fixed[3])) {
      throw new InputError(path.resolve(f), `takes ${fixed[2]}×${fixed[3]} images but the preprocessing gives ${size[0]}×${size[1]} (fix --resize/--crop)`);
    }
    modelMemory(model, { batch, inputShape: batchShape(model, pre, batch) }); // before onnxruntime sees it
    // loadModel already hashed the file as read (METHODS.md §8 records the file's sha256).
    loaded.push({ file: path.resolve(f), model, sites, sha256: model.sha256, pre });
  }

  // Data.
  const main = await source(options.data, options.labels);
  if (main.size === 0) throw new InputError(main.path, "no images");
  const sample = sampleIndices(main.size, { limit: options.limit, seed });
  if (estimator !== "minibatch-unbiased" && batch < sample.length) {
    throw new UsageError(`the ${estimator} estimator uses one Gram of all ${sample.length} examples: give --batch ${sample.length} (or more), or --limit ${batch}`);
  }
  if (estimator === "minibatch-unbiased" && sample.length < batch) {
    throw new UsageError(`only ${sample.length} images for batches of ${batch}: lower --batch or add images`);
  }
  let train: DataSource | undefined;
  let trainSample: Int32Array | undefined;
  // Asked for by name, a labelled analysis without labels is an error; as part of "all", a warning.
  const explicit = (a: AnalysisId) => options.analyses?.includes(a) ?? false;
  if (analyses.has("probes")) {
    if (!options.trainData) {
      if (explicit("probes")) throw new UsageError("linear probes need a training split with labels (--train-data)");
      warn("linear probes skipped: they need a training split (--train-data)");
    } else if (!main.labels) {
      if (explicit("probes")) throw new InputError(main.path, "has no labels, and the linear probes need them (--labels)");
      warn(`linear probes skipped: ${main.path} has no labels`);
    }
    else if (main.labels) {
      train = await source(options.trainData, options.trainLabels);
      if (!train.labels) throw new InputError(train.path, "linear probes need labels for the training split (--train-labels)");
      trainSample = sampleIndices(train.size, { seed });
    }
  }

  const nReal = loaded.length;
  // Ablated variants of model A.
  const ablate = analyses.has("ablation") ? [...(options.ablate ?? [])] : [];
  const engineModels: EngineModel[] = loaded.map((l, i) => ({ label: labels[i], file: l.file, sha256: l.sha256, model: l.model, sites: l.sites, bytes: l.model.bytes, preprocess: l.pre }));
  const ablatedIndex: { block: number; m: number }[] = [];
  for (const blockIndex of ablate) {
    const a = loaded[0];
    const block = a.sites.blocks[blockIndex];
    if (!block) throw new UsageError(`invalid ablate: block ${blockIndex} (${labels[0]} has ${a.sites.blocks.length} blocks)`);
    const bytes = removeResidual(a.model, block.name, a.sites);
    ablatedIndex.push({ block: blockIndex, m: engineModels.length });
    engineModels.push({ ...engineModels[0], label: `${labels[0]} −${block.name} (inference-ablation)`, bytes });
  }

  // Geometry from a probe run of every model (ablated variants share A's tensors and shapes).
  const geometry: ModelGeometry[] = [];
  for (let m = 0; m < engineModels.length; m++) {
    const em = engineModels[m];
    geometry.push(m >= nReal ? geometry[0] : await probeGeometry(em.model, em.sites, em.bytes, em.preprocess, options.threads));
  }

  // Drivers.
  const drivers: Driver[] = [];
  const reducers = new Map<string, Reducer<any, any, any, any>>();
  const add = (d: Driver | null, r: Reducer<any, any, any, any>) => {
    if (!d) return;
    drivers.push(d);
    reducers.set(d.id, r);
  };
  const sitesOf = engineModels.map((_, m) => ckaSites(geometry[m], siteSet));
  const ckaSpec = (m: number) => ({ index: m, sites: sitesOf[m], prefixTokens: engineModels[m].sites.prefixTokens, file: engineModels[m].file });
  const ckaConfig = { estimator, tokens, repeats, seed, batch, examples: sample.length };
  if (analyses.has("cka")) {
    for (let m = 0; m < engineModels.length; m++) {
      if (sitesOf[m].length > 0) continue;
      const problem = `no CKA sites found (site set ${siteSet}); name some with --site NAME=TENSOR`;
      if (explicit("cka")) throw new InputError(engineModels[m].file, problem);
      warn(`${engineModels[m].label}: ${problem}`);
    }
    const has = (m: number) => sitesOf[m].length > 0;
    if (nReal === 1 && has(0)) add(ckaDriver("cka:0", ckaSpec(0), null, ckaConfig), ckaReducer);
    for (let j = 1; j < nReal; j++) if (has(0) && has(j)) add(ckaDriver(`cka:0-${j}`, ckaSpec(0), ckaSpec(j), ckaConfig), ckaReducer);
  }
  for (const { m, block } of ablatedIndex) if (sitesOf[0].length && sitesOf[m].length) add(ckaDriver(`ablation:${block}`, ckaSpec(0), ckaSpec(m), ckaConfig), ckaReducer);
  for (let m = 0; m < nReal; m++) {
    const g = geometry[m];
    const hasAttention = g.sites.blocks.some((b) => b.attention) && g.sites.grid && g.sites.patchSize;
    if (analyses.has("attention")) {
      if (hasAttention) add(attentionDriver(`attention:${m}`, m, g, weighting), attentionDistanceReducer);
    }
    if (analyses.has("skip") && g.sites.residuals.length) add(skipDriver(`skip:${m}`, m, g), skipRatioReducer);
    if (analyses.has("localisation")) add(localisationDriver(`localisation:${m}`, m, g, batch), localisationReducer);
    if (analyses.has("collapse") && hasAttention) add(collapseDriver(`collapse:${m}`, m, g), collapseReducer);
    if (train && trainSample) {
      const reps: ProbeRepresentation[] = g.sites.family === "resnet" ? ["gap"] : g.sites.prefixTokens > 0 ? ["cls", "mean"] : ["mean"];
      const classes = Math.max(train.classes?.length ?? 0, max(train.labels!) + 1, max(main.labels!) + 1);
      for (const rep of reps) {
        add(probeDriver(`probes:${m}:${rep}`, m, g, rep, { classes, shots: shots.filter((s): s is number => s !== "full"), full: shots.includes("full") }), probeReducer);
      }
    }
  }
  if (main.labels) {
    for (let m = 0; m < nReal; m++) add(accuracyDriver(`accuracy:${m}`, m, engineModels[m].sites.logits), accuracyReducer);
    for (const { m, block } of ablatedIndex) add(accuracyDriver(`accuracy-ablation:${block}`, m, engineModels[m].sites.logits), accuracyReducer);
  } else if (ablatedIndex.length) warn("skip ablation: no labels, so no accuracy drop (CKA only)");

  // Passes: the evaluation data, the probes' training split, and CKA reshuffles.
  const passes: Pass[] = [{ name: "main", source: main, indices: shardIndices(sample, batch, options.shard) }];
  if (train && trainSample) passes.push({ name: "train", source: train, indices: shardIndices(trainSample, batch, options.shard) });
  if (analyses.has("cka") && estimator === "minibatch-unbiased") {
    for (let r = 1; r < repeats; r++) {
      const perm = sampleIndices(sample.length, { seed: seed * 1000 + r });
      const reshuffled = Int32Array.from(perm, (i) => sample[i]);
      passes.push({ name: `repeat-${r}`, source: main, indices: shardIndices(reshuffled, batch, options.shard) });
    }
  }

  const settings: SettingsRecord = {
    tool: "seelike",
    version: VERSION,
    models: engineModels.map((em, m) => ({
      label: em.label,
      file: em.file,
      sha256: em.sha256,
      sites: Object.fromEntries(sitesOf[m].map((s) => [s.name, s.tensor])),
      preprocessing: { ...em.preprocess },
    })),
    data: {
      path: main.path,
      images: sample.length,
      sampleDigest: sampleDigest(Array.from(sample, (i) => main.ids[i])),
      ...(train && trainSample ? { trainPath: train.path, trainImages: trainSample.length, trainDigest: sampleDigest(Array.from(trainSample, (i) => train!.ids[i])) } : {}),
    },
    batch,
    estimator,
    tokens,
    siteSet,
    seed,
    repeats,
    attentionWeighting: weighting,
    probeShots: shots.join(","),
    analyses: [...analyses].sort(),
    ablate,
    shards: options.shard?.count ?? 1,
  };
  return { settings, digest: settingsDigest(settings), models: engineModels, geometry, passes, drivers, reducers, options, warnings, ablated: ablatedIndex };
}

function max(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

/** Runs a prepared plan through the engine and returns the drivers' states. */
export async function execute(plan: Plan) {
  const o = plan.options;
  return runEngine(plan.models, plan.passes, plan.drivers, {
    batchSize: plan.settings.batch,
    threads: o.threads,
    device: o.device,
    skipBad: o.skipBad,
    checkpoint: o.checkpoint,
    checkpointEvery: o.checkpointEvery,
    resume: o.resume,
    settingsDigest: plan.digest,
    onProgress: o.onProgress,
    shouldStop: o.shouldStop,
  });
}

/** Merges the driver states of several shard runs of the same plan. */
export function mergeStates(plan: Plan, shards: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const d of plan.drivers) {
    const parts = shards.map((s) => s[d.id]);
    if (parts.some((p) => p === undefined)) throw new InputError(d.id, "a shard lacks this analysis' state");
    out[d.id] = parts.slice(1).reduce((a, b) => d.merge(a, b), parts[0]);
  }
  return out;
}

async function embeddings(model: OnnxModel, sites: ModelSites, warn: (m: string) => void) {
  const out: { filters?: PatchEmbeddingComponents; positions?: PositionEmbeddingSimilarity } = {};
  try {
    if (sites.patchEmbed) {
      const w = await initializerData(model, sites.patchEmbed.weight);
      const layout = w.shape.length === 4 ? "conv" : "linear";
      const channels = layout === "conv" ? w.shape[1] : (model.imageInput.shape?.[1] as number);
      // The ViT paper shows the top 28 components; a small model has at most min(D, P·P·C).
      const p = sites.patchEmbed.patchSize;
      const components = Math.min(28, layout === "conv" ? w.shape[0] : w.shape[1], p * p * channels);
      out.filters = patchEmbeddingComponents(w as Tensor, { layout, channels, patchSize: p, components });
    }
  } catch (e) {
    warn(`${path.basename(model.path)}: patch-embedding filters skipped (${(e as Error).message})`);
  }
  try {
    if (sites.posEmbed && sites.grid) {
      const p = await initializerData(model, sites.posEmbed.initializer);
      const t = p.shape[p.shape.length - 2];
      const prefix = t - sites.grid[0] * sites.grid[1];
      if (prefix >= 0) out.positions = positionEmbeddingSimilarity(p as Tensor, { prefixTokens: prefix, grid: sites.grid });
    }
  } catch (e) {
    warn(`${path.basename(model.path)}: position-embedding similarity skipped (${(e as Error).message})`);
  }
  return out;
}

/** Finalizes driver states into Results. */
export async function finish(plan: Plan, states: Record<string, unknown>, extra: { timings: Record<string, number>; skipped: SkippedSample[]; shard?: { index: number; count: number } }): Promise<Results> {
  const warnings = [...plan.warnings];
  const warn = (m: string) => {
    if (!warnings.includes(m)) warnings.push(m);
  };
  const labels = plan.models.map((m) => m.label);
  const results: Results = {
    schema: "seelike-results@1",
    settings: plan.settings,
    ...(extra.shard ? { shard: extra.shard } : {}),
    timings: extra.timings,
    models: plan.models.map((em, m) => ({
      label: em.label,
      file: em.file,
      sha256: em.sha256,
      family: em.sites.family,
      opset: em.model.opset,
      producer: `${em.model.producer.name} ${em.model.producer.version}`.trim(),
      patchSize: em.sites.patchSize,
      grid: em.sites.grid,
      prefixTokens: em.sites.prefixTokens,
      blocks: em.sites.blocks.length,
      ckaSites: plan.settings.models[m].sites,
      ...(plan.ablated.some((a) => a.m === m) ? { ablatedBlock: plan.ablated.find((a) => a.m === m)!.block } : {}),
    })),
    cka: [],
    attention: {},
    skip: {},
    localisation: {},
    collapse: {},
    probes: {},
    accuracy: {},
    embeddings: {},
    skipped: extra.skipped,
    warnings,
  };
  for (const d of plan.drivers) {
    const r = plan.reducers.get(d.id)!;
    const state = states[d.id];
    if (state === undefined) continue;
    const kind = d.id.slice(0, d.id.indexOf(":"));
    const rest = d.id.slice(d.id.indexOf(":") + 1);
    const parts = rest.split("-").map(Number);
    const label = labels[parts[0]];
    const a0 = kind === "ablation" ? labels[0] : label;
    if (kind === "cka" || kind === "ablation") {
      const result = r.finalize(state as CKAState) as CKAResult;
      const b = kind === "ablation" ? plan.ablated.find((a) => a.block === parts[0])!.m : parts[1];
      const sanity = ckaSanity(result);
      for (const w of [...result.warnings, ...sanity.warnings]) warn(`CKA ${d.id}: ${w}`);
      results.cka.push({ id: d.id, a: a0, b: b === undefined ? null : labels[b], result, sanity });
    } else if (kind === "attention") results.attention[label] = r.finalize(state);
    else if (kind === "skip") results.skip[label] = r.finalize(state);
    else if (kind === "localisation") results.localisation[label] = r.finalize(state);
    else if (kind === "collapse") results.collapse[label] = r.finalize(state);
    else if (kind === "probes") {
      const [m, rep] = rest.split(":");
      (results.probes[labels[Number(m)]] ??= {})[rep as ProbeRepresentation] = r.finalize(state);
    } else if (kind === "accuracy") results.accuracy[label] = r.finalize(state);
    else if (kind === "accuracy-ablation") results.accuracy[`ablation:${parts[0]}`] = r.finalize(state);
  }
  if (plan.settings.analyses.includes("embeddings")) {
    const real = plan.models.filter((em) => em.bytes === em.model.bytes);
    for (const em of real) results.embeddings[em.label] = await embeddings(em.model, em.sites, warn);
  }
  // Data scale (Raghu Fig. 12): per-block CKA of further checkpoints against model A.
  // Only checkpoints whose sites carry A's canonical names (same architecture) have a diagonal.
  const crossWithA = results.cka.filter((c) => c.id.startsWith("cka:0-") && c.result.matrices.AB?.rows.some((r) => c.result.matrices.AB!.cols.includes(r)));
  if (crossWithA.length >= 1) {
    results.dataScale = blockwiseCKA(labels[0], Object.fromEntries(crossWithA.map((c) => [c.b!, c.result])));
  }
  if (plan.settings.ablate.length) {
    results.ablation = plan.ablated.map(({ block, m }) => ({
      block,
      label: labels[m],
      accuracyIntact: results.accuracy[labels[0]]?.accuracy,
      accuracyAblated: results.accuracy[`ablation:${block}`]?.accuracy,
      ckaId: `ablation:${block}`,
      kind: "inference-ablation" as const,
    }));
  }
  if (extra.skipped.length) warn(`${extra.skipped.length} unreadable images skipped (--skip-bad)`);
  if (results.cka.length === 0 && plan.settings.analyses.includes("cka")) warn("no CKA result");
  return results;
}
