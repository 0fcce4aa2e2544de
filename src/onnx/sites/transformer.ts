/**
 * Transformer and mixer blocks: a token-mixing residual followed by the channel MLP residual on
 * its sum, their LayerNorms, attention maps and MLP hidden layer; and blocks without residual
 * adds, found from their attention alone.
 */
import { isAncestor } from "../graph.js";
import { branchNodes, chained } from "./walk.js";
import { isAttentionSoftmax } from "./residuals.js";
import { windowGeometry } from "./windows.js";
import { WEIGHTED, type AttentionLayout, type AttentionSite, type BlockSites, type Ctx, type Residual } from "./types.js";

/**
 * Layout and head count of an attention-probability tensor (inference ran at batch 1 unless the
 * input fixes the batch). Maps with windows merged into the batch ([B·nW, H, N, N], Swin) or
 * their own window axis ([B, G, H, N, N], MaxViT) get their traced window geometry.
 */
export function attentionOf(ctx: Ctx, tensor: string, notes: string[] = [], label = tensor): AttentionSite {
  const s = ctx.one.get(tensor)?.shape ?? null;
  if (s && s.length >= 4) {
    const window = windowGeometry(ctx, tensor, notes, label);
    if (window) return { tensor, heads: window.heads, layout: "windowed", window };
  }
  if (s?.length === 4) return { tensor, heads: s[1], layout: "[B,H,T,T]" };
  if (s?.length === 3) {
    const b = ctx.one.get(ctx.model.imageInput.name)?.shape?.[0] ?? 1;
    return { tensor, heads: s[0] % b === 0 ? s[0] / b : null, layout: "[B*H,T,T]" };
  }
  return { tensor, heads: null, layout: null as AttentionLayout | null };
}

/** Blocks from residual pairs chained through the token stream, named blocks.0, blocks.1, … */
export function tokenBlocks(ctx: Ctx, tokenRes: Residual[], attnOf: Map<Residual, string | null>, notes: string[]): { blocks: BlockSites[]; outRes: Residual[] } {
  const blocks: BlockSites[] = [];
  const outRes: Residual[] = [];
  let b = 0;
  for (let i = 0; i < tokenRes.length; i++) {
    const r1 = tokenRes[i];
    const r2 = tokenRes[i + 1];
    // A block is a token-mixing residual followed by the channel MLP residual on its sum.
    const paired = r2 !== undefined && attnOf.get(r2) === null && chained(ctx, r1.out, r2.z);
    const name = `blocks.${b++}`;
    const attn = attnOf.get(r1) ?? null;
    const kind: BlockSites["kind"] = attn ? "transformer" : "mixer";
    const sites: Record<string, string> = {};
    const ln1 = layerNormOf(ctx, r1.source, branchNodes(ctx, r1.source, r1.fz));
    if (ln1) sites[`${name}.ln1`] = ln1;
    let attention: BlockSites["attention"];
    if (attn) {
      sites[`${name}.attn.probs`] = attn;
      attention = attentionOf(ctx, attn, notes, name);
      const lead = ctx.sym.get(attn)?.[0];
      if (attention.layout === "[B,H,T,T]" && lead !== "B") notes.push(`${name}: attention probabilities ${attn} have leading dim ${lead}, windowed (local) attention rather than one map per image`);
      sites[`${name}.attn.out`] = r1.fz;
    } else sites[`${name}.token_mix.out`] = r1.fz;
    sites[`${name}.resid_mid`] = r1.out;
    outRes.push({ ...r1, block: name, sublayer: kind === "transformer" ? "attn" : "token_mix" });
    if (paired) {
      i++;
      const branch2 = branchNodes(ctx, r2.source, r2.fz);
      const ln2 = layerNormOf(ctx, r2.source, branch2);
      if (ln2) sites[`${name}.ln2`] = ln2;
      if (kind === "transformer") {
        const hidden = lastWeightedInput(ctx, branch2);
        if (hidden) sites[`${name}.mlp.hidden`] = hidden;
        sites[`${name}.mlp.out`] = r2.fz;
      } else sites[`${name}.channel_mix.out`] = r2.fz;
      sites[`${name}.out`] = r2.out;
      outRes.push({ ...r2, block: name, sublayer: kind === "transformer" ? "mlp" : "channel_mix" });
    } else {
      notes.push(`${name}: residual ${r1.node} has no second residual; block output is its sum`);
      sites[`${name}.out`] = r1.out;
    }
    blocks.push({ name, kind, sites, ...(attention ? { attention } : {}) });
  }
  return { blocks, outRes };
}

/**
 * Transformer blocks without residual adds (an ablation like `x = attn(norm1(x)); x =
 * mlp(norm2(x))`) leave no residual to find, yet keep their attention: an attention Softmax
 * claimed by no block, between two residual blocks, becomes a block whose input is the previous
 * block's output and whose output is the next block's input; its first LayerNorm after the
 * attention splits it into the attention and MLP sublayers. Blocks are then renumbered in
 * graph order so the canonical names match the model's own block indices.
 */
