/**
 * CNN units and stages: residual units (ResNet basic/bottleneck, RegNet and ResNeXt grouped
 * bottlenecks, ConvNeXt blocks, residual MBConv) and inverted-residual blocks without a skip
 * (an MBConv that changes width or stride), each found from the graph alone.
 */
import { isAncestor } from "../graph.js";
import type { NodeInfo } from "../model.js";
import { branchNodes, followThrough } from "./walk.js";
import type { BlockSites, CnnBlockType, Ctx, ModelSites, Residual } from "./types.js";

/** Ops that map one activation to one activation of the same shape (activations, unfolded BatchNorm). */
const UNARY = new Set(["Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Gelu", "Elu", "Selu", "Tanh", "Softplus", "Mish", "BatchNormalization", "Identity", "Dropout"]);
const GATES = new Set(["Sigmoid", "HardSigmoid", "Tanh"]);

interface Unit {
  input: string;
  out: string;
  /** Where the long branch ends (the residual's f(z), or the block output without a skip). */
  branchEnd: string;
  residual?: Residual;
}

export interface CnnUnits {
  blocks: BlockSites[];
  outRes: Residual[];
  stages: ModelSites["stages"];
  /** The first unit's input: the stem output. */
  stem: string | null;
  /** The most common unit type, or null without units. */
  blockType: CnnBlockType | null;
}

/**
 * Units in graph order; a new stage starts where the unit output's shape changes (ResNet's
 * layerN, EfficientNet's features.N, ConvNeXt's stages; MobileNetV3 has no stages of its own).
 * A depthwise convolution outside every residual branch marks an inverted-residual block
 * without a skip: its input is what the expansion reads, its output the linear projection.
 */
export function cnnUnits(ctx: Ctx, conv: Residual[], all: Residual[]): CnnUnits {
  const units: Unit[] = conv.map((r) => ({ input: r.source, out: postActivation(ctx, r.out), branchEnd: r.fz, residual: r }));
  const claimed = new Set<number>();
  for (const r of all) for (const k of branchNodes(ctx, r.source, r.fz)) claimed.add(k);
  for (const i of ctx.model.graph.order) {
    const n = ctx.nodes[i];
    if (!isDepthwise(ctx, n) || claimed.has(i) || !ctx.data.has(n.inputs[0])) continue;
    const input = blockInput(ctx, n);
    const end = projectionAfter(ctx, n);
    if (!end || units.some((u) => u.out === end)) continue;
    units.push({ input, out: postActivation(ctx, end), branchEnd: end });
  }
  const pos = (t: string) => ctx.model.graph.position[ctx.model.graph.producer.get(t) ?? -1] ?? -1;
  units.sort((a, b) => pos(a.out) - pos(b.out));

  const blocks: BlockSites[] = [];
  const outRes: Residual[] = [];
  const stages: ModelSites["stages"] = [];
  const types = new Map<CnnBlockType, number>();
  let stage = -1;
  let unit = 0;
  let prevShape = "";
  for (const u of units) {
    const shape = JSON.stringify(ctx.one.get(u.out)?.shape ?? null);
    if (shape !== prevShape) {
      stage++;
      unit = 0;
      stages.push({ index: stage, units: [], shape: ctx.sym.get(u.out) ?? null });
      prevShape = shape;
    }
    const name = `stages.${stage}.units.${unit++}`;
    stages[stage].units.push(name);
    const nodes = branchNodes(ctx, u.input, u.branchEnd).map((k) => ctx.nodes[k]);
    const type = unitType(ctx, nodes);
    types.set(type, (types.get(type) ?? 0) + 1);
    const r = u.residual;
    const sites: Record<string, string> = r ? { [`${name}.branch`]: r.fz, [`${name}.shortcut`]: r.z, [`${name}.out`]: u.out } : { [`${name}.out`]: u.out };
    blocks.push({ name, kind: "unit", stage, sites, unit: { type, residual: Boolean(r), squeezeExcitation: nodes.some((n) => isGlobalPool(ctx, n)) } });
    if (r) outRes.push({ ...r, block: name, sublayer: "unit" });
  }
  let blockType: CnnBlockType | null = null;
  for (const [t, c] of types) if (blockType === null || c > types.get(blockType)!) blockType = t;
  return { blocks, outRes, stages, stem: units[0]?.input ?? null, blockType };
}

