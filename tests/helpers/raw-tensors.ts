import { mainPass, type Plan } from "../../src/plan/index.js";
import { exposeOutputs } from "../../src/onnx/surgery.js";
import { createSession, run, release } from "../../src/runtime/session.js";
import { batches } from "../../src/data/loader.js";
import type { Tensor } from "../../src/tensor.js";

/**
 * Runs model m of the plan over the main pass with raw tensors exposed; concatenates them along
 * the example axis. The reference side of the engine-vs-JS tests. Test helper.
 */
export async function rawTensors(plan: Plan, m: number, names: string[], threads = 1): Promise<Record<string, Tensor>> {
  const em = plan.models[m];
  const session = await createSession(exposeOutputs(em.model, names), { threads });
  const parts: Record<string, { data: Float32Array[]; shape: number[] }> = {};
  try {
    for await (const b of batches(mainPass(plan).source, { indices: mainPass(plan).indices, batchSize: plan.settings.batch, preprocess: em.preprocess })) {
      const out = await run(session, { [em.model.imageInput.name]: { data: b.input, shape: b.shape } }, names);
      for (const n of names) {
        const t = out[n];
        (parts[n] ??= { data: [], shape: [0, ...t.shape.slice(1)] }).data.push(Float32Array.from(t.data));
        parts[n].shape[0] += t.shape[0];
      }
    }
  } finally {
    await release(session);
  }
  const res: Record<string, Tensor> = {};
  for (const [n, p] of Object.entries(parts)) {
    const all = new Float32Array(p.data.reduce((a, x) => a + x.length, 0));
    let o = 0;
    for (const x of p.data) {
      all.set(x, o);
      o += x.length;
    }
    res[n] = { data: all, shape: p.shape };
  }
  return res;
}
