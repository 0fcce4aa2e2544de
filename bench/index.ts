/**
 * `npm run bench`: speed and memory targets, measured side by side in one run (never in tests).
 *
 * 1. Engine overhead (issue 4): plain onnxruntime inference of a model over N images (the floor)
 *    vs the full analysis pass over the same images (every analysis that needs no second data
 *    split: CKA, attention distance, skip ratios, localisation, collapse, embeddings); ratio of
 *    the medians of interleaved runs (the machine is shared and noisy), end to end and in the
 *    steady state (first batch left out). Then, per batch (tapped and plain graph on the same
 *    batch in alternating blocks of back-to-back runs, `blockRatios`), each analysis's taps
 *    alone (zoo) and all of them, so the note can say where the time goes.
 * 2. Memory: peak RSS of the full pass at N and 4N images, each in a fresh process.
 * 3. CKA Gram path (issue 5): the engine's in-graph Gram tap (flatten → centre → Gemm) vs
 *    onnxruntime's bare Gemm(transB=1) on the same n × p, and the JS float64 kernel; then the
 *    per-batch HSIC cross terms as one product (bench/cka.ts).
 * 4. Floor: the least any in-graph implementation must add (`floorRatios`), beside the engine's taps;
 *    a second floor adds the attention analyses' own products (`analysisProducts`).
 * 5. The similarity measures beyond CKA (issue 16: target ≤ 1.2× a CKA-only run): a whole run
 *    (pass and finish) with every measure and CKA against CKA alone (`measuresTable`).
 * 6. Full size (`--fullsize`, bench/fullsize.ts): ViT-B/16 + ResNet-50 compare, CKA only and all
 *    analyses, against plain inference and a PyTorch hook pipeline, process start to results,
 *    with each run's system time and what first touching memory costs on the machine.
 *
 * Flags: --quick (small N, zoo only), --no-vitb (skip the full-size ViT-B/16), --floor [--rounds
 * R] (only the floor table, R rounds of blocks per row, default 12), --measures (only the measures table), --taps (only the per-batch taps table, zoo), --fullsize [--images N --batch B
 * --reps R --no-torch] (only the full-size table), --child (internal).
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { runModels, packageRoot } from "../src/api/index.js";
import { loadModel } from "../src/onnx/model.js";
import { openData } from "../src/data/open.js";
import { modelPreprocess } from "../src/data/preprocess.js";
import { sampleIndices } from "../src/data/sampling.js";
import { batches } from "../src/data/loader.js";
import { Builder, paddedDistances, tapGraph, type TapSpec } from "../src/engine/taps.js";
import { tappedModel } from "../src/engine/stream.js";
import { appendNodes } from "../src/onnx/surgery.js";
import { productOf, productSession, release } from "../src/runtime/session.js";
import { fastRanks } from "../analyses/similarity/site-measures.js";
import { mainPass, modelInputSize, prepare, type Plan } from "../src/plan/index.js";
import { onnx } from "../src/onnx/proto/onnx.js";
import { gram } from "../src/numeric/gram.js";
import { NothingToRunError } from "../src/errors.js";
import { ckaBench, ckaBenchReport } from "./cka.js";
import { fullsizeBench } from "./fullsize.js";

const root = packageRoot();
const args = new Set(process.argv.slice(2));
const quick = args.has("--quick");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
const THREADS = 2;

// Every analysis that needs no training split or ablation (probes need --train-data; ablation a second graph).
const ANALYSES = ["cka", "rbf-cka", "attention", "skip", "localisation", "collapse", "embeddings", "accuracy"] as const;
// The opt-in measures of issue 16, all reading one pooled-feature store.
const MEASURES = ["cca", "svcca", "pwcca", "procrustes", "rsa", "mutual-knn", "predictivity"] as const;

async function preprocessFor(file: string) {
  const model = await loadModel(file);
  return { model, pre: await modelPreprocess(file, { input: modelInputSize(model) }) };
}

/** Seconds of plain inference over the same images and batches the engine will see (and of its first batch). */
async function plainInference(file: string, n: number, batch: number): Promise<{ seconds: number; first: number; batches: number }> {
  const { model, pre } = await preprocessFor(file);
  const src = await openData(DATA);
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: THREADS, interOpNumThreads: 1 });
  const inputs: { data: Float32Array; shape: number[] }[] = [];
  for await (const b of batches(src, { indices: sampleIndices(src.size, { limit: n, seed: 0 }), batchSize: batch, preprocess: pre })) inputs.push({ data: b.input, shape: b.shape });
  // Cold, like the engine's pass: both timings include the first run's allocations.
  const t0 = performance.now();
  let first = 0;
  for (const x of inputs) {
    await session.run({ [model.imageInput.name]: new ort.Tensor("float32", x.data, x.shape) });
    if (!first) first = (performance.now() - t0) / 1000;
  }
  const s = (performance.now() - t0) / 1000;
  await session.release();
  return { seconds: s, first, batches: inputs.length };
}

