/**
 * Run planning: models + data + options → a Plan (the engine's models, passes and drivers, and
 * the settings record). Generic over the registry: each requested analysis plans its own drivers.
 */
import { InputError, NothingToRunError, UsageError } from "../errors.js";
import { VERSION } from "../version.js";
import { openData } from "../data/open.js";
import { setMaxMemory } from "../limits.js";
import { sampleIndices, sampleDigest, batchIndices } from "../data/sampling.js";
import type { DataSource } from "../data/types.js";
import type { Pass } from "../engine/stream.js";
import { settingsDigest, type SettingsRecord } from "../engine/settings.js";
import { REGISTRY, ANALYSES, type AnalysisId } from "../pipelines/index.js";
import { keyId, type PlanContext, type PlanModel, type PlannedDriver, type SkippedAnalysis, type Substitution } from "../pipelines/contract.js";
import { tapsProblem } from "../engine/check.js";
import { labelSource, modelClassNames, readClassNames } from "../data/classes.js";
import { AUTO_BATCHES, chooseBatch, runMemory, type MemoryEstimate } from "./memory.js";
import { formatBytes, maxMemory } from "../limits.js";
import { ckaSites } from "../pipelines/sites.js";
import { loadRunModel, modelLabels, probeGeometry } from "./models.js";
import { recordedOptions, resolveOptions, type Plan, type ResolvedOptions, type RunOptions } from "./types.js";

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

/** Pass order: the probes' training split (fitted before the test rows arrive), the evaluation data, then the CKA reshuffles. */
function passRank(p: Pass): number {
  return p.name === "train" ? 0 : p.name === "main" ? 1 : 2;
}

/**
 * The evaluation data and its sample, checked against an explicit batch size and the estimator;
 * for a model exported with a fixed batch the sample is cut to whole batches (a last, smaller
 * batch would be refused by onnxruntime).
 */
async function mainSample(options: ResolvedOptions, fixed: FixedBatch | undefined, warn: (m: string) => void): Promise<{ main: DataSource; sample: Int32Array }> {
  if (options.data === undefined) throw new UsageError("no data given (--data)");
  const main = await source(options.data, options.labels);
  if (main.size === 0) throw new InputError(main.path, "no images");
  let sample = sampleIndices(main.size, { limit: options.limit, seed: options.seed });
  const batch = fixed?.batch ?? options.batch;
  if (fixed && sample.length % fixed.batch !== 0) {
    const kept = sample.length - (sample.length % fixed.batch);
    if (kept === 0) throw new UsageError(`only ${sample.length} images, and ${fixed.label} takes batches of exactly ${fixed.batch}: add images`);
    warn(`${fixed.label} takes batches of exactly ${fixed.batch}: the last ${sample.length - kept} of ${sample.length} images are left out`);
    sample = sample.slice(0, kept);
  }
  if (batch === "auto") {
    if (options.estimator === "minibatch-unbiased" && sample.length < 4) throw new UsageError(`only ${sample.length} images: the minibatch-unbiased estimator needs batches of at least 4`);
    return { main, sample };
  }
  if (options.estimator !== "minibatch-unbiased" && batch < sample.length) {
    throw new UsageError(`the ${options.estimator} estimator uses one Gram of all ${sample.length} examples: give --batch ${sample.length} (or more), or --limit ${batch}`);
  }
  if (options.estimator === "minibatch-unbiased" && sample.length < batch) {
    throw new UsageError(`only ${sample.length} images for batches of ${batch}: lower --batch or add images`);
  }
  return { main, sample };
}

/**
 * The class names the data's labels follow: `--classes FILE`, else the first model whose card or
 * metadata lists them (a comparison of models with different lists of names is warned about).
 */
async function classNames(options: ResolvedOptions, models: readonly PlanModel[]): Promise<{ classes: string[]; from: string } | undefined> {
  if (options.classes !== undefined) return { classes: await readClassNames(options.classes), from: options.classes };
  for (const m of models) {
    const found = await modelClassNames(m.file, m.model);
    if (found) return found;
  }
  return undefined;
}

