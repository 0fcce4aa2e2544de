/**
 * Site discovery from the graph alone: residual sums out = z + f(z), their grouping into
 * transformer/mixer blocks and ResNet stages, attention probabilities, LayerNorms (fused or
 * decomposed), patch and position embeddings, token geometry and the pooling head.
 * Exporter names are never required; users can add or override sites with `extraSites`.
 */
import { isAncestor } from "./graph.js";
import type { NodeInfo, OnnxModel } from "./model.js";
import { type Inferred, type SymDim, symbolicShapes } from "./shapes.js";

/** Architecture family. */
export type Family = "vit" | "resnet" | "mixer" | "hybrid" | "unknown";

/** Head layout of an attention-probability tensor. */
export type AttentionLayout = "[B,H,T,T]" | "[B*H,T,T]";

/** One residual sum out = z + f(z). */
export interface Residual {
  block: string;
  /** "attn" | "mlp" (transformer), "token_mix" | "channel_mix" (mixer), "unit" (ResNet). */
  sublayer: string;
  /** Skip input of the Add (the projection output for projection shortcuts). */
  z: string;
  /** Long-branch output f(z). */
  fz: string;
  /** The sum. */
  out: string;
  shortcut: "identity" | "projection";
  /** The tensor both branches start from (= z for identity shortcuts). */
  source: string;
  /** Name of the Add node. */
  node: string;
}

/** One block (transformer/mixer block or ResNet unit) with its sites. */
export interface BlockSites {
  name: string;
  kind: "transformer" | "mixer" | "unit";
  /** ResNet stage index (units only). */
  stage?: number;
  /** Canonical site name → exporter tensor name. */
  sites: Record<string, string>;
  attention?: { tensor: string; heads: number | null; layout: AttentionLayout | null };
}

/** One site in the flat list. */
export interface SiteRef {
  name: string;
  tensor: string;
  kind: string;
  block: string | null;
  /** Inferred shape with the batch symbolic ("B"), or null when unknown. */
  shape: SymDim[] | null;
}

/** What `seelike inspect --json` prints. */
export interface ModelSites {
  family: Family;
  input: { name: string; shape: (number | string | null)[] };
  patchSize: number | null;
  grid: [number, number] | null;
  /** Tokens per image T (transformers and mixers), else null. */
  tokens: number | null;
  prefixTokens: number;
  cls: boolean;
  blocks: BlockSites[];
  residuals: Residual[];
  stages: { index: number; units: string[]; shape: SymDim[] | null }[];
  posEmbed?: { initializer: string; shape: number[] };
  patchEmbed?: { weight: string; shape: number[]; patchSize: number };
  pooling: "cls" | "mean" | null;
  sites: SiteRef[];
  logits: string;
  /** Notes on what could not be determined (one line each). */
  notes: string[];
}

/** Options of discoverSites. */
export interface SiteOptions {
  /** Extra or overriding sites: canonical name → exporter tensor name or /regex/ (first match in graph order). */
  extraSites?: Record<string, string | RegExp>;
  /** Image side used when the input's H/W are symbolic. Default 224. */
  imageSize?: number;
}

const PASS_OR_NORM = new Set(["Identity", "Dropout", "Cast", "LayerNormalization", "ReduceMean", "Sub", "Pow", "Add", "Sqrt", "Div", "Mul", "Reciprocal"]);
const WEIGHTED = new Set(["MatMul", "Gemm", "Conv", "Einsum", "ConvTranspose"]);
const FLOAT = new Set([1, 10, 11, 16]);

interface Ctx {
  model: OnnxModel;
  nodes: NodeInfo[];
  one: Map<string, Inferred>;
  sym: Map<string, SymDim[] | null>;
  data: Set<string>;
  isConst: (t: string) => boolean;
}

/**
 * Discovers the model's sites from its graph.
 *
 * @example
 * const sites = discoverSites(await loadModel("vit_b_16.onnx"));
 * sites.family;          // "vit"
 * sites.blocks.length;   // 12
 * sites.blocks[0].sites["blocks.0.attn.probs"]; // "/encoder/layers/encoder_layer_0/self_attention/Softmax_output_0"
 */
