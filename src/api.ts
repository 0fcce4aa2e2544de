/**
 * The library API: the same code path as the CLI. `inspect`, `analyze`, `compare`, `report`,
 * `merge`, plus the helpers the CLI calls (`*FromCli`), which add file writing and progress.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InputError, UsageError } from "./errors.js";
import { inspectModel, formatInspect as formatInspectText, type InspectResult } from "./onnx/inspect.js";
import { prepare, execute, finish, mergeStates, type Results, type RunOptions, type AnalysisId, ANALYSES } from "./run.js";
import { Interrupted, CHECKPOINT_FORMAT, writeCheckpoint, type Checkpoint } from "./engine/run.js";
import { progressPrinter } from "./engine/progress.js";
import { settingsDifferences, type SettingsRecord } from "./engine/settings.js";
import { outputPaths, prepareOutput, writeResultFiles, toJSONValue, STATE_FILE, type OutputPaths } from "./output.js";
import { decodeState, writeFileAtomic } from "./state.js";
import { reportData } from "./report-data.js";
import { renderReport } from "../reports/render.js";
import { readNpy, encodeNpy } from "./data/npy.js";
import { parseShard } from "./data/sampling.js";
import { parseMemory } from "./limits.js";
import { linearCKA, ckaReducer, estimatorId } from "../analyses/cka.js";
import { flatten, tokenMode } from "../analyses/flatten.js";
import type { Tensor } from "./tensor.js";

export type { Results, RunOptions, AnalysisId } from "./run.js";
export type { InspectResult } from "./onnx/inspect.js";

/**
 * What seelike finds in a model: family, input, patch size, grid, prefix tokens, blocks with
 * their canonical sites, attention sites and residuals.
 *
 * @example
 * const info = await inspect("vit_b_16.onnx");
 * info.blocks.length; // 12
 */
export async function inspect(model: string, options: { extraSites?: Record<string, string | RegExp> } = {}): Promise<InspectResult> {
  return inspectModel(model, { extraSites: options.extraSites });
}

/**
 * Human-readable text of an inspect result.
 * @example console.log(formatInspect(await inspect("vit.onnx")));
 */
export function formatInspect(info: InspectResult): string {
  const text = formatInspectText(info);
  return text.endsWith("\n") ? text : text + "\n";
}

/**
 * Runs every analysis that applies to one model.
 *
 * @example
 * const results = await analyze("vit.onnx", { data: "images/", limit: 512 });
 * results.attention["vit"].distance; // [L, H] mean attention distance in pixels
 */
export async function analyze(model: string, options: RunOptions): Promise<Results> {
  return runModels([model], options);
}

/**
 * Compares model A with model B (and further checkpoints against A) on the same images.
 *
 * @example
 * const results = await compare("vit.onnx", "resnet.onnx", { data: "images/", batch: 64 });
 * results.cka[0].result.matrices.AB; // CKA of every A site with every B site
 */
export async function compare(a: string, b: string, options: RunOptions & { more?: string[] }): Promise<Results> {
  return runModels([a, b, ...(options.more ?? [])], options);
}

/**
 * Runs a list of models (A, B, then further checkpoints compared with A).
 * @example const r = await runModels(["vit.onnx", "resnet.onnx", "vit-10pct.onnx"], { data: "images/" });
 */
export async function runModels(models: readonly string[], options: RunOptions): Promise<Results> {
  const plan = await prepare(models, options);
  const r = await execute(plan);
  return finish(plan, r.states, { timings: r.timings, skipped: r.skipped, shard: options.shard });
}

/**
 * One self-contained HTML report of a run's results.
 *
 * @example await writeFile("report.html", report(results));
 */
export function report(results: Results, options: { title?: string } = {}): string {
  return renderReport(reportData(results, options.title));
}

// ---------------------------------------------------------------------------------------------
// CLI helpers

