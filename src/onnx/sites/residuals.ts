/**
 * Residual sums out = z + f(z) found from the graph alone (identity or projection shortcuts),
 * the attention probabilities in their branches, and the architecture family they imply.
 */
import { isAncestor } from "../graph.js";
import type { NodeInfo } from "../model.js";
import { branchNodes, chained, followThrough, shortAncestors } from "./walk.js";
import { WEIGHTED, type Ctx, type Family, type Residual } from "./types.js";

export function findResiduals(ctx: Ctx): Residual[] {
  const { model, nodes, one, data } = ctx;
  const g = model.graph;
  const found: Residual[] = [];
  for (const i of g.order) {
    const n = nodes[i];
    if (n.opType !== "Add" || n.inputs.length !== 2) continue;
    const [a, b] = n.inputs;
    if (!data.has(a) || !data.has(b)) continue;
    const sa = one.get(a)?.shape;
    const sb = one.get(b)?.shape;
    if (!sa || !sb || sa.length < 3 || JSON.stringify(sa) !== JSON.stringify(sb)) continue;
    let z: string | null = null;
    let fz: string | null = null;
    let source: string | null = null;
    let shortcut: Residual["shortcut"] = "identity";
    if (isAncestor(g, nodes, a, b)) [z, fz, source] = [a, b, a];
    else if (isAncestor(g, nodes, b, a)) [z, fz, source] = [b, a, b];
    else {
      // Projection: a short path (≤ 3 nodes) from a common ancestor to one input.
      const pa = shortAncestors(ctx, a, 3);
      const pb = shortAncestors(ctx, b, 3);
      const ca = pa.find(([t]) => isAncestor(g, nodes, t, b));
      const cb = pb.find(([t]) => isAncestor(g, nodes, t, a));
      if (ca && (!cb || ca[1] <= cb[1])) [z, fz, source] = [a, b, ca[0]];
      else if (cb) [z, fz, source] = [b, a, cb[0]];
      shortcut = "projection";
    }
    if (!z || !fz || !source) continue;
    const branch = branchNodes(ctx, source, fz);
    if (!branch.some((k) => WEIGHTED.has(nodes[k].opType))) continue;
    if (shortcut === "projection") {
      const short = branchNodes(ctx, source, z);
      if (short.length >= branch.length) continue;
    }
    found.push({ block: "", sublayer: "", z, fz, out: n.outputs[0], shortcut, source, node: n.name || `#${i}` });
  }
  return found;
}

/** Attention probabilities in a residual's branch: a Softmax over the last axis feeding a MatMul. */
export function attentionIn(ctx: Ctx, r: Residual): string | null {
  const branch = branchNodes(ctx, r.source, r.fz);
  for (const k of branch) if (isAttentionSoftmax(ctx, ctx.nodes[k])) return ctx.nodes[k].outputs[0];
  return null;
}

export function isAttentionSoftmax(ctx: Ctx, n: NodeInfo): boolean {
  if (n.opType !== "Softmax") return false;
  const shape = ctx.one.get(n.outputs[0])?.shape;
  const rank = shape?.length ?? 0;
  const axis = (n.attrs.axis as number | undefined) ?? (ctx.model.opset >= 13 ? -1 : 1);
  const last = axis === -1 || (rank > 0 && axis === rank - 1);
  if (!last && !(ctx.model.opset < 13 && rank > 0)) return false;
  return followThrough(ctx, n.outputs[0]).some((c) => c.opType === "MatMul" || c.opType === "Einsum");
}

/** The residuals sorted by role: token-stream sums (transformers, mixers), conv-unit sums, and which hold attention. */
export interface ResidualRoles {
  residuals: Residual[];
  /** Attention probabilities in each residual's branch, or null. */
  attnOf: Map<Residual, string | null>;
  tokenRes: Residual[];
  conv: Residual[];
  family: Family;
}

/**
 * Token residuals: rank 3, or with attention in the branch, or the sublayer chained right
 * after an attention residual (windowed transformers keep [B, H, W, C] tokens). Rank-4 sums
 * that are not token residuals are ResNet units.
 */
export function residualRoles(ctx: Ctx): ResidualRoles {
  const residuals = findResiduals(ctx);
  const rankOf = (r: Residual) => ctx.one.get(r.out)?.shape?.length ?? 0;
  const attnOf = new Map(residuals.map((r) => [r, attentionIn(ctx, r)]));
  const hasAttn = residuals.map((r) => attnOf.get(r) !== null);
  const isToken = residuals.map((r, i) => rankOf(r) === 3 || hasAttn[i] || (i > 0 && hasAttn[i - 1] && chained(ctx, residuals[i - 1].out, r.z)));
  const conv = residuals.filter((r, i) => !isToken[i] && rankOf(r) === 4);
  const tokenRes = residuals.filter((r, i) => isToken[i]);
  const attnRes = residuals.filter((r, i) => hasAttn[i]);
  let family: Family = "unknown";
  if (attnRes.length && conv.length) family = "hybrid";
  else if (attnRes.length) family = "vit";
  else if (tokenRes.length) family = "mixer";
  else if (conv.length) family = "cnn";
  return { residuals, attnOf, tokenRes, conv, family };
}