/** An image folder's labels in the model's class order (src/data/classes.ts); the folders' own names kept as `folderClasses`. */
function labelled(src: DataSource, names: { classes: string[]; from: string } | undefined, flag: string, warn: (m: string) => void): DataSource & { folderClasses?: string[] } {
  const r = labelSource(src, names, flag);
  if (r.kind === "alphabetical") warn(r.warning);
  return r.source === src ? src : { ...r.source, folderClasses: src.classes };
}

/** A model exported with a fixed batch size (its input's first dimension is a number). */
interface FixedBatch {
  label: string;
  batch: number;
}

/**
 * The fixed batch of the run's models, if any: run at it when it is at least 4 (the unbiased
 * estimator's minimum), refuse below, or when two models fix different batches.
 */
function fixedBatch(models: readonly PlanModel[], requested: number | "auto"): FixedBatch | undefined {
  let found: FixedBatch | undefined;
  for (const m of models) {
    const n = m.model.imageInput.shape?.[0];
    if (typeof n !== "number" || !(n > 0)) continue;
    if (n < 4) throw new InputError(m.file, `the model was exported with a fixed batch of ${n}; re-export it with dynamic_axes={'input': {0: 'batch'}} (torch.onnx.export), seelike needs batches of at least 4`);
    if (found && found.batch !== n) throw new InputError(m.file, `the model was exported with a fixed batch of ${n}, but ${found.label} with ${found.batch}; re-export one with dynamic_axes={'input': {0: 'batch'}}`);
    found = { label: m.label, batch: n };
  }
  if (found && requested !== "auto" && requested !== found.batch) {
    throw new UsageError(`${found.label} was exported with a fixed batch of ${found.batch}: give --batch ${found.batch} (or leave --batch auto), or re-export it with dynamic_axes={'input': {0: 'batch'}}`);
  }
  return found;
}

/** The batches a run may use, largest first: the model's fixed batch, the whole sample (full estimators), the given one, or auto's powers of two. */
function batchCandidates(options: ResolvedOptions, sample: number, fixed: FixedBatch | undefined): { candidates: number[]; requested: number | "auto" } {
  if (fixed) return { candidates: [fixed.batch], requested: fixed.batch };
  if (options.batch !== "auto") return { candidates: [options.batch], requested: options.batch };
  if (options.estimator !== "minibatch-unbiased") return { candidates: [sample], requested: sample };
  return { candidates: AUTO_BATCHES.filter((b) => b <= sample), requested: "auto" };
}

/** What planning accumulates while the analyses plan: passes, drivers, the training split. */
interface Draft {
  /** The run's options with the batch settled. */
  options: ResolvedOptions & { batch: number };
  models: PlanModel[];
  main: DataSource;
  sample: Int32Array;
  train?: { source: DataSource; sample: Int32Array };
  passes: Pass[];
  drivers: PlannedDriver[];
  skipped: SkippedAnalysis[];
  substitutions: Substitution[];
  /** Every batch must be full (a model exported with a fixed batch). */
  wholeBatches: boolean;
  /** The model's class names and where they came from, when known. */
  names?: { classes: string[]; from: string };
  warn(message: string): void;
  explicit(id: AnalysisId): boolean;
}

/** How an analysis is named in the one-line skip messages. */
const ANALYSIS_NAMES: Record<string, string> = {
  cka: "CKA", "rbf-cka": "RBF CKA", attention: "attention distance", skip: "skip ratios", localisation: "localisation",
  probes: "linear probes", embeddings: "embeddings", collapse: "attention collapse", accuracy: "accuracy", ablation: "inference-ablation", "prefix-mass": "prefix mass",
};

/** Records a skipped analysis (once) and prints its line through the run's warnings. */
function recordSkip(draft: Draft, entry: SkippedAnalysis): void {
  if (draft.skipped.some((s) => s.analysis === entry.analysis && s.model === entry.model && s.reason === entry.reason)) return;
  draft.skipped.push(entry);
  draft.warn(`${entry.model ? `${entry.model}: ` : ""}${ANALYSIS_NAMES[entry.analysis] ?? entry.analysis} skipped (${entry.reason})`);
}

