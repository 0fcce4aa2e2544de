/**
 * CKA throughput on one batch of n = 256 examples with 24 sites per model (ViT-B/16 token
 * activations, p = 197·768 = 151,296 by default): Gram throughput of the JS float64 kernel vs
 * onnxruntime's own Gemm(transB=1) on the same shapes, then the per-batch U-centring and HSIC
 * cross-term products. Speed lives here, never in tests (ARCHITECTURE.md).
 * This file alone outside src/runtime imports onnxruntime-node, to measure against it.
 *
 * Run: npm run build && nice -n 10 node dist/bench/cka.js   (env BENCH_N, BENCH_P, BENCH_SITES, BENCH_REPS)
 */
import { pathToFileURL } from "node:url";
import * as ort from "onnxruntime-node";
import { ckaInit, ckaUpdate } from "../analyses/cka.js";
import { gram } from "../src/numeric/gram.js";
import { uCentre, uCentredRows } from "../src/numeric/hsic.js";
import { matmulTransB } from "../src/numeric/matmul.js";
import { uniform } from "../src/numeric/random.js";
import { onnx } from "../src/onnx/proto/onnx.js";

export interface CKABenchResult {
  n: number;
  p: number;
  sites: number;
  /** Seconds for one site's Gram, and GFLOP/s counting the dense 2·n²·p product. */
  gram: { backend: string; seconds: number; gflops: number }[];
  /** Explicit U-centring of all 2 × sites Grams (for scale; the reducer streams U instead). */
  uCentreSeconds: number;
  /** The L₁×L₂ cross-term product A·Bᵀ of stacked vec(U(K)) rows. */
  crossProductSeconds: number;
  intraProductsSeconds: number;
  /** One reducer update from float32 Grams: AA, BB, AB and the shuffled control. */
  updateSeconds: number;
  /** Estimated per-batch seconds: 2 × sites Grams + one reducer update, per Gram backend. */
  perBatch: { backend: string; seconds: number }[];
}