interface IO {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** Parses repeated `--site name=pattern` flags and a `--sites-file`. */
export async function extraSites(flags: string[] = [], file?: string): Promise<Record<string, string | RegExp> | undefined> {
  const out: Record<string, string | RegExp> = {};
  const add = (name: string, pattern: string, where: string) => {
    if (!name) throw new UsageError(`invalid site ${where}: no canonical name`);
    const m = /^\/(.*)\/([a-z]*)$/.exec(pattern);
    if (m) {
      try {
        out[name] = new RegExp(m[1], m[2]);
      } catch (e) {
        throw new UsageError(`invalid site ${where}: ${(e as Error).message}`);
      }
    } else out[name] = pattern;
  };
  if (file) {
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(file, "utf8"));
    } catch (e) {
      throw new InputError(file, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not a JSON object of sites (${(e as Error).message})`);
    }
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new InputError(file, "not a JSON object of sites");
    for (const [k, v] of Object.entries(doc)) {
      if (typeof v !== "string") throw new InputError(file, `site ${k} must map to a tensor name or "/regex/"`);
      add(k, v, `${k} in ${file}`);
    }
  }
  for (const f of flags) {
    const i = f.indexOf("=");
    if (i < 0) throw new UsageError(`invalid --site ${f} (expected name=tensor or name=/regex/)`);
    add(f.slice(0, i), f.slice(i + 1), f);
  }
  return Object.keys(out).length ? out : undefined;
}

/** Options from commander for analyze/compare. */
interface CliRunOptions {
  data: string;
  out: string;
  labels?: string;
  trainData?: string;
  trainLabels?: string;
  analyses?: string;
  estimator: string;
  tokens: string;
  siteSet: "blocks" | "all";
  site: string[];
  sitesFile?: string;
  limit?: number;
  seed: number;
  batch: number;
  repeats: number;
  attentionWeighting: "renormalised" | "raw";
  probeShots: string;
  ablate?: string;
  preprocess?: "imagenet" | "inception" | "none" | "card";
  mean?: number[];
  std?: number[];
  resize?: number;
  crop?: number;
  threads?: number;
  device: "cpu" | "cuda";
  shard?: string;
  resume?: boolean;
  checkpointEvery: number;
  skipBad?: boolean;
  maxMemory?: string;
  quiet?: boolean;
}

function parseShots(s: string): (number | "full")[] {
  return s.split(",").map((x) => {
    const t = x.trim();
    if (t === "full") return "full";
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`invalid --probe-shots: ${s}`);
    return n;
  });
}

function parseAnalyses(s?: string): AnalysisId[] | undefined {
  if (!s) return undefined;
  const list = s.split(",").map((x) => x.trim()).filter(Boolean);
  for (const a of list) if (!(ANALYSES as readonly string[]).includes(a)) throw new UsageError(`invalid --analyses: ${a} (choose from ${ANALYSES.join(", ")})`);
  return list as AnalysisId[];
}

function parseBlocks(s?: string): number[] {
  if (!s) return [];
  return s.split(",").map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`invalid --ablate: ${s}`);
    return n;
  });
}

/** Turns CLI flags into RunOptions (without data/progress wiring). */
export async function runOptionsFromCli(opts: CliRunOptions): Promise<RunOptions> {
  let shard: { index: number; count: number } | undefined;
  if (opts.shard) {
    try {
      shard = parseShard(opts.shard);
    } catch (e) {
      throw new UsageError(`invalid --shard ${opts.shard}: ${(e as Error).message}`);
    }
  }
  const analyses = parseAnalyses(opts.analyses);
  const ablate = parseBlocks(opts.ablate);
  return {
    data: opts.data,
    labels: opts.labels,
    trainData: opts.trainData,
    trainLabels: opts.trainLabels,
    analyses: ablate.length && analyses && !analyses.includes("ablation") ? [...analyses, "ablation"] : analyses,
    estimator: estimatorId(opts.estimator),
    tokens: tokenMode(opts.tokens),
    siteSet: opts.siteSet,
    extraSites: await extraSites(opts.site, opts.sitesFile),
    limit: opts.limit,
    seed: opts.seed,
    batch: opts.batch,
    repeats: opts.repeats,
    attentionWeighting: opts.attentionWeighting,
    probeShots: parseShots(opts.probeShots),
    ablate,
    preprocess: opts.preprocess,
    preprocessOverrides: {
      ...(opts.mean ? { mean: opts.mean } : {}),
      ...(opts.std ? { std: opts.std } : {}),
      ...(opts.resize ? { resize: opts.resize } : {}),
      ...(opts.crop ? { crop: opts.crop } : {}),
    },
    threads: opts.threads,
    device: opts.device,
    shard,
    resume: opts.resume,
    checkpointEvery: opts.checkpointEvery,
    skipBad: opts.skipBad,
    maxMemory: opts.maxMemory === undefined ? undefined : parseMemory(opts.maxMemory),
  };
}

/** A finished run's state file: the engine's last checkpoint plus what merge needs to plan again. */
interface RunState extends Checkpoint {
  settings: SettingsRecord;
  shard: { index: number; count: number } | null;
  models: string[];
  options: Omit<RunOptions, "onProgress" | "onWarning" | "shouldStop">;
}

function storableOptions(o: RunOptions): RunState["options"] {
  const { onProgress: _p, onWarning: _w, shouldStop: _s, ...rest } = o;
  if (typeof rest.data !== "string" || (rest.trainData !== undefined && typeof rest.trainData !== "string")) throw new UsageError("only runs over data paths can be saved for merging");
  const extra = rest.extraSites ? Object.fromEntries(Object.entries(rest.extraSites).map(([k, v]) => [k, v instanceof RegExp ? `/${v.source}/${v.flags}` : v])) : undefined;
  return { ...rest, extraSites: extra, checkpoint: undefined, resume: false };
}

function restoreOptions(o: RunState["options"]): RunOptions {
  const extra = o.extraSites
    ? Object.fromEntries(Object.entries(o.extraSites).map(([k, v]) => {
        const m = typeof v === "string" ? /^\/(.*)\/([a-z]*)$/.exec(v) : null;
        return [k, m ? new RegExp(m[1], m[2]) : v];
      }))
    : undefined;
  return { ...o, extraSites: extra };
}

/** Runs models as the CLI does: progress, checkpoints, Ctrl-C, and every output file. */
export async function runToFiles(models: string[], options: RunOptions, out: string, io: IO, quiet = false, title?: string): Promise<{ results: Results; paths: OutputPaths; files: string[] }> {
  const paths = outputPaths(out);
  await prepareOutput(paths);
  const progress = quiet ? undefined : progressPrinter(process.stderr);
  let stop = false;
  const onSignal = () => {
    if (stop) process.exit(130);
    stop = true;
    io.err("\nseelike: stopping after this batch (Ctrl-C again to quit at once)\n");
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const run: RunOptions = {
      ...options,
      checkpoint: paths.checkpoint,
      onProgress: progress,
      shouldStop: () => stop,
    };
    const plan = await prepare(models, run);
    const r = await execute(plan);
    progress?.end();
    const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped, shard: options.shard });
    const state: RunState = {
      format: CHECKPOINT_FORMAT,
      pass: plan.passes.length,
      cursor: 0,
      batches: r.batches,
      settings: plan.settings,
      shard: options.shard ?? null,
      models: models.map((m) => path.resolve(m)),
      options: storableOptions(options),
      states: r.states,
      timings: r.timings,
      skipped: r.skipped,
    };
    // Over the engine's last checkpoint, in the same file: one state per output folder.
    await writeCheckpoint(paths.state, plan.digest, state);
    const files = await writeResultFiles(paths, results);
    await writeFileAtomic(paths.report, report(results, { title }));
    // Warnings after the work, so an error is always the one line a failed run prints.
    if (!quiet) for (const w of results.warnings) io.err(`seelike: warning: ${w}\n`);
    return { results, paths, files: [paths.report, ...files, paths.state] };
  } catch (e) {
    progress?.end();
    if (e instanceof Interrupted) {
      const err = new Error(e.message) as Error & { exitCode: number };
      err.exitCode = 130;
      throw err;
    }
    throw e;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function summary(results: Results, paths: OutputPaths, files: string[]): string {
  const lines = [`report: ${paths.report}`, `results: ${paths.results}`, `files: ${files.length - 2} more in ${paths.dir}`];
  for (const [label, a] of Object.entries(results.accuracy)) lines.push(`accuracy ${label}: ${(a.accuracy * 100).toFixed(2)}% (${a.correct}/${a.total})`);
  return lines.join("\n") + "\n";
}

/** `seelike analyze` and `seelike compare`. */
export async function runFromCli(models: string[], opts: CliRunOptions, io: IO): Promise<string> {
  const options = await runOptionsFromCli(opts);
  const { results, paths, files } = await runToFiles(models, options, opts.out, io, opts.quiet);
  return summary(results, paths, files);
}

/** `seelike report results.json --out report.html`. */
export async function reportFromFile(file: string, out: string): Promise<string> {
  let doc: Results;
  try {
    doc = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new InputError(file, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not a results file (${(e as Error).message})`);
  }
  if (doc?.schema !== "seelike-results@1") throw new InputError(file, `not a seelike results file (schema ${String(doc?.schema)})`);
  const outAbs = path.resolve(out);
  await prepareOutput({ ...outputPaths(outAbs), dir: path.dirname(outAbs) });
  await writeFileAtomic(outAbs, report(doc));
  return `report: ${outAbs}\n`;
}