export function discoverSites(model: OnnxModel, options: SiteOptions = {}): ModelSites {
  const { one, sym } = symbolicShapes(model, { imageSize: options.imageSize });
  const nodes = model.nodes;
  const data = dataPath(model, one);
  const isConst = (t: string) => !data.has(t);
  const ctx: Ctx = { model, nodes, one, sym, data, isConst };
  const notes: string[] = [];

  const residuals = findResiduals(ctx);
  // Token residuals: rank 3, or with attention in the branch, or the sublayer chained right
  // after an attention residual (windowed transformers keep [B, H, W, C] tokens).
  const rankOf = (r: Residual) => one.get(r.out)?.shape?.length ?? 0;
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
  else if (conv.length) family = "resnet";

  const blocks: BlockSites[] = [];
  const outRes: Residual[] = [];
  const stages: ModelSites["stages"] = [];

  // ResNet units and stages: a new stage starts where the unit output's shape changes.
  let stage = -1;
  let unit = 0;
  let prevShape = "";
  for (const r of conv) {
    const shape = JSON.stringify(one.get(r.out)?.shape ?? null);
    if (shape !== prevShape) {
      stage++;
      unit = 0;
      stages.push({ index: stage, units: [], shape: sym.get(r.out) ?? null });
      prevShape = shape;
    }
    const name = `stages.${stage}.units.${unit++}`;
    stages[stage].units.push(name);
    const out = postActivation(ctx, r.out);
    blocks.push({ name, kind: "unit", stage, sites: { [`${name}.branch`]: r.fz, [`${name}.shortcut`]: r.z, [`${name}.out`]: out } });
    outRes.push({ ...r, block: name, sublayer: "unit" });
  }

  // Transformer / mixer blocks: residual pairs chained through the stream.
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
    const first = kind === "transformer" ? "attn" : "token_mix";
    const second = kind === "transformer" ? "mlp" : "channel_mix";
    const branch1 = branchNodes(ctx, r1.source, r1.fz);
    const ln1 = layerNormOf(ctx, r1.source, branch1);
    if (ln1) sites[`${name}.ln1`] = ln1;
    let attention: BlockSites["attention"];
    if (attn) {
      sites[`${name}.attn.probs`] = attn;
      const s = one.get(attn)?.shape ?? null;
      let layout: AttentionLayout | null = null;
      let heads: number | null = null;
      if (s?.length === 4) {
        layout = "[B,H,T,T]";
        heads = s[1];
        const lead = sym.get(attn)?.[0];
        if (lead !== "B") notes.push(`${name}: attention probabilities ${attn} have leading dim ${lead}, windowed (local) attention rather than one map per image`);
      } else if (s?.length === 3) {
        layout = "[B*H,T,T]";
        // Inference ran at batch 1 unless the input fixes the batch.
        const b = one.get(model.imageInput.name)?.shape?.[0] ?? 1;
        heads = s[0] % b === 0 ? s[0] / b : null;
      }
      attention = { tensor: attn, heads, layout };
      sites[`${name}.attn.out`] = r1.fz;
    } else sites[`${name}.token_mix.out`] = r1.fz;
    sites[`${name}.resid_mid`] = r1.out;
    outRes.push({ ...r1, block: name, sublayer: first });
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
      outRes.push({ ...r2, block: name, sublayer: second });
    } else {
      notes.push(`${name}: residual ${r1.node} has no second residual; block output is its sum`);
      sites[`${name}.out`] = r1.out;
    }
    blocks.push({ name, kind, sites, ...(attention ? { attention } : {}) });
  }
  residualFreeBlocks(ctx, blocks, outRes, notes);

  // Embeddings and token geometry.
  const img = model.imageInput;
  const imgShape = one.get(img.name)?.shape ?? null;
  const patch = patchEmbedding(ctx);
  const pos = positionEmbedding(ctx);
  const firstToken = tokenRes[0];
  let tokens: number | null = null;
  const firstShape = firstToken ? one.get(firstToken.source)?.shape : null;
  if (firstShape?.length === 3) tokens = firstShape[1];
  let grid: [number, number] | null = null;
  let patchSize: number | null = null;
  if (patch && imgShape) {
    patchSize = patch.patchSize;
    grid = [Math.floor(imgShape[2] / patch.patchSize), Math.floor(imgShape[3] / patch.patchSize)];
  } else if (tokens !== null && imgShape && firstToken) {
    // Conv stems and hybrids: the grid is the last feature map flattened into the tokens, and
    // the patch size the effective stride (image side / grid side).
    const map = lastFeatureMap(ctx, firstToken.source, tokens);
    if (map) {
      grid = map;
      if (imgShape[2] % map[0] === 0) patchSize = imgShape[2] / map[0];
      notes.push(`no patchify convolution: grid ${map[0]}×${map[1]} from the feature map flattened into tokens, patch size ${patchSize ?? "?"} is the effective stride`);
    }
  }
  let prefixTokens = 0;
  if (tokens !== null && grid) prefixTokens = tokens - grid[0] * grid[1];
  if (prefixTokens < 0) {
    notes.push(`token count ${tokens} is smaller than the grid ${grid![0]}×${grid![1]}`);
    prefixTokens = 0;
  }

  // Globals: stem, patch/pos embedding, pooling head, logits.
  const logits = model.outputs[0].name;
  const headPre = classifierInput(ctx, logits);
  const pooling = tokenRes.length ? poolingOf(ctx, tokenRes[tokenRes.length - 1].out, headPre) : null;
  const pre: [string, string, string][] = [];
  if (conv.length) pre.push(["stem", conv[0].source, "stem"]);
  if (patch) pre.push(["patch_embed", patch.tokens, "embedding"]);
  if (pos) pre.push(["pos_embed", pos.tensor, "embedding"]);
  const post: [string, string, string][] = [];
  if (headPre) post.push(["head.pre", headPre, "head"]);
  post.push(["logits", logits, "logits"]);

  const sites: SiteRef[] = [];
  const shapeOf = (t: string) => sym.get(t) ?? null;
  for (const [name, tensor, kind] of pre) sites.push({ name, tensor, kind, block: null, shape: shapeOf(tensor) });
  for (const blk of blocks) {
    for (const [name, tensor] of Object.entries(blk.sites)) sites.push({ name, tensor, kind: siteKind(name), block: blk.name, shape: shapeOf(tensor) });
  }
  for (const [name, tensor, kind] of post) sites.push({ name, tensor, kind, block: null, shape: shapeOf(tensor) });

  // User overrides: exporter name or regular expression.
  for (const [name, spec] of Object.entries(options.extraSites ?? {})) {
    const tensor = resolveTensor(model, spec);
    if (!tensor) throw new RangeError(`invalid site ${name}: no tensor matches ${String(spec)}`);
    const existing = sites.find((s) => s.name === name);
    if (existing) existing.tensor = tensor;
    else sites.push({ name, tensor, kind: "user", block: blockOfName(name), shape: shapeOf(tensor) });
    const blk = blocks.find((x) => name.startsWith(`${x.name}.`));
    if (blk) blk.sites[name] = tensor;
  }

  const inputShape = img.shape ?? [];
  return {
    family,
    input: { name: img.name, shape: inputShape },
    patchSize,
    grid,
    tokens,
    prefixTokens,
    cls: prefixTokens > 0,
    blocks,
    residuals: outRes,
    stages,
    ...(pos?.initializer ? { posEmbed: { initializer: pos.initializer, shape: pos.shape } } : {}),
    ...(patch ? { patchEmbed: { weight: patch.weight, shape: patch.shape, patchSize: patch.patchSize } } : {}),
    pooling,
    sites,
    logits,
    notes,
  };
}

