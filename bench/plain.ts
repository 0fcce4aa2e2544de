/**
 * The floor of the full-size bench, as its own process: plain onnxruntime inference of the given
 * models over the same images, batches and preprocessing the engine uses, nothing tapped or kept.
 *
 * Run: node dist/bench/plain.js [--hold-attention] IMAGES.npy N BATCH MODEL.onnx [MODEL.onnx ...]
 * Prints JSON: seconds of the pass, first batch and mean steady batch (all models together).
 *
 * --hold-attention: the floor of the first batch with attention collapse. Every model with
 * attention maps gets one appended Sum over the maps collapse compares (found as the engine
 * finds them; one Sum per group of same-shaped maps, a windowed model's stage), reduced to a
 * scalar output: each map then stays alive until the group's last layer's exists, as in any
 * exact collapse (cell (p, q) needs layer p's map when layer q runs), and nothing else is computed.
 */
import * as ort from "onnxruntime-node";
import { loadModel, type OnnxModel } from "../src/onnx/model.js";
import { openData } from "../src/data/open.js";
import { modelPreprocess } from "../src/data/preprocess.js";
import { sampleIndices } from "../src/data/sampling.js";
import { batches } from "../src/data/loader.js";
import { modelInputSize, prepare } from "../src/plan/index.js";
import { appendNodes } from "../src/onnx/surgery.js";
import { onnx } from "../src/onnx/proto/onnx.js";
import { createSession, run } from "../src/runtime/session.js";

const argv = process.argv.slice(2);
const hold = argv[0] === "--hold-attention";
const [data, nArg, batchArg, ...files] = hold ? argv.slice(1) : argv;
const n = Number(nArg);
const batch = Number(batchArg);

/**
 * The model's bytes with every attention map held to the last layer of its collapse group
 * (--hold-attention; a windowed model's groups are its stages, whose maps differ in shape), and
 * the outputs to ask for: the model's own and one scalar per group (none when collapse does not
 * apply). The plan's model and preprocessing are the ones the engine would use.
 */
async function heldAttention(file: string): Promise<{ model: OnnxModel; pre: Awaited<ReturnType<typeof modelPreprocess>>; bytes: Uint8Array; outputs: string[] }> {
  const plan = await prepare([file], { data, limit: batch, batch, seed: 0, analyses: ["collapse"], threads: 2 });
  const em = plan.models[0];
  const groups = plan.drivers.map((d) => [...new Set(d.driver.taps("main", 0).flatMap((s) => (s.kind === "collapse" ? [...s.tensors, ...(s.cols ?? [])] : [])))]).filter((maps) => maps.length >= 2);
  const keep = { name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: 0 };
  const held = groups.map((_, i) => `bench/held-attention/${i}`);
  const nodes = groups.flatMap((maps, i): onnx.INodeProto[] => [
    { op_type: "Sum", input: maps, output: [`bench/held-sum/${i}`], name: `bench/held-sum/${i}` },
    { op_type: "ReduceSum", input: [`bench/held-sum/${i}`], output: [held[i]], name: held[i], attribute: [keep] },
  ]);
  const bytes = nodes.length ? appendNodes({ ...em.model, bytes: em.bytes }, nodes, [], held) : em.bytes;
  return { model: em.model, pre: em.preprocess, bytes, outputs: [...em.model.outputs.map((o) => o.name), ...held] };
}

/**
 * One model's batch runner. Plain inference: onnxruntime's defaults. --hold-attention: the
 * engine's own session (src/runtime/session.ts, with the options a pass over two tapped models
 * uses: no memory pattern, no spinning), so the floor differs from a seelike run only in its
 * appended nodes.
 */
async function open(file: string): Promise<{ pre: Awaited<ReturnType<typeof modelPreprocess>>; run: (input: Float32Array, shape: number[]) => Promise<unknown> }> {
  if (!hold) {
    const model = await loadModel(file);
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, interOpNumThreads: 1 });
    const input = model.imageInput.name;
    return { pre: await modelPreprocess(file, { input: modelInputSize(model) }), run: (x, shape) => session.run({ [input]: new ort.Tensor("float32", x, shape) }) };
  }
  const { model, pre, bytes, outputs } = await heldAttention(file);
  const session = await createSession(bytes, { threads: 2, memoryPattern: false, spinning: false, file });
  const input = model.imageInput.name;
  return { pre, run: (x, shape) => run(session, { [input]: { data: x, shape } }, outputs) };
}

const models = await Promise.all(files.map(open));
const src = await openData(data);
const indices = sampleIndices(src.size, { limit: n, seed: 0 });
// Like the engine: one decoding stream per distinct preprocessing, every model on each batch.
const groups = new Map<string, typeof models>();
for (const m of models) groups.set(JSON.stringify(m.pre), [...(groups.get(JSON.stringify(m.pre)) ?? []), m]);
const loaders = [...groups.values()].map((ms) => ({ ms, iter: batches(src, { indices, batchSize: batch, preprocess: ms[0].pre }) }));
const t0 = performance.now();
const perBatch: number[] = [];
let t = t0;
for (;;) {
  const next = await Promise.all(loaders.map((l) => l.iter.next()));
  if (next.some((x) => x.done)) break;
  for (let g = 0; g < loaders.length; g++) {
    const b = next[g].value!;
    for (const m of loaders[g].ms) await m.run(b.input, b.shape);
  }
  const now = performance.now();
  perBatch.push((now - t) / 1000);
  t = now;
}
const seconds = (performance.now() - t0) / 1000;
const steady = perBatch.length > 1 ? perBatch.slice(1).reduce((a, b) => a + b, 0) / (perBatch.length - 1) : perBatch[0];
process.stdout.write(JSON.stringify({ seconds, first: perBatch[0], steady }) + "\n");
