/**
 * Resource limits (`--max-memory`): a model or an image that would need more memory than the
 * limit is refused with an InputError naming it *before* its bytes are loaded or decoded, from
 * what the file size and headers say.
 *
 * Estimates (documented in the CLI help and README):
 * - model file: size × {@link MODEL_FILE_FACTOR} (the bytes we read, the copy onnxruntime parses
 *   them into, and its optimised/pre-packed initializers);
 * - model run: the file estimate plus the activations of one batch: the sum of the bytes of every
 *   node output whose shape static inference knows (an upper bound of onnxruntime's peak: its
 *   planner reuses buffers, but the exposed site tensors are all held at once);
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
 * Estimated bytes to run `model` on one batch: file bytes × MODEL_FILE_FACTOR plus every node
 * output statically inferred for `batch` × the input shape. Throws InputError (naming the model)
 * above `maxMemory`, before onnxruntime sees the bytes.
 *
 * @example modelMemory(model, { batch: 64, inputShape: [64, 3, 224, 224] }); // ≈ 6e9 for ViT-B/16
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
    for (const n of model.nodes) {
      for (const o of n.outputs) {
        const s = shapes.get(o)?.shape;
        if (!s) continue;
        let count = 1;
        for (const d of s) count *= d >= 0 ? d : 0;
        need += count * (DTYPE_BYTES[shapes.get(o)!.dtype] ?? 4);
      }
    }
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
