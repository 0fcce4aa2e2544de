/**
 * Which sites of a model the analyses read, from its discovered sites and probed geometry.
 * Shared by the pipelines (CKA and its ablation variant, probes, localisation, attention).
 */
import type { AttentionSite, BlockSites, ModelSites } from "../onnx/sites.js";
import { layoutOf, type ModelGeometry } from "../engine/geometry.js";
import type { TensorLayout as Layout } from "../../analyses/vocabulary.js";
import type { BatchView } from "../engine/stream.js";
import type { TapSpec } from "../engine/taps.js";
import type { Tensor } from "../tensor.js";

/** A site chosen for CKA: canonical name, exporter tensor, layout. */
export interface CkaSite {
  name: string;
  tensor: string;
  layout: Layout;
}

/** The CKA site sets (METHODS.md §1 "Which sites"). */
export const SITE_SETS = ["blocks", "all"] as const;
export type SiteSet = (typeof SITE_SETS)[number];

const BLOCK_SET = /\.\d+\.(resid_mid|out)$/;

/**
 * The CKA sites of a model: `blocks` = one per residual sum (ViT/Mixer: resid_mid and out of
 * each block; ResNet: each unit's output); `all` = every named intermediate of every block
 * (LayerNorm outputs, attention output, MLP hidden, residual sums; attention maps excluded).
 */
export function ckaSites(g: ModelGeometry, set: SiteSet): CkaSite[] {
  const out: CkaSite[] = [];
  const seen = new Set<string>();
  for (const b of g.sites.blocks) {
    for (const [name, tensor] of Object.entries(b.sites)) {
      if (name.endsWith(".attn.probs")) continue;
      if (set === "blocks" && !BLOCK_SET.test(name)) continue;
      if (seen.has(tensor)) continue;
      const shape = g.shapes.get(tensor);
      if (!shape) continue;
      seen.add(tensor);
      out.push({ name, tensor, layout: layoutOf(shape) });
    }
  }
  return out;
}

/** The canonical name of a block's output site (`blocks.3.out`, `stages.1.units.0.out`), if found. */
export function blockOut(b: BlockSites): string | undefined {
  const name = `${b.name}.out`;
  return name in b.sites ? name : undefined;
}

/**
 * The attention maps of a model in depth order, with their layer index and canonical name.
 * A block with one map keeps its block index as layer (blocks.N.attn.probs is layer N); in a
 * model whose blocks hold several maps (MaxViT: block and grid attention) layers number the
 * maps in depth order.
 */
export function attentionBlocks(sites: ModelSites): { layer: number; block: BlockSites; tensor: string; site: AttentionSite; name: string }[] {
  const out: { layer: number; block: BlockSites; tensor: string; site: AttentionSite; name: string }[] = [];
  const multi = sites.blocks.some((b) => (b.attentions?.length ?? 0) > 1);
  let k = 0;
  sites.blocks.forEach((block, index) => {
    const maps = block.attentions ?? (block.attention ? [block.attention] : []);
    for (const site of maps) {
      const name = site.part ? `${block.name}.${site.part}.attn.probs` : `${block.name}.attn.probs`;
      out.push({ layer: multi ? k : index, block, tensor: site.tensor, site, name });
      k++;
    }
  });
  return out;
}

/** True when the model has attention maps on a known patch grid or with a traced window geometry (attention distance, collapse). */
export function hasAttention(sites: ModelSites): boolean {
  const maps = attentionBlocks(sites);
  if (maps.length && maps.every((m) => m.site.window)) return true;
  return Boolean(maps.length && sites.grid && sites.patchSize);
}

/**
 * The driver of a per-layer attention analysis: model `m`'s taps (one per layer, `layers[i]`
 * read through `taps[i]`) in the main pass, each batch's results fed to the reducer layer by
 * layer as `input(layer, tapResult, batchSize)`.
 */
export function perLayerDriver<S, I>(
  m: number,
  layers: readonly { layer: number }[],
  taps: TapSpec[],
  reducer: { update(state: S, input: I): S; merge(a: S, b: S): S },
  init: () => S,
  input: (layer: number, tap: Tensor, batchSize: number) => I,
) {
  return {
    taps: (pass: string, mm: number) => (pass === "main" && mm === m ? taps : []),
    init,
    update(state: S, view: BatchView): S {
      if (view.pass !== "main") return state;
      const batchSize = view.batch.ids.length;
      layers.forEach((l, i) => {
        state = reducer.update(state, input(l.layer, view.tap(m, taps[i]), batchSize));
      });
      return state;
    },
    merge: reducer.merge,
  };
}
