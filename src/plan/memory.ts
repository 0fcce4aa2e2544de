/**
 * The memory a run will need, estimated from the tapped graphs themselves (issue 14, item 7),
 * and the batch size chosen from it (`--batch auto`).
 *
 * The peak resident memory of a run is the larger of two moments:
 * - planning: every model file read (held for the run), the probe session of one model (its
 *   exposed copy of the bytes, onnxruntime's weights and a batch-2 run);
 * - each pass over the data: the file bytes of every model that cannot let go of them (inlined
 *   external data, an ablated variant's rewritten graph: src/engine/stream.ts releaseFileBytes;
 *   the others are re-read from their files after the pass), and for every model of the pass the
 *   tapped copy, onnxruntime's weights and the arena its run grew to (src/limits.ts
 *   `graphMemory`: each tensor from its producer to its last consumer, tap results until the
 *   batch is read back, through a model of onnxruntime's BFC arena, which keeps what it grew to
 *   while the next model of a comparison runs), plus the tap results copied to JavaScript, the
 *   batch itself and the reducer states.
 *
 * onnxruntime's optimiser fuses and reuses buffers in place, so the lifetime model over the
 * unoptimised graph is an upper bound of the arena's live bytes; the arena's power-of-two growth
 * and fragmentation are what the BFC model adds. Calibrated on ViT-B/16 and ResNet-50 at batches
 * 16–64 (tests/memory-estimate.test.ts: the estimate lies within 1.0–1.5× of the measured VmHWM).
 */
import { InputError, UsageError } from "../errors.js";
import { DTYPE_BYTES, hasExternalData, type OnnxModel } from "../onnx/model.js";
import { inferNode, inferShapes, type Inferred } from "../onnx/shapes.js";
import { scheduleTaps, tapGraph, tensorPosition, type TapSpec } from "../engine/taps.js";
import { executionOrder, formatBytes, graphMemory, type MemoryNode } from "../limits.js";
import type { PlanModel, PlannedDriver } from "../pipelines/contract.js";

/** Bytes of onnxruntime's copy of a model's weights (its parsed initializers and pre-packed MatMul/Conv weights), per byte of file. */
export const ORT_WEIGHTS_FACTOR = 2;
/**
 * What the lifetime model does not see of a session's arena: kernels' scratch buffers (MLAS
 * packing, im2col), onnxruntime's own allocations outside the planned tensors, malloc's
 * fragmentation. Without it the estimate was 0.99–1.06× the measured peak on ViT-B/16 and
 * ResNet-50 (batches 16–64); an estimate must not fall below the peak.
 */
export const ARENA_HEADROOM = 1.15;
/** The Node process before any model: V8, sharp, onnxruntime's library. */
export const PROCESS_BASE = 160 * 2 ** 20;

/** A run's estimated peak and its parts (bytes). */
export interface MemoryEstimate {
  batch: number;
  total: number;
  /** "planning", then "pass NAME" for each pass, each with its per-model part. */
  phases: { phase: string; bytes: number; models: Record<string, number> }[];
}

function elemBytes(t: Inferred | undefined): number {
  if (!t?.shape) return 0;
  let n = DTYPE_BYTES[t.dtype] ?? 4;
  for (const d of t.shape) n *= d >= 0 ? d : 0;
  return n;
}

/**
 * Shapes of a model's tensors at `batch`: static inference over the model, the probe run's shapes
 * (scaled from its batch) where inference knows nothing, then the tap nodes.
 */
