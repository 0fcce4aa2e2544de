import type { OnnxModel } from "../model.js";
import { symbolicShapes } from "../shapes.js";
import { cnnUnits } from "./cnn.js";
import { patchEmbedding, positionEmbedding, prefixTokensOf, tokenGeometry } from "./geometry.js";
import { classifierInput, poolingOf } from "./head.js";
import { applyOverrides, siteKind } from "./overrides.js";
import { residualRoles } from "./residuals.js";
import { residualFreeBlocks, tokenBlocks } from "./transformer.js";
import type { BlockSites, Ctx, ModelSites, SiteOptions, SiteRef } from "./types.js";
import { dataPath } from "./walk.js";
import { windowedLayout, windowedPooling } from "./windowed.js";

/** The flat site list: stem and embeddings, every block's sites, then the head and logits. */
function siteList(ctx: Ctx, pre: [string, string, string][], blocks: BlockSites[], post: [string, string, string][]): SiteRef[] {
  const sites: SiteRef[] = [];
  const shapeOf = (t: string) => ctx.sym.get(t) ?? null;
  for (const [name, tensor, kind] of pre) sites.push({ name, tensor, kind, block: null, shape: shapeOf(tensor) });
  for (const blk of blocks) {
    for (const [name, tensor] of Object.entries(blk.sites)) sites.push({ name, tensor, kind: siteKind(name), block: blk.name, shape: shapeOf(tensor) });
  }
  for (const [name, tensor, kind] of post) sites.push({ name, tensor, kind, block: null, shape: shapeOf(tensor) });
  return sites;
}

/**
 * Discovers the model's sites from its graph.
 *
 * @example
 * const sites = discoverSites(await loadModel("vit_b_16.onnx"));
 * sites.family;          // "vit" (a ResNet: "cnn", blockType "bottleneck")
 * sites.blocks.length;   // 12
 * sites.blocks[0].sites["blocks.0.attn.probs"]; // "/encoder/layers/encoder_layer_0/self_attention/Softmax_output_0"
 */
export function discoverSites(model: OnnxModel, options: SiteOptions = {}): ModelSites {
  const { one, sym } = symbolicShapes(model, { imageSize: options.imageSize });
  const data = dataPath(model, one);
  const ctx: Ctx = { model, nodes: model.nodes, one, sym, data, isConst: (t: string) => !data.has(t) };
  const notes: string[] = [];

  const { attnOf, tokenRes, conv, residuals, family: found } = residualRoles(ctx);
  const units = cnnUnits(ctx, conv, residuals);
  // Blocks without a skip only (MobileNetV1-like) are a CNN too.
  const family = found === "unknown" && units.blocks.length ? "cnn" : found;
  const tokens = tokenBlocks(ctx, tokenRes, attnOf, notes);
  let blocks = [...units.blocks, ...tokens.blocks];
  let outRes = [...units.outRes, ...tokens.outRes];
  residualFreeBlocks(ctx, blocks, outRes, notes);
  // Windowed attention (Swin, MaxViT): depth order, stages by token grid, hybrid blocks merged.
  const windowed = windowedLayout(ctx, blocks, outRes, notes);
  if (windowed) ({ blocks, residuals: outRes } = windowed);

  // A patchify stem (ConvNeXt's 4×4 stride-4 conv) is a CNN's stem, not a token embedding.
  const patch = family === "cnn" ? null : patchEmbedding(ctx);
  const pos = family === "cnn" ? null : positionEmbedding(ctx);
  const geometry = tokenGeometry(ctx, tokenRes[0], patch, notes);
  const prefix = prefixTokensOf(ctx, tokenRes[0], patch, geometry.prefixTokens, notes);

  // Globals: stem, patch/pos embedding, pooling head, logits.
  const logits = model.outputs[0].name;
  const headPre = classifierInput(ctx, logits);
  const pooling = windowed ? windowedPooling(ctx, headPre) : tokenRes.length ? poolingOf(ctx, tokenRes[tokenRes.length - 1].out, headPre) : null;
  const pre: [string, string, string][] = [];
  if (units.stem) pre.push(["stem", units.stem, "stem"]);
  if (patch) pre.push(["patch_embed", windowed?.patchEmbed ?? patch.tokens, "embedding"]);
  if (pos) pre.push(["pos_embed", pos.tensor, "embedding"]);
  const post: [string, string, string][] = [];
  if (headPre) post.push(["head.pre", headPre, "head"]);
  else notes.push("no single classifier input (e.g. DeiT's class and distillation heads averaged): no head.pre site");
  post.push(["logits", logits, "logits"]);
  const sites = siteList(ctx, pre, blocks, post);
  applyOverrides(model, options.extraSites ?? {}, sites, blocks, (t) => sym.get(t) ?? null);

  const img = model.imageInput;
  return {
    family: windowed?.family ?? family,
    input: { name: img.name, shape: img.shape ?? [] },
    patchSize: windowed?.patchSize ?? geometry.patchSize,
    grid: windowed?.grid ?? geometry.grid,
    tokens: windowed ? windowed.grid[0] * windowed.grid[1] : geometry.tokens,
    prefixTokens: windowed ? 0 : geometry.prefixTokens,
    cls: !windowed && geometry.prefixTokens > 0,
    prefix: windowed ? [] : prefix,
    blocks,
    residuals: outRes,
    stages: windowed?.stages.length ? windowed.stages : units.stages,
    blockType: units.blockType,
    ...(pos?.initializer ? { posEmbed: { initializer: pos.initializer, shape: pos.shape } } : {}),
    ...(patch ? { patchEmbed: { weight: patch.weight, shape: patch.shape, patchSize: patch.patchSize } } : {}),
    pooling,
    sites,
    logits,
    notes,
  };
}