/** Seconds of the full analysis pass (engine time: inference + taps + reducers + data), and of its first batch. */
async function fullPass(file: string, n: number, batch: number, analyses: (typeof ANALYSES)[number][]): Promise<{ seconds: number; first: number; inference: number }> {
  const t0 = performance.now();
  const r = await runModels([file], { data: DATA, limit: n, batch, seed: 0, analyses, threads: THREADS });
  const total = (performance.now() - t0) / 1000;
  const inference = Object.entries(r.timings).filter(([k]) => k.startsWith("inference:")).reduce((a, [, v]) => a + v, 0);
  return { seconds: r.timings["pass:main"] ?? total, first: r.timings["first-batch:main"] ?? 0, inference };
}

/** Tapped over plain run time on one batch, in blocks (`blockRatios`); and the plain run's median ms. */
async function batchRatio(file: string, batch: number, analyses: string[], rounds: number, block: number): Promise<{ ratio: number; plain: number; skipped?: boolean }> {
  let plan: Plan;
  try {
    plan = await prepare([file], { data: DATA, limit: batch, batch, seed: 0, analyses: analyses as never, threads: THREADS });
  } catch (e) {
    // An analysis that cannot apply to this model (attention on a CNN) has no row to measure.
    if (e instanceof NothingToRunError) return { ratio: NaN, plain: NaN, skipped: true };
    throw e;
  }
  const em = plan.models[0];
  const taps = plan.drivers.flatMap((d) => d.driver.taps("main", 0));
  // An analysis without taps (embeddings: weights only) adds nothing to inference.
  if (taps.length === 0) return { ratio: NaN, plain: NaN };
  const r = await graphRatios(plan, [{ bytes: em.bytes, names: em.model.outputs.map((o) => o.name) }, tappedModel(em, taps)], rounds, block);
  return { ratio: r.ratios[0], plain: r.plain };
}

/**
 * `blockRatios` of graphs of the plan's first model (graphs[0] the plain one) on its first
 * batch. No spinning on any side: alternating sessions whose idle threads spin slow each other
 * about 2× (src/runtime/session.ts); the tapped graphs without memory pattern, as in the engine.
 */
async function graphRatios(plan: Plan, graphs: { bytes: Uint8Array; names: string[] }[], rounds: number, block: number): Promise<{ plain: number; ratios: number[] }> {
  const em = plan.models[0];
  let x: ort.Tensor | undefined;
  for await (const b of batches(mainPass(plan).source, { indices: mainPass(plan).indices, batchSize: plan.settings.batch, preprocess: em.preprocess })) {
    x = new ort.Tensor("float32", b.input, b.shape);
    break;
  }
  const still = { session: { intra_op: { allow_spinning: "0" } } };
  const sessions: ort.InferenceSession[] = [];
  try {
    for (const [i, g] of graphs.entries()) sessions.push(await ort.InferenceSession.create(g.bytes, { intraOpNumThreads: THREADS, interOpNumThreads: 1, enableMemPattern: i === 0, extra: still }));
    return await blockRatios(sessions.map((session, j) => ({ session, names: graphs[j].names })), { [em.model.imageInput.name]: x! }, rounds, block);
  } finally {
    for (const s of sessions) await s.release();
  }
}

/**
 * Per round, each session runs `block` times back to back on the same feed (the first run of a
 * block is left out when block > 1: it pays for the previous session's cache traffic); the
 * round's ratio is a session's mean over the plain one's (sessions[0]). Returns the plain
 * session's median ms and each other session's median ratio over the rounds. Blocks rather
 * than strict alternation: a plain run right after a tapped one finds its weights evicted and
 * looks slower, which made the tapped graph look about 10% cheaper than back-to-back runs
 * (vit-tiny: 1.72× alternating, 1.9× in separate back-to-back processes).
 */
async function blockRatios(sessions: { session: ort.InferenceSession; names: string[] }[], feed: Record<string, ort.Tensor>, rounds: number, block: number): Promise<{ plain: number; ratios: number[] }> {
  for (const { session, names } of sessions) for (let i = 0; i < 2; i++) await session.run(feed, names);
  const plain: number[] = [];
  const ratios: number[][] = sessions.slice(1).map(() => []);
  for (let r = 0; r < rounds; r++) {
    const means: number[] = [];
    for (const { session, names } of sessions) {
      let sum = 0;
      for (let i = 0; i < block; i++) {
        const t0 = performance.now();
        await session.run(feed, names);
        if (i > 0 || block === 1) sum += performance.now() - t0;
      }
      means.push(sum / Math.max(1, block - 1));
    }
    plain.push(means[0]);
    means.slice(1).forEach((m, i) => ratios[i].push(m / means[0]));
  }
  return { plain: median(plain), ratios: ratios.map(median) };
}

