/**
 * Words shared by the analyses and the engine that drives them: how a site's tensor is laid
 * out, how it is flattened into examples (METHODS.md §1 `tokens`), how it is pooled for a probe
 * (§6). Declared once here, under analyses/ because analyses may import only src/tensor,
 * src/errors, src/numeric and analyses/*, while the engine may import analyses.
 */

/** Flattening modes of METHODS.md §1, recorded as `tokens` in every result. */
export type TokenMode = "all" | "cls" | "spatial" | "gap";

/**
 * The flattening modes (METHODS.md §1 `tokens`); `all` is the default.
 * @example tokenModes.includes("gap") // true
 */
export const tokenModes: readonly TokenMode[] = ["all", "cls", "spatial", "gap"];

/** Throws a RangeError unless `mode` is a known flattening mode. */
export function tokenMode(mode: string): TokenMode {
  if (!(tokenModes as readonly string[]).includes(mode)) throw new RangeError(`invalid tokens: ${mode}`);
  return mode as TokenMode;
}

/**
 * Pooling of a probe's features: `cls` (token 0), `mean` (mean of spatial tokens; of H·W for
 * [B, C, H, W]), `token:i` (absolute token index), `gap` (global average pool), `none`
 * (already [B, D]; never asked of the engine, whose pool taps always reduce something).
 */
export type PoolMode = "cls" | "mean" | "gap" | "none" | `token:${number}`;

/** The axis order of a site's tensor as the engine sees it: tokens, feature maps, pooled vectors, or anything else. */
export type TensorLayout = "BTD" | "BCHW" | "BD" | "other";

/**
 * How a site's activations are laid out for flattening: `BTD` tokens (ViT, Mixer) with
 * `prefixTokens` leading non-spatial tokens (CLS, distillation, registers; CLS is token 0), or
 * `BCHW` feature maps.
 */
export type Layout = { layout: "BTD"; prefixTokens: number } | { layout: "BCHW" };