async function stateFileOf(dir: string): Promise<string> {
  const candidates = [path.join(dir, STATE_FILE), outputPaths(dir).state];
  for (const c of candidates) if (existsSync(c)) return c;
  const st = await stat(dir).catch(() => undefined);
  if (st?.isDirectory()) {
    for (const f of await readdir(dir)) {
      const sub = path.join(dir, f, STATE_FILE);
      if (existsSync(sub)) return sub;
    }
  }
  // An earlier seelike wrote JSON state.json; decoding it says why it is refused.
  if (existsSync(path.join(dir, "state.json"))) return path.join(dir, "state.json");
  throw new InputError(dir, `no seelike ${STATE_FILE} here (give the output folder of a --shard run)`);
}

/**
 * Merges shard runs (their output folders) into the results of one run. Refuses shards whose
 * settings (METHODS.md §8) differ, duplicate or missing shards.
 * @example const results = await merge(["runs/shard0/report", "runs/shard1/report"]);
 */
export async function merge(dirs: string[]): Promise<Results> {
  if (dirs.length === 0) throw new UsageError("no shard folders given");
  const shards: { file: string; state: RunState }[] = [];
  for (const d of dirs) {
    const file = await stateFileOf(d);
    const state = decodeState(await readFile(file), file) as RunState;
    if (state?.format !== CHECKPOINT_FORMAT) throw new InputError(file, "not a seelike run state");
    if (state.settings === undefined) throw new InputError(file, "the run that wrote this state did not finish; rerun it with --resume, then merge");
    shards.push({ file, state });
  }
  const first = shards[0];
  for (const s of shards.slice(1)) {
    const diff = settingsDifferences(first.state.settings, s.state.settings);
    if (diff.length) throw new InputError(s.file, `settings differ from ${first.file} in ${diff.join(", ")}; only runs with identical settings merge`);
  }
  const count = first.state.shard?.count ?? 1;
  const seen = new Set<number>();
  for (const s of shards) {
    const idx = s.state.shard?.index ?? 0;
    if (seen.has(idx)) throw new InputError(s.file, `shard ${idx}/${count} given twice`);
    seen.add(idx);
  }
  if (seen.size !== count) {
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
    throw new InputError(dirs.join(" "), `missing shard(s) ${missing.map((i) => `${i}/${count}`).join(", ")}`);
  }
  const options = restoreOptions(first.state.options);
  const plan = await prepare(first.state.models, { ...options, shard: undefined });
  // The unsharded plan's record differs only in `shards`; everything else must match.
  const diff = settingsDifferences({ ...plan.settings, shards: count }, first.state.settings);
  if (diff.length) throw new InputError(first.file, `the models or data changed since the shard runs (${diff.join(", ")})`);
  plan.settings = first.state.settings;
  const states = mergeStates(plan, shards.map((s) => s.state.states));
  const timings: Record<string, number> = {};
  for (const s of shards) for (const [k, v] of Object.entries(s.state.timings)) timings[k] = (timings[k] ?? 0) + v;
  return finish(plan, states, { timings, skipped: shards.flatMap((s) => s.state.skipped as never[]) });
}