/**
 * The floor of any in-graph implementation, per batch like `batchRatio`: the model
 * plus (a) one ReduceSum over every tensor the analyses read (CKA sites, attention maps, skip
 * inputs and branches, localisation sites, the image: each must be read at least once, with the
 * layout reorders and lost fusions that exposing it costs), (b) only the CKA Gram products
 * (Flatten + Gemm, no centring: the analyses' irreducible arithmetic), and (c) the Gram
 * products plus one read of every other tensor, (d) that with the attention analyses' own
 * products in place of the maps' one read (`analysisProducts`), and (e) the exact floor: (d)
 * with the Grams of shifted features and the sums of squares every cosine and norm needs. Nothing here computes a result;
 * it bounds from below what the engine's taps can cost.
 */
async function floorRatios(file: string, batch: number, rounds: number, block: number): Promise<{ plain: number; readAll: number; gemm: number; both: number; products: number; exact: number; engine: number }> {
  const analyses = [...ANALYSES];
  const plan = await prepare([file], { data: DATA, limit: batch, batch, seed: 0, analyses, threads: THREADS });
  const em = plan.models[0];
  const specs = plan.drivers.flatMap((d) => d.driver.taps("main", 0));
  const grams = new Set<string>();
  const reads = new Set<string>();
  for (const s of specs) {
    if (s.kind === "gram") grams.add(s.tensor);
    else for (const t of [...(s.kind === "collapse" ? s.tensors : [s.tensor]), ...(s.kind === "localisation" ? [s.image] : [])]) reads.add(t);
  }
  const INT = onnx.AttributeProto.AttributeType.INT;
  const readOf = (ts: Iterable<string>, tag: string) => [...ts].map((t, i): onnx.INodeProto => ({ op_type: "ReduceSum", input: [t], output: [`floor/${tag}${i}`], name: `floor/${tag}${i}`, attribute: [{ name: "keepdims", type: INT, i: 0 }] }));
  const readAll = readOf(new Set([...grams, ...reads]), "all");
  for (const t of grams) reads.delete(t);
  const gemm = [...grams].flatMap((t, i): onnx.INodeProto[] => [
    { op_type: "Flatten", input: [t], output: [`floor/flat${i}`], name: `floor/flat${i}` },
    { op_type: "Gemm", input: [`floor/flat${i}`, `floor/flat${i}`], output: [`floor/gram${i}`], name: `floor/gram${i}`, attribute: [{ name: "transB", type: INT, i: 1 }] },
  ]);
  const read = readOf(reads, "read");
  const outs = (nodes: onnx.INodeProto[]) => nodes.filter((n) => n.op_type !== "Flatten").map((n) => n.output![0]);
  const m = { ...em.model, bytes: em.bytes };
  const products = analysisProducts(specs, em.model.opset);
  const rest = readOf([...reads].filter((t) => !products.reads.has(t)), "rest");
  const floor2 = [...gemm, ...products.nodes, ...rest];
  const exact = analysisProducts(specs, em.model.opset, [...grams]);
  const rest3 = readOf([...reads].filter((t) => !exact.reads.has(t)), "rest3");
  const graphs: { bytes: Uint8Array; names: string[] }[] = [
    { bytes: em.bytes, names: em.model.outputs.map((o) => o.name) },
    { bytes: appendNodes(m, readAll, [], outs(readAll)), names: outs(readAll) },
    { bytes: appendNodes(m, gemm, [], outs(gemm)), names: outs(gemm) },
    { bytes: appendNodes(m, [...gemm, ...read], [], outs([...gemm, ...read])), names: outs([...gemm, ...read]) },
    { bytes: appendNodes(m, floor2, products.initializers, products.outputs.concat(outs([...gemm, ...rest]))), names: products.outputs.concat(outs([...gemm, ...rest])) },
    { bytes: appendNodes(m, [...exact.nodes, ...rest3], exact.initializers, exact.outputs.concat(outs(rest3))), names: exact.outputs.concat(outs(rest3)) },
    tappedModel(em, specs),
  ];
  const r = await graphRatios(plan, graphs, rounds, block);
  return { plain: r.plain, readAll: r.ratios[0], gemm: r.ratios[1], both: r.ratios[2], products: r.ratios[3], exact: r.ratios[4], engine: r.ratios[5] };
}

/**
 * The products two attention analyses cannot avoid beyond one read of each map, as the engine
 * forms them but with nothing around them: attention collapse's per-image Gram of each block's
 * stacked maps (the same Concat and MatMul, on the raw maps: no column norms, no division), and
 * mean attention distance's weighted row sums Σ_k A[q,k]·d(q,k) (Mul by the padded distance
 * matrix + ReduceSum; no key masses). With the CKA Grams they are the floor's second row: any
 * exact implementation in onnxruntime's operators computes at least these, so where the engine's
 * taps are close to this row the rest of the first floor's gap is the analyses' own arithmetic.
 *
 * With `shifted` (the CKA sites), the exact floor: those sites' Grams of shifted features, the
 * same products, and every sum of squares the results need (over each attention map's query
 * axis for collapse's column norms, over each skip tensor's feature or channel axis for its
 * per-token norms) by onnxruntime's fastest kernel for them. These are what exactness adds to
 * the products: a Gram of unshifted float32 features loses most digits (tests/engine-precision),
 * and a cosine or a norm cannot be had without the sum of squares of its vector. Still no result is computed: no division, no square
 * roots, no key masses. Spatial localisation's products are in it too (`localisationProducts`).
 */
