/** Walks of the graph along data edges: what depends on what, and what lies between two tensors. */
import { isAncestor } from "../graph.js";
import type { NodeInfo, OnnxModel } from "../model.js";
import type { Inferred } from "../shapes.js";
import { FLOAT, PASS_OR_NORM, type Ctx } from "./types.js";

/** Float tensors computed from the image input (shape arithmetic excluded). */
export function dataPath(model: OnnxModel, one: Map<string, Inferred>): Set<string> {
  const data = new Set<string>([model.imageInput.name]);
  for (const i of model.graph.order) {
    const n = model.nodes[i];
    if (n.opType === "Shape" || n.opType === "Size") continue;
    if (!n.inputs.some((t) => data.has(t))) continue;
    for (const o of n.outputs) {
      const dt = one.get(o)?.dtype ?? 0;
      if (o && (FLOAT.has(dt) || dt === 0)) data.add(o);
    }
  }
  return data;
}

/** Nodes between `source` (exclusive) and `target` (inclusive) along data edges, in topological order. */
export function branchNodes(ctx: Ctx, source: string, target: string): number[] {
  const { model, nodes } = ctx;
  const g = model.graph;
  const pt = g.producer.get(target);
  if (pt === undefined || source === target) return [];
  const ceiling = g.position[pt];
  // Forward: nodes that depend on the source, up to the target's producer.
  const desc = new Set<number>();
  const queue = [source];
  while (queue.length) {
    const t = queue.pop()!;
    for (const c of g.consumers.get(t) ?? []) {
      if (desc.has(c) || g.position[c] > ceiling) continue;
      desc.add(c);
      for (const o of nodes[c].outputs) if (o) queue.push(o);
    }
  }
  // Backward: those among them that the target depends on.
  const out: number[] = [];
  const seen = new Set<number>();
  const stack = [pt];
  while (stack.length) {
    const p = stack.pop()!;
    if (seen.has(p) || !desc.has(p)) continue;
    seen.add(p);
    out.push(p);
    for (const i of nodes[p].inputs) {
      const q = g.producer.get(i);
      if (q !== undefined) stack.push(q);
    }
  }
  return out.sort((a, b) => g.position[a] - g.position[b]);
}

/** Consumers of `t`, looking through Dropout/Identity/Cast. */
export function followThrough(ctx: Ctx, t: string): NodeInfo[] {
  const out: NodeInfo[] = [];
  for (const c of ctx.model.graph.consumers.get(t) ?? []) {
    const n = ctx.nodes[c];
    if (n.opType === "Dropout" || n.opType === "Identity" || n.opType === "Cast") out.push(...followThrough(ctx, n.outputs[0]));
    else out.push(n);
  }
  return out;
}

/** True when `b` is `a` or reached from it through shape-preserving pass-through ops. */
export function chained(ctx: Ctx, a: string, b: string): boolean {
  let t = a;
  for (let k = 0; k < 4; k++) {
    if (t === b) return true;
    const next = followThrough(ctx, t).find((n) => n.opType === "Identity" || n.opType === "Dropout");
    if (!next) break;
    t = next.outputs[0];
  }
  if (!isAncestor(ctx.model.graph, ctx.nodes, a, b)) return false;
  // Pass-through ops, or a LayerNorm between the sums (post-LN transformers).
  const between = branchNodes(ctx, a, b);
  return between.length <= 12 && between.every((k) => PASS_OR_NORM.has(ctx.nodes[k].opType));
}

/** Data ancestors of `t` within `depth` nodes, nearest first, as [tensor, depth]. */
export function shortAncestors(ctx: Ctx, t: string, depth: number): [string, number][] {
  const out: [string, number][] = [];
  let frontier = [t];
  const seen = new Set<string>([t]);
  for (let d = 1; d <= depth; d++) {
    const next: string[] = [];
    for (const x of frontier) {
      const p = ctx.model.graph.producer.get(x);
      if (p === undefined) continue;
      for (const i of ctx.nodes[p].inputs) {
        if (!ctx.data.has(i) || seen.has(i)) continue;
        seen.add(i);
        out.push([i, d]);
        next.push(i);
      }
    }
    frontier = next;
  }
  return out;
}
