/**
 * Run planning: models + data + options → a Plan (the engine's models, passes and drivers, and
 * the settings record). Generic over the registry: each requested analysis plans its own drivers.
 */
import { InputError, UsageError } from "../errors.js";
import { VERSION } from "../version.js";
import { openData } from "../data/open.js";
import { setMaxMemory } from "../limits.js";
import { sampleIndices, sampleDigest, batchIndices } from "../data/sampling.js";
import type { DataSource } from "../data/types.js";
import type { Pass } from "../engine/stream.js";
import { settingsDigest, type SettingsRecord } from "../engine/settings.js";
import { REGISTRY, ANALYSES, type AnalysisId } from "../pipelines/index.js";
import { keyId, type PlanContext, type PlanModel, type PlannedDriver } from "../pipelines/contract.js";
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

/** The evaluation data and its sample, checked against the batch size and the estimator. */
async function mainSample(options: ResolvedOptions): Promise<{ main: DataSource; sample: Int32Array }> {
  if (options.data === undefined) throw new UsageError("no data given (--data)");
  const main = await source(options.data, options.labels);
  if (main.size === 0) throw new InputError(main.path, "no images");
  const sample = sampleIndices(main.size, { limit: options.limit, seed: options.seed });
  const batch = options.batch;
  if (options.estimator !== "minibatch-unbiased" && batch < sample.length) {
    throw new UsageError(`the ${options.estimator} estimator uses one Gram of all ${sample.length} examples: give --batch ${sample.length} (or more), or --limit ${batch}`);
  }
  if (options.estimator === "minibatch-unbiased" && sample.length < batch) {
    throw new UsageError(`only ${sample.length} images for batches of ${batch}: lower --batch or add images`);
  }
  return { main, sample };
}

/** What planning accumulates while the analyses plan: passes, drivers, the training split. */
interface Draft {
  options: ResolvedOptions;
  models: PlanModel[];
  main: DataSource;
  sample: Int32Array;
  train?: { source: DataSource; sample: Int32Array };
  passes: Pass[];
  drivers: PlannedDriver[];
  warn(message: string): void;
  explicit(id: AnalysisId): boolean;
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
    async trainSplit() {
      if (!draft.train) {
        if (options.trainData === undefined) throw new UsageError("no training split given (--train-data)");
        const s = await source(options.trainData, options.trainLabels);
        draft.train = { source: s, sample: sampleIndices(s.size, { seed: options.seed }) };
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
  const { main, sample } = await mainSample(options);
  const draft: Draft = {
    options, models, main, sample, warn,
    passes: [{ name: "main", source: main, indices: shardIndices(sample, options.batch, options.shard) }],
    drivers: [],
    explicit: (id) => runOptions.analyses?.includes(id) ?? false,
  };

  // Variants derived from the user's models (inference-ablations), then every model's geometry
  // (a variant shares its original's tensors and shapes).
  for (const d of analyses) {
    if (!d.variants) continue;
    for (const v of await d.variants(planContext(d.id, draft))) models.push({ ...v, index: models.length, geometry: undefined as never, ckaSites: [] });
  }
  for (const m of models) {
    const original = m.role === "variant" ? models.find((x) => x.role === "model" && x.file === m.file && x.geometry) : undefined;
    m.geometry = original?.geometry ?? (await probeGeometry(m.model, m.sites, m.bytes, m.preprocess, options.threads));
    m.ckaSites = ckaSites(m.geometry, options.siteSet);
  }

  for (const d of analyses) await d.plan(planContext(d.id, draft));
  draft.passes.sort((a, b) => passRank(a) - passRank(b));
  const ids = analyses.map((d) => d.id);
  const settings = settingsRecord(draft, ids);
  return { settings, digest: settingsDigest(settings), models, passes: draft.passes, drivers: draft.drivers, options, analyses: ids, warnings };
}
