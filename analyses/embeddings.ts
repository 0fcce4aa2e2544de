/**
 * Weights-only figures of the ViT paper, Fig. 7 left and centre (METHODS.md §7): principal
 * components of the patch-embedding filters, and cosine similarity of position embeddings.
 */
import type { Tensor } from "../src/tensor.js";
import { symmetricEigenTop, type Matrix } from "../src/numeric/linalg.js";
import { columnGram, matmulTransB, rowSet } from "../src/numeric/matmul.js";

/** Layout of the patch-embedding weight: Conv [D, C, P, P], or Linear [P·P·C, D] with input order (y, x, c). */
export type PatchEmbeddingLayout = "conv" | "linear";

/** Options of {@link patchEmbeddingComponents}. */
export interface PatchEmbeddingOptions {
  layout: PatchEmbeddingLayout;
  /** Input channels C; required for `linear` (the Conv weight carries it). */
  channels?: number;
  /** Patch size P; required for `linear`. */
  patchSize?: number;
  /** Number of principal components (default 28, as in the ViT paper). */
  components?: number;
  /**
   * Feature order of the Linear layout's P·P·C inputs: `yxc` (default; timm/flax
   * "(p1 p2 c)") or `cyx` (a flattened Conv kernel).
   */
  linearOrder?: "yxc" | "cyx";
}

/** Principal components of the filters, each a P × P × C image. */
export interface PatchEmbeddingComponents {
  analysis: "embeddings";
  settings: { layout: PatchEmbeddingLayout; components: number; centred: "over-embedding-dims"; linearOrder: "yxc" | "cyx" };
  /** Embedding dims D (rows), patch size P, channels C. */
  embedDim: number;
  patchSize: number;
  channels: number;
  /** [k, P, P, C]: component i as an image (unit-norm vector; sign: largest-|·| entry positive). */
  components: { data: Float64Array; shape: [number, number, number, number] };
  /** Variance along each component: σᵢ² / (D − 1) for the centred D × (P·P·C) matrix. */
  explainedVariance: Float64Array;
  /** Share of the total variance, σᵢ² / Σσ². */
  explainedVarianceRatio: Float64Array;
}

/**
 * The filters as a D × (P·P·C) float64 matrix with columns in (y, x, c) image order.
 * @example filterMatrix(convWeight, { layout: "conv" }).shape // [768, 768]
 */
export function filterMatrix(weight: Tensor, options: PatchEmbeddingOptions): { filters: Matrix; patchSize: number; channels: number } {
  const W = weight.data;
  if (options.layout === "conv") {
    const s = weight.shape;
    if (s.length !== 4 || s[2] !== s[3]) throw new RangeError(`invalid conv patch-embedding weight shape [${s}]: expected [D, C, P, P]`);
    const [D, C, P] = s;
    const K = P * P * C;
    const X = new Float64Array(D * K);
    for (let d = 0; d < D; d++) for (let c = 0; c < C; c++) for (let y = 0; y < P; y++) for (let x = 0; x < P; x++) {
      X[d * K + (y * P + x) * C + c] = W[((d * C + c) * P + y) * P + x];
    }
    return { filters: { data: X, shape: [D, K] }, patchSize: P, channels: C };
  }
  if (options.layout !== "linear") throw new RangeError(`invalid layout: ${options.layout}`);
  const s = weight.shape;
  const { channels: C, patchSize: P } = options;
  if (!Number.isInteger(C) || !Number.isInteger(P) || C! < 1 || P! < 1) throw new RangeError(`invalid channels/patchSize: ${C}/${P} (both required for the linear layout)`);
  if (s.length !== 2 || s[0] !== P! * P! * C!) throw new RangeError(`invalid linear patch-embedding weight shape [${s}]: expected [${P! * P! * C!}, D]`);
  const K = s[0];
  const D = s[1];
  const order = options.linearOrder ?? "yxc";
  const X = new Float64Array(D * K);
  for (let i = 0; i < K; i++) {
    // Map input feature i to its (y, x, c) image column.
    let col = i;
    if (order === "cyx") {
      const c = Math.floor(i / (P! * P!));
      const yx = i % (P! * P!);
      col = yx * C! + c;
    } else if (order !== "yxc") throw new RangeError(`invalid linearOrder: ${order}`);
    for (let d = 0; d < D; d++) X[d * K + col] = W[i * D + d];
  }
  return { filters: { data: X, shape: [D, K] }, patchSize: P!, channels: C! };
}

/**
 * Top principal components of the patch-embedding filters (ViT paper Fig. 7 left): rows of
 * D × (P·P·C) are centred over D, and the right singular vectors are taken from the
 * eigendecomposition of the smaller of the two Gram matrices.
 * @example patchEmbeddingComponents(w, { layout: "conv" }).components.shape // [28, 16, 16, 3]
 */
