/**
 * Sums of squares over one axis, kernel by kernel (src/engine/taps.ts `SQUARED_COPY_LIMIT`): ms
 * per run of a one-op (or two-op) graph over a constant input, each variant in its own session,
 * the sessions interleaved round by round and the median round kept.
 *
 * Run: node dist/bench/squares.js [SHAPE:AXIS ...]   e.g. 64x16x32x32:1 64x3x65x65:-2
 * Without arguments: the zoo's sites and the smallest full-size ones, at batch 64.
 * Columns: ReduceSum alone (no squares: the cheapest reduction over that axis), Mul + ReduceSum
 * (a squared copy first), ReduceSumSquare, ReduceL2, Pow + ReduceSum, Einsum (x, x → the sum).
 */
import * as ort from "onnxruntime-node";
import { onnx } from "../src/onnx/proto/onnx.js";

const F = onnx.TensorProto.DataType.FLOAT;
const I64 = onnx.TensorProto.DataType.INT64;
const INT = onnx.AttributeProto.AttributeType.INT;

const DEFAULTS = [
  "64x16x32x32:1", // resnet-tiny's first stage, skip norms over channels
  "64x65x192:2", // vit-tiny's residual stream, skip norms over features
  "64x3x65x65:-2", // vit-tiny's attention map, collapse's column norms over queries
  "64x2048x7x7:1", // ResNet-50's last stage
  "64x197x768:2", // ViT-B/16's residual stream
  "64x12x197x197:-2", // ViT-B/16's attention map
];

function graph(dims: number[], axis: number, nodes: onnx.INodeProto[]): Uint8Array {
  const vi = (name: string, d?: number[]): onnx.IValueInfoProto => ({ name, type: { tensor_type: { elem_type: F, ...(d ? { shape: { dim: d.map((x) => ({ dim_value: x })) } } : {}) } } });
  return onnx.ModelProto.encode({
    ir_version: 8,
    opset_import: [{ domain: "", version: 18 }],
    graph: { name: "squares", node: nodes, initializer: [{ name: "axes", data_type: I64, dims: [1], int64_data: [axis] }, { name: "two", data_type: F, dims: [], float_data: [2] }], input: [vi("x", dims)], output: [vi("y")] },
  }).finish();
}

/** "abcd,abcd->abd" for a sum over axis 2 (negative axes from the end). */
function einsum(rank: number, axis: number): string {
  const letters = "abcdefgh".slice(0, rank);
  const a = axis < 0 ? rank + axis : axis;
  return `${letters},${letters}->${letters.slice(0, a)}${letters.slice(a + 1)}`;
}

function variants(dims: number[], axis: number): Record<string, Uint8Array> {
  const keep = [{ name: "keepdims", type: INT, i: 0 }];
  const reduce = (op: string, x: string): onnx.INodeProto => ({ op_type: op, input: [x, "axes"], output: ["y"], attribute: keep });
  return {
    "ReduceSum": graph(dims, axis, [reduce("ReduceSum", "x")]),
    "Mul + ReduceSum": graph(dims, axis, [{ op_type: "Mul", input: ["x", "x"], output: ["sq"] }, reduce("ReduceSum", "sq")]),
    "ReduceSumSquare": graph(dims, axis, [reduce("ReduceSumSquare", "x")]),
    "ReduceL2": graph(dims, axis, [reduce("ReduceL2", "x")]),
    "Pow + ReduceSum": graph(dims, axis, [{ op_type: "Pow", input: ["x", "two"], output: ["sq"] }, reduce("ReduceSum", "sq")]),
    "Einsum": graph(dims, axis, [{ op_type: "Einsum", input: ["x", "x"], output: ["y"], attribute: [{ name: "equation", type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(einsum(dims.length, axis)) }] }]),
  };
}

async function measure(spec: string): Promise<string> {
  const [shape, axisText] = spec.split(":");
  const dims = shape.split("x").map(Number);
  const axis = Number(axisText);
  if (dims.some((d) => !Number.isInteger(d) || d < 1) || !Number.isInteger(axis)) throw new RangeError(`invalid SHAPE:AXIS: ${spec}`);
  const n = dims.reduce((a, d) => a * d, 1);
  const x = new ort.Tensor("float32", Float32Array.from({ length: n }, (_, i) => 1.5 + Math.sin(i)), dims);
  const still = { session: { intra_op: { allow_spinning: "0" } } };
  const sessions: [string, ort.InferenceSession][] = [];
  for (const [name, bytes] of Object.entries(variants(dims, axis))) sessions.push([name, await ort.InferenceSession.create(bytes, { intraOpNumThreads: 2, interOpNumThreads: 1, extra: still })]);
  // About 50 ms of work per session per round.
  for (const [, s] of sessions) await s.run({ x });
  const t0 = performance.now();
  await sessions[2][1].run({ x });
  const reps = Math.max(3, Math.min(50, Math.round(50 / (performance.now() - t0))));
  const times = new Map<string, number[]>();
  for (let round = 0; round < 7; round++) {
    for (const [name, s] of sessions) {
      await s.run({ x });
      const t = performance.now();
      for (let i = 0; i < reps; i++) await s.run({ x });
      times.set(name, [...(times.get(name) ?? []), (performance.now() - t) / reps]);
    }
  }
  for (const [, s] of sessions) await s.release();
  const median = (v: number[]) => v.slice().sort((a, b) => a - b)[v.length >> 1];
  return `${shape} | ${axis} | ${sessions.map(([name]) => median(times.get(name)!).toFixed(3)).join(" | ")}`;
}

const specs = process.argv.slice(2);
console.log(`shape | axis | ${Object.keys(variants([1], 0)).join(" | ")} (ms per run)`);
for (const spec of specs.length ? specs : DEFAULTS) console.log(await measure(spec));
