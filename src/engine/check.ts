/**
 * Checks the taps an analysis asks for against the runtime shapes of the model's tensors before
 * they are appended to its graph (issue 14, item 6): a tap whose nodes would fail inside
 * onnxruntime (a MatMul whose inner dimensions differ, a Concat of maps of different shapes)
 * means the analysis cannot apply to that model as it is understood; the analysis is skipped
 * for that model with the reason, instead of onnxruntime rejecting "the model" for a node
 * seelike appended.
 *
 * The check runs the shape rules of src/onnx/shapes over the tap's own nodes, fed with the shapes
 * of the probe run (src/plan/models.ts: every site tensor at batch 2), and adds what those rules
 * leave lenient: broadcasting, MatMul/Gemm inner dimensions, Concat's other axes, Reshape's
 * element count, Gather's index range.
 */
import { onnx } from "../onnx/proto/onnx.js";
import { inferNode, type Inferred } from "../onnx/shapes.js";
import { tapGraph, tapName, type TapSpec } from "./taps.js";

const FLOAT = onnx.TensorProto.DataType.FLOAT;

function attrsOf(n: onnx.INodeProto): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of n.attribute ?? []) {
    const name = a.name ?? "";
    if (a.ints && a.ints.length) out[name] = a.ints.map(Number);
    else if (a.type === onnx.AttributeProto.AttributeType.INTS) out[name] = [];
    else if (a.type === onnx.AttributeProto.AttributeType.FLOAT) out[name] = a.f;
    else out[name] = Number(a.i ?? 0);
  }
  return out;
}

function initializerInfo(t: onnx.ITensorProto): Inferred {
  const dims = (t.dims ?? []).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const value = t.int64_data && t.int64_data.length && count <= 64 ? t.int64_data.map(Number) : undefined;
  return { shape: dims, dtype: t.data_type ?? FLOAT, ...(value ? { value } : {}) };
}

const show = (s: readonly number[]) => `[${s.join(", ")}]`;

/** Why onnxruntime would refuse node `op` on these input shapes, or undefined. */
function strictProblem(op: string, attrs: Record<string, unknown>, ins: (Inferred | undefined)[]): string | undefined {
  const shapes = ins.map((i) => i?.shape ?? null);
  if (["Mul", "Sub", "Div", "Add"].includes(op)) {
    const [a, b] = shapes;
    if (!a || !b) return undefined;
    for (let k = 1; k <= Math.min(a.length, b.length); k++) {
      const x = a[a.length - k], y = b[b.length - k];
      if (x !== y && x !== 1 && y !== 1) return `${op} of ${show(a)} and ${show(b)}: shapes do not broadcast`;
    }
  } else if (op === "MatMul") {
    const [a, b] = shapes;
    if (!a || !b || a.length < 2 || b.length < 2) return undefined;
    if (a[a.length - 1] !== b[b.length - 2]) return `MatMul of ${show(a)} by ${show(b)}: inner dimensions ${a[a.length - 1]} and ${b[b.length - 2]} differ`;
  } else if (op === "Gemm") {
    const [a, b] = shapes;
    if (!a || !b) return undefined;
    if (a.length !== 2 || b.length !== 2) return `Gemm of ${show(a)} by ${show(b)}: needs two matrices`;
    const ka = attrs.transA ? a[0] : a[1];
    const kb = attrs.transB ? b[1] : b[0];
    if (ka !== kb) return `Gemm of ${show(a)} by ${show(b)}${attrs.transB ? "ᵀ" : ""}: inner dimensions ${ka} and ${kb} differ`;
  } else if (op === "Concat") {
    const known = shapes.filter((s): s is number[] => s !== null);
    if (known.length < 2) return undefined;
    const r = known[0].length;
    const axis = ((attrs.axis as number) + r) % r;
    for (const s of known) {
      if (s.length !== r || s.some((d, k) => k !== axis && d !== known[0][k])) return `Concat on axis ${attrs.axis} of ${show(known[0])} and ${show(s)}: the other dimensions differ`;
    }
  } else if (op === "Reshape") {
    const [x, t] = [shapes[0], ins[1]?.value];
    if (!x || !t) return undefined;
    const total = x.reduce((a, b) => a * b, 1);
    const target = t.map((d, k) => (d === 0 ? x[k] : d));
    const rest = target.reduce((a, b) => (b === -1 ? a : a * b), 1);
    if (target.includes(-1) ? total % rest !== 0 : total !== rest) return `Reshape of ${show(x)} (${total} values) to ${show(t)}`;
  } else if (op === "Gather") {
    const [x] = shapes;
    const idx = ins[1]?.value;
    if (!x || !idx) return undefined;
    const axis = (((attrs.axis as number) ?? 0) + x.length) % x.length;
    const bad = idx.find((i) => i >= x[axis] || i < -x[axis]);
    if (bad !== undefined) return `Gather of index ${bad} on axis ${axis} of ${show(x)}`;
  } else if (op === "Transpose") {
    const [x] = shapes;
    const perm = attrs.perm as number[] | undefined;
    if (x && perm && perm.length !== x.length) return `Transpose of ${show(x)} with perm ${show(perm)}`;
  } else if (op.startsWith("Reduce")) {
    const [x] = shapes;
    const axes = (attrs.axes as number[] | undefined) ?? ins[1]?.value;
    if (x && axes?.some((a) => a >= x.length || a < -x.length)) return `${op} over axes ${show(axes)} of ${show(x)}`;
  }
  return undefined;
}

