/**
 * The windowed attention-distance tap (METHODS.md §2 for Swin's shifted windows and MaxViT's
 * block and grid attention; docs/methods.md "windowed attention"). The map stays whole: it is
 * viewed per image as [B, ...S] (S its batch-1 shape, windows merged into the batch or on
 * their own axis), multiplied by a constant [1, ...S] distance tensor (head axes broadcast)
 * and reduced over keys; one MatMul with key-indicator columns (or a Mul by the key mask when
 * windows are padded) gives the masses. Only the small per-query result is transposed to
 * [B, heads, windows·N, 3], query order = (window, token) as src/onnx/sites/windows.ts
 * numbers them.
 */
import type { Builder } from "./taps.js";

export interface WindowDistanceTap {
  kind: "window-distance";
  tensor: string;
  /** The map's shape at batch 1 (leading axis: windows merged into the batch, or the batch). */
  mapShape: number[];
  /** Leading axes of mapShape that hold heads (broadcast in the constants). */
  headAxes: number[];
  /** d(q, k) in input pixels over mapShape with head axes set to 1; 0 for padding keys. */
  distances: Float32Array;
  /** 1 for image keys, 0 for padding keys (same shape as distances); omitted when nothing is padded. */
  keyMask?: Float32Array;
}

/** Builds the tap; returns its output [B, heads, windows·N, 3]: Σ_k A·d, Σ_k A over image keys, Σ_k A over padding keys. */
export function windowDistanceTap(b: Builder, spec: WindowDistanceTap, out: string): string {
  const S = spec.mapShape;
  const r = S.length;
  const N = S[r - 1];
  const dShape = [1, ...S.map((d, a) => (spec.headAxes.includes(a) ? 1 : d))];
  const key = `${S.join("x")}/${spec.headAxes.join("_")}/${out}`;
  const d = b.floats(`seelike/const/window-distances/${key}`, spec.distances, dShape);
  const perImage = b.node("Reshape", [spec.tensor, b.ints([-1, ...S])], `${out}/per-image`);
  const num = b.reduce("ReduceSum", b.node("Mul", [perImage, d], `${out}/weighted`), [-1], true, `${out}/num`);
  let masses: string;
  if (!spec.keyMask) {
    const ind = new Float32Array(N * 2);
    for (let k = 0; k < N; k++) ind[k * 2] = 1;
    masses = b.node("MatMul", [perImage, b.floats(`seelike/const/window-key-indicators/${N}`, ind, [N, 2])], `${out}/masses`);
  } else {
    const m = b.floats(`seelike/const/window-key-mask/${key}`, spec.keyMask, dShape);
    const image = b.reduce("ReduceSum", b.node("Mul", [perImage, m], `${out}/image-keys`), [-1], true, `${out}/image-mass`);
    const all = b.reduce("ReduceSum", perImage, [-1], true, `${out}/mass`);
    masses = b.node("Concat", [image, b.node("Sub", [all, image], `${out}/pad-mass`)], `${out}/masses`, [b.attr("axis", -1)]);
  }
  const sums = b.node("Concat", [num, masses], `${out}/sums`, [b.attr("axis", -1)]);
  // [B, ...S[:-1], 3] → [B, heads..., windows..., N, 3] → [B, H, windows·N, 3]
  const lead = S.slice(0, r - 2).map((_, a) => a);
  const heads = lead.filter((a) => spec.headAxes.includes(a));
  const wins = lead.filter((a) => !spec.headAxes.includes(a));
  const perm = [0, ...heads.map((a) => a + 1), ...wins.map((a) => a + 1), r - 1, r];
  const H = heads.reduce((p, a) => p * S[a], 1);
  const Q = wins.reduce((p, a) => p * S[a], 1) * N;
  const t = b.node("Transpose", [sums], `${out}/by-head`, [b.attr("perm", perm)]);
  return b.node("Reshape", [t, b.ints([-1, H, Q, 3])], out);
}
