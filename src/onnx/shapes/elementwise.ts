/** Rules of ops that keep their input's shape or broadcast their inputs, and constants. */
import type { onnx } from "../proto/onnx.js";
import { num, tensorValues } from "../model.js";
import { axisOf, broadcast, isInt, SMALL, type Inferred, type OpCall, type OpRule } from "./types.js";

const UNARY = [
  "Relu", "Gelu", "Erf", "Sqrt", "Sigmoid", "Tanh", "Identity", "Neg", "Exp", "Log", "Abs", "Reciprocal", "Dropout",
  "Softmax", "LogSoftmax", "BatchNormalization", "Clip", "HardSigmoid", "HardSwish", "LeakyRelu", "Not", "Floor",
  "Ceil", "Round", "Elu", "Selu", "Softplus", "Softsign", "Sin", "Cos", "Mish", "InstanceNormalization",
  "LayerNormalization", "LpNormalization", "Sign", "IsNaN", "QuickGelu", "FastGelu", "BiasGelu", "SimplifiedLayerNormalization",
];
/** Ops whose output 0 has the shape and type of input 0. */
const SAME_AS_DATA = ["ScatterND", "ScatterElements", "Scatter", "CumSum", "Trilu", "RandomNormalLike", "RandomUniformLike", "Celu", "ThresholdedRelu", "Shrink", "Hardmax", "DequantizeLinear", "QuantizeLinear"];
const BINARY = ["Add", "Sub", "Mul", "Div", "Pow", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Max", "Min", "PRelu", "Mod", "Where", "Sum", "Mean"];
const BOOL_OUT = new Set(["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor", "Not", "IsNaN"]);

/** Element values of a broadcast op on small known inputs (undefined for ops not evaluated). */
function elementwise(op: string, vals: number[][], int: boolean): number[] | undefined {
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
      case "Div": r = int ? Math.trunc(a / b) : a / b; break;
      case "Pow": r = a ** b; break;
      case "Equal": r = a === b ? 1 : 0; break;
      case "Greater": r = a > b ? 1 : 0; break;
      case "Less": r = a < b ? 1 : 0; break;
      case "Max": r = Math.max(a, b); break;
      case "Min": r = Math.min(a, b); break;
      case "Mod": r = int ? ((a % b) + b) % b : a % b; break;
      case "Where": r = a ? b : at(vals[2], i); break;
      default: return undefined;
    }
    out.push(r);
  }
  return out;
}

function constant({ attrs }: OpCall) {
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

/** Shape of input 0; LayerNormalization also gives its mean and inverse-std outputs. */
function unary({ op, attrs, x, xs, dt }: OpCall) {
  const out: Inferred[] = [{ shape: xs, dtype: BOOL_OUT.has(op) ? 9 : dt, value: op === "Identity" ? x?.value : undefined }];
  if (op === "LayerNormalization" && xs) {
    const axis = axisOf((attrs.axis as number | undefined) ?? -1, xs.length);
    const red = xs.map((d, k) => (k >= axis ? 1 : d));
    out.push({ shape: red, dtype: 1 }, { shape: red, dtype: 1 });
  }
  return out;
}

function sameAsData({ op, xs, dt }: OpCall) {
  return [{ shape: xs, dtype: op === "DequantizeLinear" ? 1 : dt }];
}

function cast({ attrs, x, xs }: OpCall) {
  const to = attrs.to as number;
  return [{ shape: xs, dtype: to, value: x?.value ? (isInt(to) ? x.value.map(Math.trunc) : x.value) : undefined }];
}

function binary({ op, ins, dt }: OpCall) {
  const shape = broadcast(ins.map((i) => i?.shape ?? null));
  const outType = BOOL_OUT.has(op) ? 9 : op === "Where" ? ins[1]?.dtype ?? 0 : dt || ins[1]?.dtype || 0;
  let value: number[] | undefined;
  if (ins.every((i) => i?.value) && shape && shape.reduce((a, b) => a * b, 1) <= SMALL) {
    value = elementwise(op, ins.map((i) => i!.value!), isInt(outType));
  }
  return [{ shape, dtype: outType, value }];
}

export const elementwiseRules: [string, OpRule][] = [
  ["Constant", constant],
  ...UNARY.map((op) => [op, unary] as [string, OpRule]),
  ...SAME_AS_DATA.map((op) => [op, sameAsData] as [string, OpRule]),
  ["Cast", cast],
  ...BINARY.map((op) => [op, binary] as [string, OpRule]),
];
