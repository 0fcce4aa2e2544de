/**
 * The ViT paper's Fig. 7 left and centre (METHODS.md §7): principal components of the
 * patch-embedding filters, and cosine similarity of the learned position embeddings. Read from
 * the model's weights; no pass over the data.
 */
import path from "node:path";
import type { Tensor } from "../tensor.js";
import { initializerData, type OnnxModel } from "../onnx/model.js";
import type { ModelSites } from "../onnx/sites.js";
import { encodeNpy } from "../data/npy.js";
import { patchEmbeddingComponents, positionEmbeddingSimilarity, type PatchEmbeddingComponents, type PositionEmbeddingSimilarity } from "../../analyses/embeddings.js";
import type { ReportData } from "../../reports/types.js";
import { defineAnalysis } from "./contract.js";
import { csv, num, type Arr } from "./tables.js";

/** The embeddings figures of one model (either may be absent). */
export interface ModelEmbeddings {
  filters?: PatchEmbeddingComponents;
  positions?: PositionEmbeddingSimilarity;
}

async function modelEmbeddings(model: OnnxModel, sites: ModelSites, warn: (m: string) => void): Promise<ModelEmbeddings> {
  const out: ModelEmbeddings = {};
  try {
    if (sites.patchEmbed) {
      const w = await initializerData(model, sites.patchEmbed.weight);
      const layout = w.shape.length === 4 ? "conv" : "linear";
      const channels = layout === "conv" ? w.shape[1] : (model.imageInput.shape?.[1] as number);
      // The ViT paper shows the top 28 components; a small model has at most min(D, P·P·C).
      const p = sites.patchEmbed.patchSize;
      const components = Math.min(28, layout === "conv" ? w.shape[0] : w.shape[1], p * p * channels);
      out.filters = patchEmbeddingComponents(w as Tensor, { layout, channels, patchSize: p, components });
    }
  } catch (e) {
    warn(`${path.basename(model.path)}: patch-embedding filters skipped (${(e as Error).message})`);
  }
  try {
    if (sites.posEmbed && sites.grid) {
      const p = await initializerData(model, sites.posEmbed.initializer);
      const t = p.shape[p.shape.length - 2];
      const prefix = t - sites.grid[0] * sites.grid[1];
      if (prefix >= 0) out.positions = positionEmbeddingSimilarity(p as Tensor, { prefixTokens: prefix, grid: sites.grid });
    }
  } catch (e) {
    warn(`${path.basename(model.path)}: position-embedding similarity skipped (${(e as Error).message})`);
  }
  return out;
}

export const embeddings = defineAnalysis({
  id: "embeddings",
  summary: "patch-embedding filter components and position-embedding similarity (ViT paper Fig. 7)",
  options: [] as const,
  default: true,
  plan() {},
  async finish(ctx) {
    const out: Record<string, ModelEmbeddings> = {};
    for (const m of ctx.models) if (m.role === "model") out[m.label] = await modelEmbeddings(m.model, m.sites, ctx.warn);
    return Object.keys(out).length ? out : undefined;
  },
  *files(section, ctx) {
    for (const [label, e] of Object.entries(section)) {
      if (e.positions) {
        const [gh, gw] = e.positions.grid;
        const rows: unknown[][] = [["row", "col", "other_row", "other_col", "cosine"]];
        for (let a = 0; a < gh; a++) for (let b = 0; b < gw; b++) for (let c = 0; c < gh; c++) for (let d = 0; d < gw; d++) rows.push([a, b, c, d, e.positions.similarity.data[((a * gw + b) * gh + c) * gw + d]]);
        yield [`embeddings-positions-${ctx.slug(label)}.csv`, csv(rows)];
        yield [`embeddings-positions-${ctx.slug(label)}.npy`, encodeNpy(Float64Array.from(e.positions.similarity.data), e.positions.similarity.shape)];
      }
      if (e.filters) {
        const rows: unknown[][] = [["component", "explained_variance", "explained_variance_ratio"]];
        e.filters.explainedVariance.forEach((v, i) => rows.push([i, v, e.filters!.explainedVarianceRatio[i]]));
        yield [`embeddings-filters-${ctx.slug(label)}.csv`, csv(rows)];
        yield [`embeddings-filters-${ctx.slug(label)}.npy`, encodeNpy(Float64Array.from(e.filters.components.data), e.filters.components.shape)];
      }
    }
  },
  report(section, ctx) {
    const emb = Object.entries(section ?? {});
    const out: Partial<ReportData> = { omitted: {} };
    const pos = emb.filter(([, e]) => e.positions);
    if (pos.length) out.posEmbed = pos.map(([label, e]) => ({ model: ctx.modelId(label), grid: e.positions!.grid, data: e.positions!.similarity.data as Arr }));
    else out.omitted!.posEmbed = "no learned position embedding found";
    const fil = emb.filter(([, e]) => e.filters);
    if (fil.length) {
      out.filters = fil.map(([label, e]) => {
        const f = e.filters!;
        const [k, P, , C] = f.components.shape;
        const size = P * P * C;
        return {
          model: ctx.modelId(label),
          patchSize: P,
          channels: C,
          layout: "hwc" as const,
          components: Array.from({ length: k }, (_, i) => ({ data: Array.from({ length: size }, (_, j) => num((f.components.data as Arr)[i * size + j])), variance: num((f.explainedVarianceRatio as Arr)[i]) })),
        };
      });
    } else out.omitted!.filters = "no patch embedding found";
    return out;
  },
});
