/**
 * Resource limits (`--max-memory`): a model or an image that would need more memory than the
 * limit is refused with an InputError naming it *before* its bytes are loaded or decoded, from
 * what the file size and headers say.
 *
 * Estimates (documented in the CLI help and README):
 * - model file: size × {@link MODEL_FILE_FACTOR} (the bytes we read, the copy onnxruntime parses
 *   them into, and its optimised/pre-packed initializers);
 * - model run: src/plan/memory.ts, from the tapped graphs and {@link graphMemory} below (tensor
 *   lifetimes through a model of onnxruntime's arena), checked before the first batch and used to
 *   choose `--batch auto`;
 * - image: width × height × channels × (bytes per sample + 4) from the header (the decoded pixels
 *   plus their float32 copy), read with sharp's metadata, which parses only the header.
 *
 * The limit is process-wide (like sharp's own cache and concurrency settings): the CLI sets it
 * once from `--max-memory`; the default is {@link DEFAULT_MEMORY_FRACTION} of the machine's RAM.
 */
import os from "node:os";
import { access, constants, stat, statfs } from "node:fs/promises";
import path from "node:path";
import { InputError } from "./errors.js";
import type { OnnxModel } from "./onnx/model.js";
import { DTYPE_BYTES } from "./onnx/model.js";
import { inferShapes } from "./onnx/shapes.js";

/** Bytes of memory per byte of .onnx file (our copy, onnxruntime's parse, its pre-packed weights). */
export const MODEL_FILE_FACTOR = 3;
/** Share of the machine's RAM used when no `--max-memory` is given. */
export const DEFAULT_MEMORY_FRACTION = 0.8;

let limit = Math.floor(os.totalmem() * DEFAULT_MEMORY_FRACTION);

/**
 * The current memory limit in bytes.
 *
 * @example maxMemory(); // 0.8 × os.totalmem() unless setMaxMemory was called
 */
export function maxMemory(): number {
  return limit;
}

/**
 * Sets the process-wide memory limit (bytes); `undefined` restores the default.
 *
 * @example setMaxMemory(parseMemory("2G"));
 */
export function setMaxMemory(bytes: number | undefined): void {
  if (bytes === undefined) {
    limit = Math.floor(os.totalmem() * DEFAULT_MEMORY_FRACTION);
    return;
  }
  if (!Number.isFinite(bytes) || bytes <= 0) throw new RangeError(`invalid max-memory: ${bytes}`);
  limit = Math.floor(bytes);
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40 };

/**
 * Parses a memory size: bytes, or a number with K/M/G/T (binary units), or a percentage of RAM.
 *
 * @example parseMemory("512M"); // 536870912
 * @example parseMemory("50%"); // half of os.totalmem()
 */
export function parseMemory(text: string): number {
  const s = text.trim().toLowerCase();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  if (pct) {
    const p = Number(pct[1]);
    if (p <= 0 || p > 100) throw new RangeError(`invalid max-memory: ${text}`);
    return Math.floor((os.totalmem() * p) / 100);
  }
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(s);
  if (!m || !(m[2] in UNITS)) throw new RangeError(`invalid max-memory: ${text} (e.g. 4G, 512M, 80%)`);
  const n = Number(m[1]) * UNITS[m[2]];
  if (!(n >= 1)) throw new RangeError(`invalid max-memory: ${text}`);
  return Math.floor(n);
}

/**
 * A byte count for messages.
 *
 * @example formatBytes(1.5 * 2 ** 30); // "1.5 GiB"
 */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function refuse(file: string, what: string, need: number, max: number): never {
  throw new InputError(file, `${what} would need about ${formatBytes(need)}, more than --max-memory ${formatBytes(max)}`);
}

/**
 * Refuses a model file whose size × MODEL_FILE_FACTOR exceeds the limit, before reading it.
 * Returns the estimate. A missing file is left to loadModel (which names it).
 *
 * @example await checkModelFile("vit.onnx"); // 1.0e9 for a 330 MB model
 */
export async function checkModelFile(file: string, max = limit): Promise<number> {
  const st = await stat(file).catch(() => undefined);
  if (!st || !st.isFile()) return 0;
  const need = st.size * MODEL_FILE_FACTOR;
  if (need > max) refuse(file, `loading this ${formatBytes(st.size)} model`, need, max);
  return need;
}