function analysisProducts(specs: readonly TapSpec[], opset: number, shifted?: string[]): { nodes: onnx.INodeProto[]; initializers: onnx.ITensorProto[]; outputs: string[]; reads: Set<string> } {
  const b = new Builder(opset);
  const outputs: string[] = [];
  const reads = new Set<string>();
  const exact = shifted !== undefined;
  // The exact floor's sums of squares (collapse's column norms, the skip norms) as Mul +
  // ReduceSum, the fastest of onnxruntime's operators for them at every size measured (`node
  // dist/bench/squares.js`: against ReduceSumSquare, ReduceL2, Pow + ReduceSum and Einsum).
  const reduced = new Set<string>();
  const cells = new Map<string, string>();
  const reduceOver = (t: string, axis: number, tag: string) => {
    if (reduced.has(`${t}/${axis}`)) return;
    reduced.add(`${t}/${axis}`);
    const name = `floor/${tag}${reduced.size}`;
    outputs.push(b.reduce("ReduceSum", b.node("Mul", [t, t], `${name}/squares`), [axis], false, name));
  };
  // Each CKA site shifted by its batch's first example before its Gram (one Sub; HSIC₁ ignores a
  // shift, and the shift's float32 Grams keep CKA within ~5e-9, ARCHITECTURE.md) rather than
  // centred by the batch mean as the engine does (a ReduceMean pass more).
  (shifted ?? []).forEach((t, i) => {
    const flat = b.node("Flatten", [t], `floor/exact-flat${i}`);
    const first = b.node("Slice", [flat, b.ints([0]), b.ints([1]), b.ints([0])], `floor/exact-first${i}`);
    const x = b.node("Sub", [flat, first], `floor/exact-shifted${i}`);
    outputs.push(b.node("Gemm", [x, x], `floor/exact-gram${i}`, [b.attr("transB", 1)]));
  });
  const stacks = new Map<string, string>();
  const stack = (tensors: string[]) => {
    const key = tensors.join("|");
    if (!stacks.has(key)) {
      const i = stacks.size;
      const cat = tensors.length === 1 ? tensors[0] : b.node("Concat", tensors, `floor/stack${i}/concat`, [b.attr("axis", 1)]);
      stacks.set(key, b.node("Reshape", [cat, b.ints([0, tensors.length, -1])], `floor/stack${i}`));
    }
    return stacks.get(key)!;
  };
  specs.forEach((s, i) => {
    if (s.kind === "collapse") {
      for (const t of [...s.tensors, ...(s.cols ?? [])]) {
        reads.add(t);
        if (exact) reduceOver(t, -2, "columns");
      }
      const rows = stack(s.tensors);
      const cols = s.cols ? stack(s.cols) : rows;
      const colsT = b.node("Transpose", [cols], `floor/collapse${i}/colsT`, [b.attr("perm", [0, 2, 1])]);
      outputs.push(b.node("MatMul", [rows, colsT], `floor/collapse${i}`));
    } else if (s.kind === "attention-distance") {
      reads.add(s.tensor);
      const p = s.prefixTokens, t = s.patches + p;
      const dist = b.floats(`floor/const/distances/${s.patches}+${p}`, paddedDistances(s), [t, t]);
      outputs.push(b.reduce("ReduceSum", b.node("Mul", [s.tensor, dist], `floor/distance${i}/weighted`), [-1], false, `floor/distance${i}`));
    } else if (s.kind === "norms" && exact) {
      reads.add(s.tensor);
      reduceOver(s.tensor, s.layout === "BTD" ? 2 : 1, "tokens");
    } else if (s.kind === "localisation" && exact) {
      reads.add(s.tensor);
      reads.add(s.image);
      outputs.push(localisationProducts(b, s, cells, i));
    }
  });
  return { nodes: b.nodes, initializers: b.initializers, outputs, reads };
}

/**
 * The exact floor's spatial localisation: the products of the engine's tap (src/engine/taps.ts
 * `Builder.localisation`) without their centring, hollow masks and side sums. Per input cell
 * the batch's Gram of the cell's pixels (the image reordered cell by cell once per grid, then
 * one batched product); per site the batch's Gram of each position's features and one Gemm of
 * those against the cells' Grams, tr(K_t L_s) for every position and cell.
 */
