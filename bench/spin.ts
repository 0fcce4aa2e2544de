/**
 * Two sessions of one model run alternately (as the engine does for the models of a
 * comparison) against one session run back to back, with onnxruntime's idle-thread spinning
 * on and off: why the engine spins only when a pass runs one session (src/runtime/session.ts).
 *
 *   npm run build && node dist/bench/spin.js [MODEL.onnx=fixtures/zoo/vit-tiny.onnx]
 */
import path from "node:path";
import * as ort from "onnxruntime-node";
import { packageRoot } from "../src/api/index.js";

const file = process.argv[2] ?? path.join(packageRoot(), "fixtures/zoo/vit-tiny.onnx");
const batch = 64;
const x = new ort.Tensor("float32", Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i)), [batch, 1, 28, 28]);
for (const spin of ["1", "0", "1", "0"]) {
  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: spin } } } };
  const a = await ort.InferenceSession.create(file, opts);
  const b = await ort.InferenceSession.create(file, opts);
  const feed = { [a.inputNames[0]]: x };
  for (let i = 0; i < 5; i++) {
    await a.run(feed);
    await b.run(feed);
  }
  let t0 = performance.now();
  for (let i = 0; i < 40; i++) await a.run(feed);
  const alone = (performance.now() - t0) / 40;
  t0 = performance.now();
  for (let i = 0; i < 40; i++) {
    await a.run(feed);
    await b.run(feed);
  }
  const alternating = (performance.now() - t0) / 80;
  process.stdout.write(`spinning ${spin === "1" ? "on " : "off"}: one session back to back ${alone.toFixed(1)} ms/run, two sessions alternating ${alternating.toFixed(1)} ms/run\n`);
  await a.release();
  await b.release();
}
