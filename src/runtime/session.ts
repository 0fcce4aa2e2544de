/**
 * The only module that imports onnxruntime-node: sessions over model bytes, runs that take and
 * give plain `Tensor`s, and a small standalone Gram-matrix session.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as ort from "onnxruntime-node";
import { InputError, UsageError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { onnx } from "../onnx/proto/onnx.js";

/** Execution device. */
export type Device = "cpu" | "cuda";

/** Options of createSession; project defaults first, user options spread over them. */
export interface SessionOptions {
  /** Intra-op threads; 0 lets onnxruntime decide. Default 0. */
  threads?: number;
  device?: Device;
  /** onnxruntime graph optimisation level. Default "all". */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /** The model file, named in the InputError when onnxruntime rejects or fails to run the model. */
  file?: string;
  /**
   * onnxruntime's memory pattern (one planned block per input shape, allocated at the second
   * run). Default true. The engine turns it off: with taps holding several large maps at once
   * (attention collapse on ViT-B/16: ~2 GB per batch of 32) the planned block is a second
   * arena's worth of fresh pages, and the second batch cost as much as the first (13.3 and
   * 14.1 s against 7.9 s from the third on); without it the arena's chunks are reused from the
   * second batch (10.8, 7.9, 7.9, 7.6 s; plain inference 8.1, 7.3, 7.8, 7.5 s).
   */
  memoryPattern?: boolean;
  /**
   * onnxruntime's CPU memory arena (its default, true). Off (`--low-memory`), every tensor is
   * allocated and freed through malloc: the peak follows the tensors alive at once instead of the
   * arena's high-water mark, which its fragmentation lifts when a run holds large tensors across
   * many layers (attention collapse on ViT-B/16: 4.5 GB peak with the arena, 3.2 GB without), at
   * the cost of fresh pages, page faults and system time, on every batch (docs/methods.md).
   */
  arena?: boolean;
  /**
   * Whether onnxruntime's intra-op threads spin after a run (its default, true). The engine
   * turns it off when a pass alternates sessions (the models of a comparison, ablated
   * variants): a finished session's spinning threads take the cores from the next run. On the
   * 2-core machine two zoo sessions run alternately took 59 ms per run with spinning and 21 ms
   * without; a single session was slightly faster with it (vit-tiny pass over 1,024 images,
   * four runs each: 0.63–0.88 s with, 0.76–0.91 s without).
   */
  spinning?: boolean;
  /**
   * Names what appended a node an onnxruntime message mentions under the `seelike/` prefix
   * (e.g. "attention distance"): the engine's taps. Such a failure is seelike's bug, never the
   * model's (issue 14, item 6).
   */
  appendedBy?: (message: string) => string | undefined;
}

/** An open session. */
export interface Session {
  inputNames: readonly string[];
  outputNames: readonly string[];
  device: Device;
  /** The model file named in errors (or "model"). */
  file: string;
  /** @internal the onnxruntime handle; use `run`. */
  handle: ort.InferenceSession;
  /** @internal see SessionOptions.appendedBy */
  appendedBy?: (message: string) => string | undefined;
}

const DEFAULTS: Required<Omit<SessionOptions, "file" | "appendedBy">> = { threads: 0, device: "cpu", optimization: "all", memoryPattern: true, arena: true, spinning: true };

/**
 * An onnxruntime message whole (its lines joined; the CLI prints one line), without its
 * "[ONNXRuntimeError] : 1 : FAIL :" prefix. Never cut short: the end of a message names the
 * indices or shapes that failed ("… for the following indices index: 0 Got: 2 Expected: 8").
 */
export function ortMessage(e: unknown): string {
  const m = String((e as Error)?.message ?? e).split("\n").map((x) => x.trim()).filter(Boolean).join(" ") || "unknown error";
  return m.replace(/^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*[A-Z_]+\s*:\s*/, "");
}

