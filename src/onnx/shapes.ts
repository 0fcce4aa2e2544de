/**
 * Static shape inference for site geometry. Exporters compute shapes at run time
 * (Shape → Gather → Concat → Reshape), so small integer tensors are evaluated along the way.
 * The batch is a concrete number here; `symbolicShapes` runs two batches to tell which dims
 * scale with it. Unknown ops give unknown (null) shapes downstream, never an error.
 */
import type { onnx } from "./proto/onnx.js";
import { type OnnxModel, initializerValues, num, tensorValues } from "./model.js";

/** What inference knows about one tensor. */
export interface Inferred {
  /** Concrete shape, or null when unknown. */
  shape: number[] | null;
  /** ONNX elem_type (0 when unknown). */
  dtype: number;
  /** Element values of small tensors (≤ 64 elements), when known. */
  value?: number[];
}

/** Options of inferShapes. */
export interface InferOptions {
  /** Batch size substituted for the symbolic batch dim. Default 1. */
  batch?: number;
  /** Image side substituted for symbolic H/W. Default 224. */
  imageSize?: number;
}

const SMALL = 64;
const UNARY = new Set([
  "Relu", "Gelu", "Erf", "Sqrt", "Sigmoid", "Tanh", "Identity", "Neg", "Exp", "Log", "Abs", "Reciprocal", "Dropout",
  "Softmax", "LogSoftmax", "BatchNormalization", "Clip", "HardSigmoid", "HardSwish", "LeakyRelu", "Not", "Floor",
  "Ceil", "Round", "Elu", "Selu", "Softplus", "Softsign", "Sin", "Cos", "Mish", "InstanceNormalization",
  "LayerNormalization", "LpNormalization", "Sign", "IsNaN", "QuickGelu", "FastGelu", "BiasGelu", "SimplifiedLayerNormalization",
]);
/** Ops whose output 0 has the shape and type of input 0. */
const SAME_AS_DATA = new Set(["ScatterND", "ScatterElements", "Scatter", "CumSum", "Trilu", "RandomNormalLike", "RandomUniformLike", "Celu", "ThresholdedRelu", "Shrink", "Hardmax", "DequantizeLinear", "QuantizeLinear"]);
const BINARY = new Set(["Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Max", "Min", "PRelu", "Mod", "Where", "Sum", "Mean"]);
const BOOL_OUT = new Set(["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not", "IsNaN"]);

/**
 * Infers shapes (and small values) of every tensor with the batch and image size made concrete.
 * Uses declared value_info where inference knows nothing.
 *
 * @example
 * const shapes = inferShapes(model, { batch: 1 });
 * shapes.get("/encoder/Add_output_0")?.shape; // [1, 197, 768]
 */
export function inferShapes(model: OnnxModel, options: InferOptions = {}): Map<string, Inferred> {
  const batch = options.batch ?? 1;
  const side = options.imageSize ?? 224;
  const known = new Map<string, Inferred>();
  for (const init of model.initializers.values()) {
    const count = init.dims.reduce((a, b) => a * b, 1);
    const entry: Inferred = { shape: [...init.dims], dtype: init.dataType };
    if (count <= SMALL) {
      const v = initializerValues(model, init.name, SMALL);
      if (v) entry.value = v;
    }
    known.set(init.name, entry);
  }
  for (const inp of model.inputs) {
    const shape = inp.shape ? inp.shape.map((d, i) => (typeof d === "number" && d > 0 ? d : i === 0 ? batch : inp.shape!.length === 4 && i === 1 ? 3 : side)) : null;
    known.set(inp.name, { shape, dtype: inp.elemType });
  }
  for (const i of model.graph.order) {
    const n = model.nodes[i];
    let outs: Inferred[];
    try {
      outs = inferNode(n.opType, n.attrs, n.inputs.map((t) => (t === "" ? undefined : known.get(t))), n.outputs.length, model.opset);
    } catch {
      outs = [];
    }
    n.outputs.forEach((o, k) => {
      let r = outs[k] ?? { shape: null, dtype: 0 };
      if (r.shape === null) {
        const vi = model.valueInfo.get(o) ?? model.outputs.find((v) => v.name === o);
        if (vi?.shape && vi.shape.every((d) => typeof d === "number")) r = { shape: vi.shape as number[], dtype: vi.elemType || r.dtype };
      }
      if (r.value && r.value.length > SMALL) delete r.value;
      known.set(o, r);
    });
  }
  return known;
}

