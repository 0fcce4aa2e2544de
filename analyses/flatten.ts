import type { Tensor } from "../src/tensor.js";
import { tokenMode, type Layout, type TokenMode } from "./vocabulary.js";

export { tokenModes, tokenMode, type TokenMode, type Layout } from "./vocabulary.js";

/**
 * The m × p example matrix of a site under a flattening mode, as a Tensor [B, p]:
 * `all` the whole tensor per example (no copy), `cls` token 0, `spatial` every non-prefix
 * token, `gap` the mean over spatial tokens (over H·W for BCHW, giving [B, C]).
 * @example flatten({data, shape: [8, 197, 768]}, "cls", {layout: "BTD", prefixTokens: 1}) // [8, 768]
 */
export function flatten(x: Tensor, mode: TokenMode, layout: Layout): Tensor {
  tokenMode(mode);
  if (x.shape.length < 1) throw new RangeError(`invalid shape [${x.shape}]`);
  const b = x.shape[0];
  const perExample = b === 0 ? 0 : x.data.length / b;
  if (mode === "all") return { data: x.data, shape: [b, perExample] };
  if (layout.layout === "BTD") {
    if (x.shape.length !== 3) throw new RangeError(`invalid shape [${x.shape}] for layout BTD`);
    const [, t, d] = x.shape;
    const pre = layout.prefixTokens;
    if (!Number.isInteger(pre) || pre < 0 || pre > t) throw new RangeError(`invalid prefixTokens: ${pre}`);
    if (mode === "cls") {
      if (pre < 1) throw new RangeError("invalid tokens: cls (the site has no CLS token)");
      return slice(x, b, t * d, 0, d);
    }
    if (t - pre < 1) throw new RangeError(`invalid tokens: ${mode} (the site has no spatial tokens)`);
    if (mode === "spatial") return slice(x, b, t * d, pre * d, (t - pre) * d);
    // gap: mean over spatial tokens
    const out = new Float64Array(b * d);
    for (let i = 0; i < b; i++) {
      for (let s = pre; s < t; s++) {
        const o = (i * t + s) * d;
        for (let c = 0; c < d; c++) out[i * d + c] += x.data[o + c];
      }
      for (let c = 0; c < d; c++) out[i * d + c] /= t - pre;
    }
    return { data: out, shape: [b, d] };
  }
  if (x.shape.length !== 4) throw new RangeError(`invalid shape [${x.shape}] for layout BCHW`);
  if (mode === "cls") throw new RangeError("invalid tokens: cls (a BCHW site has no CLS token)");
  if (mode === "spatial") return { data: x.data, shape: [b, perExample] };
  const [, c, h, w] = x.shape;
  const hw = h * w;
  const out = new Float64Array(b * c);
  for (let i = 0; i < b * c; i++) {
    let s = 0;
    const o = i * hw;
    for (let j = 0; j < hw; j++) s += x.data[o + j];
    out[i] = s / hw;
  }
  return { data: out, shape: [b, c] };
}

/** Per example, elements [from, from + len) of a row of length `row`, copied into a [b, len] tensor. */
function slice(x: Tensor, b: number, row: number, from: number, len: number): Tensor {
  // Same element type as the input: a float32 slice stays exact and half the size.
  const out = x.data instanceof Float32Array ? new Float32Array(b * len) : new Float64Array(b * len);
  for (let i = 0; i < b; i++) {
    const o = i * row + from;
    for (let j = 0; j < len; j++) out[i * len + j] = x.data[o + j];
  }
  return { data: out, shape: [b, len] };
}