/** The activation applied right after a residual sum or projection (ResNet: ReLU), or the tensor itself. */
function postActivation(ctx: Ctx, t: string): string {
  const cs = ctx.model.graph.consumers.get(t) ?? [];
  if (cs.length === 1) {
    const n = ctx.nodes[cs[0]];
    if (["Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "Gelu", "Elu"].includes(n.opType)) return n.outputs[0];
  }
  return t;
}

function weightShape(ctx: Ctx, n: NodeInfo): readonly number[] | null {
  return ctx.model.initializers.get(n.inputs[1])?.dims ?? ctx.one.get(n.inputs[1])?.shape ?? null;
}

/** A Conv with one input channel per group and more than one group. */
function isDepthwise(ctx: Ctx, n: NodeInfo): boolean {
  if (n.opType !== "Conv") return false;
  const group = (n.attrs.group as number | undefined) ?? 1;
  return group > 1 && weightShape(ctx, n)?.[1] === 1;
}

/** A pointwise (1×1, ungrouped) Conv: an expansion or a projection. */
function isPointwise(ctx: Ctx, n: NodeInfo): boolean {
  if (n.opType !== "Conv" || ((n.attrs.group as number | undefined) ?? 1) !== 1) return false;
  const w = weightShape(ctx, n);
  return Boolean(w && w.length === 4 && w[2] === 1 && w[3] === 1);
}

/** Global average pooling ([B,C,H,W] → [B,C,1,1]): the squeeze of squeeze-excitation. */
function isGlobalPool(ctx: Ctx, n: NodeInfo): boolean {
  if (n.opType === "GlobalAveragePool") return true;
  if (n.opType !== "ReduceMean") return false;
  const axes = (n.attrs.axes as number[] | undefined) ?? (n.inputs[1] ? ctx.one.get(n.inputs[1])?.value : undefined);
  return Boolean(axes && axes.length === 2 && axes.every((a) => a === 2 || a === 3 || a === -1 || a === -2) && ctx.one.get(n.inputs[0])?.shape?.length === 4 && (axes.includes(2) || axes.includes(-2)));
}

/** x·σ(x) (SiLU, and hard-swish at opsets before 14): the input the gate was computed from, else null. */
function selfGated(ctx: Ctx, n: NodeInfo): string | null {
  if (n.opType !== "Mul") return null;
  for (const [x, s] of [[n.inputs[0], n.inputs[1]], [n.inputs[1], n.inputs[0]]]) {
    const p = ctx.model.graph.producer.get(s);
    if (p !== undefined && GATES.has(ctx.nodes[p].opType) && ctx.nodes[p].inputs[0] === x) return x;
  }
  return null;
}

/**
 * An MBConv's input: back from the depthwise conv through activations to the expansion's
 * input; without an expansion (expand ratio 1), the depthwise conv's own input, whose
 * activation belongs to the layer before (the stem's Conv, BatchNorm, SiLU).
 */
function blockInput(ctx: Ctx, dw: NodeInfo): string {
  let t = dw.inputs[0];
  for (let k = 0; k < 12; k++) {
    const p = ctx.model.graph.producer.get(t);
    if (p === undefined) break;
    const n = ctx.nodes[p];
    const dataIns = n.inputs.filter((x) => ctx.data.has(x));
    const gated = selfGated(ctx, n);
    if (gated) t = gated;
    else if (UNARY.has(n.opType) && dataIns.length === 1) t = dataIns[0];
    else if (isPointwise(ctx, n) && dataIns.length === 1) return dataIns[0];
    else break;
  }
  return dw.inputs[0];
}

/** The linear projection after a depthwise conv: forward through activations and squeeze-excitation gates to the first pointwise Conv (and its unfolded BatchNorm). */
function projectionAfter(ctx: Ctx, dw: NodeInfo): string | null {
  const g = ctx.model.graph;
  let t = dw.outputs[0];
  for (let k = 0; k < 30; k++) {
    const cs = followThrough(ctx, t);
    let next: NodeInfo | undefined;
    if (cs.length === 1) next = cs[0];
    else {
      // SiLU (σ and the product) or squeeze-excitation (the pool and the product): the Mul that gates t.
      next = cs.find((c) => c.opType === "Mul" && c.inputs.includes(t) && isAncestor(g, ctx.nodes, t, c.inputs[0] === t ? c.inputs[1] : c.inputs[0]));
      if (!next) return null;
      t = next.outputs[0];
      continue;
    }
    if (next.opType === "Conv") {
      if (!isPointwise(ctx, next)) return null;
      let out = next.outputs[0];
      const after = followThrough(ctx, out);
      if (after.length === 1 && after[0].opType === "BatchNormalization") out = after[0].outputs[0];
      return out;
    }
    if (!UNARY.has(next.opType) && next.opType !== "Mul") return null;
    t = next.outputs[0];
  }
  return null;
}

/** The unit's type from the convolutions of its long branch (squeeze-excitation convs on pooled maps excluded). */
function unitType(ctx: Ctx, nodes: NodeInfo[]): CnnBlockType {
  const onPooled = (n: NodeInfo) => (ctx.one.get(n.inputs[0])?.shape ?? []).slice(2).every((d) => d === 1) && nodes.some((m) => isGlobalPool(ctx, m));
  const convs = nodes.filter((n) => n.opType === "Conv" && !onPooled(n));
  if (convs.some((n) => isDepthwise(ctx, n))) {
    // ConvNeXt: a LayerNorm over channels (channels-last) after the depthwise conv.
    const ln = nodes.some((n) => n.opType === "LayerNormalization" || (n.opType === "ReduceMean" && ctx.one.get(n.inputs[0])?.shape?.length === 4 && !isGlobalPool(ctx, n)));
    return ln ? "convnext" : "inverted-residual";
  }
  if (convs.some((n) => ((n.attrs.group as number | undefined) ?? 1) > 1)) return "grouped-bottleneck";
  if (convs.length === 2 && !convs.some((n) => isPointwise(ctx, n))) return "basic";
  if (convs.length === 3 && isPointwise(ctx, convs[0]) && isPointwise(ctx, convs[2])) return "bottleneck";
  return "residual";
}