function tappedShapes(m: PlanModel, batch: number, taps: { nodes: { op_type?: string | null; input?: string[] | null; output?: string[] | null; name?: string | null; attribute?: unknown[] | null }[]; initializers: { name?: string | null; dims?: (number | Long)[] | null; data_type?: number | null; int64_data?: (number | Long)[] | null }[] }): Map<string, Inferred> {
  const model = m.model;
  const input = m.geometry.input?.shape;
  let known: Map<string, Inferred>;
  try {
    known = inferShapes(model, { batch, imageSize: input ? Math.max(input[1], input[2]) : undefined });
  } catch {
    known = new Map();
  }
  const g = m.geometry;
  for (const [name, s] of g.shapes) {
    if (known.get(name)?.shape) continue;
    known.set(name, { shape: [(s[0] / g.probeBatch) * batch, ...s.slice(1)], dtype: 1 });
  }
  for (const t of taps.initializers) {
    const dims = (t.dims ?? []).map(Number);
    const value = t.int64_data?.length && t.int64_data.length <= 64 ? t.int64_data.map(Number) : undefined;
    known.set(t.name ?? "", { shape: dims, dtype: t.data_type ?? 1, ...(value ? { value } : {}) });
  }
  for (const n of taps.nodes) {
    const attrs: Record<string, unknown> = {};
    for (const a of (n.attribute ?? []) as { name?: string; ints?: (number | Long)[]; i?: number | Long; type?: number }[]) {
      attrs[a.name ?? ""] = a.ints && a.ints.length ? a.ints.map(Number) : Number(a.i ?? 0);
    }
    let outs: Inferred[] = [];
    try {
      outs = inferNode(n.op_type ?? "", attrs, (n.input ?? []).map((t) => known.get(t)), (n.output ?? []).length, model.opset);
    } catch {
      outs = [];
    }
    (n.output ?? []).forEach((o, k) => known.set(o, outs[k] ?? { shape: null, dtype: 0 }));
  }
  return known;
}
type Long = { toNumber(): number };

/** The model's nodes and the tap nodes appended to them, in the order onnxruntime runs them. */
function tappedNodes(model: OnnxModel, taps: { nodes: { op_type?: string | null; input?: string[] | null; output?: string[] | null }[] }): MemoryNode[] {
  const nodes: MemoryNode[] = model.nodes.map((n) => ({ op: n.opType, inputs: n.inputs, outputs: n.outputs }));
  for (const n of taps.nodes) nodes.push({ op: n.op_type ?? "", inputs: n.input ?? [], outputs: n.output ?? [] });
  return executionOrder(nodes);
}

/** One model's session in a pass: onnxruntime's weights and arena, and the tap results copied out. */
function sessionBytes(m: PlanModel, specs: TapSpec[], batch: number): number {
  const taps = tapGraph(scheduleTaps(specs, tensorPosition(m.model)), m.model.opset);
  const shapes = tappedShapes(m, batch, taps);
  const fetched = [...new Set(taps.outputs)];
  const kept = [...fetched, ...m.model.outputs.map((o) => o.name)];
  const { arena } = graphMemory(tappedNodes(m.model, taps), (t) => (m.model.initializers.has(t) ? 0 : elemBytes(shapes.get(t))), kept);
  const copied = fetched.reduce((a, t) => a + elemBytes(shapes.get(t)), 0);
  return m.bytes.length * ORT_WEIGHTS_FACTOR + arena * ARENA_HEADROOM + copied;
}

/** The probe run of planning (src/plan/models.ts probeGeometry): every site tensor exposed at batch 2. */
function probeBytes(m: PlanModel): number {
  const outputs = [...m.geometry.shapes.keys()];
  const shapes = tappedShapes(m, m.geometry.probeBatch, { nodes: [], initializers: [] });
  const { arena } = graphMemory(tappedNodes(m.model, { nodes: [] }), (t) => (m.model.initializers.has(t) ? 0 : elemBytes(shapes.get(t))), outputs);
  return m.bytes.length * (1 + ORT_WEIGHTS_FACTOR) + arena;
}

/** JavaScript's part of one batch: the decoded images, their float32 copy and onnxruntime's input tensor. */
function batchBytes(models: readonly PlanModel[], batch: number): number {
  let per = 0;
  for (const m of models) {
    const s = m.geometry.input?.shape;
    if (s) per = Math.max(per, s[0] * s[1] * s[2] * 4);
  }
  return 3 * per * batch;
}

/**
 * The estimated peak resident memory of a run at `batch`, from the drivers' taps on each pass.
 * @example runMemory(plan.models, plan.drivers, ["main"], 64).total // ≈ 1.2e10 for ViT-B/16 vs ResNet-50, all analyses
 */