/**
 * Estimated bytes of one plain run of `model` at `batch` (the probe run of planning, before any
 * tap): file bytes × MODEL_FILE_FACTOR plus the arena of {@link graphMemory} over the statically
 * inferred shapes, every graph output held. Throws InputError (naming the model) above
 * `maxMemory`, before onnxruntime sees the bytes: a dimension that asks for terabytes is refused.
 * The run itself is estimated from its tapped graphs (src/plan/memory.ts).
 *
 * @example modelMemory(model, { batch: 2, inputShape: [2, 3, 224, 224] }); // ≈ 1.1e9 for ViT-B/16
 */
export function modelMemory(model: OnnxModel, options: { batch: number; inputShape?: readonly number[]; maxMemory?: number }): number {
  const max = options.maxMemory ?? limit;
  let need = model.bytes.length * MODEL_FILE_FACTOR;
  const input = options.inputShape;
  const side = input && input.length === 4 ? Math.max(input[2], input[3]) : undefined;
  if (input) need += input.reduce((a, b) => a * b, 1) * 4;
  let shapes: ReturnType<typeof inferShapes> | undefined;
  try {
    shapes = inferShapes(model, { batch: options.batch, imageSize: side });
  } catch {
    shapes = undefined; // inference is best-effort; onnxruntime's own checks still apply
  }
  if (shapes) {
    const size = (t: string) => {
      const s = model.initializers.has(t) ? undefined : shapes!.get(t);
      if (!s?.shape) return 0;
      let count = DTYPE_BYTES[s.dtype] ?? 4;
      for (const d of s.shape) count *= d >= 0 ? d : 0;
      return count;
    };
    const nodes = model.graph.order.map((i) => model.nodes[i]).map((n) => ({ op: n.opType, inputs: n.inputs, outputs: n.outputs }));
    need += graphMemory(nodes, size, model.outputs.map((o) => o.name)).arena;
  }
  if (!Number.isFinite(need) || need > max) refuse(model.path, `running this model on batches of ${options.batch}`, need, max);
  return need;
}

/**
 * Refuses an image whose decoded size (from its header) exceeds the limit, before decoding.
 * `meta` is sharp's metadata (header only). Returns the estimate.
 *
 * @example imageMemory("big.png", { width: 40000, height: 40000, channels: 3, depth: "uchar" }); // throws under 8 GiB
 */
export function imageMemory(file: string, meta: { width?: number; height?: number; channels?: number; depth?: string }, max = limit): number {
  const per = meta.depth === "ushort" || meta.depth === "short" ? 2 : meta.depth === "float" || meta.depth === "int" || meta.depth === "uint" ? 4 : meta.depth === "double" ? 8 : 1;
  const need = (meta.width ?? 0) * (meta.height ?? 0) * (meta.channels ?? 3) * (per + 4);
  if (need > max) refuse(file, `decoding this ${meta.width}×${meta.height} image`, need, max);
  return need;
}

/** Free space an output folder must have before a run starts (results, report, checkpoints). */
export const MIN_FREE_BYTES = 8 * 2 ** 20;

/**
 * Refuses an output folder on a file system with less than `need` bytes free, so a full disk
 * is reported before the long work, not after it. (A disk that fills during the run fails the
 * next atomic write; earlier files stay intact.)
 *
 * @example await checkFreeSpace("out/report"); // throws InputError when < 8 MiB are free
 */
export async function checkFreeSpace(dir: string, need = MIN_FREE_BYTES): Promise<number> {
  let free: number;
  try {
    const st = await statfs(dir);
    free = Number(st.bavail) * Number(st.bsize);
  } catch {
    return Infinity; // no statfs here: the writes themselves will say
  }
  if (free < need) throw new InputError(dir, `only ${formatBytes(free)} free on this file system, a run needs at least ${formatBytes(need)} (no space left on device)`);
  return free;
}

/**
 * Why a folder cannot be created or written, from its nearest existing ancestor: "EROFS",
 * "EACCES", "ENOTDIR" (an ancestor is a file), or the error's own code when nothing better is
 * known. (Node's recursive mkdir reports ENOENT on a read-only file system.)
 *
 * @example await writeProblem("/mnt/ro/out", err); // "EROFS"
 */