/**
 * The error for an onnxruntime failure: a node under the `seelike/` prefix is one seelike
 * appended, so its failure is seelike's bug (a plain Error: exit 1) naming the analysis; any
 * other is the model's (InputError naming its file: exit 2).
 */
function ortError(what: "rejected the model" | "failed to run the model", file: string, e: unknown, appendedBy?: (message: string) => string | undefined): Error {
  const message = ortMessage(e);
  if (/seelike\//.test(message)) {
    const by = appendedBy?.(message);
    return new Error(`seelike bug: a node seelike appended to ${file}${by ? ` for ${by}` : ""} failed in onnxruntime (not a problem of the model; please report it): ${message}`);
  }
  return new InputError(file, `onnxruntime ${what}: ${message}`);
}

/**
 * Execution providers this onnxruntime-node install can use. CUDA counts only when its
 * provider library is actually present (it is not bundled with the npm package on Linux).
 *
 * @example
 * availableDevices(); // ["cpu"]
 */
export function availableDevices(): Device[] {
  const out: Device[] = ["cpu"];
  const cuda = ort.listSupportedBackends().find((b) => b.name === "cuda");
  if (cuda && (cuda.bundled || cudaLibraryPresent())) out.push("cuda");
  return out;
}

function cudaLibraryPresent(): boolean {
  try {
    const require = createRequire(import.meta.url);
    const root = path.dirname(path.dirname(require.resolve("onnxruntime-node")));
    const dir = path.join(root, "bin", "napi-v6", process.platform, process.arch);
    const lib = process.platform === "win32" ? "onnxruntime_providers_cuda.dll" : "libonnxruntime_providers_cuda.so";
    return existsSync(path.join(dir, lib));
  } catch {
    return false;
  }
}

/**
 * Opens an onnxruntime session over model bytes.
 * Throws a UsageError when the device is not available (e.g. `cuda` without the CUDA provider).
 *
 * @example
 * const session = await createSession(exposeOutputs(model, sites), { threads: 2 });
 */
export async function createSession(bytes: Uint8Array, options: SessionOptions = {}): Promise<Session> {
  const o = { ...DEFAULTS, ...options };
  if (o.device !== "cpu" && o.device !== "cuda") throw new RangeError(`invalid device: ${String(o.device)}`);
  if (!Number.isInteger(o.threads) || o.threads < 0) throw new RangeError(`invalid threads: ${o.threads}`);
  if (o.device === "cuda" && !availableDevices().includes("cuda")) {
    const listed = ort.listSupportedBackends().map((b) => `${b.name}${b.bundled ? "" : " (not bundled)"}`).join(", ");
    throw new UsageError(`device cuda is not available: this onnxruntime-node install has no CUDA execution provider library (backends: ${listed}); reinstall it with ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node (see the README), or use --device cpu`);
  }
  const file = options.file ?? "model";
  let handle: ort.InferenceSession;
  try {
    handle = await ort.InferenceSession.create(bytes, {
      executionProviders: o.device === "cuda" ? ["cuda", "cpu"] : ["cpu"],
      graphOptimizationLevel: o.optimization,
      intraOpNumThreads: o.threads,
      interOpNumThreads: 1,
      enableMemPattern: o.memoryPattern,
      enableCpuMemArena: o.arena,
      extra: { session: { intra_op: { allow_spinning: o.spinning ? "1" : "0" } } },
      // onnxruntime's own log lines would add to the CLI's one-line errors; its failures are
      // thrown (and wrapped below) all the same.
      logSeverityLevel: 4,
    });
  } catch (e) {
    // Validation (src/onnx) catches what it can; what onnxruntime still refuses is bad input too,
    // unless it is a node seelike appended.
    throw ortError("rejected the model", file, e, options.appendedBy);
  }
  return { inputNames: handle.inputNames, outputNames: handle.outputNames, device: o.device, file, handle, appendedBy: options.appendedBy };
}

/**
 * Runs a session on float feeds and returns the requested outputs as Tensors (float32 outputs
 * stay Float32Array; other numeric types come back as Float64Array).
 *
 * @example
 * const out = await run(session, { input: { data, shape: [8, 3, 224, 224] } }, ["logits"]);
 * out.logits.shape; // [8, 1000]
 */
