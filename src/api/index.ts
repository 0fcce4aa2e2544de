/**
 * The library API: `inspect`, `analyze`, `compare`, `report`, `merge`, and the same runs
 * writing their output folder (`runToFiles`, `mergeToFiles`, `reportToFile`), which the CLI
 * calls. Nothing here parses flags or touches the process (signals, exit codes): that is the CLI's.
 */
import { readFile, readdir, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { InputError, UsageError } from "../errors.js";
import { inspectModel, formatInspect as formatInspectText, type InspectResult } from "../onnx/inspect.js";
import { prepare, execute, finish, mergeStates, type Results, type RunOptions } from "../plan/index.js";
import type { ProgressCallback } from "../engine/progress.js";
import { settingsDifferences } from "../engine/settings.js";
import { CHECKPOINT_FORMAT, writeCheckpoint } from "../engine/stream.js";
import { outputPaths, prepareOutput, writeResultFiles, STATE_FILE, type OutputPaths } from "../output/files.js";
import { decodeState, writeFileAtomic } from "../engine/state.js";
import { reportData } from "../output/report-data.js";
import { renderReport } from "../../reports/render.js";
import { storableOptions, restoreOptions, type RunState } from "./saved.js";
import { writeFigures } from "./export.js";

export type { Results, RunOptions, AnalysisId, ModelSummary } from "../plan/index.js";
export type { InspectResult } from "../onnx/inspect.js";
export type { OutputPaths } from "../output/files.js";

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
  const { more, ...rest } = options;
  return runModels([a, b, ...(more ?? [])], rest);
}

/**
 * Runs a list of models (A, B, then further checkpoints compared with A).
 * @example const r = await runModels(["vit.onnx", "resnet.onnx", "vit-10pct.onnx"], { data: "images/" });
 */
export async function runModels(models: readonly string[], options: RunOptions): Promise<Results> {
  const plan = await prepare(models, options);
  const r = await execute(plan);
  return finish(plan, r.states, { timings: r.timings, skipped: r.skipped, shard: plan.options.shard });
}

/**
 * One self-contained HTML report of a run's results.
 *
 * @example await writeFile("report.html", report(results));
 */
export function report(results: Results, options: { title?: string } = {}): string {
  return renderReport(reportData(results, options.title));
}

/** What a run that writes its output folder gets besides the run's options. */
export interface FileRunOptions {
  /** Report title (default: "A vs B"). */
  title?: string;
  onProgress?: ProgressCallback & { end?(): void };
  /** Checked between batches: true stops the run after a checkpoint (it throws `Interrupted`). */
  shouldStop?: () => boolean;
}

/** A finished run with files: its results, where they went and every file written. */
export interface RunFiles {
  results: Results;
  paths: OutputPaths;
  files: string[];
}

/**
 * Runs models and writes the report, results.json, one CSV (and .npy) per figure, and the
 * mergeable state into the output folder of `out`; checkpoints there as it goes.
 * @example const { paths } = await runToFiles(["vit.onnx", "resnet.onnx"], { data: "images/" }, "report.html");
 */
export async function runToFiles(models: string[], options: RunOptions, out: string, io: FileRunOptions = {}): Promise<RunFiles> {
  const paths = outputPaths(out);
  await prepareOutput(paths);
  try {
    const plan = await prepare(models, { ...options, checkpoint: paths.checkpoint });
    const r = await execute(plan, { checkpoint: paths.checkpoint, onProgress: io.onProgress ?? options.onProgress, shouldStop: io.shouldStop ?? options.shouldStop });
    io.onProgress?.end?.();
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
    const data = reportData(results, io.title);
    await writeFileAtomic(paths.report, renderReport(data));
    const figures = options.figures ? await writeFigures(data, options.figures) : [];
    return { results, paths, files: [paths.report, ...files, paths.state, ...figures] };
  } finally {
    io.onProgress?.end?.();
  }
}

/**
 * Writes a report of a saved results.json (no recomputation).
 * @example await reportToFile("run/report/results.json", "again.html");
 */
export async function reportToFile(file: string, out: string, options: { figures?: string } = {}): Promise<string> {
  let doc: Results;
  try {
    doc = JSON.parse(await readFile(file, "utf8"));
  } catch (e) {
    throw new InputError(file, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not a results file (${(e as Error).message})`);
  }
  if (doc?.schema !== "seelike-results@1") throw new InputError(file, `not a seelike results file (schema ${String(doc?.schema)})`);
  const outAbs = path.resolve(out);
  await prepareOutput({ ...outputPaths(outAbs), dir: path.dirname(outAbs) });
  const data = reportData(doc);
  await writeFileAtomic(outAbs, renderReport(data));
  if (options.figures) await writeFigures(data, options.figures);
  return outAbs;
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

/**
 * Merges shard runs and writes the merged run's output folder next to `out`.
 * @example await mergeToFiles(["s0/report", "s1/report"], "merged.html");
 */
export async function mergeToFiles(dirs: string[], out: string): Promise<RunFiles> {
  const results = await merge(dirs);
  const paths = outputPaths(out);
  await prepareOutput(paths);
  const files = await writeResultFiles(paths, results);
  await writeFileAtomic(paths.report, report(results));
  return { results, paths, files: [paths.report, ...files] };
}

export { packageRoot, demoInputs, demoOptions, DEMO_TITLE } from "./demo.js";
export { ckaOfArrays, type ArrayCKA, type ArrayCKAOptions } from "./cka.js";
