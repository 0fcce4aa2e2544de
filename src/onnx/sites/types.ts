/** What site discovery returns, and the graph context its steps share. */
import type { NodeInfo, OnnxModel } from "../model.js";
import type { Inferred, SymDim } from "../shapes.js";
import type { WindowGeometry } from "./windows.js";

/**
 * Architecture family: `cnn` for every convolutional network (ResNet, RegNet, EfficientNet,
 * MobileNet, ConvNeXt; what kind of units it has is `blockType`), `vit` for attention on
 * tokens, `swin` for windowed attention on a token grid (Swin), `mixer` for token-mixing MLPs,
 * `hybrid` for convolution units and attention together (MaxViT).
 */
export type Family = "vit" | "swin" | "cnn" | "mixer" | "hybrid" | "unknown";

/**
 * A CNN unit's type, from the convolutions of its long branch: `basic` (two k×k convs,
 * ResNet-18/34), `bottleneck` (1×1, k×k, 1×1: ResNet-50), `grouped-bottleneck` (a grouped k×k
 * conv: RegNet X/Y, ResNeXt), `inverted-residual` (a depthwise conv between pointwise ones:
 * MBConv of EfficientNet, MobileNetV2/V3), `convnext` (depthwise conv then a LayerNorm over
 * channels), `residual` (anything else with a skip).
 */
export type CnnBlockType = "basic" | "bottleneck" | "grouped-bottleneck" | "inverted-residual" | "convnext" | "residual";

/** Head layout of an attention-probability tensor. */
export type AttentionLayout = "[B,H,T,T]" | "[B*H,T,T]" | "windowed";

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

/** One attention map of a block: its tensor, heads, layout, and for windowed attention its traced geometry (src/onnx/sites/windows.ts). */
export interface AttentionSite {
  tensor: string;
  heads: number | null;
  layout: AttentionLayout | null;
  /** Windowed attention (Swin windows, MaxViT block/grid attention): where each map entry sits on the token grid. */
  window?: WindowGeometry;
  /** The part of the block it belongs to, when a block has several ("block_attn", "grid_attn"). */
  part?: string;
}

/** One block (transformer/mixer block, ResNet unit, or a hybrid block of conv and attention parts) with its sites. */
export interface BlockSites {
  name: string;
  kind: "transformer" | "mixer" | "unit" | "hybrid";
  /** Stage index (ResNet units, Swin and MaxViT blocks). */
  stage?: number;
  /** Canonical site name → exporter tensor name. */
  sites: Record<string, string>;
  /** The block's (first) attention map. */
  attention?: AttentionSite;
  /** Every attention map of the block in depth order, when it has more than one (MaxViT: block then grid attention). */
  attentions?: AttentionSite[];
  /** CNN units: type, whether a skip adds the input (no skip: no `branch`/`shortcut` sites, no skip ratio), squeeze-excitation. */
  unit?: { type: CnnBlockType; residual: boolean; squeezeExcitation: boolean };
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
  /** The prefix tokens in order (class, distillation, register tokens), named by the parameter each is expanded from. */
  prefix?: { index: number; name: string }[];
  blocks: BlockSites[];
  residuals: Residual[];
  /** Stages: CNN units, or Swin/MaxViT blocks, with (windowed attention) their token grid, stride, window, shift and heads. */
  stages: { index: number; units: string[]; shape: SymDim[] | null; grid?: [number, number]; stride?: number; window?: [number, number]; shift?: [number, number]; heads?: number }[];
  /** The most common CNN unit type (families `cnn`, `hybrid`), else null. */
  blockType: CnnBlockType | null;
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

export const PASS_OR_NORM = new Set(["Identity", "Dropout", "Cast", "LayerNormalization", "ReduceMean", "Sub", "Pow", "Add", "Sqrt", "Div", "Mul", "Reciprocal"]);
export const WEIGHTED = new Set(["MatMul", "Gemm", "Conv", "Einsum", "ConvTranspose"]);
export const FLOAT = new Set([1, 10, 11, 16]);

/** The model with its inferred shapes (batch 1 and symbolic) and its data path, shared by every discovery step. */
export interface Ctx {
  model: OnnxModel;
  nodes: NodeInfo[];
  one: Map<string, Inferred>;
  sym: Map<string, SymDim[] | null>;
  data: Set<string>;
  isConst: (t: string) => boolean;
}