export function residualFreeBlocks(ctx: Ctx, blocks: BlockSites[], outRes: Residual[], notes: string[]): void {
  const g = ctx.model.graph;
  const tf = blocks.filter((b) => b.kind === "transformer" && b.attention);
  if (tf.length === 0) return;
  const claimed = new Set(tf.map((b) => b.attention!.tensor));
  const pos = (t: string) => {
    const p = g.producer.get(t);
    return p === undefined ? -1 : g.position[p];
  };
  const orphans = ctx.nodes.filter((n) => isAttentionSoftmax(ctx, n) && !claimed.has(n.outputs[0]) && ctx.data.has(n.outputs[0]));
  if (orphans.length === 0) return;
  const added: BlockSites[] = [];
  for (const n of orphans) {
    const at = pos(n.outputs[0]);
    const before = tf.filter((b) => pos(b.attention!.tensor) < at).pop();
    const after = tf.find((b) => pos(b.attention!.tensor) > at);
    if (!before || !after) continue;
    const src = before.sites[`${before.name}.out`];
    const nextLn = after.sites[`${after.name}.ln1`];
    // The next block's input: what its first LayerNorm reads.
    const lnNode = nextLn === undefined ? undefined : ctx.nodes[g.producer.get(nextLn) ?? -1];
    const dst = lnNode?.opType === "LayerNormalization" || lnNode?.opType === "SimplifiedLayerNormalization" ? lnNode.inputs[0] : undefined;
    if (!src || !dst || !isAncestor(g, ctx.nodes, src, dst)) continue;
    const branch = branchNodes(ctx, src, dst);
    const sites: Record<string, string> = {};
    const name = `blocks.new${added.length}`;
    const ln1 = layerNormOf(ctx, src, branch);
    if (ln1) sites[`${name}.ln1`] = ln1;
    sites[`${name}.attn.probs`] = n.outputs[0];
    // The stream between the sublayers: the input of the first LayerNorm after the attention.
    const ln2Node = branch.map((k) => ctx.nodes[k]).find((m) => (m.opType === "LayerNormalization" || m.opType === "SimplifiedLayerNormalization") && g.position[m.index] > at);
    if (ln2Node) {
      const mid = ln2Node.inputs[0];
      sites[`${name}.attn.out`] = mid;
      sites[`${name}.resid_mid`] = mid;
      sites[`${name}.ln2`] = ln2Node.outputs[0];
      const hidden = lastWeightedInput(ctx, branchNodes(ctx, mid, dst));
      if (hidden) sites[`${name}.mlp.hidden`] = hidden;
      sites[`${name}.mlp.out`] = dst;
    }
    sites[`${name}.out`] = dst;
    added.push({ name, kind: "transformer", sites, attention: attentionOf(ctx, n.outputs[0]) });
  }
  if (added.length === 0) return;
  // Renumber every token block in graph order (units keep their names).
  const tokenBlocks = [...blocks.filter((b) => b.kind !== "unit"), ...added];
  const key = (b: BlockSites) => pos(b.attention?.tensor ?? Object.values(b.sites)[0]);
  tokenBlocks.sort((a, b) => key(a) - key(b));
  const rename = new Map<string, string>();
  tokenBlocks.forEach((b, i) => rename.set(b.name, `blocks.${i}`));
  for (const b of tokenBlocks) {
    const to = rename.get(b.name)!;
    b.sites = Object.fromEntries(Object.entries(b.sites).map(([k, t]) => [to + k.slice(b.name.length), t]));
    if (added.includes(b)) notes.push(`${to}: attention without residual adds (a residual-free block); resid_mid is the stream between its sublayers`);
    b.name = to;
  }
  for (const r of outRes) if (rename.has(r.block)) r.block = rename.get(r.block)!;
  const units = blocks.filter((b) => b.kind === "unit");
  blocks.splice(0, blocks.length, ...units, ...tokenBlocks);
}

/**
 * The LayerNorm of `z` inside a branch: a LayerNormalization node, or the decomposed
 * ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div(/Mul/Add) pattern; the output after the affine.
 */
export function layerNormOf(ctx: Ctx, z: string, branch: number[]): string | null {
  const inBranch = new Set(branch);
  for (const k of branch) {
    const n = ctx.nodes[k];
    if ((n.opType === "LayerNormalization" || n.opType === "SimplifiedLayerNormalization") && n.inputs[0] === z) return n.outputs[0];
  }
  for (const k of branch) {
    const n = ctx.nodes[k];
    if (n.opType !== "Sub" || n.inputs[0] !== z) continue;
    const mp = ctx.model.graph.producer.get(n.inputs[1]);
    if (mp === undefined || ctx.nodes[mp].opType !== "ReduceMean" || ctx.nodes[mp].inputs[0] !== z) continue;
    // The normalising division (or multiplication by a reciprocal) of the centred input.
    const div = (ctx.model.graph.consumers.get(n.outputs[0]) ?? []).map((c) => ctx.nodes[c]).find((c) => inBranch.has(c.index) && (c.opType === "Div" || c.opType === "Mul") && c.inputs[0] === n.outputs[0]);
    if (!div) continue;
    let t = div.outputs[0];
    for (let step = 0; step < 2; step++) {
      const cs = ctx.model.graph.consumers.get(t) ?? [];
      if (cs.length !== 1) break;
      const c = ctx.nodes[cs[0]];
      if (!inBranch.has(c.index) || (c.opType !== "Mul" && c.opType !== "Add")) break;
      const other = c.inputs[0] === t ? c.inputs[1] : c.inputs[0];
      if (!ctx.isConst(other)) break;
      t = c.outputs[0];
    }
    return t;
  }
  return null;
}

/** Data input of the last weighted op (MatMul/Gemm/Conv with a constant weight) in a branch. */
export function lastWeightedInput(ctx: Ctx, branch: number[]): string | null {
  for (let k = branch.length - 1; k >= 0; k--) {
    const n = ctx.nodes[branch[k]];
    if (!WEIGHTED.has(n.opType)) continue;
    const dataIns = n.inputs.filter((t) => ctx.data.has(t));
    if (dataIns.length === 1) return dataIns[0];
  }
  return null;
}
