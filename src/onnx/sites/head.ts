/** The pooling head: the classifier's input and how the last block's tokens are pooled into it. */
import { branchNodes } from "./walk.js";
import { WEIGHTED, type Ctx } from "./types.js";

const HEAD_ACTIVATIONS = new Set(["Relu", "HardSwish", "Gelu", "Tanh", "Clip", "Sigmoid", "Dropout", "Identity"]);

/**
 * Input of the classifier: the data input of the last weighted op before the logits, or of
 * the first Linear of an MLP classifier (MobileNetV3: Linear, Hardswish, Dropout, Linear), so
 * that `head.pre` is the pooled features in both.
 */
export function classifierInput(ctx: Ctx, logits: string): string | null {
  let t = logits;
  for (let k = 0; k < 4; k++) {
    const p = ctx.model.graph.producer.get(t);
    if (p === undefined) return null;
    const n = ctx.nodes[p];
    const dataIns = n.inputs.filter((x) => ctx.data.has(x));
    if (WEIGHTED.has(n.opType) && dataIns.length === 1) return mlpHeadInput(ctx, dataIns[0]);
    if (dataIns.length !== 1) return null;
    t = dataIns[0];
  }
  return null;
}

/** Back from a classifier's input through activation + Linear pairs on [B, C] features. */
function mlpHeadInput(ctx: Ctx, x: string): string {
  for (let layer = 0; layer < 3; layer++) {
    let t = x;
    let acts = 0;
    let n = ctx.nodes[ctx.model.graph.producer.get(t) ?? -1];
    while (n && HEAD_ACTIVATIONS.has(n.opType) && acts < 3) {
      t = n.inputs[0];
      acts++;
      n = ctx.nodes[ctx.model.graph.producer.get(t) ?? -1];
    }
    if (!n || acts === 0 || (n.opType !== "Gemm" && n.opType !== "MatMul")) return x;
    const dataIns = n.inputs.filter((i) => ctx.data.has(i));
    if (dataIns.length !== 1 || ctx.one.get(dataIns[0])?.shape?.length !== 2) return x;
    x = dataIns[0];
  }
  return x;
}

/** CLS pooling (Gather/Slice of token 0) or mean pooling (ReduceMean over tokens) after the last block. */
export function poolingOf(ctx: Ctx, lastOut: string, headPre: string | null): "cls" | "mean" | null {
  if (!headPre) return null;
  const nodes = branchNodes(ctx, lastOut, headPre);
  for (const k of nodes) {
    const n = ctx.nodes[k];
    const s = ctx.one.get(n.inputs[0])?.shape;
    if (!s || s.length !== 3) continue;
    if (n.opType === "Gather" && axisIs(n.attrs.axis as number | undefined, 1, 3)) {
      const idx = ctx.one.get(n.inputs[1])?.value;
      if (idx && idx.length === 1 && idx[0] === 0) return "cls";
    }
    if (n.opType === "Slice") {
      const starts = ctx.one.get(n.inputs[1])?.value;
      const ends = ctx.one.get(n.inputs[2])?.value;
      const axes = n.inputs[3] ? ctx.one.get(n.inputs[3])?.value : [0];
      if (starts && ends && axes && axes.length === 1 && axisIs(axes[0], 1, 3) && starts[0] === 0 && ends[0] === 1) return "cls";
    }
    if (n.opType === "ReduceMean") {
      const axes = (n.attrs.axes as number[] | undefined) ?? (n.inputs[1] ? ctx.one.get(n.inputs[1])?.value : undefined);
      if (axes && axes.length === 1 && axisIs(axes[0], 1, 3)) return "mean";
    }
  }
  return null;
}

function axisIs(a: number | undefined, want: number, rank: number): boolean {
  const v = a ?? 0;
  return (v < 0 ? v + rank : v) === want;
}
