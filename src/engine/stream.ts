/**
 * The streaming engine: one pass over the data per pass kind, every model sees the same batches,
 * each batch is handed to every analysis driver and then dropped, so no activation of the whole
 * data set is ever held. Reducer state is checkpointed atomically every K batches; a resumed run
 * continues at the saved cursor and ends with the numbers of an uninterrupted run.
 */
import { InputError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { releaseBytes, type OnnxModel } from "../onnx/model.js";
import type { ModelSites } from "../onnx/sites.js";
import { appendNodes } from "../onnx/surgery.js";
import { createSession, release, run, type Device, type Session } from "../runtime/session.js";
import { batches, type Batch, type SkippedSample } from "../data/loader.js";
import type { PreprocessOptions } from "../data/preprocess.js";
import type { DataSource } from "../data/types.js";
import { decodeState, encodeState, stateHeader, writeFileAtomic } from "./state.js";
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { scheduleTaps, tapGraph, tapName, tensorPosition, type TapSpec } from "./taps.js";
import type { ProgressCallback } from "./progress.js";

/** One model of a run (an ablated variant is a separate entry with its own bytes). */
export interface EngineModel {
  label: string;
  file: string;
  sha256: string;
  model: OnnxModel;
  sites: ModelSites;
  /** The graph to run (the model's bytes, or an ablated rewrite of them). */
  bytes: Uint8Array;
  preprocess: PreprocessOptions;
}

/** A pass over one data split. */
export interface Pass {
  /** "main" (the evaluation data), "train" (probe training split), "repeat-R" (CKA reshuffle R). */
  name: string;
  source: DataSource;
  /** Sample indices in processing order. */
  indices: Int32Array | number[];
}

/** What a driver sees for one batch. */
export interface BatchView {
  pass: string;
  batch: Batch;
  /** The output of tap `spec` of model `m` for this batch. */
  tap(m: number, spec: TapSpec): Tensor;
  /** The batch as preprocessed for model `m` (same samples as `batch`). */
  batchOf(m: number): Batch;
}

/**
 * Bridges the engine and one analysis reducer: which taps it needs per model and pass, and how
 * a batch's tap outputs become the reducer's input. State must be plain data (src/engine/state.ts).
 */
export interface Driver<S = unknown> {
  id: string;
  taps(pass: string, model: number): TapSpec[];
  init(): S;
  update(state: S, view: BatchView): S;
  merge(a: S, b: S): S;
}

export interface EngineOptions {
  batchSize: number;
  threads?: number;
  device?: Device;
  /** onnxruntime's CPU memory arena for the pass sessions (default true; src/runtime/session.ts). */
  arena?: boolean;
  skipBad?: boolean;
  /** Checkpoint file; written every `checkpointEvery` batches and at the end of every pass. */
  checkpoint?: string;
  checkpointEvery?: number;
  /** Continue from `checkpoint` (which must carry the same settings digest). */
  resume?: boolean;
  /** Digest of the settings record: a checkpoint of other settings is refused. */
  settingsDigest: string;
  onProgress?: ProgressCallback;
  /** Checked between batches; when it returns true the engine checkpoints and throws Interrupted. */
  shouldStop?: () => boolean;
}

export interface EngineResult {
  states: Record<string, unknown>;
  skipped: SkippedSample[];
  /** Seconds: per pass wall time, and inference time per model. */
  timings: Record<string, number>;
  batches: number;
}

/** Thrown when a run stops on request after saving its checkpoint. */
export class Interrupted extends Error {
  constructor(readonly checkpoint: string | undefined) {
    super(checkpoint ? `interrupted; state saved to ${checkpoint}, continue with --resume` : "interrupted");
    this.name = "Interrupted";
  }
}

/** Format of the value in a state file; a file written before it is refused by src/engine/state.ts. */
export const CHECKPOINT_FORMAT = "seelike-checkpoint@2";

/**
 * What a state file holds (its settings digest is in the file's header, src/engine/state.ts). The
 * checkpoint of a finished engine run has `pass` equal to the number of passes; the final state
 * of a CLI run is that checkpoint with what merge needs added, in the same file.
 */
export interface Checkpoint {
  format: typeof CHECKPOINT_FORMAT;
  /** Index of the pass in progress and samples of it consumed (read or skipped). */
  pass: number;
  cursor: number;
  states: Record<string, unknown>;
  skipped: SkippedSample[];
  batches: number;
  timings: Record<string, number>;
}

/** Loads a checkpoint (or a finished run's state), refusing one made with other settings before reading its payload. */
export async function readCheckpoint(file: string, settingsDigest: string): Promise<Checkpoint> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    // An earlier seelike wrote checkpoint.json beside the state; say so rather than "none".
    const legacy = join(dirname(file), "checkpoint.json");
    throw new InputError(file, existsSync(legacy) ? `no checkpoint to resume from (${legacy} is the JSON checkpoint of an earlier seelike, which this version does not read; rerun without --resume)` : "no checkpoint to resume from");
  }
  if (stateHeader(bytes, file).settingsDigest !== settingsDigest) throw new InputError(file, "checkpoint was made with different settings (models, data, sample or options); rerun without --resume or restore the settings");
  const cp = decodeState(bytes, file) as Checkpoint;
  if (cp?.format !== CHECKPOINT_FORMAT) throw new InputError(file, "not a seelike checkpoint");
  return cp;
}

