/**
 * Site discovery from the graph alone: residual sums out = z + f(z), their grouping into
 * transformer/mixer blocks and ResNet stages, attention probabilities, LayerNorms (fused or
 * decomposed), patch and position embeddings, token geometry and the pooling head.
 * Exporter names are never required; users can add or override sites with `extraSites`.
 *
 * Under src/onnx/sites/: types, walk (data-edge walks), residuals (sums and family), cnn
 * (ResNet units and stages), transformer (transformer/mixer blocks, residual-free blocks),
 * geometry (embeddings, tokens, grid), head (pooling and classifier input), overrides (site
 * kinds and the user's extra sites), discover (the steps in order).
 */
export { discoverSites } from "./sites/discover.js";
export type { Family, AttentionLayout, AttentionSite, Residual, BlockSites, SiteRef, ModelSites, SiteOptions } from "./sites/types.js";
export type { WindowGeometry } from "./sites/windows.js";
export { windowCell } from "./sites/windows.js";