function localisationProducts(b: Builder, s: Extract<TapSpec, { kind: "localisation" }>, cells: Map<string, string>, i: number): string {
  const [gh, gw] = s.grid;
  const [c, h, w] = s.imageShape;
  const key = `${s.image}/${gh}x${gw}`;
  if (!cells.has(key)) {
    const base = `floor/cells${cells.size}`;
    const split = b.node("Reshape", [s.image, b.ints([-1, c, gh, h / gh, gw, w / gw])], `${base}/split`);
    const byCell = b.node("Transpose", [split], `${base}/byCell`, [b.attr("perm", [2, 4, 0, 1, 3, 5])]);
    const y = b.node("Reshape", [byCell, b.ints([gh * gw, -1, (c * h * w) / (gh * gw)])], `${base}/y`);
    const g = b.node("MatMul", [y, b.node("Transpose", [y], `${base}/yT`, [b.attr("perm", [0, 2, 1])])], `${base}/gram`);
    cells.set(key, b.node("Reshape", [g, b.ints([gh * gw, -1])], `${base}/flat`));
  }
  const tokens = s.positions.map(([r, col]) => r * gw + col);
  const base = `floor/localisation${i}`;
  const x = s.layout === "BTD"
    ? b.node("Transpose", [b.node("Gather", [s.tensor, b.ints(tokens.map((t) => t + s.prefixTokens))], `${base}/tokens`, [b.attr("axis", 1)])], `${base}/x`, [b.attr("perm", [1, 0, 2])])
    : b.node("Transpose", [b.node("Gather", [b.node("Reshape", [s.tensor, b.ints([0, 0, -1])], `${base}/hw`), b.ints(tokens)], `${base}/tokens`, [b.attr("axis", 2)])], `${base}/x`, [b.attr("perm", [2, 0, 1])]);
  const g = b.node("MatMul", [x, b.node("Transpose", [x], `${base}/xT`, [b.attr("perm", [0, 2, 1])])], `${base}/gram`);
  const rows = b.node("Reshape", [g, b.ints([tokens.length, -1])], `${base}/rows`);
  return b.node("Gemm", [rows, cells.get(key)!], `${base}/cross`, [b.attr("transB", 1)]);
}

function median(xs: number[]): number {
  return xs.slice().sort((a, b) => a - b)[xs.length >> 1];
}

function peakRss(file: string, n: number, batch: number): number {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, [self, "--child", file, String(n), String(batch)], { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return Number(/maxrss=(\d+)/.exec(r.stdout)![1]) / 1024;
}

function gemmModel(n: number, p: number, nodes: onnx.INodeProto[], inits: onnx.ITensorProto[], output: string, outShape: number[]): Uint8Array {
  const f = onnx.TensorProto.DataType.FLOAT;
  return onnx.ModelProto.encode({
    ir_version: 8,
    opset_import: [{ domain: "", version: 17 }],
    graph: {
      name: "bench",
      node: nodes,
      initializer: inits,
      input: [{ name: "x", type: { tensor_type: { elem_type: f, shape: { dim: [{ dim_value: n }, { dim_value: p }] } } } }],
      output: [{ name: output, type: { tensor_type: { elem_type: f, shape: { dim: outShape.map((d) => ({ dim_value: d })) } } } }],
    },
  }).finish();
}

async function gramPath(n: number, p: number, reps: number) {
  const bare = gemmModel(n, p, [{ op_type: "Gemm", input: ["x", "x"], output: ["g"], attribute: [{ name: "transB", type: onnx.AttributeProto.AttributeType.INT, i: 1 }] }], [], "g", [n, n]);
  const tg = tapGraph([{ kind: "gram", tensor: "x", layout: "BD", tokens: "all", prefixTokens: 0 }], 17);
  const tap = gemmModel(n, p, tg.nodes, tg.initializers, tg.outputs[0], [n, n]);
  const x = new Float32Array(n * p);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 12.9898) * 0.5;
  const time = async (bytes: Uint8Array, out: string) => {
    const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: THREADS, interOpNumThreads: 1 });
    const feed = { x: new ort.Tensor("float32", x, [n, p]) };
    await s.run(feed, [out]);
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) await s.run(feed, [out]);
    const sec = (performance.now() - t0) / 1000 / reps;
    await s.release();
    return sec;
  };
  const flops = 2 * n * n * p;
  const tBare = await time(bare, "g");
  const tTap = await time(tap, tg.outputs[0]);
  const t0 = performance.now();
  gram({ data: x, shape: [n, p] });
  const tJs = (performance.now() - t0) / 1000;
  return { n, p, bare: { seconds: tBare, gflops: flops / tBare / 1e9 }, tap: { seconds: tTap, gflops: flops / tTap / 1e9 }, js: { seconds: tJs, gflops: flops / tJs / 1e9 } };
}