export function runMemory(models: readonly PlanModel[], drivers: readonly PlannedDriver[], passes: readonly string[], batch: number): MemoryEstimate {
  const distinct = models.filter((m, i) => models.findIndex((x) => x.bytes === m.bytes) === i);
  const files = distinct.reduce((a, m) => a + m.bytes.length, 0);
  // During a pass a model file's own bytes are let go of (onnxruntime holds the weights).
  const held = distinct.filter((m) => !releasable(m)).reduce((a, m) => a + m.bytes.length, 0);
  const phases: MemoryEstimate["phases"] = [];
  const probe: Record<string, number> = {};
  for (const m of models) if (m.role === "model") probe[m.label] = probeBytes(m);
  phases.push({ phase: "planning", bytes: PROCESS_BASE + files + Math.max(0, ...Object.values(probe)), models: probe });
  for (const pass of passes) {
    const per: Record<string, number> = {};
    for (const m of models) {
      const specs = drivers.flatMap((d) => d.driver.taps(pass, m.index));
      if (!specs.length) continue;
      // The tapped copy of the bytes handed to onnxruntime is unreachable once its session is
      // made, but stays until the garbage collector runs: counted.
      per[m.label] = m.bytes.length + sessionBytes(m, specs, batch);
    }
    if (!Object.keys(per).length) continue;
    const sum = Object.values(per).reduce((a, b) => a + b, 0);
    phases.push({ phase: `pass ${pass}`, bytes: PROCESS_BASE + held + sum + batchBytes(models, batch), models: per });
  }
  return { batch, total: Math.max(...phases.map((p) => p.bytes)), phases };
}

/** Whether a pass lets go of the model's bytes: they are its file's own (src/onnx/model.ts releaseBytes). */
function releasable(m: PlanModel): boolean {
  return m.bytes === m.model.bytes && !hasExternalData(m.model.initializers);
}

/** Batches `auto` tries, largest first: powers of two from 64 down to 4 (the unbiased estimator's minimum). */
export const AUTO_BATCHES = [64, 32, 16, 8, 4] as const;

/**
 * The batch of a run: `auto` takes the largest of {@link AUTO_BATCHES} (at most `most`) whose
 * estimate fits `limit`; an explicit batch that does not fit is refused with the largest one that
 * does ("try --batch 16").
 *
 * @example chooseBatch("auto", (b) => runMemory(models, drivers, ["main"], b), 18e9, 64) // { batch: 64, estimate }
 */
export function chooseBatch(requested: number | "auto", estimate: (batch: number) => MemoryEstimate, limit: number, most = 64, least = 4, files: readonly string[] = []): { batch: number; estimate: MemoryEstimate } {
  // Named like the other limits (InputError naming the model: exit 2); a library caller without files gets a UsageError.
  const fail = (problem: string): never => {
    if (files.length) throw new InputError(files.join(", "), `running ${files.length === 1 ? "this model" : "these models"} on ${problem}`);
    throw new UsageError(problem);
  };
  const candidates = AUTO_BATCHES.filter((b) => b <= most && b >= least);
  const fitting = () => {
    for (const b of candidates) {
      const e = estimate(b);
      if (e.total <= limit) return { batch: b, estimate: e };
    }
    return undefined;
  };
  if (requested !== "auto") {
    const e = estimate(requested);
    if (e.total <= limit) return { batch: requested, estimate: e };
    const fit = candidates.some((b) => b < requested) ? fitting() : undefined;
    const hint = fit && fit.batch < requested ? `; try --batch ${fit.batch}` : "; no batch of 4 or more fits: raise --max-memory or run fewer analyses (--analyses)";
    fail(`batches of ${requested} would need about ${formatBytes(e.total)}, more than --max-memory ${formatBytes(limit)}${hint}`);
  }
  const fit = fitting();
  if (fit) return fit;
  const smallest = estimate(candidates[candidates.length - 1] ?? least);
  return fail(`batches of ${smallest.batch} (the smallest auto tries) would need about ${formatBytes(smallest.total)}, more than --max-memory ${formatBytes(limit)}: raise --max-memory or run fewer analyses (--analyses)`);
}