/** Writes a checkpoint (or a final state: a checkpoint with more fields) atomically, replacing the previous one. */
export async function writeCheckpoint(file: string, settingsDigest: string, cp: Checkpoint): Promise<void> {
  await writeFileAtomic(file, encodeState(cp, { settingsDigest }));
}

/**
 * Runs every pass over its data with every driver and returns the drivers' final states.
 *
 * One function on purpose: sessions, loaders, the cursor, checkpoints and timings of a pass
 * share one lifetime (created per pass, released in its finally), and a checkpoint must see
 * all of them at the same batch boundary.
 *
 * @example
 * const { states } = await runEngine(models, [{ name: "main", source, indices }], [ckaDriver], { batchSize: 64, settingsDigest });
 */
export async function runEngine(models: EngineModel[], passes: Pass[], drivers: Driver[], options: EngineOptions): Promise<EngineResult> {
  const every = options.checkpointEvery ?? 10;
  let states: Record<string, unknown> = Object.fromEntries(drivers.map((d) => [d.id, d.init()]));
  let skipped: SkippedSample[] = [];
  let timings: Record<string, number> = {};
  let startPass = 0;
  let startCursor = 0;
  let batchCount = 0;
  if (options.resume) {
    if (!options.checkpoint) throw new RangeError("invalid resume: no checkpoint file");
    const cp = await readCheckpoint(options.checkpoint, options.settingsDigest);
    states = cp.states;
    skipped = cp.skipped;
    timings = cp.timings;
    startPass = cp.pass;
    startCursor = cp.cursor;
    batchCount = cp.batches;
  }

  const save = async (pass: number, cursor: number) => {
    if (!options.checkpoint) return;
    await writeCheckpoint(options.checkpoint, options.settingsDigest, { format: CHECKPOINT_FORMAT, pass, cursor, states, skipped, batches: batchCount, timings });
  };

  for (let p = startPass; p < passes.length; p++) {
    const pass = passes[p];
    const cursor0 = p === startPass ? startCursor : 0;
    const specs = models.map((_, m) => drivers.flatMap((d) => d.taps(pass.name, m)));
    const active = specs.map((s) => s.length > 0);
    const activeCount = active.filter(Boolean).length;
    if (activeCount === 0) continue;

    // One session per model for this pass, with the pass's taps appended to the graph. Idle
    // threads spin only when one session runs: alternating sessions would take each other's cores.
    const sessions: (Session | null)[] = [];
    const outputs: string[][] = [];
    try {
      for (let m = 0; m < models.length; m++) {
        if (!active[m]) { sessions.push(null); outputs.push([]); continue; }
        const em = models[m];
        const opened = await openTapped(em, specs[m], { threads: options.threads ?? 0, device: options.device ?? "cpu", file: em.file, memoryPattern: false, arena: options.arena ?? true, spinning: activeCount === 1, appendedBy: tapOwners(drivers, pass.name, m) });
        sessions.push(opened.session);
        outputs.push(opened.names);
      }
      // onnxruntime now holds the weights; the JS copy of each model file goes until it is read again.
      for (let m = 0; m < models.length; m++) if (active[m]) releaseFileBytes(models[m]);

      // Models with the same preprocessing share one loader; loaders advance in lockstep.
      const groups = new Map<string, number[]>();
      models.forEach((em, m) => {
        if (!active[m]) return;
        const key = JSON.stringify(em.preprocess);
        groups.set(key, [...(groups.get(key) ?? []), m]);
      });
      const remaining = Array.from(pass.indices).slice(cursor0);
      const loaders = [...groups.values()].map((ms) => ({
        models: ms,
        iter: batches(pass.source, { indices: remaining, batchSize: options.batchSize, preprocess: models[ms[0]].preprocess, skipBad: options.skipBad }),
      }));

      const t0 = performance.now();
      let cursor = cursor0;
      let sinceSave = 0;
      for (;;) {
        if (options.shouldStop?.()) {
          await save(p, cursor);
          throw new Interrupted(options.checkpoint);
        }
        const next = await Promise.all(loaders.map((l) => l.iter.next()));
        if (next.some((n) => n.done)) {
          if (!next.every((n) => n.done)) throw new Error("loaders for different preprocessing went out of step");
          break;
        }
        const batchesByModel = new Map<number, Batch>();
        next.forEach((n, i) => loaders[i].models.forEach((m) => batchesByModel.set(m, n.value as Batch)));
        const first = next[0].value as Batch;
        for (const n of next) {
          const b = n.value as Batch;
          if (b.ids.length !== first.ids.length || b.ids.some((id, i) => id !== first.ids[i])) throw new Error("models saw different samples in one batch");
        }

        // A fixed-size model input takes only its size; say which image, never hand it to onnxruntime.
        for (const [m, b] of batchesByModel) {
          const want = models[m].model.imageInput.shape ?? [];
          b.shape.forEach((d, i) => {
            if (i > 0 && typeof want[i] === "number" && want[i] !== d) {
              throw new InputError(pass.source.file(b.indices[0]), `preprocesses to [${b.shape.slice(1)}] but ${models[m].label} takes [${want.slice(1)}] (fix --resize/--crop)`);
            }
          });
        }
        const results: Record<string, Tensor>[] = [];
        for (let m = 0; m < models.length; m++) {
          const s = sessions[m];
          if (!s) { results.push({}); continue; }
          const b = batchesByModel.get(m)!;
          const ti = performance.now();
          const out = await run(s, { [models[m].model.imageInput.name]: { data: b.input, shape: b.shape } }, outputs[m]);
          timings[`inference:${models[m].label}`] = (timings[`inference:${models[m].label}`] ?? 0) + (performance.now() - ti) / 1000;
          results.push(out);
        }
        const view: BatchView = {
          pass: pass.name,
          batch: first,
          tap(m, spec) {
            const t = results[m]?.[tapName(spec)];
            if (!t) throw new Error(`tap ${tapName(spec)} of model ${models[m]?.label} was not computed`);
            return t;
          },
          batchOf: (m) => batchesByModel.get(m) ?? first,
        };
        const ta = performance.now();
        for (const d of drivers) {
          const td = performance.now();
          states[d.id] = d.update(states[d.id], view);
          timings[`analysis:${d.id}`] = (timings[`analysis:${d.id}`] ?? 0) + (performance.now() - td) / 1000;
        }
        timings["analyses"] = (timings["analyses"] ?? 0) + (performance.now() - ta) / 1000;

        // The first batch of a pass pays onnxruntime's warm-up (arena growth for the taps'
        // intermediates); `npm run bench` reports the steady state without it as well.
        if (cursor === cursor0) timings[`first-batch:${pass.name}`] = (performance.now() - t0) / 1000;
        cursor += first.indices.length + first.skipped.length;
        skipped.push(...first.skipped);
        batchCount++;
        options.onProgress?.({ phase: `${pass.name}: ${models.filter((_, i) => active[i]).map((x) => x.label).join(", ")}`, done: cursor, total: pass.indices.length, elapsed: (performance.now() - t0) / 1000 });
        if (++sinceSave >= every) {
          sinceSave = 0;
          await save(p, cursor);
        }
      }
      timings[`pass:${pass.name}`] = (timings[`pass:${pass.name}`] ?? 0) + (performance.now() - t0) / 1000;
      await save(p + 1, 0);
    } finally {
      for (const s of sessions) if (s) await release(s);
    }
  }
  return { states, skipped, timings, batches: batchCount };
}