// One entry for every bench mode on purpose: each mode is a short, flag-selected block printing
// its table, and the child-process mode must stay in the same file the parent re-executes.
async function main() {
  if (args.has("--child")) {
    const [file, n, batch] = process.argv.slice(3);
    await runModels([file], { data: DATA, limit: Number(n), batch: Number(batch), seed: 0, analyses: [...ANALYSES], threads: THREADS });
    // VmHWM of this process's own address space: getrusage's maxRSS survives execve, so a
    // child of a large parent would report the parent's peak.
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
    process.stdout.write(`maxrss=${hwm ? hwm[1] : process.resourceUsage().maxRSS}\n`);
    return;
  }
  const lines: string[] = [];
  const say = (s: string) => {
    lines.push(s);
    process.stdout.write(s + "\n");
  };
  say(`seelike bench — ${new Date().toISOString()} — ${THREADS} threads`);
  const zoo = path.join(root, "fixtures/zoo");
  // The zoo at the CLI's default batch (64) and at the demo's (100); ViT-B/16 at 32.
  const models: { name: string; file: string; n: number; batch: number; batches: number[]; reps: number; rss: boolean }[] = [
    { name: "zoo vit-tiny", file: path.join(zoo, "vit-tiny.onnx"), n: quick ? 256 : 1024, batch: 64, batches: [64, 100], reps: quick ? 1 : 3, rss: true },
    { name: "zoo resnet-tiny", file: path.join(zoo, "resnet-tiny.onnx"), n: quick ? 256 : 1024, batch: 64, batches: [64, 100], reps: quick ? 1 : 3, rss: true },
  ];
  const vitb = path.join(root, ".cache/fullsize/tv_vit_b16_op14.onnx");
  if (!quick && !args.has("--no-vitb")) {
    if (existsSync(vitb)) models.push({ name: "torchvision vit_b_16 (random weights)", file: vitb, n: 128, batch: 32, batches: [32], reps: 3, rss: false });
    else say(`(skipping ViT-B/16: run /usr/bin/python3 fixtures/models/make_fullsize.py to create ${vitb})`);
  }
  if (args.has("--floor")) return floorTable(models, say);
  if (args.has("--measures")) return measuresTable(models, say);
  if (args.has("--fullsize")) return fullsizeBench(root, process.argv.slice(2), say);
  if (args.has("--taps")) return tapsTable(models.filter((m) => m.rss), say);
  say("\n## Peak RSS of the full pass at N and 4N images (fresh process each; target 4N ≤ 1.1 × N)");
  say("model | N | RSS(N) MB | RSS(4N) MB | ratio");
  for (const m of models.filter((x) => x.rss && existsSync(x.file))) {
    const n = quick ? 200 : 500;
    const a = peakRss(m.file, n, m.batch);
    const b = peakRss(m.file, 4 * n, m.batch);
    say(`${m.name} | ${n} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(3)}`);
  }
  say("\n## Full analysis pass vs plain inference (same images, same batches; median of interleaved runs)");
  say("Steady state leaves out the first batch of both (onnxruntime's warm-up: the taps' intermediates grow its arena once).");
  say("model | images | batch | plain inference s | full pass s | ratio (target ≤ 1.25) | steady-state ratio | engine's own inference s");
  for (const m of models) {
    if (!existsSync(m.file)) {
      say(`${m.name} | missing ${m.file}`);
      continue;
    }
    for (const batch of m.batches) {
      const plain: { seconds: number; first: number; batches: number }[] = [];
      const full: { seconds: number; first: number; inference: number }[] = [];
      for (let r = 0; r < m.reps; r++) {
        plain.push(await plainInference(m.file, m.n, batch));
        full.push(await fullPass(m.file, m.n, batch, [...ANALYSES]));
      }
      const p = median(plain.map((x) => x.seconds));
      const f = median(full.map((x) => x.seconds));
      const steady = median(full.map((x) => x.seconds - x.first)) / median(plain.map((x) => x.seconds - x.first));
      const inf = median(full.map((x) => x.inference));
      say(`${m.name} | ${m.n} | ${batch} | ${p.toFixed(2)} | ${f.toFixed(2)} | ${(f / p).toFixed(3)} | ${steady.toFixed(3)} | ${inf.toFixed(2)}`);
    }
  }
  await tapsTable(models, say);
  await floorTable(models, say);
  await measuresTable(models, say);
  say("\n## CKA Gram path: in-graph tap vs onnxruntime's bare Gemm (target ≥ 50%)");
  const g = await gramPath(256, quick ? 20_000 : 151_296, quick ? 2 : 3);
  say(`n=${g.n} p=${g.p}: bare Gemm ${g.bare.gflops.toFixed(1)} GFLOP/s (${(g.bare.seconds * 1000).toFixed(0)} ms) | engine tap (centre+Gemm) ${g.tap.gflops.toFixed(1)} GFLOP/s (${(g.tap.seconds * 1000).toFixed(0)} ms) = ${((g.tap.gflops / g.bare.gflops) * 100).toFixed(0)}% | JS float64 kernel ${g.js.gflops.toFixed(2)} GFLOP/s`);
  say("\n## CKA reducer per batch (bench/cka.ts)");
  const c = await ckaBench({ n: 256, p: quick ? 20_000 : 151_296, sites: 24, reps: 1 });
  say(ckaBenchReport(c));
}