/** A shape dimension after comparing two batch sizes: a number, "B", or "B*k". */
export type SymDim = number | string;

/**
 * Shapes with batch-dependent dims made symbolic: inference runs at batch 1 and 2, and a dim
 * that doubles becomes "B" (or "B*k" when heads are merged into the batch).
 *
 * @example
 * symbolicShapes(model).get(probs); // ["B*12", 197, 197]
 */
export function symbolicShapes(model: OnnxModel, options: InferOptions = {}): { one: Map<string, Inferred>; sym: Map<string, SymDim[] | null> } {
  const one = inferShapes(model, { ...options, batch: 1 });
  const two = inferShapes(model, { ...options, batch: 2 });
  const sym = new Map<string, SymDim[] | null>();
  for (const [name, a] of one) {
    const b = two.get(name);
    if (!a.shape || !b?.shape || a.shape.length !== b.shape.length) {
      sym.set(name, a.shape);
      continue;
    }
    sym.set(name, a.shape.map((d, k) => (b.shape![k] === d ? d : b.shape![k] === 2 * d ? (d === 1 ? "B" : `B*${d}`) : d)));
  }
  return { one, sym };
}

type In = Inferred | undefined;

function broadcast(shapes: (number[] | null)[]): number[] | null {
  if (shapes.some((s) => s === null)) return null;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    let d = 1;
    for (const s of shapes) {
      const v = s![s!.length - rank + k] ?? 1;
      if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}

function axisOf(a: number, rank: number) {
  return a < 0 ? a + rank : a;
}

function elementwise(op: string, vals: number[][], isInt: boolean): number[] | undefined {
  const len = Math.max(...vals.map((v) => v.length));
  if (vals.some((v) => v.length !== len && v.length !== 1)) return undefined;
  const at = (v: number[], i: number) => (v.length === 1 ? v[0] : v[i]);
  const out: number[] = [];
  for (let i = 0; i < len; i++) {
    const a = at(vals[0], i);
    const b = vals[1] ? at(vals[1], i) : 0;
    let r: number;
    switch (op) {
      case "Add": r = a + b; break;
      case "Sub": r = a - b; break;
      case "Mul": r = a * b; break;
      case "Div": r = isInt ? Math.trunc(a / b) : a / b; break;
      case "Pow": r = a ** b; break;
      case "Equal": r = a === b ? 1 : 0; break;
      case "Greater": r = a > b ? 1 : 0; break;
      case "Less": r = a < b ? 1 : 0; break;
      case "Max": r = Math.max(a, b); break;
      case "Min": r = Math.min(a, b); break;
      case "Mod": r = isInt ? ((a % b) + b) % b : a % b; break;
      case "Where": r = a ? b : at(vals[2], i); break;
      default: return undefined;
    }
    out.push(r);
  }
  return out;
}

function axesOf(attrs: Record<string, unknown>, ins: In[], k: number, opset: number, since: number): number[] | null | undefined {
  if (opset >= since) {
    const a = ins[k];
    if (!a) return undefined;
    return a.value ?? null;
  }
  return (attrs.axes as number[] | undefined) ?? undefined;
}

function flatIndex(shape: readonly number[], idx: readonly number[]): number {
  let f = 0;
  for (let k = 0; k < shape.length; k++) f = f * shape[k] + idx[k];
  return f;
}

/** Values of a small tensor of `shape` whose element at a multi-index is source[at(index)]. */
function gatherIndex(shape: readonly number[], at: (idx: number[]) => number, source: readonly number[]): number[] | undefined {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > SMALL) return undefined;
  const out: number[] = [];
  const idx = new Array(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    out.push(source[at(idx)]);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

function poolOut(inp: number, k: number, s: number, d: number, pb: number, pe: number, ceil: boolean) {
  const x = (inp + pb + pe - d * (k - 1) - 1) / s;
  return (ceil ? Math.ceil(x) : Math.floor(x)) + 1;
}

/** Shape/value transfer for one node; exported for tests of single ops. */
export function inferNode(op: string, attrs: Record<string, unknown>, ins: In[], nOut: number, opset: number): Inferred[] {
  const x = ins[0];
  const xs = x?.shape ?? null;
  const dt = x?.dtype ?? 0;
  const isInt = (t: number) => t === 6 || t === 7 || t === 5 || t === 3 || t === 2 || t === 4 || t === 12 || t === 13;
  const same = (): Inferred[] => [{ shape: xs, dtype: dt, value: op === "Identity" ? x?.value : undefined }];

  if (op === "Constant") {
    const t = attrs.value as onnx.TensorProto | undefined;
    if (t) {
      const shape = t.dims.map(num);
      const count = shape.reduce((a, b) => a * b, 1);
      return [{ shape, dtype: t.data_type, value: count <= SMALL ? tensorValues(t, SMALL) ?? undefined : undefined }];
    }
    if (typeof attrs.value_int === "number") return [{ shape: [], dtype: 7, value: [attrs.value_int] }];
    if (Array.isArray(attrs.value_ints)) return [{ shape: [attrs.value_ints.length], dtype: 7, value: attrs.value_ints as number[] }];
    if (typeof attrs.value_float === "number") return [{ shape: [], dtype: 1, value: [attrs.value_float] }];
    if (Array.isArray(attrs.value_floats)) return [{ shape: [attrs.value_floats.length], dtype: 1, value: attrs.value_floats as number[] }];
    return [{ shape: null, dtype: 0 }];
  }
  if (UNARY.has(op)) {
    const out = same();
    if (BOOL_OUT.has(op)) out[0].dtype = 9;
    if (op === "LayerNormalization" && xs) {
      const axis = axisOf((attrs.axis as number | undefined) ?? -1, xs.length);
      const red = xs.map((d, k) => (k >= axis ? 1 : d));
      out.push({ shape: red, dtype: 1 }, { shape: red, dtype: 1 });
    }
    return out;
  }
  if (SAME_AS_DATA.has(op)) return [{ shape: xs, dtype: op === "DequantizeLinear" ? 1 : dt }];
  if (op === "Cast") {
    const to = attrs.to as number;
    return [{ shape: xs, dtype: to, value: x?.value ? (isInt(to) ? x.value.map(Math.trunc) : x.value) : undefined }];
  }
  if (BINARY.has(op)) {
    const shapes = ins.map((i) => i?.shape ?? null);
    const shape = broadcast(shapes);
    const outType = BOOL_OUT.has(op) ? 9 : op === "Where" ? ins[1]?.dtype ?? 0 : dt || ins[1]?.dtype || 0;
    let value: number[] | undefined;
    if (ins.every((i) => i?.value) && shape && shape.reduce((a, b) => a * b, 1) <= SMALL) {
      value = elementwise(op, ins.map((i) => i!.value!), isInt(outType));
    }
    return [{ shape, dtype: outType, value }];
  }
  if (op === "Shape") {
    if (!xs) return [{ shape: null, dtype: 7 }];
    const r = xs.length;
    const s = axisOf((attrs.start as number | undefined) ?? 0, r);
    const e = attrs.end === undefined ? r : axisOf(attrs.end as number, r);
    const v = xs.slice(Math.max(0, s), Math.min(r, e));
    return [{ shape: [v.length], dtype: 7, value: v }];
  }
  if (op === "Size") return [{ shape: [], dtype: 7, value: xs ? [xs.reduce((a, b) => a * b, 1)] : undefined }];
  if (op === "Gather") {
    const idx = ins[1];
    if (!xs || !idx?.shape) return [{ shape: null, dtype: dt }];
    const axis = axisOf((attrs.axis as number | undefined) ?? 0, xs.length);
    const shape = [...xs.slice(0, axis), ...idx.shape, ...xs.slice(axis + 1)];
    let value: number[] | undefined;
    if (x?.value && idx.value && xs.length === 1) value = idx.value.map((i) => x.value![i < 0 ? i + xs[0] : i]);
    return [{ shape, dtype: dt, value }];
  }
  if (op === "Unsqueeze" || op === "Squeeze") {
    if (!xs) return [{ shape: null, dtype: dt }];
    const axes = axesOf(attrs, ins, 1, opset, 13);
    if (axes === null) return [{ shape: null, dtype: dt }];
    let shape: number[];
    if (op === "Unsqueeze") {
      const r = xs.length + (axes?.length ?? 0);
      const ax = new Set((axes ?? []).map((a) => axisOf(a, r)));
      shape = [];
      let j = 0;
      for (let k = 0; k < r; k++) shape.push(ax.has(k) ? 1 : xs[j++]);
    } else {
      const ax = axes === undefined ? new Set(xs.map((d, k) => (d === 1 ? k : -1))) : new Set(axes.map((a) => axisOf(a, xs.length)));
      shape = xs.filter((_, k) => !ax.has(k));
    }
    return [{ shape, dtype: dt, value: x?.value }];
  }
  if (op === "Concat") {
    const shapes = ins.map((i) => i?.shape ?? null);
    if (shapes.some((s) => s === null)) return [{ shape: null, dtype: dt }];
    const r = shapes[0]!.length;
    const axis = axisOf(attrs.axis as number, r);
    const shape = [...shapes[0]!];
    shape[axis] = shapes.reduce((a, s) => a + s![axis], 0);
    const value = ins.every((i) => i?.value) && r <= 1 ? ins.flatMap((i) => i!.value!) : undefined;
    return [{ shape, dtype: dt, value }];
  }
  if (op === "Reshape") {
    const target = ins[1]?.value;
    if (!target) return [{ shape: null, dtype: dt }];
    const shape = target.map((d, k) => (d === 0 && !attrs.allowzero ? xs?.[k] ?? -1 : d));
    const neg = shape.indexOf(-1);
    if (neg >= 0) {
      if (!xs) return [{ shape: null, dtype: dt }];
      const total = xs.reduce((a, b) => a * b, 1);
      const rest = shape.reduce((a, b, k) => (k === neg ? a : a * b), 1);
      shape[neg] = total / rest;
    }
    return [{ shape, dtype: dt, value: x?.value }];
  }
  if (op === "Flatten") {
    if (!xs) return [{ shape: null, dtype: dt }];
    const axis = axisOf((attrs.axis as number | undefined) ?? 1, xs.length);
    return [{ shape: [xs.slice(0, axis).reduce((a, b) => a * b, 1), xs.slice(axis).reduce((a, b) => a * b, 1)], dtype: dt, value: x?.value }];
  }
  if (op === "Transpose") {
    if (!xs) return [{ shape: null, dtype: dt }];
    const perm = (attrs.perm as number[] | undefined) ?? xs.map((_, k) => xs.length - 1 - k);
    const shape = perm.map((p) => xs[p]);
    let value: number[] | undefined;
    if (x?.value) value = gatherIndex(shape, (idx) => flatIndex(xs, perm.map((_, k) => idx[perm.indexOf(k)])), x.value);
    return [{ shape, dtype: dt, value }];
  }
  if (op === "MatMul") {
    const a = xs;
    const b = ins[1]?.shape ?? null;
    if (!a || !b) return [{ shape: null, dtype: dt }];
    const a2 = a.length === 1 ? [1, a[0]] : a;
    const b2 = b.length === 1 ? [b[0], 1] : b;
    const batchShape = broadcast([a2.slice(0, -2), b2.slice(0, -2)])!;
    const shape = [...batchShape, a2[a2.length - 2], b2[b2.length - 1]];
    if (a.length === 1) shape.splice(shape.length - 2, 1);
    if (b.length === 1) shape.pop();
    return [{ shape, dtype: dt }];
  }
  if (op === "Gemm") {
    const a = xs;
    const b = ins[1]?.shape ?? null;
    if (!a || !b) return [{ shape: null, dtype: dt }];
    return [{ shape: [attrs.transA ? a[1] : a[0], attrs.transB ? b[0] : b[1]], dtype: dt }];
  }
  if (op === "Conv" || op === "MaxPool" || op === "AveragePool" || op === "LpPool") {
    if (!xs) return [{ shape: null, dtype: dt }];
    const nsp = xs.length - 2;
    const w = ins[1]?.shape ?? null;
    const kernel = (attrs.kernel_shape as number[] | undefined) ?? (op === "Conv" && w ? w.slice(2) : null);
    if (!kernel) return [{ shape: null, dtype: dt }];
    const strides = (attrs.strides as number[] | undefined) ?? kernel.map(() => 1);
    const dil = (attrs.dilations as number[] | undefined) ?? kernel.map(() => 1);
    const pads = (attrs.pads as number[] | undefined) ?? new Array(2 * nsp).fill(0);
    const autoPad = (attrs.auto_pad as string | undefined) ?? "NOTSET";
    const ceil = Boolean(attrs.ceil_mode);
    const spatial = xs.slice(2).map((d, k) => {
      if (autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") return Math.ceil(d / strides[k]);
      if (autoPad === "VALID") return Math.floor((d - dil[k] * (kernel[k] - 1) - 1) / strides[k]) + 1;
      return poolOut(d, kernel[k], strides[k], dil[k], pads[k], pads[k + nsp], ceil);
    });
    const c = op === "Conv" ? (w ? w[0] : null) : xs[1];
    if (c === null) return [{ shape: null, dtype: dt }];
    const out: Inferred[] = [{ shape: [xs[0], c, ...spatial], dtype: dt }];
    if (nOut > 1) out.push({ shape: [xs[0], c, ...spatial], dtype: 7 });
    return out;
  }
  if (op === "GlobalAveragePool" || op === "GlobalMaxPool") {
    if (!xs) return [{ shape: null, dtype: dt }];
    return [{ shape: [xs[0], xs[1], ...xs.slice(2).map(() => 1)], dtype: dt }];
  }
  if (op.startsWith("Reduce") || op === "ArgMax" || op === "ArgMin") {
    if (!xs) return [{ shape: null, dtype: dt }];
    const keep = (attrs.keepdims as number | undefined) ?? 1;
    let axes: number[] | null | undefined;
    if (op === "ArgMax" || op === "ArgMin") axes = [(attrs.axis as number | undefined) ?? 0];
    else axes = axesOf(attrs, ins, 1, opset, op === "ReduceSum" ? 13 : 18);
    if (axes === null) return [{ shape: null, dtype: dt }];
    const all = axes === undefined || axes.length === 0;
    if (all && attrs.noop_with_empty_axes) return same();
    const ax = new Set(all ? xs.map((_, k) => k) : axes!.map((a) => axisOf(a, xs.length)));
    const shape = keep ? xs.map((d, k) => (ax.has(k) ? 1 : d)) : xs.filter((_, k) => !ax.has(k));
    return [{ shape, dtype: op.startsWith("Arg") ? 7 : dt }];
  }
  if (op === "Slice") {
    if (!xs) return [{ shape: null, dtype: dt }];
    let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
    if (opset < 10) {
      starts = attrs.starts as number[];
      ends = attrs.ends as number[];
      axes = attrs.axes as number[] | undefined;
    } else {
      starts = ins[1]?.value;
      ends = ins[2]?.value;
      axes = ins[3] ? ins[3].value : undefined;
      steps = ins[4] ? ins[4].value : undefined;
      if (!starts || !ends || (ins[3] && !axes) || (ins[4] && !steps)) return [{ shape: null, dtype: dt }];
    }
    const shape = [...xs];
    const ranges: [number, number, number][] = xs.map((d) => [0, d, 1]);
    starts!.forEach((s0, j) => {
      const a = axisOf(axes ? axes[j] : j, xs.length);
      const d = xs[a];
      const step = steps ? steps[j] : 1;
      const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
      let s = s0 < 0 ? s0 + d : s0;
      let e = ends![j] < 0 ? ends![j] + d : ends![j];
      if (step > 0) {
        s = clamp(s, 0, d);
        e = clamp(e, 0, d);
        shape[a] = Math.max(0, Math.ceil((e - s) / step));
      } else {
        s = clamp(s, 0, d - 1);
        e = clamp(e, -1, d - 1);
        shape[a] = Math.max(0, Math.ceil((s - e) / -step));
      }
      ranges[a] = [s, e, step];
    });
    let value: number[] | undefined;
    if (x?.value) value = gatherIndex(shape, (idx) => flatIndex(xs, idx.map((i, k) => ranges[k][0] + i * ranges[k][2])), x.value);
    return [{ shape, dtype: dt, value }];
  }
  if (op === "Expand") {
    const target = ins[1]?.value;
    if (!xs || !target) return [{ shape: null, dtype: dt }];
    return [{ shape: broadcast([xs, target]), dtype: dt }];
  }
  if (op === "Tile") {
    const reps = ins[1]?.value;
    if (!xs || !reps) return [{ shape: null, dtype: dt }];
    return [{ shape: xs.map((d, k) => d * reps[k]), dtype: dt }];
  }
  if (op === "ConstantOfShape") {
    const target = ins[0]?.value;
    const t = attrs.value as onnx.TensorProto | undefined;
    const dtype = t ? t.data_type : 1;
    if (!target) return [{ shape: null, dtype }];
    const count = target.reduce((a, b) => a * b, 1);
    const fill = t ? tensorValues(t)?.[0] ?? 0 : 0;
    return [{ shape: target, dtype, value: count <= SMALL ? new Array(count).fill(fill) : undefined }];
  }
  if (op === "Range") {
    const [s, l, d] = ins.map((i) => i?.value?.[0]);
    if (s === undefined || l === undefined || d === undefined) return [{ shape: null, dtype: dt }];
    const n = Math.max(Math.ceil((l - s) / d), 0);
    const value = n <= SMALL ? Array.from({ length: n }, (_, i) => s + i * d) : undefined;
    return [{ shape: [n], dtype: dt, value }];
  }
  if (op === "Split") {
    if (!xs) return new Array(nOut).fill({ shape: null, dtype: dt });
    const axis = axisOf((attrs.axis as number | undefined) ?? 0, xs.length);
    let sizes = (attrs.split as number[] | undefined) ?? (opset >= 13 ? ins[1]?.value : undefined);
    if (!sizes) {
      const n = (attrs.num_outputs as number | undefined) ?? nOut;
      const each = Math.ceil(xs[axis] / n);
      sizes = Array.from({ length: n }, (_, k) => Math.min(each, xs[axis] - k * each));
    }
    return sizes.map((s) => ({ shape: xs.map((d, k) => (k === axis ? s : d)), dtype: dt }));
  }
  if (op === "Pad") {
    const pads = opset >= 11 ? ins[1]?.value : (attrs.pads as number[] | undefined);
    if (!xs || !pads) return [{ shape: null, dtype: dt }];
    return [{ shape: xs.map((d, k) => d + pads[k] + pads[k + xs.length]), dtype: dt }];
  }
  return new Array(nOut).fill(0).map(() => ({ shape: null, dtype: 0 }));
}