/** `seelike merge DIR... --out report.html`. */
export async function mergeFromCli(dirs: string[], out: string, _io: IO): Promise<string> {
  const results = await merge(dirs);
  const paths = outputPaths(out);
  await prepareOutput(paths);
  const files = await writeResultFiles(paths, results);
  await writeFileAtomic(paths.report, report(results));
  return summary(results, paths, [paths.report, ...files]);
}

async function npyTensor(file: string): Promise<Tensor> {
  const a = await readNpy(file);
  if (!(a.data instanceof Float32Array || a.data instanceof Float64Array)) throw new InputError(file, `activations must be float32 or float64, not ${a.dtype}`);
  if (a.shape.length < 2) throw new InputError(file, `activations need an example axis and features: shape [${a.shape}]`);
  return { data: a.data, shape: a.shape };
}

function flattened(t: Tensor, mode: string, prefix: number): Tensor {
  const m = tokenMode(mode);
  if (m === "all") return t;
  if (t.shape.length === 3) return flatten(t, m, { layout: "BTD", prefixTokens: prefix });
  if (t.shape.length === 4) return flatten(t, m, { layout: "BCHW" });
  throw new UsageError(`--tokens ${mode} needs [N,T,D] or [N,C,H,W] arrays`);
}

/** `seelike cka X Y`: one value for two .npy files, or a matrix for two folders of them. */
export async function ckaFromCli(x: string, y: string, opts: { estimator: string; batch?: number; tokens: string; prefixTokens: number; out?: string; json?: boolean }): Promise<string> {
  const estimator = estimatorId(opts.estimator);
  // A 2-D [N, features] array has no token axis: --tokens leaves it as it is, so pooled
  // features compare with token tensors; other ranks the mode cannot read name their file.
  const load = async (file: string): Promise<Tensor> => {
    const t = await npyTensor(file);
    if (t.shape.length === 2) return t;
    try {
      return flattened(t, opts.tokens, opts.prefixTokens);
    } catch (e) {
      if (e instanceof UsageError) throw new InputError(file, `${e.message}, not shape [${t.shape}]`);
      throw e;
    }
  };
  const sx = await stat(x).catch(() => { throw new InputError(x, "no such file or folder"); });
  const sy = await stat(y).catch(() => { throw new InputError(y, "no such file or folder"); });
  if (sx.isFile() && sy.isFile()) {
    const X = await load(x);
    const Y = await load(y);
    if (X.shape[0] !== Y.shape[0]) throw new InputError(y, `has ${Y.shape[0]} examples but ${x} has ${X.shape[0]}`);
    const v = linearCKA(X, Y, { estimator, batch: opts.batch });
    if (opts.json) return JSON.stringify(toJSONValue({ cka: v.cka, estimator: v.estimator, batch: v.batch, batches: v.batches, examples: v.examples, dropped: v.dropped, tokens: opts.tokens, hsic: { xy: v.hsicXY, xx: v.hsicXX, yy: v.hsicYY } })) + "\n";
    return `${v.cka}\n`;
  }
  if (!(sx.isDirectory() && sy.isDirectory())) throw new UsageError("give two .npy files or two folders of .npy files");
  const list = async (d: string) => (await readdir(d)).filter((f) => f.endsWith(".npy")).sort();
  const fx = await list(x);
  const fy = await list(y);
  if (!fx.length) throw new InputError(x, "no .npy files");
  if (!fy.length) throw new InputError(y, "no .npy files");
  const tx = await Promise.all(fx.map((f) => load(path.join(x, f))));
  const ty = await Promise.all(fy.map((f) => load(path.join(y, f))));
  const m = tx[0].shape[0];
  for (const [i, t] of [...tx, ...ty].entries()) if (t.shape[0] !== m) throw new InputError(i < tx.length ? path.join(x, fx[i]) : path.join(y, fy[i - tx.length]), `has ${t.shape[0]} examples, expected ${m}`);
  const n = estimator === "minibatch-unbiased" ? opts.batch ?? m : m;
  const sitesA = fx.map((f) => f.replace(/\.npy$/, ""));
  const sitesB = fy.map((f) => f.replace(/\.npy$/, ""));
  let state = ckaReducer.init({ sitesA, sitesB, estimator, batch: n, examples: m, control: false });
  const rows = (t: Tensor, start: number, count: number): Tensor => {
    const per = t.data.length / t.shape[0];
    return { data: t.data.subarray(start * per, (start + count) * per), shape: [count, ...t.shape.slice(1)] };
  };
  if (estimator === "minibatch-unbiased") {
    for (let s = 0; s + n <= m; s += n) state = ckaReducer.updateFeatures(state, { featuresA: tx.map((t) => rows(t, s, n)), featuresB: ty.map((t) => rows(t, s, n)) });
  } else state = ckaReducer.updateFeatures(state, { featuresA: tx, featuresB: ty });
  const result = ckaReducer.finalize(state);
  const ab = result.matrices.AB!;
  if (opts.out) {
    const out = path.resolve(opts.out);
    if (out.endsWith(".npy")) await writeFileAtomic(out, encodeNpy(Float64Array.from(ab.data), ab.shape));
    else if (out.endsWith(".csv")) await writeFileAtomic(out, ["," + ab.cols.join(","), ...ab.rows.map((r, i) => [r, ...ab.cols.map((_, j) => ab.data[i * ab.cols.length + j])].join(","))].join("\n") + "\n");
    else await writeFileAtomic(out, JSON.stringify(toJSONValue(result), null, 1));
    return `wrote ${out}\n`;
  }
  if (opts.json) return JSON.stringify(toJSONValue({ estimator, batch: n, examples: result.examples, dropped: m - result.examples, rows: ab.rows, cols: ab.cols, cka: Array.from({ length: ab.rows.length }, (_, i) => Array.from(ab.data.subarray(i * ab.cols.length, (i + 1) * ab.cols.length))) })) + "\n";
  return [["", ...ab.cols].join(","), ...ab.rows.map((r, i) => [r, ...ab.cols.map((_, j) => ab.data[i * ab.cols.length + j].toFixed(6))].join(","))].join("\n") + "\n";
}

