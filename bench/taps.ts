/**
 * `node dist/bench/taps.js MODEL.onnx [BATCH] [REPS] [VARIANT ...]`: what each kind of tap costs
 * in isolation on one model, as one run per batch of random input after a warm-up run
 * (the median of REPS runs, seconds). Variants:
 *
 * - `plain`    the model's own outputs;
 * - `gram`     the CKA Gram taps of the model's `blocks` sites, as the engine appends them;
 * - `norms`    the skip ratios' norm taps on every residual branch and stream;
 * - `gram+norms` both.
 *
 * The full-size bench (`--fullsize`) times whole runs; this one says which tap a slowdown comes from.
 */
import { loadModel } from "../src/onnx/model.js";
import { discoverSites } from "../src/onnx/sites.js";
import { modelPreprocess } from "../src/data/preprocess.js";
import { modelInputSize, probeGeometry } from "../src/plan/models.js";
import { ckaSites } from "../src/pipelines/sites.js";
import { gramTaps } from "../src/pipelines/cka.js";
import { layoutOf } from "../src/engine/geometry.js";
import { tappedModel } from "../src/engine/stream.js";
import { Builder, type TapSpec } from "../src/engine/taps.js";
import { appendNodes } from "../src/onnx/surgery.js";
import { createSession, release, run } from "../src/runtime/session.js";

const [file, batchArg, repsArg, ...wanted] = process.argv.slice(2);
const batch = Number(batchArg ?? 64);
const reps = Number(repsArg ?? 2);
const model = await loadModel(file);
const sites = discoverSites(model);
const pre = await modelPreprocess(file, { input: modelInputSize(model) });
const geometry = await probeGeometry(model, sites, model.bytes, pre, 2);
const cka = ckaSites(geometry, "blocks");
const norms: TapSpec[] = sites.residuals.flatMap((r) => [r.z, r.fz]).map((t) => ({ kind: "norms", tensor: t, layout: layoutOf(geometry.shapes.get(t)) }));
const variants: Record<string, TapSpec[]> = {
  plain: [],
  gram: gramTaps(cka, "all", sites.prefixTokens),
  norms,
  "gram+norms": [...gramTaps(cka, "all", sites.prefixTokens), ...norms],
};
/** Hand-built graphs for what a tap might be instead: name → (builder, outputs). */
const custom: Record<string, (b: Builder) => string[]> = {
  // one read of every CKA site (the reorder and lost fusion a tap costs, nothing computed)
  read: (b) => cka.map((s, i) => b.reduce("ReduceSum", s.tensor, [0, 1], false, `x/read${i}`)),
  // Gram products alone, no centring
  gemm: (b) => cka.map((s, i) => b.node("Gemm", [b.flatten(s.tensor, `x/flat${i}`), `x/flat${i}`], `x/gemm${i}`, [b.attr("transB", 1)])),
  // Gram products, centred afterwards on the B×B Gram: K − r1ᵀ/n − 1rᵀ/n + s/n²
  postcentre: (b) => cka.map((s, i) => {
    const g = b.node("Gemm", [b.flatten(s.tensor, `x/flat${i}`), `x/flat${i}`], `x/gemm${i}`, [b.attr("transB", 1)]);
    const r = b.reduce("ReduceMean", g, [1], true, `x/r${i}`);
    const c = b.reduce("ReduceMean", r, [0], true, `x/c${i}`);
    const rc = b.node("Sub", [r, c], `x/rc${i}`);
    const rt = b.node("Transpose", [rc], `x/rt${i}`, [b.attr("perm", [1, 0])]);
    return b.node("Sub", [b.node("Sub", [g, rc], `x/g1${i}`), b.node("Add", [rt, c], `x/g2${i}`)], `x/k${i}`);
  }),
  // skip norms as a 1×1 convolution of x² with ones (stays in onnxruntime's blocked conv layout)
  "norms-conv": (b) => sites.residuals.flatMap((r) => [r.z, r.fz]).map((t, i) => {
    const shape = geometry.shapes.get(t)!;
    if (shape.length !== 4) return b.node("Sqrt", [b.reduce("ReduceSum", b.node("Mul", [t, t], `x/sq${i}`), [2], false, `x/ss${i}`)], `x/n${i}`);
    const ones = b.floats(`x/ones${shape[1]}`, new Float32Array(shape[1]).fill(1), [1, shape[1], 1, 1]);
    return b.node("Sqrt", [b.node("Conv", [b.node("Mul", [t, t], `x/sq${i}`), ones], `x/ss${i}`)], `x/n${i}`);
  }),
};
const [c, h, w] = geometry.input!.shape;
const input = new Float32Array(batch * c * h * w);
for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.37);
const em = { label: "m", file, sha256: "", model, sites, bytes: model.bytes, preprocess: pre };
// All sessions open at once and runs interleaved, the minimum of REPS steady runs reported: the
// machine may be shared, and contention only ever adds time.
const chosen = wanted.length ? wanted : [...Object.keys(variants), ...Object.keys(custom)];
const open: { name: string; taps: number; session: Awaited<ReturnType<typeof createSession>>; outputs: string[]; first: number; times: number[]; cpu: number[] }[] = [];
for (const full of chosen) {
  // NAME@LEVEL runs variant NAME at onnxruntime optimisation level LEVEL (default all).
  // NAME+mp turns onnxruntime's memory pattern on (the engine runs without it).
  const mp = full.endsWith("+mp");
  const [name, level] = full.replace(/\+mp$/, "").split("@") as [string, "disabled" | "basic" | "extended" | "all" | undefined];
  const specs = variants[name] ?? [];
  let { bytes, names } = tappedModel(em, specs);
  if (custom[name]) {
    const b = new Builder(model.opset);
    names = custom[name](b);
    bytes = appendNodes(model, b.nodes, b.initializers, names);
  }
  const session = await createSession(bytes, { threads: 2, memoryPattern: mp, spinning: false, optimization: level ?? "all" });
  open.push({ name: full, taps: names.length, session, outputs: names.length ? names : [...session.outputNames], first: NaN, times: [], cpu: [] });
}
const feed = { [model.imageInput.name]: { data: input, shape: [batch, c, h, w] } };
for (let r = 0; r <= reps; r++) {
  for (const o of open) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await run(o.session, feed, o.outputs);
    const t = (performance.now() - t0) / 1000;
    const cu = process.cpuUsage(c0);
    if (r === 0) o.first = t;
    else {
      o.times.push(t);
      o.cpu.push((cu.user + cu.system) / 1e6);
    }
  }
}
const base = Math.min(...open[0].times);
const baseCpu = Math.min(...open[0].cpu);
for (const o of open) {
  const best = Math.min(...o.times);
  process.stdout.write(`${o.name}\t${o.taps} outputs\tfirst ${o.first.toFixed(2)} s\tbest steady ${best.toFixed(3)} s\t${(best / base).toFixed(3)}× ${open[0].name}\tcpu ${Math.min(...o.cpu).toFixed(3)} s\t${(Math.min(...o.cpu) / baseCpu).toFixed(3)}×\n`);
  await release(o.session);
}