export async function run(session: Session, feeds: Record<string, Tensor>, outputNames: readonly string[] = session.outputNames): Promise<Record<string, Tensor>> {
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    if (!session.inputNames.includes(name)) throw new RangeError(`invalid feed: ${name} (inputs: ${session.inputNames.join(", ")})`);
    const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
    ortFeeds[name] = new ort.Tensor("float32", data, [...t.shape]);
  }
  for (const name of outputNames) {
    if (!session.outputNames.includes(name)) throw new RangeError(`invalid output: ${name} (not a graph output of this session)`);
  }
  // onnxruntime refuses empty fetches; nothing asked, nothing to run.
  if (outputNames.length === 0) return {};
  let results: ort.InferenceSession.OnnxValueMapType;
  try {
    results = await session.handle.run(ortFeeds, [...outputNames], { logSeverityLevel: 4 });
  } catch (e) {
    throw ortError("failed to run the model", session.file, e, session.appendedBy);
  }
  const out: Record<string, Tensor> = {};
  for (const name of outputNames) {
    const r = results[name];
    const shape = r.dims.map(Number);
    if (r.data instanceof Float32Array) out[name] = { data: r.data, shape };
    else if (r.data instanceof BigInt64Array || r.data instanceof BigUint64Array) out[name] = { data: Float64Array.from(r.data as ArrayLike<bigint>, Number), shape };
    else if (ArrayBuffer.isView(r.data)) out[name] = { data: Float64Array.from(r.data as unknown as ArrayLike<number>), shape };
    else throw new Error(`output ${name} has non-numeric type ${r.type}`);
  }
  return out;
}

/** Releases a session's native resources. */
export async function release(session: Session): Promise<void> {
  await session.handle.release();
}

/** The bytes of a standalone model over 2-D tensors of one element type with symbolic dimensions (the Gram and product sessions). */
function matrixModel(name: string, nodes: onnx.INodeProto[], elem: number, inputs: [string, string, string][], [out, r, c]: [string, string, string]): Uint8Array {
  const tensor = (n: string, a: string, b: string) => ({ name: n, type: { tensor_type: { elem_type: elem, shape: { dim: [{ dim_param: a }, { dim_param: b }] } } } });
  return onnx.ModelProto.encode({
    ir_version: 8,
    producer_name: "seelike",
    opset_import: [{ domain: "", version: 17 }],
    graph: { name, node: nodes, input: inputs.map(([n, a, b]) => tensor(n, a, b)), output: [tensor(out, r, c)] },
  }).finish();
}

/** A session computing the Gram matrix G = X·Xᵀ (of the column-centred X when `centre`). */
export interface GramSession {
  session: Session;
  centre: boolean;
  /** Element type of X and G: float64 gives Grams exact to double rounding (DGEMM). */
  dtype: "float32" | "float64";
}

/**
 * Opens a standalone session that takes X [n, p] (float32, or float64 with `dtype`) and returns X·Xᵀ [n, n] as one ONNX
 * Gemm(transB=1): on the 2-core machine about 50× faster than a JS double loop (STYLE.md).
 *
 * @example
 * const g = await gramSession({ centre: true, dtype: "float64" });
 * const G = await gramMatrix(g, { data: X, shape: [64, 151296] }); // Float64Array, 64 × 64
 */
