/** Patch and position embeddings, and the token geometry (tokens, grid, patch size, prefix tokens) they give. */
import type { Ctx, Residual } from "./types.js";

export interface PatchInfo {
  weight: string;
  shape: number[];
  patchSize: number;
  /** Token tensor [B, g², D] (or the Conv output when not flattened). */
  tokens: string;
}

/** Patch embedding: a Conv with stride = kernel on the image, or a Reshape+MatMul patchify. */
export function patchEmbedding(ctx: Ctx): PatchInfo | null {
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
export function positionEmbedding(ctx: Ctx): { initializer: string | null; shape: number[]; tensor: string } | null {
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

/** Tokens per image, grid, patch size and prefix tokens of the first token residual's stream. */
export function tokenGeometry(
  ctx: Ctx, firstToken: Residual | undefined, patch: PatchInfo | null, notes: string[],
): { tokens: number | null; grid: [number, number] | null; patchSize: number | null; prefixTokens: number } {
  const imgShape = ctx.one.get(ctx.model.imageInput.name)?.shape ?? null;
  let tokens: number | null = null;
  const firstShape = firstToken ? ctx.one.get(firstToken.source)?.shape : null;
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
  return { tokens, grid, patchSize, prefixTokens };
}

/** One prefix token: its position in the token sequence and what it is (the parameter it is expanded from, e.g. `class_token`, `dist_token`, `register_tokens.2`). */
export interface PrefixToken {
  index: number;
  name: string;
}

/**
 * The prefix tokens of the first block's input, traced back through the Concats (and Slices)
 * that build the token sequence: every token is a patch token or a learned parameter expanded
 * over the batch. DeiT concatenates class and distillation tokens before the position
 * embedding, DINOv2 inserts registers after it (`cat(x[:, :1], registers, x[:, 1:])`), so the
 * count comes from the tokens against the patch grid and the names from this trace. The
 * analyses take prefix tokens to come first; a model whose patches do not all follow them gets
 * a note.
 */
export function prefixTokensOf(ctx: Ctx, firstToken: Residual | undefined, patch: PatchInfo | null, count: number, notes: string[]): PrefixToken[] {
  if (count <= 0 || !firstToken) return [];
  const labels = patch ? tokenLabels(ctx, firstToken.source, patch.tokens, 0) : null;
  const generic = Array.from({ length: count }, (_, i) => ({ index: i, name: `prefix.${i}` }));
  if (!labels) {
    notes.push(`${count} prefix tokens: their sources could not be traced through the token concatenation, named prefix.0…`);
    return generic;
  }
  const first = labels.slice(0, count).every((l) => l !== PATCH) && labels.slice(count).every((l) => l === PATCH);
  if (!first) {
    notes.push(`prefix tokens are not all before the patch tokens (${labels.filter((l) => l !== PATCH).length} non-patch tokens); the analyses take the first ${count} tokens as the prefix`);
    return generic;
  }
  return labels.slice(0, count).map((name, index) => ({ index, name }));
}

const PATCH = "\u0000patch";

/** Per-token labels of a [B, T, D] tensor before the first block, or null where the trace fails. */
function tokenLabels(ctx: Ctx, t: string, patchTokens: string, depth: number): string[] | null {
  const s = ctx.one.get(t)?.shape;
  if (depth > 16 || !s || s.length !== 3) return null;
  if (t === patchTokens) return new Array<string>(s[1]).fill(PATCH);
  if (!ctx.data.has(t)) {
    const init = parameterBehind(ctx, t);
    const name = init ?? "prefix";
    return s[1] === 1 ? [name] : Array.from({ length: s[1] }, (_, i) => `${name}.${i}`);
  }
  const p = ctx.model.graph.producer.get(t);
  if (p === undefined) return null;
  const n = ctx.nodes[p];
  const axis1 = (a: number | undefined) => a === 1 || a === -2;
  if (n.opType === "Concat" && axis1(n.attrs.axis as number | undefined)) {
    const out: string[] = [];
    for (const x of n.inputs) {
      const l = tokenLabels(ctx, x, patchTokens, depth + 1);
      if (!l) return null;
      out.push(...l);
    }
    return out;
  }
  if (n.opType === "Slice") {
    const inner = tokenLabels(ctx, n.inputs[0], patchTokens, depth + 1);
    const starts = ctx.one.get(n.inputs[1])?.value ?? (n.attrs.starts as number[] | undefined);
    const ends = ctx.one.get(n.inputs[2])?.value ?? (n.attrs.ends as number[] | undefined);
    const axes = (n.inputs[3] ? ctx.one.get(n.inputs[3])?.value : undefined) ?? (n.attrs.axes as number[] | undefined);
    const steps = n.inputs[4] ? ctx.one.get(n.inputs[4])?.value : undefined;
    if (!inner || !starts || !ends || !axes || starts.length !== 1 || !axis1(axes[0]) || (steps && steps[0] !== 1)) return null;
    const len = inner.length;
    const clamp = (v: number) => Math.max(0, Math.min(len, v < 0 ? v + len : v));
    return inner.slice(clamp(starts[0]), clamp(ends[0]));
  }
  // The position embedding (Add of a constant), dropout, casts, norms: token order unchanged.
  const dataIns = n.inputs.filter((x) => ctx.data.has(x));
  if (dataIns.length === 1 && ["Add", "Mul", "Sub", "Div", "Identity", "Dropout", "Cast", "LayerNormalization"].includes(n.opType)) {
    const l = tokenLabels(ctx, dataIns[0], patchTokens, depth + 1);
    return l && l.length === s[1] ? l : null;
  }
  return null;
}

/** The initializer a constant token tensor is expanded from (through Expand, Tile, reshapes). */
function parameterBehind(ctx: Ctx, t: string): string | null {
  for (let k = 0; k < 6; k++) {
    if (ctx.model.initializers.has(t)) return t;
    const p = ctx.model.graph.producer.get(t);
    if (p === undefined) return null;
    const n = ctx.nodes[p];
    if (!["Expand", "Tile", "Identity", "Cast", "Unsqueeze", "Reshape", "Slice"].includes(n.opType)) return null;
    t = n.inputs[0];
  }
  return null;
}
