/**
 * Linear probes (METHODS.md §6, Raghu Figs. 11, 13): closed-form ridge on every block output,
 * fit on the training split (k-shot and full data), test accuracy on the evaluation data.
 */
import { InputError, UsageError } from "../errors.js";
import type { Driver } from "../engine/stream.js";
import type { TapSpec } from "../engine/taps.js";
import type { TensorLayout as Layout } from "../../analyses/vocabulary.js";
import { layoutOf, type ModelGeometry } from "../engine/geometry.js";
import { DEFAULT_SHOTS, probeReducer, type ProbeResult, type ProbeState } from "../../analyses/probes.js";
import { defaulted, option } from "../options.js";
import { defineAnalysis } from "./contract.js";
import { blockOut } from "./sites.js";
import { csv, num } from "./tables.js";

/** The representation a probe reads at each block output. */
export type ProbeRepresentation = "cls" | "mean" | "gap";

/** k-shot settings plus "full" (the whole training split). */
export type ProbeShots = readonly (number | "full")[];

function parseShots(s: string): (number | "full")[] {
  return s.split(",").map((x) => {
    const t = x.trim();
    if (t === "full") return "full";
    const n = Number(t);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`invalid --probe-shots: ${s}`);
    return n;
  });
}

export const PROBE_OPTIONS = [
  defaulted<"probeShots", ProbeShots>({
    key: "probeShots", flag: "--probe-shots <list>", description: "k-shot settings for the linear probes, plus 'full'", default: [...DEFAULT_SHOTS, "full"],
    parse: parseShots, owner: "probes", record: (v) => v.join(","),
  }),
] as const;

/** Linear probes on every block output of model `m`, trained on the "train" pass. */
function probeDriver(m: number, g: ModelGeometry, representation: ProbeRepresentation, config: { classes: number; shots: number[]; full: boolean; scoring: "stored" | "online" }): Omit<Driver<ProbeState>, "id"> | null {
  const blocks: { name: string; tensor: string; layout: Layout }[] = [];
  for (const b of g.sites.blocks) {
    const name = blockOut(b);
    if (!name) continue;
    const layout = layoutOf(g.shapes.get(b.sites[name]));
    if (layout === "other") continue;
    blocks.push({ name: b.name, tensor: b.sites[name], layout });
  }
  if (blocks.length === 0) return null;
  const taps: TapSpec[] = blocks.map((b) => ({
    kind: "pool",
    tensor: b.tensor,
    layout: b.layout,
    mode: b.layout === "BCHW" ? "gap" : representation === "cls" ? "cls" : "mean",
    prefixTokens: g.sites.prefixTokens,
  }));
  return {
    taps: (pass, mm) => ((pass === "main" || pass === "train") && mm === m ? taps : []),
    init: () => probeReducer.init({ classes: config.classes, shots: config.shots, full: config.full, blocks: blocks.map((b) => b.name), scoring: config.scoring }),
    update(state, view) {
      if (view.pass !== "main" && view.pass !== "train") return state;
      const labels = view.batch.labels;
      if (!labels) return state;
      blocks.forEach((b, i) => {
        state = probeReducer.update(state, {
          block: b.name,
          split: view.pass === "train" ? "train" : "test",
          features: view.tap(m, taps[i]),
          labels,
          indices: view.batch.indices,
        });
      });
      return state;
    },
    merge: probeReducer.merge,
  };
}

function max(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  return m;
}

export const probes = defineAnalysis({
  id: "probes",
  summary: "linear-probe accuracy of every block output (CLS, mean token or GAP), k-shot and full data",
  options: PROBE_OPTIONS,
  default: true,
  async plan(ctx) {
    // Asked for by name, a probe without labels or a training split is an error; as part of the default set, a warning.
    if (!ctx.options.trainData) {
      if (ctx.explicit) throw new UsageError("linear probes need a training split with labels (--train-data)");
      ctx.warn("linear probes skipped: they need a training split (--train-data)");
      return;
    }
    if (!ctx.main.labels) {
      if (ctx.explicit) throw new InputError(ctx.main.path, "has no labels, and the linear probes need them (--labels)");
      ctx.warn(`linear probes skipped: ${ctx.main.path} has no labels`);
      return;
    }
    const train = await ctx.trainSplit();
    if (!train.labels) throw new InputError(train.path, "linear probes need labels for the training split (--train-labels)");
    ctx.addPass({ name: "train", split: "train" });
    const shots: ProbeShots = ctx.options.probeShots;
    const classes = Math.max(train.classes?.length ?? 0, max(train.labels) + 1, max(ctx.main.labels) + 1);
    // The training split runs first, so an unsharded run scores test rows as they come and keeps
    // only models and counts; shards keep their test rows, which merge.
    const scoring = ctx.options.shard ? ("stored" as const) : ("online" as const);
    const config = { classes, shots: shots.filter((s): s is number => s !== "full"), full: shots.includes("full"), scoring };
    for (const model of ctx.userModels) {
      const g = model.geometry;
      const reps: ProbeRepresentation[] = g.sites.family === "cnn" ? ["gap"] : g.sites.prefixTokens > 0 ? ["cls", "mean"] : ["mean"];
      for (const rep of reps) {
        const d = probeDriver(model.index, g, rep, config);
        if (d) ctx.add({ models: [model.index], part: rep }, d, probeReducer);
      }
    }
  },
  finish(ctx) {
    const out: Record<string, Partial<Record<ProbeRepresentation, ProbeResult>>> = {};
    for (const { key, state, reducer } of ctx.states) (out[ctx.labels[key.models[0]]] ??= {})[key.part as ProbeRepresentation] = reducer.finalize(state);
    return Object.keys(out).length ? out : undefined;
  },
  *files(section, ctx) {
    for (const [label, reps] of Object.entries(section)) {
      const rows: unknown[][] = [["representation", "block", "depth", "shots", "test_accuracy", "lambda", "train_examples"]];
      for (const [rep, r] of Object.entries(reps)) for (const b of r?.blocks ?? []) for (const f of b.fits) rows.push([rep, b.block, b.depth, f.shots, f.testAccuracy, f.lambda, f.trainExamples]);
      yield [`probes-${ctx.slug(label)}.csv`, csv(rows)];
    }
  },
  report(section, ctx) {
    const entries = Object.entries(section ?? {});
    if (!entries.length) return { omitted: { probes: "linear probes need labels and a training split (--train-data)" } };
    return {
      probes: entries.map(([label, reps]) => ({
        model: ctx.modelId(label),
        series: Object.entries(reps).flatMap(([rep, r]) => {
          if (!r) return [];
          const shots = r.blocks[0]?.fits.map((f) => f.shots) ?? [];
          return shots.map((s) => ({
            name: `${rep}, ${s === "full" ? "full data" : `${s}-shot`}`,
            points: r.blocks.map((b) => ({ depth: b.depth, accuracy: num(b.fits.find((f) => f.shots === s)?.testAccuracy), site: b.block })),
          }));
        }),
      })),
    };
  },
});
