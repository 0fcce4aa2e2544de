/**
 * Running a plan through the engine, merging shard states, and finalizing driver states into
 * Results: every analysis finishes its own section, in registry order.
 */
import { InputError } from "../errors.js";
import { runEngine, type EngineResult } from "../engine/stream.js";
import type { SkippedSample } from "../data/loader.js";
import { analysis } from "../pipelines/index.js";
import type { FinishContext } from "../pipelines/contract.js";
import type { Plan, Results } from "./types.js";

/** Runs a prepared plan through the engine and returns the drivers' states. */
export async function execute(plan: Plan, io: { checkpoint?: string; onProgress?: Parameters<typeof runEngine>[3]["onProgress"]; shouldStop?: () => boolean } = {}): Promise<EngineResult> {
  const o = plan.options;
  return runEngine(plan.models, plan.passes, plan.drivers.map((d) => d.driver), {
    batchSize: plan.settings.batch,
    threads: o.threads,
    device: o.device,
    arena: !o.lowMemory,
    skipBad: o.skipBad,
    checkpoint: io.checkpoint ?? o.checkpoint,
    checkpointEvery: o.checkpointEvery,
    resume: o.resume,
    settingsDigest: plan.digest,
    onProgress: io.onProgress ?? o.onProgress,
    shouldStop: io.shouldStop ?? o.shouldStop,
  });
}

/** Merges the driver states of several shard runs of the same plan. */
export function mergeStates(plan: Plan, shards: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { driver } of plan.drivers) {
    const parts = shards.map((s) => s[driver.id]);
    if (parts.some((p) => p === undefined)) throw new InputError(driver.id, "a shard lacks this analysis' state");
    out[driver.id] = parts.slice(1).reduce((a, b) => driver.merge(a, b), parts[0]);
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
    models: plan.models.map((m, i) => ({
      label: m.label,
      file: m.file,
      sha256: m.sha256,
      family: m.sites.family,
      opset: m.model.opset,
      producer: `${m.model.producer.name} ${m.model.producer.version}`.trim(),
      patchSize: m.sites.patchSize,
      grid: m.sites.grid,
      prefixTokens: m.sites.prefixTokens,
      blocks: m.sites.blocks.length,
      ckaSites: plan.settings.models[i].sites,
      ...(m.ablatedBlock !== undefined ? { ablatedBlock: m.ablatedBlock } : {}),
    })),
    skipped: extra.skipped,
    ...(plan.skippedAnalyses?.length ? { skippedAnalyses: plan.skippedAnalyses } : {}),
    ...(plan.substitutions?.length ? { substitutions: plan.substitutions } : {}),
    ...(plan.memory ? { memory: plan.memory } : {}),
    warnings,
  };
  const sections = results as unknown as Record<string, unknown>;
  for (const id of plan.analyses) {
    const d = analysis(id);
    const ctx: FinishContext = {
      options: plan.options,
      models: plan.models,
      labels,
      settings: plan.settings,
      states: plan.drivers.filter((p) => (p.key.analysis === id || p.readers?.includes(id)) && states[p.driver.id] !== undefined).map((p) => ({ key: p.key, state: states[p.driver.id], reducer: p.reducer })),
      results: sections,
      warn,
    };
    const section = await d.finish(ctx);
    if (section === undefined) continue;
    sections[id] = section;
    const more = d.extra?.(section, ctx);
    if (more) Object.assign(sections, more);
  }
  chanceWarnings(plan, results, warn);
  if (extra.skipped.length) warn(`${extra.skipped.length} unreadable images skipped (--skip-bad)`);
  return results;
}

/**
 * A top-1 accuracy at or below chance (1 / the number of classes in the evaluated sample) is
 * almost never what a trained model does: it names the likely cause (issue 14, item 8).
 */
function chanceWarnings(plan: Plan, results: Results, warn: (m: string) => void): void {
  const main = plan.passes.find((p) => p.name === "main");
  const labels = main?.source.labels;
  if (!main || !labels || !results.accuracy) return;
  const present = new Set<number>();
  for (const i of Array.from(main.indices)) present.add(labels[i]);
  const chance = 1 / Math.max(present.size, 1);
  const folders = main.source.kind === "image-folder";
  const order = plan.settings.data.classOrder ?? "";
  for (const [label, a] of Object.entries(results.accuracy)) {
    if (!(a.total > 0) || a.accuracy > chance) continue;
    const cause = folders && !order.startsWith("matched")
      ? "the class folders were numbered alphabetically, which is probably not the model's class order: give --classes FILE (its class names in output order) or name the folders by class index"
      : folders
        ? "check that the class folders hold what their names say, and that the preprocessing matches the model's training (--preprocess, the model card)"
        : "the labels probably do not follow the model's class order, or the preprocessing does not match its training (--preprocess, the model card); an untrained model also scores at chance";
    warn(`accuracy of ${label} is ${(100 * a.accuracy).toFixed(2)}%, at or below chance (${(100 * chance).toFixed(2)}% for ${present.size} classes): ${cause}`);
  }
}