/** Runtime shapes a tap check sees for a model: its probed site tensors and its image input. */
function checkShapes(m: PlanModel): Map<string, number[]> {
  const g = m.geometry;
  const shapes = new Map(g.shapes);
  if (g.input) shapes.set(g.input.name, [g.probeBatch, ...g.input.shape]);
  return shapes;
}

/**
 * The planned drivers whose taps check on every model's shapes (src/engine/check.ts), and one
 * skip record per dropped driver: seelike's own graph additions never make onnxruntime reject
 * the user's model.
 *
 * @example applicableDrivers(plan.models, plan.drivers, ["main"]).skipped // [{ analysis: "attention", model: "swin_t", reason: "node …: MatMul of … differ" }]
 */
export function applicableDrivers(models: readonly PlanModel[], drivers: readonly PlannedDriver[], passes: readonly string[]): { drivers: PlannedDriver[]; skipped: SkippedAnalysis[] } {
  const skipped: SkippedAnalysis[] = [];
  const kept = drivers.filter((pd) => {
    for (const m of models) {
      const specs = passes.flatMap((p) => pd.driver.taps(p, m.index));
      if (!specs.length) continue;
      const problem = tapsProblem(specs, m.model.opset, checkShapes(m));
      if (!problem) continue;
      skipped.push({ analysis: pd.key.analysis, model: m.label, reason: `its tap cannot apply to this model: ${problem}` });
      return false;
    }
    return true;
  });
  return { drivers: kept, skipped };
}

function checkDrivers(draft: Draft): void {
  const r = applicableDrivers(draft.models, draft.drivers, draft.passes.map((p) => p.name));
  draft.drivers = r.drivers;
  for (const s of r.skipped) recordSkip(draft, s);
}

/** The planning context of analysis `id` over a draft plan. */
function planContext(id: AnalysisId, draft: Draft): PlanContext<ResolvedOptions> {
  const { options, models, main, sample, passes, drivers } = draft;
  return {
    options,
    models,
    userModels: models.filter((m) => m.role === "model"),
    main,
    get train() {
      return draft.train?.source;
    },
    sample,
    explicit: draft.explicit(id),
    warn: draft.warn,
    skip: (model, reason) => recordSkip(draft, { analysis: id, ...(model ? { model: model.label } : {}), reason }),
    substitute(model, entry) {
      const e: Substitution = { analysis: id, model: model.label, ...entry };
      if (draft.substitutions.some((x) => x.analysis === e.analysis && x.model === e.model && x.option === e.option)) return;
      draft.substitutions.push(e);
      draft.warn(`${e.model}: --${e.option} ${e.given} used as ${e.used} for ${ANALYSIS_NAMES[id] ?? id} (${e.reason})`);
    },
    async trainSplit() {
      if (!draft.train) {
        if (options.trainData === undefined) throw new UsageError("no training split given (--train-data)");
        const raw = await source(options.trainData, options.trainLabels);
        // The probes' training split must name the same classes as the evaluation data: a
        // class numbered differently in the two would score as an error every time.
        const m0 = draft.main as DataSource & { folderClasses?: string[] };
        const a: string[] | undefined = m0.kind === "image-folder" ? m0.folderClasses ?? m0.classes : undefined;
        if (raw.kind === "image-folder" && a && raw.classes) {
          const b: string[] = raw.classes;
          const missing = a.filter((c) => !b.includes(c));
          const extra = b.filter((c) => !a.includes(c));
          if (missing.length || extra.length) {
            throw new InputError(raw.path, `its class folders differ from those of --data ${draft.main.path}${missing.length ? `: no ${missing.map((c) => JSON.stringify(c)).join(", ")}` : ""}${extra.length ? `${missing.length ? ";" : ":"} ${extra.map((c) => JSON.stringify(c)).join(", ")} not in --data` : ""}; give both splits the same class folders`);
          }
        }
        const s = labelled(raw, draft.names, "--train-data", draft.warn);
        let trainSample = sampleIndices(s.size, { seed: options.seed });
        // A fixed-batch model takes whole batches only (mainSample cuts the evaluation sample the same way).
        if (draft.wholeBatches && trainSample.length % options.batch) trainSample = trainSample.slice(0, trainSample.length - (trainSample.length % options.batch));
        draft.train = { source: s, sample: trainSample };
      }
      return draft.train.source;
    },
    add(key, driver, reducer) {
      const full = { analysis: id, ...key };
      const sid = keyId(full);
      if (drivers.some((d) => d.driver.id === sid)) throw new Error(`two drivers with the key ${sid}`);
      drivers.push({ key: full, driver: { ...driver, id: sid }, reducer });
    },
    share(key, driver, reducer) {
      const sid = keyId(key);
      const found = drivers.find((d) => d.driver.id === sid);
      if (found) found.readers = [...(found.readers ?? []), id];
      else drivers.push({ key, driver: { ...driver, id: sid }, reducer, readers: [id] });
    },
    addPass(p) {
      if (passes.some((x) => x.name === p.name)) return;
      if (p.split === "train") {
        if (!draft.train) throw new Error("the training split was not opened (trainSplit) before its pass was added");
        passes.push({ name: p.name, source: draft.train.source, indices: shardIndices(draft.train.sample, options.batch, options.shard) });
      } else {
        const perm = sampleIndices(sample.length, { seed: options.seed * 1000 + p.reshuffle });
        passes.push({ name: p.name, source: main, indices: shardIndices(Int32Array.from(perm, (i) => sample[i]), options.batch, options.shard) });
      }
    },
  };
}

