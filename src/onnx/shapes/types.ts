/** What shape inference knows about tensors, and the small helpers the op rules share. */

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
  /** Whole shapes of named graph inputs, over the two above (the probe's [batch, C, H, W]). */
  inputs?: Record<string, number[]>;
}

/** A shape dimension after comparing two batch sizes: a number, "B", or "B*k". */
export type SymDim = number | string;

/** Tensors with at most this many elements carry their values through inference. */
export const SMALL = 64;

/** One node as an op rule sees it: its inputs' knowledge (undefined for omitted inputs) and data input 0 unpacked. */
export interface OpCall {
  op: string;
  attrs: Record<string, unknown>;
  ins: (Inferred | undefined)[];
  nOut: number;
  opset: number;
  /** Input 0, its shape and its elem_type (0 when unknown). */
  x: Inferred | undefined;
  xs: number[] | null;
  dt: number;
}

/** Shape (and small-value) transfer of one op type: what its outputs are, given its inputs. */
export type OpRule = (call: OpCall) => Inferred[];

/** Integer ONNX elem_types (int8…uint64), whose division truncates. */
export function isInt(t: number): boolean {
  return t === 6 || t === 7 || t === 5 || t === 3 || t === 2 || t === 4 || t === 12 || t === 13;
}

/** One output of unknown shape with input 0's type: what most rules give when an input shape is missing. */
export function unknownLike({ dt }: OpCall): Inferred[] {
  return [{ shape: null, dtype: dt }];
}

/** Numpy broadcasting of shapes; null when any is unknown. */
export function broadcast(shapes: (number[] | null)[]): number[] | null {
  if (shapes.some((s) => s === null)) return null;
  const rank = Math.max(...shapes.map((s) => s!.length));
  const out: number[] = [];
  for (let k = 0; k < rank; k++) {
    let d = 1;
    for (const s of shapes) {
      const v = s![s!.length - rank + k] ?? 1;
      // Two sizes other than 1 do not broadcast: unknown (onnxruntime refuses such a node).
      if (v !== 1 && d !== 1 && v !== d) return null;
      if (v !== 1) d = v;
    }
    out.push(d);
  }
  return out;
}

export function axisOf(a: number, rank: number) {
  return a < 0 ? a + rank : a;
}

/** Axes from input k (from opset `since` on) or the `axes` attribute: null when the input's value is unknown, undefined when absent. */
export function axesOf(call: OpCall, k: number, since: number): number[] | null | undefined {
  if (call.opset >= since) {
    const a = call.ins[k];
    if (!a) return undefined;
    return a.value ?? null;
  }
  return (call.attrs.axes as number[] | undefined) ?? undefined;
}

export function flatIndex(shape: readonly number[], idx: readonly number[]): number {
  let f = 0;
  for (let k = 0; k < shape.length; k++) f = f * shape[k] + idx[k];
  return f;
}

/** Values of a small tensor of `shape` whose element at a multi-index is source[at(index)]. */
export function gatherIndex(shape: readonly number[], at: (idx: number[]) => number, source: readonly number[]): number[] | undefined {
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
