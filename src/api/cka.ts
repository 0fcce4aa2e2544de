/**
 * CKA of saved activations (`seelike cka`): two .npy files, or two folders of per-site .npy
 * files. The Grams come from onnxruntime's Gemm, in float64 and centred inside the session, as the
 * engine's taps compute them in-graph; the estimators are the same functions the engine's reducer uses.
 */
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { InputError, UsageError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { readNpy } from "../data/npy.js";
import { gramSession, gramMatrix, release, type GramSession } from "../runtime/session.js";
import { ckaReducer, linearCKABatch, linearCKAOfGrams, estimatorId, type CKAResult, type CKAValue, type Estimator } from "../../analyses/cka.js";
import { flatten } from "../../analyses/flatten.js";
import { tokenMode, type TokenMode } from "../../analyses/vocabulary.js";

/** Options of `ckaOfArrays`. */
export interface ArrayCKAOptions {
  estimator?: Estimator | string;
  /** Minibatch size n of the unbiased estimator (default: all examples). */
  batch?: number;
  /** Flattening of [N,T,D] or [N,C,H,W] arrays (2-D arrays are used as they are). */
  tokens?: TokenMode | string;
  /** Prefix (CLS) tokens of [N,T,D] arrays; default 1. */
  prefixTokens?: number;
  threads?: number;
}

/** CKA of two files (one value), or of two folders (a matrix of every pair of sites). */
export type ArrayCKA = { kind: "value"; value: CKAValue; tokens: TokenMode } | { kind: "matrix"; result: CKAResult; examples: number; dropped: number };

async function npyTensor(file: string): Promise<Tensor> {
  const a = await readNpy(file);
  if (!(a.data instanceof Float32Array || a.data instanceof Float64Array)) throw new InputError(file, `activations must be float32 or float64, not ${a.dtype}`);
  if (a.shape.length < 2) throw new InputError(file, `activations need an example axis and features: shape [${a.shape}]`);
  return { data: a.data, shape: a.shape };
}

function flattened(t: Tensor, mode: TokenMode, prefix: number): Tensor {
  if (mode === "all") return t;
  if (t.shape.length === 3) return flatten(t, mode, { layout: "BTD", prefixTokens: prefix });
  if (t.shape.length === 4) return flatten(t, mode, { layout: "BCHW" });
  throw new UsageError(`--tokens ${mode} needs [N,T,D] or [N,C,H,W] arrays`);
}

/** Rows [start, start + count) of a tensor as [count, features]. */
function rows(t: Tensor, start: number, count: number): Tensor {
  const per = t.data.length / t.shape[0];
  return { data: t.data.subarray(start * per, (start + count) * per), shape: [count, per] };
}

/** Grams of consecutive batches of n examples (all of them when n = m). */
async function batchGrams(g: GramSession, t: Tensor, n: number): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let s = 0; s + n <= t.shape[0]; s += n) out.push(await gramMatrix(g, rows(t, s, n)));
  return out;
}

/**
 * Linear CKA of activations saved as .npy (example axis first).
 * @example const r = await ckaOfArrays("x.npy", "y.npy", { estimator: "full-biased" }); // r.kind === "value"
 */
export async function ckaOfArrays(x: string, y: string, options: ArrayCKAOptions = {}): Promise<ArrayCKA> {
  const estimator = estimatorId(options.estimator ?? "minibatch-unbiased");
  const tokens = tokenMode(options.tokens ?? "all");
  const prefix = options.prefixTokens ?? 1;
  // A 2-D [N, features] array has no token axis: --tokens leaves it as it is, so pooled
  // features compare with token tensors; other ranks the mode cannot read name their file.
  const load = async (file: string): Promise<Tensor> => {
    const t = await npyTensor(file);
    if (t.shape.length === 2) return t;
    try {
      return flattened(t, tokens, prefix);
    } catch (e) {
      if (e instanceof UsageError) throw new InputError(file, `${e.message}, not shape [${t.shape}]`);
      throw e;
    }
  };
  const sx = await stat(x).catch(() => { throw new InputError(x, "no such file or folder"); });
  const sy = await stat(y).catch(() => { throw new InputError(y, "no such file or folder"); });
  const bothFiles = sx.isFile() && sy.isFile();
  if (!bothFiles && !(sx.isDirectory() && sy.isDirectory())) throw new UsageError("give two .npy files or two folders of .npy files");

  let filesX = [x], filesY = [y];
  if (!bothFiles) {
    const list = async (d: string) => (await readdir(d)).filter((f) => f.endsWith(".npy")).sort();
    filesX = (await list(x)).map((f) => path.join(x, f));
    filesY = (await list(y)).map((f) => path.join(y, f));
    if (!filesX.length) throw new InputError(x, "no .npy files");
    if (!filesY.length) throw new InputError(y, "no .npy files");
  }
  const tx = await Promise.all(filesX.map(load));
  const ty = await Promise.all(filesY.map(load));
  const m = tx[0].shape[0];
  for (const [i, t] of [...tx, ...ty].entries()) {
    if (t.shape[0] !== m) {
      const file = i < tx.length ? filesX[i] : filesY[i - tx.length];
      throw new InputError(file, bothFiles ? `has ${t.shape[0]} examples but ${x} has ${m}` : `has ${t.shape[0]} examples, expected ${m}`);
    }
  }
  let n: number;
  try {
    n = linearCKABatch(estimator, m, options.batch);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const g = await gramSession({ centre: true, dtype: "float64", threads: options.threads ?? 0 });
  try {
    const gx = await Promise.all(tx.map((t) => batchGrams(g, t, n)));
    const gy = await Promise.all(ty.map((t) => batchGrams(g, t, n)));
    if (bothFiles) return { kind: "value", value: linearCKAOfGrams(gx[0], gy[0], { estimator, examples: m }), tokens };
    const sitesA = filesX.map((f) => path.basename(f).replace(/\.npy$/, ""));
    const sitesB = filesY.map((f) => path.basename(f).replace(/\.npy$/, ""));
    let state = ckaReducer.init({ sitesA, sitesB, estimator, batch: n, examples: m, control: false });
    for (let b = 0; b < gx[0].length; b++) state = ckaReducer.update(state, { gramsA: gx.map((s) => s[b]), gramsB: gy.map((s) => s[b]) });
    const result = ckaReducer.finalize(state);
    return { kind: "matrix", result, examples: result.examples, dropped: m - result.examples };
  } finally {
    await release(g.session);
  }
}