/** Seconds of a whole run (prepare, pass, finish) of `analyses`, and of its main pass. */
async function wholeRun(file: string, n: number, batch: number, analyses: readonly string[]): Promise<{ total: number; pass: number; dims: number[]; m: number }> {
  const t0 = performance.now();
  const r = await runModels([file], { data: DATA, limit: n, batch, seed: 0, analyses: analyses as never, threads: THREADS });
  const total = (performance.now() - t0) / 1000;
  // The CCA section's per-site notes give the pooled widths the measures read (for the floor).
  const find = (o: unknown): { sites?: Record<string, { p: number }[]>; examples?: { kept: number } } | undefined => {
    if (!o || typeof o !== "object") return undefined;
    if ((o as { measure?: string }).measure === "cca") return o as never;
    for (const v of Object.values(o)) {
      const f = find(v);
      if (f) return f;
    }
    return undefined;
  };
  const cca = find(r);
  return { total, pass: r.timings["pass:main"] ?? NaN, dims: Object.values(cca?.sites ?? {})[0]?.map((x) => x.p) ?? [], m: cca?.examples?.kept ?? 0 };
}

/**
 * The least RSA and mutual kNN can cost at m examples, whatever the implementation: each site's
 * m × m Gram of its (row-normalised) pooled features, twice (RSA's correlations, kNN's cosines),
 * through onnxruntime's float64 Gemm as the pipeline does, and one sort of the m(m − 1)/2
 * dissimilarities per site that Spearman's ranks need (the faster of V8's native Float64Array
 * sort, which gives no ranks yet, and seelike's radix ranks). Seeded random features of the run's widths.
 */
async function measuresFloor(dims: number[], m: number): Promise<{ grams: number; sort: number }> {
  const session = await productSession({ threads: THREADS });
  let s = 0x9e3779b9;
  const rand = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  let grams = 0, sort = 0;
  try {
    for (const p of dims) {
      const x = Float64Array.from({ length: m * p }, rand);
      const t0 = performance.now();
      const g = await productOf(session, x, m, null, m, p);
      await productOf(session, x, m, null, m, p);
      const t1 = performance.now();
      const u = new Float64Array((m * (m - 1)) / 2);
      let k = 0;
      for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) u[k++] = 1 - g[i * m + j];
      // The faster of V8's native sort (no ranks yet) and seelike's radix ranks (fastRanks).
      const t2 = performance.now();
      Float64Array.from(u).sort();
      const t3 = performance.now();
      fastRanks(u);
      sort += Math.min(t3 - t2, performance.now() - t3) / 1000;
      grams += (t1 - t0) / 1000;
    }
  } finally {
    await release(session.session);
  }
  return { grams, sort };
}

/**
 * The measures beyond CKA against a CKA-only run, interleaved (the machine is shared): their
 * cost is the pool taps in the pass plus the finish (per-site decompositions and per-pair
 * products of site-measures.ts, the larger ones in onnxruntime), so the whole run is timed, not only the pass.
 */
async function measuresTable(models: { name: string; file: string; n: number; batch: number; reps: number }[], say: (s: string) => void): Promise<void> {
  say("\n## Similarity measures beyond CKA (cca, svcca, pwcca, procrustes, rsa, mutual-knn, predictivity; one model's sites against each other) vs a CKA-only run (target ≤ 1.20)");
  say("Whole runs (prepare + pass + finish), median of interleaved repeats; --measure-examples at its default (1,000).");
  say("The floor: what RSA and mutual kNN alone cannot avoid at m examples (measuresFloor: two m × m Grams per site in onnxruntime, one sort of each site's m(m − 1)/2 dissimilarities, native or radix ranks, the faster), as a share of the CKA-only run: above 0.20 no implementation meets the target at that m.");
  say("model | images | batch | cka only s (pass s) | cka + measures s (pass s) | measures vs cka only | floor s (Grams + sorts) | floor / cka only");
  for (const m of models) {
    if (!existsSync(m.file)) continue;
    const only: Awaited<ReturnType<typeof wholeRun>>[] = [];
    const all: Awaited<ReturnType<typeof wholeRun>>[] = [];
    for (let r = 0; r < m.reps; r++) {
      only.push(await wholeRun(m.file, m.n, m.batch, ["cka"]));
      all.push(await wholeRun(m.file, m.n, m.batch, ["cka", ...MEASURES]));
    }
    const a = median(only.map((x) => x.total)), b = median(all.map((x) => x.total));
    const f = await measuresFloor(all[0].dims, all[0].m);
    const floor = f.grams + f.sort;
    say(`${m.name} | ${m.n} | ${m.batch} | ${a.toFixed(2)} (${median(only.map((x) => x.pass)).toFixed(2)}) | ${b.toFixed(2)} (${median(all.map((x) => x.pass)).toFixed(2)}) | ${(b / a).toFixed(3)} | ${floor.toFixed(2)} (${f.grams.toFixed(2)} + ${f.sort.toFixed(2)}), ${all[0].dims.length} sites, m = ${all[0].m} | ${(floor / a).toFixed(3)}`);
  }
}