export async function writeProblem(dir: string, error: unknown): Promise<string> {
  const own = (error as NodeJS.ErrnoException)?.code ?? String((error as Error)?.message ?? error);
  let d = path.resolve(dir);
  for (;;) {
    const st = await stat(d).catch(() => undefined);
    if (st) {
      if (!st.isDirectory()) return "ENOTDIR";
      try {
        await access(d, constants.W_OK);
      } catch (e) {
        return (e as NodeJS.ErrnoException).code ?? own;
      }
      return own;
    }
    const up = path.dirname(d);
    if (up === d) return own;
    d = up;
  }
}

// ---------------------------------------------------------------------------------------------
// Peak memory of one graph run (issue 14, item 7)

/** One node as the lifetime model sees it. */
export interface MemoryNode {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
}

/**
 * Ops whose output onnxruntime's CPU kernels give the input's buffer (a view, no allocation):
 * the buffer then lives until the last consumer of either.
 */
const ALIAS_OPS = new Set(["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"]);

/** onnxruntime's BFC arena: 256-byte granules, a first region of 1 MiB, each next region twice the last (kNextPowerOfTwo). */
const ARENA_ALIGN = 256;
const ARENA_FIRST_REGION = 2 ** 20;
/** A free chunk is split for a smaller request when it is at least twice the request or would waste this much (onnxruntime's max_dead_bytes_per_chunk). */
const ARENA_MAX_DEAD = 128 * 2 ** 20;

/**
 * A model of onnxruntime's BFC arena (onnxruntime/core/framework/bfc_arena.cc): requests are
 * served best-fit from free chunks (split when much larger, coalesced with free neighbours when
 * released); when none fits, a new region is reserved: the next region size, doubled until the
 * request fits (kNextPowerOfTwo), and the size after it doubles again. Regions are never
 * returned, but only the pages a tensor was ever written to are resident: `resident` counts,
 * per region, the furthest byte ever handed out (the arena keeps what it grew to).
 */
class Arena {
  regions: { size: number; touched: number; chunks: { off: number; size: number; free: boolean }[] }[] = [];
  next = ARENA_FIRST_REGION;

  get resident(): number {
    return this.regions.reduce((a, r) => a + r.touched, 0);
  }

  alloc(bytes: number): { r: number; off: number } {
    const want = Math.max(ARENA_ALIGN, Math.ceil(bytes / ARENA_ALIGN) * ARENA_ALIGN);
    let best: { r: number; c: number } | undefined;
    let bestSize = Infinity;
    this.regions.forEach((reg, r) => reg.chunks.forEach((ch, c) => {
      if (ch.free && ch.size >= want && ch.size < bestSize) {
        best = { r, c };
        bestSize = ch.size;
      }
    }));
    if (!best) {
      let grown = false;
      while (this.next < want) {
        this.next *= 2;
        grown = true;
      }
      const size = this.next;
      if (!grown) this.next *= 2;
      this.regions.push({ size, touched: 0, chunks: [{ off: 0, size, free: true }] });
      best = { r: this.regions.length - 1, c: 0 };
    }
    const chunks = this.regions[best.r].chunks;
    const ch = chunks[best.c];
    if (ch.size >= 2 * want || ch.size - want >= ARENA_MAX_DEAD) {
      chunks.splice(best.c + 1, 0, { off: ch.off + want, size: ch.size - want, free: true });
      ch.size = want;
    }
    ch.free = false;
    const reg = this.regions[best.r];
    reg.touched = Math.max(reg.touched, ch.off + want);
    return { r: best.r, off: ch.off };
  }

  release(at: { r: number; off: number }): void {
    const chunks = this.regions[at.r].chunks;
    const c = chunks.findIndex((x) => x.off === at.off);
    chunks[c].free = true;
    if (c + 1 < chunks.length && chunks[c + 1].free) {
      chunks[c].size += chunks[c + 1].size;
      chunks.splice(c + 1, 1);
    }
    if (c > 0 && chunks[c - 1].free) {
      chunks[c - 1].size += chunks[c].size;
      chunks.splice(c, 1);
    }
  }
}

/**
 * Elementwise ops whose onnxruntime kernels may write into an input's buffer when that input is
 * not read again (the allocation planner's in-place reuse, and what Conv+Add+ReLU fusion amounts to).
 */
