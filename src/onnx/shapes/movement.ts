/**
 * Rules of ops that move, select or build elements without arithmetic on them: the shape
 * arithmetic exporters emit (Shape → Gather → Concat → Reshape) keeps its small values here.
 */
import type { onnx } from "../proto/onnx.js";
import { tensorValues } from "../model.js";
import { axesOf, axisOf, broadcast, flatIndex, gatherIndex, SMALL, unknownLike, type Inferred, type OpCall, type OpRule } from "./types.js";

function shapeOf({ attrs, xs }: OpCall): Inferred[] {
  if (!xs) return [{ shape: null, dtype: 7 }];
  const r = xs.length;
  const s = axisOf((attrs.start as number | undefined) ?? 0, r);
  const e = attrs.end === undefined ? r : axisOf(attrs.end as number, r);
  const v = xs.slice(Math.max(0, s), Math.min(r, e));
  return [{ shape: [v.length], dtype: 7, value: v }];
}

function size({ xs }: OpCall): Inferred[] {
  return [{ shape: [], dtype: 7, value: xs ? [xs.reduce((a, b) => a * b, 1)] : undefined }];
}

function gather(call: OpCall): Inferred[] {
  const { attrs, ins, x, xs, dt } = call;
  const idx = ins[1];
  if (!xs || !idx?.shape) return unknownLike(call);
  const axis = axisOf((attrs.axis as number | undefined) ?? 0, xs.length);
  const shape = [...xs.slice(0, axis), ...idx.shape, ...xs.slice(axis + 1)];
  let value: number[] | undefined;
  if (x?.value && idx.value && xs.length === 1) value = idx.value.map((i) => x.value![i < 0 ? i + xs[0] : i]);
  return [{ shape, dtype: dt, value }];
}

function squeezeOrUnsqueeze(call: OpCall): Inferred[] {
  const { op, x, xs, dt } = call;
  if (!xs) return unknownLike(call);
  const axes = axesOf(call, 1, 13);
  if (axes === null) return unknownLike(call);
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

function concat(call: OpCall): Inferred[] {
  const { attrs, ins, dt } = call;
  const shapes = ins.map((i) => i?.shape ?? null);
  if (shapes.some((s) => s === null)) return unknownLike(call);
  const r = shapes[0]!.length;
  const axis = axisOf(attrs.axis as number, r);
  const shape = [...shapes[0]!];
  shape[axis] = shapes.reduce((a, s) => a + s![axis], 0);
  const value = ins.every((i) => i?.value) && r <= 1 ? ins.flatMap((i) => i!.value!) : undefined;
  return [{ shape, dtype: dt, value }];
}

function reshape(call: OpCall): Inferred[] {
  const { attrs, ins, x, xs, dt } = call;
  const target = ins[1]?.value;
  if (!target) return unknownLike(call);
  const shape = target.map((d, k) => (d === 0 && !attrs.allowzero ? xs?.[k] ?? -1 : d));
  const neg = shape.indexOf(-1);
  if (neg >= 0) {
    if (!xs) return unknownLike(call);
    const total = xs.reduce((a, b) => a * b, 1);
    const rest = shape.reduce((a, b, k) => (k === neg ? a : a * b), 1);
    shape[neg] = total / rest;
  }
  return [{ shape, dtype: dt, value: x?.value }];
}

function flatten(call: OpCall): Inferred[] {
  const { attrs, x, xs, dt } = call;
  if (!xs) return unknownLike(call);
  const axis = axisOf((attrs.axis as number | undefined) ?? 1, xs.length);
  return [{ shape: [xs.slice(0, axis).reduce((a, b) => a * b, 1), xs.slice(axis).reduce((a, b) => a * b, 1)], dtype: dt, value: x?.value }];
}

function transpose(call: OpCall): Inferred[] {
  const { attrs, x, xs, dt } = call;
  if (!xs) return unknownLike(call);
  const perm = (attrs.perm as number[] | undefined) ?? xs.map((_, k) => xs.length - 1 - k);
  const shape = perm.map((p) => xs[p]);
  let value: number[] | undefined;
  if (x?.value) value = gatherIndex(shape, (idx) => flatIndex(xs, perm.map((_, k) => idx[perm.indexOf(k)])), x.value);
  return [{ shape, dtype: dt, value }];
}

function slice(call: OpCall): Inferred[] {
  const { attrs, ins, opset, x, xs, dt } = call;
  if (!xs) return unknownLike(call);
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
    if (!starts || !ends || (ins[3] && !axes) || (ins[4] && !steps)) return unknownLike(call);
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

function expand(call: OpCall): Inferred[] {
  const target = call.ins[1]?.value;
  if (!call.xs || !target) return unknownLike(call);
  return [{ shape: broadcast([call.xs, target]), dtype: call.dt }];
}

function tile(call: OpCall): Inferred[] {
  const reps = call.ins[1]?.value;
  const xs = call.xs;
  if (!xs || !reps) return unknownLike(call);
  return [{ shape: xs.map((d, k) => d * reps[k]), dtype: call.dt }];
}

function constantOfShape({ attrs, ins }: OpCall): Inferred[] {
  const target = ins[0]?.value;
  const t = attrs.value as onnx.TensorProto | undefined;
  const dtype = t ? t.data_type : 1;
  if (!target) return [{ shape: null, dtype }];
  const count = target.reduce((a, b) => a * b, 1);
  const fill = t ? tensorValues(t)?.[0] ?? 0 : 0;
  return [{ shape: target, dtype, value: count <= SMALL ? new Array(count).fill(fill) : undefined }];
}

function range(call: OpCall): Inferred[] {
  const [s, l, d] = call.ins.map((i) => i?.value?.[0]);
  if (s === undefined || l === undefined || d === undefined) return unknownLike(call);
  const n = Math.max(Math.ceil((l - s) / d), 0);
  const value = n <= SMALL ? Array.from({ length: n }, (_, i) => s + i * d) : undefined;
  return [{ shape: [n], dtype: call.dt, value }];
}

function split({ attrs, ins, nOut, opset, xs, dt }: OpCall): Inferred[] {
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

function pad(call: OpCall): Inferred[] {
  const { attrs, ins, opset, xs, dt } = call;
  const pads = opset >= 11 ? ins[1]?.value : (attrs.pads as number[] | undefined);
  if (!xs || !pads) return unknownLike(call);
  return [{ shape: xs.map((d, k) => d + pads[k] + pads[k + xs.length]), dtype: dt }];
}

export const movementRules: [string, OpRule][] = [
  ["Shape", shapeOf],
  ["Size", size],
  ["Gather", gather],
  ["Unsqueeze", squeezeOrUnsqueeze],
  ["Squeeze", squeezeOrUnsqueeze],
  ["Concat", concat],
  ["Reshape", reshape],
  ["Flatten", flatten],
  ["Transpose", transpose],
  ["Slice", slice],
  ["Expand", expand],
  ["Tile", tile],
  ["ConstantOfShape", constantOfShape],
  ["Range", range],
  ["Split", split],
  ["Pad", pad],
];