/** Per batch, each analysis's taps against the plain graph (zoo models: every analysis alone, then all; others: all). */
async function tapsTable(models: { name: string; file: string; batch: number; rss: boolean }[], say: (s: string) => void): Promise<void> {
  say("\n## Per batch: the tapped graph against the plain one on the same batch (blocks of 6 runs back to back, alternating; median over 12 rounds of the ratio of block means)");
  say("What onnxruntime spends on each analysis's taps, with the machine's speed changes cancelled round by round; JS work excluded.");
  const sets: { name: string; analyses: string[] }[] = [...ANALYSES.map((a) => ({ name: a, analyses: [a] as string[] })), { name: "measures (pool taps)", analyses: [...MEASURES] }, { name: "all", analyses: [...ANALYSES] }];
  say(`model | batch | plain ms | ${sets.map((x) => x.name).join(" | ")}`);
  for (const m of models) {
    if (!existsSync(m.file)) continue;
    const zoo = m.rss;
    const cells: string[] = [];
    let plainMs = 0;
    for (const set of zoo ? sets : sets.slice(-1)) {
      const r = await batchRatio(m.file, m.batch, set.analyses, zoo ? 12 : 3, zoo ? 6 : 1);
      if (Number.isFinite(r.plain)) plainMs = r.plain;
      cells.push(Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : r.skipped ? "does not apply" : "no taps");
    }
    say(`${m.name} | ${m.batch} | ${plainMs.toFixed(1)} | ${zoo ? cells.join(" | ") : `${sets.slice(0, -1).map(() => "").join(" | ")} | ${cells[0]}`}`);
  }
}

/** `--rounds R` of the floor table (default 12). */
function floorRounds(): number {
  const argv = process.argv.slice(2);
  const i = argv.indexOf("--rounds");
  if (i < 0) return 12;
  const r = Number(argv[i + 1]);
  if (!Number.isInteger(r) || r < 1) throw new RangeError(`invalid --rounds: ${argv[i + 1]} (a positive integer)`);
  return r;
}

async function floorTable(models: { name: string; file: string; batch: number; rss: boolean }[], say: (s: string) => void): Promise<void> {
  say("\n## Floor: the least any in-graph implementation of all the analyses adds (per batch, in blocks like the table above)");
  say("One ReduceSum over every tensor the analyses read; the Gram products alone (Flatten + Gemm per CKA site, no centring); the Gram products plus one read of every other tensor (the floor); the engine's taps beside them. Where the floor is above 1.25× no set of taps inside onnxruntime meets the target.");
  say("The second floor adds the attention analyses' own products (attention collapse's per-image Gram of each block's stacked raw maps, mean attention distance's weighted row sums; see `analysisProducts`) in place of those maps' one read.");
  say("The exact floor is the second with what exactness adds and no implementation in onnxruntime's operators avoids: each CKA site shifted by one of its examples before its Gram (a Sub: an unshifted float32 Gram loses most digits on features with a shared offset, tests/engine-precision; the engine centres by the batch mean, a ReduceMean more), the per-column and per-token sums of squares that collapse's cosines and the skip norms need (Mul + ReduceSum, onnxruntime's fastest kernel for them: node dist/bench/squares.js), and spatial localisation's Gram products. Where exact floor / floor is above 1.15, no exact set of taps meets taps ≤ 1.15× the floor.");
  say("model | batch | plain ms | one read of every tensor | Gram products | floor: Gram products + one read of the rest | floor with the attention products | exact floor | engine's taps | taps / floor | taps / floor with products | exact floor / floor | taps / exact floor");
  // The zoo only: ViT-B/16 meets the target, and its five sessions would need ~15 GB.
  for (const m of models.filter((x) => x.rss)) {
    if (!existsSync(m.file)) continue;
    for (const batch of [32, m.batch]) {
      const f = await floorRatios(m.file, batch, floorRounds(), 6);
      say(`${m.name} | ${batch} | ${f.plain.toFixed(1)} | ${f.readAll.toFixed(2)}× | ${f.gemm.toFixed(2)}× | ${f.both.toFixed(2)}× | ${f.products.toFixed(2)}× | ${f.exact.toFixed(2)}× | ${f.engine.toFixed(2)}× | ${(f.engine / f.both).toFixed(2)} | ${(f.engine / f.products).toFixed(2)} | ${(f.exact / f.both).toFixed(2)} | ${(f.engine / f.exact).toFixed(2)}`);
    }
  }
}

await main();
