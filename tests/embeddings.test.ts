import { describe, expect, it } from "vitest";
import { filterMatrix, patchEmbeddingComponents, positionEmbeddingSimilarity } from "../analyses/embeddings.js";
import { maxRelativeError, readFloat } from "./helpers/npy-b.js";

const dir = "fixtures/reference/analyses-b";

/** Max |a − s·b| per component (k rows of length K), with s = ±1 chosen per component. */
function maxComponentError(a: ArrayLike<number>, b: ArrayLike<number>, k: number): number {
  const K = a.length / k;
  let worst = 0;
  for (let i = 0; i < k; i++) {
    let dot = 0;
    for (let j = 0; j < K; j++) dot += a[i * K + j] * b[i * K + j];
    const s = Math.sign(dot);
    for (let j = 0; j < K; j++) worst = Math.max(worst, Math.abs(a[i * K + j] - s * b[i * K + j]));
  }
  return worst;
}

describe("patchEmbeddingComponents", () => {
  it("conv weight [D, C, P, P] with D < P·P·C: top 28 components match numpy SVD up to sign", () => {
    const w = readFloat(`${dir}/pca_conv_w.npy`);
    const r = patchEmbeddingComponents(w, { layout: "conv" });
    expect(r.components.shape).toEqual([28, 4, 4, 3]);
    expect(maxComponentError(r.components.data, readFloat(`${dir}/pca_conv_components.npy`).data, 28)).toBeLessThan(1e-9);
    expect(maxRelativeError(r.explainedVariance, readFloat(`${dir}/pca_conv_variance.npy`).data)).toBeLessThan(1e-9);
    expect(maxRelativeError(r.explainedVarianceRatio, readFloat(`${dir}/pca_conv_ratio.npy`).data)).toBeLessThan(1e-9);
  });

  it("linear weight [P·P·C, D] with P·P·C < D: 10 components match numpy SVD up to sign", () => {
    const w = readFloat(`${dir}/pca_linear_w.npy`);
    const r = patchEmbeddingComponents(w, { layout: "linear", patchSize: 3, channels: 3, components: 10 });
    expect(r.components.shape).toEqual([10, 3, 3, 3]);
    expect(r.embedDim).toBe(50);
    expect(maxComponentError(r.components.data, readFloat(`${dir}/pca_linear_components.npy`).data, 10)).toBeLessThan(1e-9);
    expect(maxRelativeError(r.explainedVariance, readFloat(`${dir}/pca_linear_variance.npy`).data)).toBeLessThan(1e-9);
    expect(maxRelativeError(r.explainedVarianceRatio, readFloat(`${dir}/pca_linear_ratio.npy`).data)).toBeLessThan(1e-9);
  });

  it("filterMatrix gives the same matrix for a conv kernel and its linear `cyx` flattening", () => {
    const w = readFloat(`${dir}/pca_conv_w.npy`); // [40, 3, 4, 4]
    const [D, C, P] = w.shape;
    const K = C * P * P;
    const lin = new Float64Array(K * D);
    for (let d = 0; d < D; d++) for (let i = 0; i < K; i++) lin[i * D + d] = w.data[d * K + i];
    const a = filterMatrix(w, { layout: "conv" }).filters.data;
    const b = filterMatrix({ data: lin, shape: [K, D] }, { layout: "linear", patchSize: P, channels: C, linearOrder: "cyx" }).filters.data;
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it("patchEmbeddingComponents rejects more components than the rank allows", () => {
    const w = readFloat(`${dir}/pca_linear_w.npy`);
    expect(() => patchEmbeddingComponents(w, { layout: "linear", patchSize: 3, channels: 3, components: 28 })).toThrow(/invalid components: 28/);
  });

  it("patchEmbeddingComponents rejects a linear weight without patch size and channels", () => {
    const w = readFloat(`${dir}/pca_linear_w.npy`);
    expect(() => patchEmbeddingComponents(w, { layout: "linear" })).toThrow(/invalid channels\/patchSize/);
  });
});

describe("positionEmbeddingSimilarity", () => {
  it("positionEmbeddingSimilarity matches numpy cosine grid [5, 5, 5, 5] with CLS excluded", () => {
    const pos = readFloat(`${dir}/pos_embed.npy`); // [1, 26, 12]
    const r = positionEmbeddingSimilarity(pos, { prefixTokens: 1 });
    expect(r.grid).toEqual([5, 5]);
    expect(r.similarity.shape).toEqual([5, 5, 5, 5]);
    expect(maxRelativeError(r.similarity.data, readFloat(`${dir}/pos_cosine.npy`).data, 1e-6)).toBeLessThan(1e-9);
    for (let i = 0; i < 25; i++) expect(r.similarity.data[i * 25 + i]).toBeCloseTo(1, 12);
  });

  it("positionEmbeddingSimilarity rejects a non-square patch count without a grid", () => {
    const pos = readFloat(`${dir}/pos_embed.npy`);
    expect(() => positionEmbeddingSimilarity(pos, { prefixTokens: 2 })).toThrow(/24 patch tokens are not a square grid/);
    expect(positionEmbeddingSimilarity(pos, { prefixTokens: 2, grid: [4, 6] }).similarity.shape).toEqual([4, 6, 4, 6]);
  });
});