/** A one-node ONNX model K = Gemm(X, X, transB=1) for X of dtype 1 (float) or 11 (double). */
function gemmModel(elem: number): Uint8Array {
  const dims = [{ dim_param: "n" }, { dim_param: "p" }];
  const model = {
    ir_version: 8,
    producer_name: "seelike-bench",
    opset_import: [{ domain: "", version: 17 }],
    graph: {
      name: "gram",
      node: [{ name: "gemm", op_type: "Gemm", input: ["X", "X"], output: ["K"], attribute: [{ name: "transB", type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }],
      input: [{ name: "X", type: { tensor_type: { elem_type: elem, shape: { dim: dims } } } }],
      output: [{ name: "K", type: { tensor_type: { elem_type: elem } } }],
    },
  };
  return onnx.ModelProto.encode(model as unknown as onnx.IModelProto).finish();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function timed(reps: number, f: () => unknown | Promise<unknown>): Promise<number> {
  await f(); // warm-up (JIT, ORT kernel selection)
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await f();
    times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

/**
 * Runs the benchmark and returns its numbers (also printed by the CLI entry below).
 * @example const r = await ckaBench({n: 256, p: 151296, sites: 24, reps: 3})
 */
export async function ckaBench(o: { n?: number; p?: number; sites?: number; reps?: number } = {}): Promise<CKABenchResult> {
  const n = o.n ?? 256, p = o.p ?? 151_296, sites = o.sites ?? 24, reps = o.reps ?? 3;
  const u = uniform(1);
  const x32 = new Float32Array(n * p);
  for (let i = 0; i < x32.length; i++) x32[i] = u() - 0.5;
  const flop = 2 * n * n * p;
  const rows: CKABenchResult["gram"] = [];

  const js = await timed(reps, () => gram({ data: x32, shape: [n, p] }, { centre: true }));
  rows.push({ backend: "js float64 (blocked 2×4, centred)", seconds: js, gflops: flop / js / 1e9 });

  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 2, graphOptimizationLevel: "all" };
  const s32 = await ort.InferenceSession.create(gemmModel(1), opts);
  const t32 = new ort.Tensor("float32", x32, [n, p]);
  const o32 = await timed(reps, () => s32.run({ X: t32 }));
  rows.push({ backend: "onnxruntime Gemm float32", seconds: o32, gflops: flop / o32 / 1e9 });
  await s32.release();

  const s64 = await ort.InferenceSession.create(gemmModel(11), opts);
  const t64 = new ort.Tensor("float64", Float64Array.from(x32), [n, p]);
  const o64 = await timed(reps, () => s64.run({ X: t64 }));
  rows.push({ backend: "onnxruntime Gemm float64", seconds: o64, gflops: flop / o64 / 1e9 });
  await s64.release();

  // Per-batch HSIC work on 2 × sites Grams (distinct random Grams: values do not affect speed).
  const small = (seed: number) => {
    const v = uniform(seed);
    const f = new Float64Array(n * 32);
    for (let i = 0; i < f.length; i++) f[i] = v() - 0.5;
    return gram({ data: f, shape: [n, 32] });
  };
  const gA = Array.from({ length: sites }, (_, i) => small(10 + i));
  const gB = Array.from({ length: sites }, (_, i) => small(100 + i));
  // The reducer's own path: U(K) rows generated panel by panel inside the products.
  const uc = await timed(reps, () => {
    gA.map(uCentre);
    gB.map(uCentre);
  });
  const cross = await timed(reps, () => matmulTransB(uCentredRows(gA), uCentredRows(gB)));
  const intra = await timed(reps, () => {
    matmulTransB(uCentredRows(gA));
    matmulTransB(uCentredRows(gB));
  });
  const names = (p: string) => Array.from({ length: sites }, (_, i) => `${p}${i}`);
  const update = await timed(reps, () => {
    const st = ckaInit({ sitesA: names("a"), sitesB: names("b"), batch: n });
    ckaUpdate(st, { gramsA: gA.map((g) => Float32Array.from(g)), gramsB: gB.map((g) => Float32Array.from(g)) });
  });
  const rest = update;
  return {
    n, p, sites, gram: rows, uCentreSeconds: uc, crossProductSeconds: cross, intraProductsSeconds: intra, updateSeconds: update,
    perBatch: rows.map((r) => ({ backend: r.backend, seconds: 2 * sites * r.seconds + rest })),
  };
}

/** Prints a result as plain text. */
export function ckaBenchReport(r: CKABenchResult): string {
  const lines = [`CKA bench: batch n = ${r.n}, p = ${r.p} features per site, ${r.sites} sites per model`];
  for (const g of r.gram) lines.push(`  Gram ${g.backend.padEnd(36)} ${(g.seconds * 1000).toFixed(1).padStart(9)} ms/site  ${g.gflops.toFixed(2).padStart(7)} GFLOP/s`);
  lines.push(`  U-centring of ${2 * r.sites} Grams                ${(r.uCentreSeconds * 1000).toFixed(2).padStart(9)} ms/batch`);
  lines.push(`  cross-term product ${r.sites}×${r.n}² · (${r.sites}×${r.n}²)ᵀ   ${(r.crossProductSeconds * 1000).toFixed(2).padStart(9)} ms/batch`);
  lines.push(`  intra products A·Aᵀ and B·Bᵀ             ${(r.intraProductsSeconds * 1000).toFixed(2).padStart(9)} ms/batch`);
  lines.push(`  reducer update (AA, BB, AB, control)     ${(r.updateSeconds * 1000).toFixed(2).padStart(9)} ms/batch`);
  for (const b of r.perBatch) lines.push(`  per batch with Gram by ${b.backend.padEnd(36)} ${b.seconds.toFixed(2).padStart(8)} s`);
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = (k: string) => (process.env[k] ? Number(process.env[k]) : undefined);
  const r = await ckaBench({ n: env("BENCH_N"), p: env("BENCH_P"), sites: env("BENCH_SITES"), reps: env("BENCH_REPS") });
  console.log(ckaBenchReport(r));
}
