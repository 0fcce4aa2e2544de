/** Rules of ops that contract, convolve, pool or reduce axes. */
import { axesOf, axisOf, broadcast, unknownLike, type Inferred, type OpCall, type OpRule } from "./types.js";

function matMul(call: OpCall): Inferred[] {
  const a = call.xs;
  const b = call.ins[1]?.shape ?? null;
  if (!a || !b) return unknownLike(call);
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const batchShape = broadcast([a2.slice(0, -2), b2.slice(0, -2)])!;
  const shape = [...batchShape, a2[a2.length - 2], b2[b2.length - 1]];
  if (a.length === 1) shape.splice(shape.length - 2, 1);
  if (b.length === 1) shape.pop();
  return [{ shape, dtype: call.dt }];
}

function gemm(call: OpCall): Inferred[] {
  const a = call.xs;
  const b = call.ins[1]?.shape ?? null;
  if (!a || !b) return unknownLike(call);
  return [{ shape: [call.attrs.transA ? a[1] : a[0], call.attrs.transB ? b[0] : b[1]], dtype: call.dt }];
}

function poolOut(inp: number, k: number, s: number, d: number, pb: number, pe: number, ceil: boolean) {
  const x = (inp + pb + pe - d * (k - 1) - 1) / s;
  return (ceil ? Math.ceil(x) : Math.floor(x)) + 1;
}

/** Conv and the windowed pools: output spatial size from kernel, strides, dilations, pads or auto_pad. */
function windowed(call: OpCall): Inferred[] {
  const { op, attrs, ins, nOut, xs, dt } = call;
  if (!xs) return unknownLike(call);
  const nsp = xs.length - 2;
  const w = ins[1]?.shape ?? null;
  const kernel = (attrs.kernel_shape as number[] | undefined) ?? (op === "Conv" && w ? w.slice(2) : null);
  if (!kernel) return unknownLike(call);
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
  if (c === null) return unknownLike(call);
  const out: Inferred[] = [{ shape: [xs[0], c, ...spatial], dtype: dt }];
  if (nOut > 1) out.push({ shape: [xs[0], c, ...spatial], dtype: 7 });
  return out;
}

function globalPool(call: OpCall): Inferred[] {
  const xs = call.xs;
  if (!xs) return unknownLike(call);
  return [{ shape: [xs[0], xs[1], ...xs.slice(2).map(() => 1)], dtype: call.dt }];
}

/** Reduce* (axes as input from opset 13 for ReduceSum, 18 for the rest) and ArgMax/ArgMin. */
export function reduce(call: OpCall): Inferred[] {
  const { op, attrs, xs, dt } = call;
  if (!xs) return unknownLike(call);
  const keep = (attrs.keepdims as number | undefined) ?? 1;
  let axes: number[] | null | undefined;
  if (op === "ArgMax" || op === "ArgMin") axes = [(attrs.axis as number | undefined) ?? 0];
  else axes = axesOf(call, 1, op === "ReduceSum" ? 13 : 18);
  if (axes === null) return unknownLike(call);
  const all = axes === undefined || axes.length === 0;
  if (all && attrs.noop_with_empty_axes) return [{ shape: xs, dtype: dt, value: undefined }];
  const ax = new Set(all ? xs.map((_, k) => k) : axes!.map((a) => axisOf(a, xs.length)));
  const shape = keep ? xs.map((d, k) => (ax.has(k) ? 1 : d)) : xs.filter((_, k) => !ax.has(k));
  return [{ shape, dtype: op.startsWith("Arg") ? 7 : dt }];
}

/** Einsum with explicit output ("bghid,bghjd->bghij", MaxViT's attention): each output letter's size from the operand that has it. */
function einsum(call: OpCall): Inferred[] {
  const m = /^([a-z,]+)->([a-z]*)$/i.exec(String(call.attrs.equation ?? "").replace(/\s+/g, ""));
  if (!m) return unknownLike(call);
  const terms = m[1].split(",");
  const sizes = new Map<string, number>();
  for (const [k, term] of terms.entries()) {
    const sh = call.ins[k]?.shape;
    if (!sh || sh.length !== term.length) return unknownLike(call);
    [...term].forEach((c, i) => {
      if (sh[i] !== 1 || !sizes.has(c)) sizes.set(c, sh[i]);
    });
  }
  const shape = [...m[2]].map((c) => sizes.get(c));
  if (shape.some((d) => d === undefined)) return unknownLike(call);
  return [{ shape: shape as number[], dtype: call.dt }];
}

export const computeRules: [string, OpRule][] = [
  ["MatMul", matMul],
  ["Einsum", einsum],
  ["Gemm", gemm],
  ...["Conv", "MaxPool", "AveragePool", "LpPool"].map((op) => [op, windowed] as [string, OpRule]),
  ["GlobalAveragePool", globalPool],
  ["GlobalMaxPool", globalPool],
  ...["ArgMax", "ArgMin"].map((op) => [op, reduce] as [string, OpRule]),
];