function siteKind(name: string): string {
  const last = name.split(".").slice(-1)[0];
  if (name.endsWith("attn.probs")) return "attention";
  if (last === "ln1" || last === "ln2") return "norm";
  if (last === "out" && /^(blocks\.\d+|stages\.\d+\.units\.\d+)\.out$/.test(name)) return "block";
  if (name.endsWith("resid_mid")) return "residual";
  if (last === "hidden") return "hidden";
  if (last === "branch" || last === "shortcut") return last;
  return "sublayer";
}

function blockOfName(name: string): string | null {
  const m = /^(blocks\.\d+|stages\.\d+\.units\.\d+)\./.exec(name);
  return m ? m[1] : null;
}

function resolveTensor(model: OnnxModel, spec: string | RegExp): string | null {
  const all: string[] = [];
  for (const i of model.graph.order) for (const o of model.nodes[i].outputs) if (o) all.push(o);
  if (typeof spec === "string") {
    if (all.includes(spec)) return spec;
    const m = /^\/(.+)\/([dgimsuy]*)$/.exec(spec);
    if (!m) return null;
    try {
      spec = new RegExp(m[1], m[2]);
    } catch {
      throw new RangeError(`invalid site pattern: ${spec}`);
    }
  }
  const re = spec;
  return all.find((t) => re.test(t)) ?? null;
}

