/**
 * Precision of the in-graph CKA path: the engine's Grams are float32 products of batch-centred
 * features (src/engine/taps.ts), the reference is the JS float64 `linearCKA` on the same
 * activations exposed from the model. Every pair of sites of the zoo ViT and ResNet and of a
 * timm-style ViT, 256 images at n = 64. Measured when written: max relative error 2.0e-9
 * (vit-tiny), 5.0e-9 (resnet-tiny), 3.0e-10 (timm ViT); these activations are well
 * conditioned (uncentred Grams gave 9.1e-9, 1.5e-8, 7.1e-10), so the centring itself is checked
 * on features with a large shared offset, where an uncentred float32 Gram loses most digits.
 */
import { describe, expect, it } from "vitest";
import path from "node:path";
import { prepare, execute, finish } from "../src/plan/index.js";
import { createSession, run, release } from "../src/runtime/session.js";
import { linearCKA } from "../analyses/cka.js";
import { rawTensors } from "./helpers/raw-tensors.js";
import { tapGraph } from "../src/engine/taps.js";
import { onnx } from "../src/onnx/proto/onnx.js";
import { gram } from "../src/numeric/gram.js";
import { hsic1, uCentre } from "../src/numeric/hsic.js";
import { uniform } from "../src/numeric/random.js";

const root = path.resolve(__dirname, "..");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
const BATCH = 64;

describe("in-graph CKA precision (float32 Grams against float64 JS, every pair of sites)", () => {
  for (const file of ["fixtures/zoo/vit-tiny.onnx", "fixtures/zoo/resnet-tiny.onnx", "fixtures/models/timm_vit_op14.onnx"]) {
    it(`${path.basename(file)}: relative error below 1e-7`, async () => {
      const plan = await prepare([path.join(root, file)], { data: DATA, limit: 256, batch: BATCH, seed: 3, analyses: ["cka"], threads: 2 });
      const r = await execute(plan);
      const aa = (await finish(plan, r.states, { timings: r.timings, skipped: r.skipped })).cka[0].result.matrices.AA;
      const sites = Object.entries(plan.settings.models[0].sites);
      // The engine ran on 2 threads; expose on the same, so only the Gram path differs.
      const x = await rawTensors(plan, 0, sites.map(([, t]) => t), 2);
      expect(sites.length).toBeGreaterThanOrEqual(6);
      let worst = 0;
      for (let i = 0; i < sites.length; i++) {
        for (let j = 0; j < i; j++) {
          const want = linearCKA(x[sites[i][1]], x[sites[j][1]], { batch: BATCH }).cka;
          const got = aa.data[aa.rows.indexOf(sites[i][0]) * aa.cols.length + aa.cols.indexOf(sites[j][0])];
          worst = Math.max(worst, Math.abs(got - want) / Math.abs(want));
        }
      }
      expect(worst).toBeLessThan(1e-7);
    }, 120_000);
  }
});

describe("the Gram tap centres before the float32 product", () => {
  it("features with a shared offset hundreds of times their spread give HSIC₁ within 1e-6 of float64", async () => {
    const n = 32, p = 2000;
    const rand = uniform(7);
    const offset = Float64Array.from({ length: p }, () => 100 + 900 * rand());
    const x = new Float32Array(n * p);
    for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) x[i * p + j] = offset[j] + (rand() - 0.5) * 3;
    const tg = tapGraph([{ kind: "gram", tensor: "x", layout: "BD", tokens: "all", prefixTokens: 0 }], 17);
    const f = onnx.TensorProto.DataType.FLOAT;
    const bytes = onnx.ModelProto.encode({
      ir_version: 8,
      opset_import: [{ domain: "", version: 17 }],
      graph: {
        name: "gram-tap",
        node: tg.nodes,
        initializer: tg.initializers,
        input: [{ name: "x", type: { tensor_type: { elem_type: f, shape: { dim: [{ dim_value: n }, { dim_value: p }] } } } }],
        output: [{ name: tg.outputs[0], type: { tensor_type: { elem_type: f, shape: { dim: [{ dim_value: n }, { dim_value: n }] } } } }],
      },
    }).finish();
    const session = await createSession(bytes, { threads: 1 });
    const k = (await run(session, { x: { data: x, shape: [n, p] } }, [tg.outputs[0]]))[tg.outputs[0]];
    await release(session);
    const want = uCentre(gram({ data: x, shape: [n, p] }, { centre: true }));
    const got = uCentre(k.data);
    const h = hsic1(want, want);
    expect(Math.abs(hsic1(got, got) - h) / h).toBeLessThan(1e-6);
    // the same product without centring (the float32 Gram of the raw features) is far off
    const raw = new Float32Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
      let s32 = Math.fround(0);
      for (let t = 0; t < p; t++) s32 = Math.fround(s32 + Math.fround(x[i * p + t] * x[j * p + t]));
      raw[i * n + j] = s32;
    }
    const bad = uCentre(raw);
    expect(Math.abs(hsic1(bad, bad) - h) / h).toBeGreaterThan(1e-3);
  });
});