/** The settings record of a draft (METHODS.md §8): provenance plus the table's recorded options. */
function settingsRecord(draft: Draft, analyses: readonly AnalysisId[]): SettingsRecord {
  const { models, main, sample, train } = draft;
  return {
    tool: "seelike",
    version: VERSION,
    models: models.map((m) => ({
      label: m.label,
      file: m.file,
      sha256: m.sha256,
      sites: Object.fromEntries(m.ckaSites.map((s) => [s.name, s.tensor])),
      preprocessing: { ...m.preprocess },
    })),
    data: {
      path: main.path,
      images: sample.length,
      // The labels' class order: the model's names they were matched to, else the folders' (alphabetical).
      ...(main.classes ? { classes: [...main.classes], classOrder: main.kind !== "image-folder" ? "as given" : draft.names ? `matched to ${draft.names.from}` : "folder names (alphabetical, or by number)" } : {}),
      sampleDigest: sampleDigest(Array.from(sample, (i) => main.ids[i])),
      ...(train ? { trainPath: train.source.path, trainImages: train.sample.length, trainDigest: sampleDigest(Array.from(train.sample, (i) => train.source.ids[i])) } : {}),
    },
    ...(recordedOptions(draft.options) as { batch: number; seed: number; shards: number }),
    analyses: [...analyses].sort(),
  };
}

/**
 * Prepares a run over `files` (model A, model B, then further checkpoints compared with A).
 *
 * @example const plan = await prepare(["vit.onnx", "resnet.onnx"], { data: "images/" });
 */