/** Float tensors computed from the image input (shape arithmetic excluded). */
function dataPath(model: OnnxModel, one: Map<string, Inferred>): Set<string> {
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
function branchNodes(ctx: Ctx, source: string, target: string): number[] {
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

function findResiduals(ctx: Ctx): Residual[] {
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

/** Data ancestors of `t` within `depth` nodes, nearest first, as [tensor, depth]. */
function shortAncestors(ctx: Ctx, t: string, depth: number): [string, number][] {
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

/** Attention probabilities in a residual's branch: a Softmax over the last axis feeding a MatMul. */
function attentionIn(ctx: Ctx, r: Residual): string | null {
  const branch = branchNodes(ctx, r.source, r.fz);
  for (const k of branch) if (isAttentionSoftmax(ctx, ctx.nodes[k])) return ctx.nodes[k].outputs[0];
  return null;
}

function isAttentionSoftmax(ctx: Ctx, n: NodeInfo): boolean {
  if (n.opType !== "Softmax") return false;
  const shape = ctx.one.get(n.outputs[0])?.shape;
  const rank = shape?.length ?? 0;
  const axis = (n.attrs.axis as number | undefined) ?? (ctx.model.opset >= 13 ? -1 : 1);
  const last = axis === -1 || (rank > 0 && axis === rank - 1);
  if (!last && !(ctx.model.opset < 13 && rank > 0)) return false;
  return followThrough(ctx, n.outputs[0]).some((c) => c.opType === "MatMul" || c.opType === "Einsum");
}

/**
 * Transformer blocks without residual adds (an ablation like `x = attn(norm1(x)); x =
 * mlp(norm2(x))`) leave no residual to find, yet keep their attention: an attention Softmax
 * claimed by no block, between two residual blocks, becomes a block whose input is the previous
 * block's output and whose output is the next block's input; its first LayerNorm after the
 * attention splits it into the attention and MLP sublayers. Blocks are then renumbered in
 * graph order so the canonical names match the model's own block indices.
 */
function residualFreeBlocks(ctx: Ctx, blocks: BlockSites[], outRes: Residual[], notes: string[]): void {
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
    const s = ctx.one.get(n.outputs[0])?.shape ?? null;
    const b0 = ctx.one.get(ctx.model.imageInput.name)?.shape?.[0] ?? 1;
    const attention = s?.length === 4
      ? { tensor: n.outputs[0], heads: s[1], layout: "[B,H,T,T]" as const }
      : { tensor: n.outputs[0], heads: s?.length === 3 && s[0] % b0 === 0 ? s[0] / b0 : null, layout: s?.length === 3 ? ("[B*H,T,T]" as const) : null };
    added.push({ name, kind: "transformer", sites, attention });
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

/** Consumers of `t`, looking through Dropout/Identity/Cast. */
function followThrough(ctx: Ctx, t: string): NodeInfo[] {
  const out: NodeInfo[] = [];
  for (const c of ctx.model.graph.consumers.get(t) ?? []) {
    const n = ctx.nodes[c];
    if (n.opType === "Dropout" || n.opType === "Identity" || n.opType === "Cast") out.push(...followThrough(ctx, n.outputs[0]));
    else out.push(n);
  }
  return out;
}

/** True when `b` is `a` or reached from it through shape-preserving pass-through ops. */
function chained(ctx: Ctx, a: string, b: string): boolean {
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

/**
 * The LayerNorm of `z` inside a branch: a LayerNormalization node, or the decomposed
 * ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div(/Mul/Add) pattern; the output after the affine.
 */
function layerNormOf(ctx: Ctx, z: string, branch: number[]): string | null {
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
function lastWeightedInput(ctx: Ctx, branch: number[]): string | null {
  for (let k = branch.length - 1; k >= 0; k--) {
    const n = ctx.nodes[branch[k]];
    if (!WEIGHTED.has(n.opType)) continue;
    const dataIns = n.inputs.filter((t) => ctx.data.has(t));
    if (dataIns.length === 1) return dataIns[0];
  }
  return null;
}

/** The activation applied right after a residual sum (ResNet: ReLU), or the sum itself. */
function postActivation(ctx: Ctx, t: string): string {
  const cs = ctx.model.graph.consumers.get(t) ?? [];
  if (cs.length === 1) {
    const n = ctx.nodes[cs[0]];
    if (["Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "Gelu", "Elu"].includes(n.opType)) return n.outputs[0];
  }
  return t;
}

interface PatchInfo {
  weight: string;
  shape: number[];
  patchSize: number;
  /** Token tensor [B, g², D] (or the Conv output when not flattened). */
  tokens: string;
}

/** Patch embedding: a Conv with stride = kernel on the image, or a Reshape+MatMul patchify. */
function patchEmbedding(ctx: Ctx): PatchInfo | null {
  const { model, nodes, one } = ctx;
  for (const i of model.graph.order) {
    const n = nodes[i];
    if (n.opType === "Conv") {
      if (!ctx.data.has(n.inputs[0])) continue;
      const w = model.initializers.get(n.inputs[1]);
      const ws = w?.dims ?? one.get(n.inputs[1])?.shape;
      const k = (n.attrs.kernel_shape as number[] | undefined) ?? ws?.slice(2);
      const s = n.attrs.strides as number[] | undefined;
      // The first Conv on the data path decides: a patchify stem or a CNN stem.
      if (!k || !s || k.length !== 2 || k[0] !== s[0] || k[1] !== s[1] || k[0] < 2) return null;
      return { weight: n.inputs[1], shape: ws ? [...ws] : [], patchSize: k[0], tokens: tokensAfter(ctx, n.outputs[0]) };
    }
    if (n.opType === "MatMul" || n.opType === "Gemm") {
      // Reshape+MatMul patchify: weight [P·P·C, D] on a tensor derived from the image by reshapes.
      const x = n.inputs[0];
      const w = model.initializers.get(n.inputs[1]);
      if (!w || !ctx.data.has(x) || !onlyReshapesFromImage(ctx, x)) return null;
      const c = one.get(model.imageInput.name)?.shape?.[1] ?? 3;
      const kdim = n.opType === "Gemm" && n.attrs.transB ? w.dims[1] : w.dims[0];
      const p = Math.round(Math.sqrt(kdim / c));
      if (p * p * c !== kdim || p < 2) return null;
      return { weight: w.name, shape: [...w.dims], patchSize: p, tokens: n.outputs[0] };
    }
  }
  return null;
}

function onlyReshapesFromImage(ctx: Ctx, t: string): boolean {
  const img = ctx.model.imageInput.name;
  for (let k = 0; k < 8; k++) {
    if (t === img) return true;
    const p = ctx.model.graph.producer.get(t);
    if (p === undefined) return false;
    const n = ctx.nodes[p];
    if (!["Reshape", "Transpose", "Flatten"].includes(n.opType)) return false;
    t = n.inputs[0];
  }
  return false;
}

/** Follows Reshape/Flatten/Transpose after a patchify Conv to the [B, g², D] token tensor. */
function tokensAfter(ctx: Ctx, convOut: string): string {
  let t = convOut;
  let best = convOut;
  for (let k = 0; k < 4; k++) {
    const cs = ctx.model.graph.consumers.get(t) ?? [];
    const n = cs.map((c) => ctx.nodes[c]).find((c) => ["Reshape", "Flatten", "Transpose"].includes(c.opType) && c.inputs[0] === t);
    if (!n) break;
    t = n.outputs[0];
    const s = ctx.one.get(t)?.shape;
    if (s?.length === 3) best = t;
  }
  const s = ctx.one.get(best)?.shape;
  const conv = ctx.one.get(convOut)?.shape;
  // Accept only [B, g², D] (tokens last-but-one), as a timm/torchvision patch embedding gives.
  if (best !== convOut && s && conv && s[2] === conv[1]) return best;
  return convOut;
}

/** Spatial dims of the last [B, C, h, w] data tensor before `tokensAt`, when h·w fits the token count. */
function lastFeatureMap(ctx: Ctx, tokensAt: string, tokens: number): [number, number] | null {
  const g = ctx.model.graph;
  const p = g.producer.get(tokensAt);
  if (p === undefined) return null;
  const limit = g.position[p];
  let best: [number, number] | null = null;
  for (const i of g.order) {
    if (g.position[i] > limit) break;
    for (const o of ctx.nodes[i].outputs) {
      const s = ctx.one.get(o)?.shape;
      if (!ctx.data.has(o) || s?.length !== 4) continue;
      if (s[2] * s[3] <= tokens && tokens - s[2] * s[3] <= 16) best = [s[2], s[3]];
    }
  }
  return best;
}

/** Position embedding: an Add of a [1, T, D] constant to the token stream. */
function positionEmbedding(ctx: Ctx): { initializer: string | null; shape: number[]; tensor: string } | null {
  const { model, nodes, one } = ctx;
  for (const i of model.graph.order) {
    const n = nodes[i];
    if (n.opType !== "Add" || n.inputs.length !== 2) continue;
    const [a, b] = n.inputs;
    const [x, p] = ctx.data.has(a) && !ctx.data.has(b) ? [a, b] : ctx.data.has(b) && !ctx.data.has(a) ? [b, a] : [null, null];
    if (!x || !p) continue;
    const ps = one.get(p)?.shape;
    const xs = one.get(x)?.shape;
    if (!ps || !xs || ps.length !== 3 || xs.length !== 3 || ps[0] !== 1 || ps[1] !== xs[1] || ps[2] !== xs[2] || ps[1] < 2) continue;
    return { initializer: initializerBehind(ctx, p), shape: ps, tensor: n.outputs[0] };
  }
  return null;
}

/** The initializer a constant tensor comes from, looking through Identity/Cast/Slice. */
function initializerBehind(ctx: Ctx, t: string): string | null {
  for (let k = 0; k < 4; k++) {
    if (ctx.model.initializers.has(t)) return t;
    const p = ctx.model.graph.producer.get(t);
    if (p === undefined) return null;
    const n = ctx.nodes[p];
    if (!["Identity", "Cast", "Slice", "Reshape", "Unsqueeze"].includes(n.opType)) return null;
    t = n.inputs[0];
  }
  return null;
}

/** Input of the classifier: the data input of the last weighted op before the logits. */
function classifierInput(ctx: Ctx, logits: string): string | null {
  let t = logits;
  for (let k = 0; k < 4; k++) {
    const p = ctx.model.graph.producer.get(t);
    if (p === undefined) return null;
    const n = ctx.nodes[p];
    const dataIns = n.inputs.filter((x) => ctx.data.has(x));
    if (WEIGHTED.has(n.opType) && dataIns.length === 1) return dataIns[0];
    if (dataIns.length !== 1) return null;
    t = dataIns[0];
  }
  return null;
}

/** CLS pooling (Gather/Slice of token 0) or mean pooling (ReduceMean over tokens) after the last block. */
function poolingOf(ctx: Ctx, lastOut: string, headPre: string | null): "cls" | "mean" | null {
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