/**
 * Why tap `spec` cannot be built on tensors of these shapes (one line naming the node, its op and
 * shapes), or undefined when every node of it checks. `shapes` are runtime shapes (any batch).
 *
 * @example tapProblem({ kind: "norms", tensor: "x", layout: "BTD" }, 14, new Map([["x", [2, 197, 768]]])) // undefined
 */
export function tapProblem(spec: TapSpec, opset: number, shapes: ReadonlyMap<string, readonly number[]>): string | undefined {
  // A tensor the probe run did not expose has no shape here: its nodes are checked as far as
  // the shape rules go (unknown shapes pass), and onnxruntime's own checks still apply.
  let g;
  try {
    g = tapGraph([spec], opset);
  } catch (e) {
    return (e as Error).message; // the builder's own refusal, e.g. "invalid tokens: cls (the model has no CLS token)"
  }
  const known = new Map<string, Inferred>();
  for (const [name, s] of shapes) known.set(name, { shape: [...s], dtype: FLOAT });
  for (const t of g.initializers) known.set(t.name ?? "", initializerInfo(t));
  for (const n of g.nodes) {
    const ins = (n.input ?? []).map((t) => known.get(t));
    const attrs = attrsOf(n);
    const problem = strictProblem(n.op_type ?? "", attrs, ins);
    if (problem) return `node ${n.name}: ${problem}`;
    let outs: Inferred[];
    try {
      outs = inferNode(n.op_type ?? "", attrs, ins, (n.output ?? []).length, opset);
    } catch (e) {
      return `node ${n.name}: ${(e as Error).message}`;
    }
    (n.output ?? []).forEach((o, k) => known.set(o, outs[k] ?? { shape: null, dtype: 0 }));
  }
  return undefined;
}

/**
 * The first problem of a list of taps (checked once per output name), or undefined.
 * @example tapsProblem(driver.taps("main", 0), 14, geometry.shapes)
 */
export function tapsProblem(specs: readonly TapSpec[], opset: number, shapes: ReadonlyMap<string, readonly number[]>): string | undefined {
  const seen = new Set<string>();
  for (const s of specs) {
    const key = tapName(s);
    if (seen.has(key)) continue;
    seen.add(key);
    const p = tapProblem(s, opset, shapes);
    if (p) return p;
  }
  return undefined;
}