/**
 * A session over the model with these taps. Its own function so that the tapped copy of the
 * model's bytes (0.35 GB for ViT-B/16) dies with this frame: as a local of runEngine's loop, the
 * last one stayed reachable from that async frame's saved registers for the whole pass.
 */
async function openTapped(em: EngineModel, specs: TapSpec[], options: Parameters<typeof createSession>[1]): Promise<{ session: Session; names: string[] }> {
  const { bytes, names } = tappedModel(em, specs);
  return { session: await createSession(bytes, options), names };
}

/** Buffers of model files let go of by releaseFileBytes (another entry may still point at one). */
const released = new WeakSet<Uint8Array>();

/**
 * Lets go of a model's file bytes during a pass (issue 17: ViT-B/16 + ResNet-50 hold 0.45 GB of
 * JS memory beside onnxruntime's own copy of their weights). `em.bytes` then follows
 * `em.model.bytes`, which re-reads the file, checked against its sha256, when the next pass
 * appends its taps or the embeddings figures read the weights. An ablated variant's rewritten
 * bytes and inlined external data stay in memory (src/onnx/model.ts releaseBytes).
 */
function releaseFileBytes(em: EngineModel): void {
  const own = Object.getOwnPropertyDescriptor(em, "bytes");
  if (!own) return;
  if (!("value" in own)) {
    releaseBytes(em.model); // following the model's bytes already (re-read for this pass)
    return;
  }
  const held = Object.getOwnPropertyDescriptor(em.model, "bytes");
  const sameAsModel = held && "value" in held ? held.value === own.value : released.has(own.value);
  if (!sameAsModel) return;
  if (held && "value" in held) {
    if (!releaseBytes(em.model)) return;
    released.add(own.value);
  }
  Object.defineProperty(em, "bytes", { configurable: true, enumerable: true, get: () => em.model.bytes });
}