export async function gramSession(options: { centre?: boolean; threads?: number; dtype?: "float32" | "float64" } = {}): Promise<GramSession> {
  const centre = options.centre ?? false;
  const dtype = options.dtype ?? "float32";
  const elem = dtype === "float64" ? 11 : 1;
  const INT = onnx.AttributeProto.AttributeType.INT;
  const nodes: onnx.INodeProto[] = [];
  let x = "X";
  if (centre) {
    nodes.push({ op_type: "ReduceMean", input: ["X"], output: ["mu"], attribute: [{ name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: [0] }, { name: "keepdims", type: INT, i: 1 }] });
    nodes.push({ op_type: "Sub", input: ["X", "mu"], output: ["Xc"] });
    x = "Xc";
  }
  nodes.push({ op_type: "Gemm", input: [x, x], output: ["G"], attribute: [{ name: "transB", type: INT, i: 1 }] });
  const bytes = matrixModel("gram", nodes, elem, [["X", "n", "p"]], ["G", "n", "n"]);
  return { session: await createSession(bytes, { threads: options.threads ?? 0 }), centre, dtype };
}

/**
 * X·Xᵀ of a matrix through a gram session, widened to float64.
 *
 * @example
 * const G = await gramMatrix(g, { data: X, shape: [n, p] }); // G[i * n + j] = Σ_k X[i,k] X[j,k]
 */
export async function gramMatrix(g: GramSession, x: Tensor): Promise<Float64Array> {
  if (x.shape.length !== 2) throw new RangeError(`invalid shape [${x.shape}]: gramMatrix takes [n, p]`);
  if (g.dtype === "float32") {
    const out = await run(g.session, { X: x }, ["G"]);
    return Float64Array.from(out.G.data);
  }
  const data = x.data instanceof Float64Array ? x.data : Float64Array.from(x.data);
  let results: ort.InferenceSession.OnnxValueMapType;
  try {
    results = await g.session.handle.run({ X: new ort.Tensor("float64", data, [...x.shape]) }, ["G"], { logSeverityLevel: 4 });
  } catch (e) {
    throw new InputError(g.session.file, `onnxruntime failed to compute a Gram matrix: ${ortMessage(e)}`);
  }
  return results.G.data as Float64Array;
}

/** A session computing C = A·Bᵀ in float64 (one Gemm, transB = 1) for any shapes. */
export interface ProductSession {
  session: Session;
}

/**
 * Opens a standalone float64 Gemm(transB=1) session: the similarity measures' mid-size products
 * (r × k by c × k, r, c ~ 100, k ~ 100–1,000) run there 10–20× faster than on the JS kernel
 * (bench/index.ts --measures), with the same float64 rounding guarantees (DGEMM).
 *
 * @example
 * const s = await productSession({ threads: 2 });
 * const C = await productOf(s, A, 3, B, 4, 5); // 3 × 4, C[i·4 + j] = Σ_t A[i·5 + t] B[j·5 + t]
 */
export async function productSession(options: { threads?: number } = {}): Promise<ProductSession> {
  const gemm = { op_type: "Gemm", input: ["A", "B"], output: ["C"], attribute: [{ name: "transB", type: onnx.AttributeProto.AttributeType.INT, i: 1 }] };
  const bytes = matrixModel("product", [gemm], 11, [["A", "r", "k"], ["B", "c", "k"]], ["C", "r", "c"]);
  // No spinning: the JS work between products (eigendecompositions) leaves its threads idle.
  return { session: await createSession(bytes, { threads: options.threads ?? 0, spinning: false, file: "product" }) };
}

/** A·Bᵀ (A: rows × k, B: cols × k, row-major float64; B null: A·Aᵀ) through a product session. */
export async function productOf(s: ProductSession, a: Float64Array, rows: number, b: Float64Array | null, cols: number, k: number): Promise<Float64Array> {
  const A = new ort.Tensor("float64", a.length === rows * k ? a : a.subarray(0, rows * k), [rows, k]);
  const B = b === null ? A : new ort.Tensor("float64", b.length === cols * k ? b : b.subarray(0, cols * k), [cols, k]);
  let results: ort.InferenceSession.OnnxValueMapType;
  try {
    results = await s.session.handle.run({ A, B }, ["C"], { logSeverityLevel: 4 });
  } catch (e) {
    throw new Error(`seelike bug: onnxruntime failed to compute a float64 product of [${rows}, ${k}] and [${cols}, ${k}]: ${ortMessage(e)}`);
  }
  return results.C.data as Float64Array;
}