/** The package root (where fixtures/ lives), from this module's location in src/ or dist/src/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "fixtures"))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error("cannot find the seelike package root (fixtures/)");
}

/**
 * The embedded default: the shipped zoo and probe set.
 * @example const { models, data } = demoInputs(); await compare(models[0], models[1], { data });
 */
export function demoInputs(root = packageRoot()) {
  const zoo = path.join(root, "fixtures", "zoo");
  const data = path.join(root, "fixtures", "data");
  const models = ["vit-tiny", "resnet-tiny", "vit-tiny-10pct", "vit-tiny-gap", "vit-tiny-noskip", "mixer-tiny", "vit-tiny-init"].map((m) => path.join(zoo, `${m}.onnx`));
  return {
    models: models.filter((m, i) => i < 2 || existsSync(m)),
    data: path.join(data, "probe-images-idx3-ubyte.gz"),
    trainData: path.join(data, "train2k-images-idx3-ubyte.gz"),
  };
}

/** `seelike demo`. */
export async function demoFromCli(opts: { out: string; limit?: number; batch: number; repeats: number; threads?: number; quiet?: boolean }, io: IO): Promise<string> {
  const d = demoInputs();
  for (const f of [...d.models.slice(0, 2), d.data]) if (!existsSync(f)) throw new InputError(f, "missing from this install (the demo needs the shipped zoo and probe set)");
  const options: RunOptions = {
    data: d.data,
    trainData: existsSync(d.trainData) ? d.trainData : undefined,
    limit: opts.limit,
    batch: opts.batch,
    repeats: opts.repeats,
    threads: opts.threads,
    seed: 0,
    ablate: [3],
  };
  const t0 = performance.now();
  const { results, paths, files } = await runToFiles(d.models, options, opts.out, io, opts.quiet, "seelike demo: vit-tiny vs resnet-tiny (Fashion-MNIST probe set)");
  return summary(results, paths, files) + `time: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`;
}