/**
 * The model's graph with the taps appended, and the tap outputs to fetch (each once).
 * @example const { bytes, names } = tappedModel(plan.models[0], driver.taps("main", 0));
 */
export function tappedModel(em: EngineModel, specs: TapSpec[]): { bytes: Uint8Array; names: string[] } {
  const g = tapGraph(scheduleTaps(specs, tensorPosition(em.model)), em.model.opset);
  const names = [...new Set(g.outputs)];
  return { bytes: appendNodes({ ...em.model, bytes: em.bytes }, g.nodes, g.initializers, names), names };
}

/**
 * Which analyses appended the node an onnxruntime message names: the drivers whose tap output
 * name the message contains, else those with a tap of the kind its `seelike/KIND/` prefix names
 * (shared constants and localisation's per-grid cells are named by kind only).
 */
function tapOwners(drivers: Driver[], pass: string, m: number): (message: string) => string | undefined {
  const owners: { name: string; kind: string; analysis: string }[] = [];
  for (const d of drivers) for (const s of d.taps(pass, m)) owners.push({ name: tapName(s), kind: s.kind, analysis: d.id.split(":")[0] });
  return (message) => {
    let hit = owners.filter((o) => o.name.startsWith("seelike/") && message.includes(o.name));
    if (!hit.length) hit = owners.filter((o) => message.includes(`seelike/${o.kind}`));
    const names = [...new Set(hit.map((o) => o.analysis))];
    return names.length ? `the ${names.join(", ")} analysis` : undefined;
  };
}
