/**
 * The floor of the full-size bench, as its own process: plain onnxruntime inference of the given
 * models over the same images, batches and preprocessing the engine uses, nothing tapped or kept.
 *
 * Run: node dist/bench/plain.js IMAGES.npy N BATCH MODEL.onnx [MODEL.onnx ...]
 * Prints JSON: seconds of the pass, first batch and mean steady batch (all models together).
 */
import * as ort from "onnxruntime-node";
import { loadModel } from "../src/onnx/model.js";
import { openData } from "../src/data/open.js";
import { modelPreprocess } from "../src/data/preprocess.js";
import { sampleIndices } from "../src/data/sampling.js";
import { batches } from "../src/data/loader.js";
import { modelInputSize } from "../src/plan/index.js";

const [data, nArg, batchArg, ...files] = process.argv.slice(2);
const n = Number(nArg);
const batch = Number(batchArg);
const models = await Promise.all(files.map(async (f) => {
  const model = await loadModel(f);
  return {
    input: model.imageInput.name,
    pre: await modelPreprocess(f, { input: modelInputSize(model) }),
    session: await ort.InferenceSession.create(f, { intraOpNumThreads: 2, interOpNumThreads: 1 }),
  };
}));
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
    for (const m of loaders[g].ms) await m.session.run({ [m.input]: new ort.Tensor("float32", b.input, b.shape) });
  }
  const now = performance.now();
  perBatch.push((now - t) / 1000);
  t = now;
}
const seconds = (performance.now() - t0) / 1000;
const steady = perBatch.length > 1 ? perBatch.slice(1).reduce((a, b) => a + b, 0) / (perBatch.length - 1) : perBatch[0];
process.stdout.write(JSON.stringify({ seconds, first: perBatch[0], steady }) + "\n");
