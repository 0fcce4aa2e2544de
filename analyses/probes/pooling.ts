import type { Tensor } from "../../src/tensor.js";
import type { Matrix } from "../../src/numeric/linalg.js";
import type { PoolMode } from "../vocabulary.js";

export type { PoolMode } from "../vocabulary.js";

/**
 * Pooled features [B, D] of a site's activation: ViT [B, T, D], CNN [B, C, H, W], or already
 * pooled [B, D] with mode `none`. Spatial tokens are those after `prefixTokens` (default 1).
 * @example pool(blockOut, "cls").shape // [B, D]
 */
export function pool(x: Tensor, mode: PoolMode, { prefixTokens = 1 }: { prefixTokens?: number } = {}): Matrix {
  const s = x.shape;
  const X = x.data;
  if (!Number.isInteger(prefixTokens) || prefixTokens < 0) throw new RangeError(`invalid prefixTokens: ${prefixTokens}`);
  if (mode === "none") {
    if (s.length !== 2) throw new RangeError(`invalid pool: mode none needs [B, D], got [${s}]`);
    return { data: Float64Array.from(X), shape: [s[0], s[1]] };
  }
  if (s.length === 4) {
    if (mode !== "gap" && mode !== "mean") throw new RangeError(`invalid pool mode for [B, C, H, W]: ${mode}`);
    const [B, C, H, W] = s;
    const HW = H * W;
    const out = new Float64Array(B * C);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) {
      let sum = 0;
      const o = (b * C + c) * HW;
      for (let p = 0; p < HW; p++) sum += X[o + p];
      out[b * C + c] = sum / HW;
    }
    return { data: out, shape: [B, C] };
  }
  if (s.length !== 3) throw new RangeError(`invalid pool input shape [${s}]: expected [B, T, D], [B, C, H, W] or [B, D]`);
  const [B, T, D] = s;
  const out = new Float64Array(B * D);
  let token = -1;
  if (mode === "cls") {
    if (prefixTokens < 1) throw new RangeError(`invalid pool mode cls: the model has no prefix token`);
    token = 0;
  } else if (typeof mode === "string" && mode.startsWith("token:")) {
    token = Number(mode.slice(6));
    if (!Number.isInteger(token) || token < 0 || token >= T) throw new RangeError(`invalid pool mode: ${mode} (T = ${T})`);
  } else if (mode !== "mean" && mode !== "gap") {
    throw new RangeError(`invalid pool mode: ${mode}`);
  }
  if (token >= 0) {
    for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) out[b * D + d] = X[(b * T + token) * D + d];
    return { data: out, shape: [B, D] };
  }
  const spatial = T - prefixTokens;
  if (spatial < 1) throw new RangeError(`invalid prefixTokens: ${prefixTokens} leaves no spatial token of ${T}`);
  for (let b = 0; b < B; b++) {
    for (let t = prefixTokens; t < T; t++) {
      const o = (b * T + t) * D;
      for (let d = 0; d < D; d++) out[b * D + d] += X[o + d];
    }
    for (let d = 0; d < D; d++) out[b * D + d] /= spatial;
  }
  return { data: out, shape: [B, D] };
}

/**
 * Space-to-depth of a feature map [B, C, H, W] to a coarser grid [gh, gw]: each (H/gh) × (W/gw)
 * block becomes channels, output [B, C·bh·bw, gh, gw] with channel (dy·bw + dx)·C + c
 * (TensorFlow `space_to_depth` order). Pool with `gap` afterwards for Raghu's ResNet probes.
 * @example spaceToDepth(stage1, [7, 7]).shape // [B, 256·8·8, 7, 7] for a 56 × 56 map
 */
export function spaceToDepth(x: Tensor, targetGrid: [number, number]): Tensor<Float64Array> {
  const s = x.shape;
  if (s.length !== 4) throw new RangeError(`invalid spaceToDepth input shape [${s}]: expected [B, C, H, W]`);
  const [B, C, H, W] = s;
  const [gh, gw] = targetGrid;
  if (!Number.isInteger(gh) || !Number.isInteger(gw) || gh < 1 || gw < 1 || H % gh !== 0 || W % gw !== 0) {
    throw new RangeError(`invalid targetGrid: ${targetGrid} does not divide ${H} × ${W}`);
  }
  const bh = H / gh;
  const bw = W / gw;
  const C2 = C * bh * bw;
  const X = x.data;
  const out = new Float64Array(B * C2 * gh * gw);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
    const c2 = ((y % bh) * bw + (xx % bw)) * C + c;
    const gy = Math.floor(y / bh);
    const gx = Math.floor(xx / bw);
    out[((b * C2 + c2) * gh + gy) * gw + gx] = X[((b * C + c) * H + y) * W + xx];
  }
  return { data: out, shape: [B, C2, gh, gw] };
}
