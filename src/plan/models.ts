/**
 * The models of a run: each file checked against the memory limit before it is read, loaded,
 * its sites discovered, its preprocessing settled, and its site shapes probed by one run of the
 * model on a small batch of zeros.
 */
import path from "node:path";
import { InputError, UsageError } from "../errors.js";
import { loadModel, type OnnxModel } from "../onnx/model.js";
import { discoverSites, type ModelSites } from "../onnx/sites.js";
import { exposeOutputs } from "../onnx/surgery.js";
import { inferShapes } from "../onnx/shapes.js";
import { createSession, release, run } from "../runtime/session.js";
import { checkModelFile, modelMemory } from "../limits.js";
import { modelPreprocess, preprocessSize, type PreprocessOptions, type PreprocessOverrides } from "../data/preprocess.js";
import type { ModelGeometry } from "../engine/geometry.js";
import type { EngineModel } from "../engine/stream.js";

/** Labels of models: file names without extension, made unique. */
export function modelLabels(files: readonly string[], given?: readonly string[]): string[] {
  const out: string[] = [];
  files.forEach((f, i) => {
    let base = given?.[i] ?? path.basename(f).replace(/\.onnx$/i, "");
    while (out.includes(base)) base += "′";
    out.push(base);
  });
  return out;
}

/** Channels, height and width of a model's image input, where the graph fixes them. */
export function modelInputSize(model: OnnxModel): { channels?: number; height?: number; width?: number } {
  const shape = model.imageInput.shape ?? [];
  const num = (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined);
  return { channels: num(shape[1]), height: num(shape[2]), width: num(shape[3]) };
}

/** The NCHW shape of one batch for `model`, when its input size is known. */
export function batchShape(model: OnnxModel, pre: PreprocessOptions, batch: number): number[] | undefined {
  const shape = model.imageInput.shape ?? [];
  const size = preprocessSize(pre);
  const c = typeof shape[1] === "number" ? shape[1] : pre.channels;
  const h = typeof shape[2] === "number" ? shape[2] : size?.[0];
  const w = typeof shape[3] === "number" ? shape[3] : size?.[1];
  return c && h && w ? [batch, c, h, w] : undefined;
}

/** What loading a model needs from the run's options. */
export interface LoadOptions {
  extraSites?: Record<string, string | RegExp>;
  preprocess?: PreprocessOptions["preset"];
  preprocessOverrides?: PreprocessOverrides;
}

/** Loads one model file (refused from its size against --max-memory before it is read). */
export async function loadRunModel(file: string, label: string, options: LoadOptions): Promise<EngineModel> {
  await checkModelFile(file);
  const model = await loadModel(file);
  const sites = discoverSites(model, { extraSites: options.extraSites });
  const pre = await modelPreprocess(file, { preset: options.preprocess, overrides: options.preprocessOverrides, input: modelInputSize(model) });
  // A fixed-size input and a known preprocessing size that differ: refused before any image is read.
  const fixed = model.imageInput.shape ?? [];
  const size = preprocessSize(pre);
  if (size && typeof fixed[2] === "number" && typeof fixed[3] === "number" && (size[0] !== fixed[2] || size[1] !== fixed[3])) {
    throw new InputError(path.resolve(file), `takes ${fixed[2]}×${fixed[3]} images but the preprocessing gives ${size[0]}×${size[1]} (fix --resize/--crop)`);
  }
  // The probe run (batch 2, or the model's fixed batch) before onnxruntime sees the model; the
  // run's own memory (its batch chosen from the tapped graphs, src/plan/memory.ts) is checked
  // once the sites are known, before any batch is run.
  const probe = typeof fixed[0] === "number" && fixed[0] > 0 ? fixed[0] : 2;
  modelMemory(model, { batch: probe, inputShape: batchShape(model, pre, probe) });
  // loadModel already hashed the file as read (METHODS.md §8 records the file's sha256).
  return { label, file: path.resolve(file), sha256: model.sha256, model, sites, bytes: model.bytes, preprocess: pre };
}

/**
 * Shapes of every site tensor at the probe batch: from static shape inference when it knows them
 * all (`staticShapes`), else (or with `run`) from one run of the model with them exposed on a
 * small batch of zeros, whose runtime shapes settle what the graph leaves symbolic.
 */
export async function probeGeometry(model: OnnxModel, sites: ModelSites, bytes: Uint8Array, pre: PreprocessOptions, threads: number | undefined, fixedBatch?: number, options: { run?: boolean } = {}): Promise<ModelGeometry> {
  // A model exported with a fixed batch takes only that batch.
  const probeBatch = fixedBatch ?? 2;
  const tensors = new Set<string>();
  for (const b of sites.blocks) {
    for (const t of Object.values(b.sites)) tensors.add(t);
    if (b.attention) tensors.add(b.attention.tensor);
  }
  for (const r of sites.residuals) {
    tensors.add(r.z);
    tensors.add(r.fz);
  }
  const names = [...tensors];
  const shape = batchShape(model, pre, probeBatch);
  if (!shape) throw new UsageError(`${model.path}: the model's input size is symbolic; give --resize/--crop`);
  const [, c, h, w] = shape;
  const geometry = (shapes: Map<string, number[]>): ModelGeometry => ({ sites, shapes, probeBatch, input: { name: model.imageInput.name, shape: [c, h, w] }, opset: model.opset });
  if (!options.run) {
    const known = staticShapes(model, names, shape);
    if (known) return geometry(known);
  }
  const session = await createSession(exposeOutputs({ ...model, bytes }, names), { threads: threads ?? 0, file: model.path });
  try {
    const out = await run(session, { [model.imageInput.name]: { data: new Float32Array(probeBatch * c * h * w), shape } }, names);
    return geometry(new Map(names.map((n) => [n, [...out[n].shape]])));
  } finally {
    await release(session);
  }
}

/**
 * The site tensors' shapes from static shape inference at the probe's input, or null when any is
 * unknown (then the probe runs the model). A probe session costs a second graph optimisation
 * and a run with every site exposed, ~3 s of a ViT-B/16 + ResNet-50 comparison's start; the
 * inferred shapes equal the probed ones on every fixture and full-size export
 * (tests/static-geometry.test.ts), and a wrong one would fail the taps' Reshapes, not pass silently.
 */
export function staticShapes(model: OnnxModel, names: readonly string[], input: number[]): Map<string, number[]> | null {
  let known: ReturnType<typeof inferShapes>;
  try {
    known = inferShapes(model, { batch: input[0], inputs: { [model.imageInput.name]: input } });
  } catch {
    return null;
  }
  // Only a graph inferred whole stands in for a run: every node's first output known, and no
  // empty activation (an empty 1-D shape computation is fine). A tensor left unknown or empty often
  // means the model does not run at this input (a mutated input size whose patch grid no longer
  // matches the position embedding, or a 1-pixel-high image), which the probe reports as the
  // model's error.
  for (const node of model.nodes) {
    const s = node.outputs[0] ? known.get(node.outputs[0])?.shape : [];
    if (!s || !s.every((d) => Number.isInteger(d) && d >= 0) || (s.length > 1 && s.includes(0))) return null;
  }
  const out = new Map<string, number[]>();
  for (const n of names) {
    const s = known.get(n)?.shape;
    if (!s || !s.length || !s.every((d) => Number.isInteger(d) && d > 0)) return null;
    out.set(n, [...s]);
  }
  return out;
}