export async function prepare(files: readonly string[], runOptions: RunOptions): Promise<Plan> {
  if (files.length === 0) throw new UsageError("no model given");
  if (runOptions.data === undefined) throw new UsageError("no data given (--data)");
  const options = resolveOptions(runOptions);
  const warnings: string[] = [];
  const warn = (m: string) => {
    if (!warnings.includes(m)) {
      warnings.push(m);
      runOptions.onWarning?.(m);
    }
  };
  for (const a of options.analyses) if (!(ANALYSES as readonly string[]).includes(a)) throw new RangeError(`invalid analysis: ${a}`);
  // `ablate` names blocks to ablate: it asks for the ablation analysis too.
  const requested = new Set<AnalysisId>([...options.analyses, ...(options.ablate.length && runOptions.analyses ? ["ablation" as const] : [])]);
  const analyses = REGISTRY.filter((d) => requested.has(d.id));

  setMaxMemory(options.maxMemory);
  const labels = modelLabels(files, options.modelLabels);
  const models: PlanModel[] = [];
  for (let i = 0; i < files.length; i++) {
    const em = await loadRunModel(files[i], labels[i], options);
    models.push({ ...em, index: i, role: "model", geometry: undefined as never, ckaSites: [] });
  }
  const fixed = fixedBatch(models, options.batch);
  const names = await classNames(options, models);
  const { main: unlabelled, sample } = await mainSample(options, fixed, warn);
  const main = labelled(unlabelled, names, "--data", warn);
  let train: Draft["train"];
  const draftAt = (batch: number): Draft => {
    const o = { ...options, batch };
    return {
      options: o, models, main, sample, warn, train,
      passes: [{ name: "main", source: main, indices: shardIndices(sample, batch, options.shard) }],
      drivers: [],
      skipped: [],
      substitutions: [],
      wholeBatches: fixed !== undefined,
      names,
      explicit: (id) => runOptions.analyses?.includes(id) ?? false,
    };
  };
  const { candidates, requested: askedBatch } = batchCandidates(options, sample.length, fixed);
  let draft = draftAt(candidates[0]);

  // Variants derived from the user's models (inference-ablations), then every model's geometry
  // (a variant shares its original's tensors and shapes).
  for (const d of analyses) {
    if (!d.variants) continue;
    for (const v of await d.variants(planContext(d.id, draft))) models.push({ ...v, index: models.length, geometry: undefined as never, ckaSites: [] });
  }
  for (const m of models) {
    const original = m.role === "variant" ? models.find((x) => x.role === "model" && x.file === m.file && x.geometry) : undefined;
    m.geometry = original?.geometry ?? (await probeGeometry(m.model, m.sites, m.bytes, m.preprocess, options.threads, fixed?.batch));
    m.ckaSites = ckaSites(m.geometry, options.siteSet);
  }

  // Plan at the largest candidate batch; the taps do not depend on the batch, so the memory
  // estimate of each candidate comes from this plan's drivers, and the analyses plan again only
  // when a smaller batch is chosen.
  const planAll = async (d: Draft) => {
    for (const a of analyses) await a.plan(planContext(a.id, d));
    train = d.train;
    checkDrivers(d);
  };
  await planAll(draft);
  const passNames = () => [...new Set(draft.passes.map((p) => p.name))];
  const estimate = (b: number): MemoryEstimate => runMemory(models, draft.drivers, passNames(), b);
  const limit = maxMemory();
  // The batches auto may take (and a refused --batch may be told to try): powers of two up to
  // 64 and the sample, at least 4; only the fixed or whole-sample batch when that is the rule.
  const flexible = !fixed && options.estimator === "minibatch-unbiased";
  const hintRange = flexible ? { most: Math.min(64, sample.length), least: 4 } : { most: candidates[0], least: candidates[0] };
  const chosen = chooseBatch(askedBatch, estimate, limit, hintRange.most, hintRange.least, models.filter((m) => m.role === "model").map((m) => m.file));
  if (chosen.batch !== draft.options.batch) {
    draft = draftAt(chosen.batch);
    await planAll(draft);
  }
  const from = fixed ? "model" : options.batch === "auto" ? "auto" : "option";
  const why = from === "model" ? ` (${fixed!.label} was exported with a fixed batch of ${fixed!.batch})` : from === "auto" ? " (auto: the largest power of two up to 64 that fits --max-memory)" : "";
  runOptions.onInfo?.(`batch ${chosen.batch}${why}: estimated peak memory ${formatBytes(chosen.estimate.total)} of --max-memory ${formatBytes(limit)}`);
  if (draft.drivers.length === 0 && draft.skipped.length > 0) {
    // Nothing left to run: every requested analysis was skipped for every model (exit 1).
    throw new NothingToRunError(`nothing could run: ${draft.skipped.map((s) => `${s.model ? `${s.model}: ` : ""}${ANALYSIS_NAMES[s.analysis] ?? s.analysis} (${s.reason})`).join("; ")}`, draft.skipped);
  }
  draft.passes.sort((a, b) => passRank(a) - passRank(b));
  const ids = analyses.map((d) => d.id);
  const settings = { ...settingsRecord(draft, ids), batchFrom: from };
  return { settings, digest: settingsDigest(settings), models, passes: draft.passes, drivers: draft.drivers, options: draft.options, analyses: ids, warnings, skippedAnalyses: draft.skipped, substitutions: draft.substitutions, memory: { batch: chosen.batch, batchFrom: from, estimate: chosen.estimate.total, limit, phases: chosen.estimate.phases } };
}