const INPLACE_OPS = new Set(["Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Clip", "Erf", "Neg", "Exp", "Sqrt", "Add", "Sub", "Mul", "Div", "Cast"]);

/**
 * Nodes in the order onnxruntime runs them (its GraphViewer's topological order): a depth-first
 * walk back from the leaf nodes (those whose outputs no node reads), the leaf of highest index
 * first, each node's producers highest index first, every node placed after its producers.
 * `nodes` are in file order (onnxruntime's node indices), appended nodes last.
 *
 * @example executionOrder([{ op: "Relu", inputs: ["x"], outputs: ["y"] }]).length // 1
 */
export function executionOrder<T extends MemoryNode>(nodes: readonly T[]): T[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const consumed = new Uint8Array(nodes.length);
  const inputsOf = nodes.map((n) => {
    const ins = [...new Set(n.inputs.map((t) => (t ? producer.get(t) : undefined)).filter((j): j is number => j !== undefined))].sort((a, b) => a - b);
    for (const j of ins) consumed[j] = 1;
    return ins;
  });
  const stack: number[] = [];
  nodes.forEach((_, i) => !consumed[i] && stack.push(i));
  // Entries ≥ 0 enter a node, ~i leaves it (its producers are then all placed).
  const visited = new Uint8Array(nodes.length);
  const out: T[] = [];
  while (stack.length) {
    const e = stack.pop()!;
    if (e < 0) {
      out.push(nodes[~e]);
      continue;
    }
    if (visited[e]) continue;
    visited[e] = 1;
    stack.push(~e);
    for (const j of inputsOf[e]) if (!visited[j]) stack.push(j);
  }
  return out;
}

/**
 * Peak bytes of one run of a graph: every tensor lives from its producer to its last consumer
 * (a view op extends its input's buffer instead of allocating; an elementwise op whose input is
 * read for the last time writes into it), graph outputs until the run returns; allocations go
 * through a model of onnxruntime's arena, whose size after the run (what it grew to, kept for
 * later runs) is `arena`; `live` is the largest sum of live buffers. `bytes(t)` is a tensor's size
 * (0 for an initializer, a graph input or an unknown shape).
 *
 * @example graphMemory([{ op: "Relu", inputs: ["x"], outputs: ["y"] }], (t) => (t === "y" ? 4e6 : 0), ["y"]) // { live: 4e6, arena: 4194304 }
 */
export function graphMemory(nodes: readonly MemoryNode[], bytes: (tensor: string) => number, outputs: readonly string[]): { live: number; arena: number } {
  const lastUse = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const t of n.inputs) if (t) lastUse.set(t, i);
  });
  for (const o of outputs) lastUse.set(o, Infinity);
  type Buffer = { at: { r: number; off: number }; size: number; end: number };
  const buffer = new Map<string, Buffer>();
  const live: Buffer[] = [];
  const arena = new Arena();
  let total = 0;
  let peak = 0;
  nodes.forEach((n, i) => {
    const taken = new Set<Buffer>();
    for (const o of n.outputs) {
      if (!o) continue;
      const end = Math.max(lastUse.get(o) ?? i, i);
      if (ALIAS_OPS.has(n.op) && n.inputs[0] && buffer.has(n.inputs[0])) {
        const b = buffer.get(n.inputs[0])!;
        b.end = Math.max(b.end, end);
        buffer.set(o, b);
        continue;
      }
      const size = bytes(o);
      if (!(size > 0)) continue;
      if (INPLACE_OPS.has(n.op)) {
        const b = n.inputs.map((t) => buffer.get(t)).find((x) => x && x.end === i && x.size === size && !taken.has(x));
        if (b) {
          taken.add(b);
          b.end = end;
          buffer.set(o, b);
          continue;
        }
      }
      const b: Buffer = { at: arena.alloc(size), size, end };
      taken.add(b);
      buffer.set(o, b);
      live.push(b);
      total += size;
    }
    peak = Math.max(peak, total);
    for (let k = live.length - 1; k >= 0; k--) {
      if (live[k].end > i) continue;
      arena.release(live[k].at);
      total -= live[k].size;
      live.splice(k, 1);
    }
  });
  return { live: peak, arena: arena.resident };
}