export function patchEmbeddingComponents(weight: Tensor, options: PatchEmbeddingOptions): PatchEmbeddingComponents {
  const { filters, patchSize: P, channels: C } = filterMatrix(weight, options);
  const [D, K] = filters.shape;
  const k = options.components ?? 28;
  if (!Number.isInteger(k) || k < 1 || k > Math.min(D, K)) throw new RangeError(`invalid components: ${k} (at most min(D, P·P·C) = ${Math.min(D, K)})`);
  const X = filters.data.slice();
  for (let j = 0; j < K; j++) {
    let m = 0;
    for (let d = 0; d < D; d++) m += X[d * K + j];
    m /= D;
    for (let d = 0; d < D; d++) X[d * K + j] -= m;
  }
  const out = new Float64Array(k * K);
  let values: Float64Array;
  if (K <= D) {
    // Right singular vectors are the eigenvectors of XᵀX (K × K).
    const G = columnGram(rowSet(X, D, K));
    const e = symmetricEigenTop({ data: G, shape: [K, K] }, k);
    values = e.values;
    for (let i = 0; i < k; i++) for (let j = 0; j < K; j++) out[i * K + j] = e.vectors.data[j * k + i];
  } else {
    // D < K: eigenvectors u of XXᵀ (D × D) give v = Xᵀu / σ.
    const G = matmulTransB(rowSet(X, D, K));
    const e = symmetricEigenTop({ data: G, shape: [D, D] }, k);
    values = e.values;
    for (let i = 0; i < k; i++) {
      const sigma = Math.sqrt(Math.max(values[i], 0));
      if (sigma === 0) throw new RangeError(`invalid components: ${k}; the filters have rank below ${i + 1}`);
      for (let d = 0; d < D; d++) {
        const u = e.vectors.data[d * k + i] / sigma;
        if (u === 0) continue;
        for (let j = 0; j < K; j++) out[i * K + j] += u * X[d * K + j];
      }
    }
  }
  // Deterministic sign: the largest-magnitude entry of each component is positive.
  for (let i = 0; i < k; i++) {
    let best = 0;
    for (let j = 1; j < K; j++) if (Math.abs(out[i * K + j]) > Math.abs(out[i * K + best])) best = j;
    if (out[i * K + best] < 0) for (let j = 0; j < K; j++) out[i * K + j] = -out[i * K + j];
  }
  let total = 0;
  for (let i = 0; i < values.length; i++) total += Math.max(values[i], 0);
  const explainedVariance = new Float64Array(k);
  const explainedVarianceRatio = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const v = Math.max(values[i], 0);
    explainedVariance[i] = D > 1 ? v / (D - 1) : 0;
    explainedVarianceRatio[i] = total > 0 ? v / total : 0;
  }
  return {
    analysis: "embeddings",
    settings: { layout: options.layout, components: k, centred: "over-embedding-dims", linearOrder: options.linearOrder ?? "yxc" },
    embedDim: D,
    patchSize: P,
    channels: C,
    components: { data: out, shape: [k, P, P, C] },
    explainedVariance,
    explainedVarianceRatio,
  };
}

/** Cosine similarity of position embeddings as g×g tiles of g×g. */
export interface PositionEmbeddingSimilarity {
  analysis: "embeddings";
  settings: { prefixTokens: number; similarity: "cosine" };
  grid: [number, number];
  /** [gh, gw, gh, gw]: entry (r1, c1, r2, c2) is cos(e(r1, c1), e(r2, c2)). */
  similarity: { data: Float64Array; shape: [number, number, number, number] };
}

/**
 * Cosine similarity between each patch's position embedding and all others (ViT paper Fig. 7
 * centre), prefix tokens (CLS, registers) excluded. `pos` is [1, T, D] or [T, D]; the grid is
 * square unless given.
 * @example positionEmbeddingSimilarity(pos, { prefixTokens: 1 }).similarity.shape // [14, 14, 14, 14]
 */
export function positionEmbeddingSimilarity(
  pos: Tensor,
  { prefixTokens = 1, grid }: { prefixTokens?: number; grid?: [number, number] } = {},
): PositionEmbeddingSimilarity {
  const s = pos.shape;
  if (!(s.length === 2 || (s.length === 3 && s[0] === 1))) throw new RangeError(`invalid position embedding shape [${s}]: expected [1, T, D] or [T, D]`);
  const T = s[s.length - 2];
  const D = s[s.length - 1];
  if (!Number.isInteger(prefixTokens) || prefixTokens < 0 || prefixTokens >= T) throw new RangeError(`invalid prefixTokens: ${prefixTokens}`);
  const n = T - prefixTokens;
  let g: [number, number];
  if (grid) {
    if (grid[0] * grid[1] !== n) throw new RangeError(`invalid grid: ${grid} for ${n} patch tokens`);
    g = [grid[0], grid[1]];
  } else {
    const side = Math.round(Math.sqrt(n));
    if (side * side !== n) throw new RangeError(`invalid position embedding: ${n} patch tokens are not a square grid; pass grid`);
    g = [side, side];
  }
  const E = pos.data;
  const norms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    const o = (prefixTokens + i) * D;
    for (let d = 0; d < D; d++) ss += E[o + d] * E[o + d];
    norms[i] = Math.sqrt(ss);
  }
  // The token order of the grid is row-major, so [n, n] laid out flat is already [gh, gw, gh, gw].
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const oi = (prefixTokens + i) * D;
    for (let j = 0; j <= i; j++) {
      const oj = (prefixTokens + j) * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += E[oi + d] * E[oj + d];
      const c = dot / (norms[i] * norms[j]);
      out[i * n + j] = c;
      out[j * n + i] = c;
    }
  }
  return {
    analysis: "embeddings",
    settings: { prefixTokens, similarity: "cosine" },
    grid: g,
    similarity: { data: out, shape: [g[0], g[1], g[0], g[1]] },
  };
}
