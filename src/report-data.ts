/**
 * Results → the report's view model (reports/types.ts). Accepts results straight from a run
 * (typed arrays) or read back from results.json (plain arrays, NaN as null).
 */
import path from "node:path";
import type { Results } from "./run.js";
import type { ReportData, Heatmap, SanityCheck, Panel, SkipRatio } from "../reports/types.js";

type Arr = ArrayLike<number | null>;

function num(v: number | null | undefined): number {
  return v === null || v === undefined ? NaN : v;
}

function rowsOf(a: Arr, rows: number, cols: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) out.push(Array.from({ length: cols }, (_, c) => num(a[r * cols + c])));
  return out;
}

/**
 * The report view model of a run's results.
 * @example renderReport(reportData(await compare("a.onnx", "b.onnx", { data: "images/" })))
 */
export function reportData(results: Results, title?: string): ReportData {
  const labels = results.models.map((m) => m.label);
  const id = (label: string) => `m${Math.max(0, labels.indexOf(label))}`;
  const sanity: SanityCheck[] = [];
  for (const c of results.cka) {
    for (const check of c.sanity.checks) sanity.push({ id: `${c.id}: ${check.id}`, passed: check.passed, value: check.value, detail: check.detail });
  }
  const settings: Record<string, string | number | boolean> = {
    estimator: results.settings.estimator,
    tokens: results.settings.tokens,
    "site set": results.settings.siteSet,
    batch: results.settings.batch,
    seed: results.settings.seed,
    repeats: results.settings.repeats,
    "attention weighting": results.settings.attentionWeighting,
    "probe shots": results.settings.probeShots,
    analyses: results.settings.analyses.join(", "),
  };
  if (results.settings.ablate.length) settings["ablated blocks"] = results.settings.ablate.join(", ");
  if (results.shard) settings.shard = `${results.shard.index}/${results.shard.count}`;
  for (const m of results.models) {
    settings[`preprocessing: ${m.label}`] = JSON.stringify(results.settings.models[results.models.indexOf(m)]?.preprocessing ?? {});
  }
  for (const [label, acc] of Object.entries(results.accuracy)) settings[`accuracy: ${label}`] = Number(num(acc.accuracy).toFixed(4));

  const data: ReportData = {
    run: {
      title: title ?? (labels.length > 1 ? `${labels[0]} vs ${labels[1]}` : `${labels[0]}`),
      toolVersion: results.settings.version,
      created: new Date().toISOString(),
      models: results.models.map((m) => ({ id: id(m.label), label: m.label, file: path.basename(m.file), sha256: m.sha256, family: m.family, sites: Object.keys(m.ckaSites).length })),
      data: { path: results.settings.data.path, images: results.settings.data.images, sampleDigest: results.settings.data.sampleDigest },
      settings,
      timings: results.timings,
      sanity,
      warnings: results.warnings,
    },
    omitted: {},
  };

  // CKA heatmaps: A×A, B×B, A×B of the main pair, then the other pairs' cross matrices.
  const heatmaps: Heatmap[] = [];
  const ablationPanels: Panel[] = [];
  for (const c of results.cka) {
    const mats = c.result.matrices;
    const push = (key: "AA" | "BB" | "AB", rowLabel: string, colLabel: string, into: Heatmap[]) => {
      const m = mats[key];
      if (!m) return;
      into.push({
        id: `${c.id}-${key}`.replace(/[^A-Za-z0-9-]/g, "-"),
        title: key === "AB" ? `CKA: ${rowLabel} × ${colLabel}` : `CKA: ${rowLabel}`,
        rowModel: id(rowLabel),
        colModel: id(colLabel),
        rows: m.rows,
        cols: m.cols,
        data: m.data as Arr,
        estimator: c.result.estimator,
        tokens: c.result.tokens,
      });
    };
    if (c.id.startsWith("ablation:")) {
      const cross: Heatmap[] = [];
      push("AB", c.a, c.b ?? c.a, cross);
      for (const h of cross) ablationPanels.push({ kind: "heatmap", ...h, caption: `Inference-ablation (not the paper's retrained model): CKA between ${c.a} and the same graph with both residuals of block ${c.id.split(":")[1]} removed at inference.` });
      continue;
    }
    const first = c === results.cka.find((x) => !x.id.startsWith("ablation:"));
    if (first) {
      push("AA", c.a, c.a, heatmaps);
      if (c.b) push("BB", c.b, c.b, heatmaps);
    }
    if (c.b) push("AB", c.a, c.b, heatmaps);
  }
  if (heatmaps.length) data.cka = heatmaps;
  else data.omitted!.cka = "CKA was not run";

  const att = Object.entries(results.attention);
  if (att.length) {
    data.attentionDistance = att.map(([label, r]) => {
      const [L, H] = r.distance.shape;
      const d = rowsOf(r.distance.data as Arr, L, H);
      const mass = rowsOf(r.prefixMass.data as Arr, L, H);
      return {
        model: id(label),
        patchSize: r.settings.patchSize,
        grid: r.settings.grid,
        ceiling: r.uniform.includingSelf,
        weighting: r.settings.weighting,
        layers: r.layers.map((layer, i) => ({ layer, heads: d[i], clsMass: r.settings.prefixTokens > 0 ? mass[i] : undefined })),
      };
    });
  } else data.omitted!.attentionDistance = "no model with attention";

  const skip = Object.entries(results.skip);
  if (skip.length) {
    data.skipRatio = skip.map(([label, r]): SkipRatio => {
      const conv = r.settings.convention;
      const blocks = uniqueBlocks(r.residuals.map((x) => x.residual));
      return {
        model: id(label),
        convention: conv,
        rows: r.residuals.map((e, i) => {
          const sub = /\.(attn|token_mix)$/.test(e.residual) ? "attn" : /\.(mlp|channel_mix)$/.test(e.residual) ? "mlp" : "unit";
          const v = e[conv];
          return {
            block: sub === "unit" ? i : blocks.indexOf(e.residual.replace(SUBLAYER, "")),
            sublayer: sub,
            cls: e.layout === "tokens" ? num(v.cls) : undefined,
            spatial: e.layout === "tokens" ? num(v.spatial) : num(v.whole),
            perToken: Array.from(v.perToken as Arr, num),
          };
        }),
      };
    });
  }

  const probes = Object.entries(results.probes);
  if (probes.length) {
    data.probes = probes.map(([label, reps]) => ({
      model: id(label),
      series: Object.entries(reps).flatMap(([rep, r]) => {
        if (!r) return [];
        const shots = r.blocks[0]?.fits.map((f) => f.shots) ?? [];
        return shots.map((s) => ({
          name: `${rep}, ${s === "full" ? "full data" : `${s}-shot`}`,
          points: r.blocks.map((b) => ({ depth: b.depth, accuracy: num(b.fits.find((f) => f.shots === s)?.testAccuracy), site: b.block })),
        }));
      }),
    }));
  } else data.omitted!.probes = "linear probes need labels and a training split (--train-data)";

  const loc = Object.entries(results.localisation);
  if (loc.length) {
    data.localisation = loc.flatMap(([label, r]) =>
      r.sites.map((s) => {
        const [P, gh, gw] = s.shape;
        return {
          model: id(label),
          grid: [gh, gw] as [number, number],
          maps: s.positions.slice(0, P).map((p, i) => ({
            position: [p[0], p[1]] as [number, number],
            label: `${s.site} token (${p[0]}, ${p[1]})`,
            data: Array.from({ length: gh * gw }, (_, k) => num((s.maps as Arr)[i * gh * gw + k])),
          })),
        };
      }),
    );
  }

  const emb = Object.entries(results.embeddings);
  const pos = emb.filter(([, e]) => e.positions);
  if (pos.length) data.posEmbed = pos.map(([label, e]) => ({ model: id(label), grid: e.positions!.grid, data: e.positions!.similarity.data as Arr }));
  else data.omitted!.posEmbed = "no learned position embedding found";
  const fil = emb.filter(([, e]) => e.filters);
  if (fil.length) {
    data.filters = fil.map(([label, e]) => {
      const f = e.filters!;
      const [k, P, , C] = f.components.shape;
      const size = P * P * C;
      return {
        model: id(label),
        patchSize: P,
        channels: C,
        layout: "hwc" as const,
        components: Array.from({ length: k }, (_, i) => ({ data: Array.from({ length: size }, (_, j) => num((f.components.data as Arr)[i * size + j])), variance: num((f.explainedVarianceRatio as Arr)[i]) })),
      };
    });
  } else data.omitted!.filters = "no patch embedding found";

  const col = Object.entries(results.collapse);
  if (col.length) {
    data.collapse = col.map(([label, r]) => ({
      id: `collapse-${id(label)}`,
      title: `Attention collapse: ${label}`,
      model: id(label),
      rowModel: id(label),
      colModel: id(label),
      rows: r.matrix.rows,
      cols: r.matrix.cols,
      data: r.matrix.data as Arr,
    }));
  }

  if (results.dataScale) {
    const ds = results.dataScale;
    const n = ds.blocks.length;
    data.dataScale = [{
      kind: "line",
      id: "data-scale",
      title: `Per-block CKA against ${ds.reference}`,
      caption: `Raghu et al. Fig. 12: CKA between each block of ${ds.reference} and the same block of each other checkpoint (diagonal of the cross-model matrix). Lower layers of models trained on less data stay close to the reference; higher layers drift.`,
      xLabel: "block",
      yLabel: "CKA",
      series: ds.series.map((s) => ({ name: s.name, points: Array.from(s.values as Arr, (v, i) => ({ x: i / Math.max(1, n - 1), y: num(v), label: ds.blocks[i] })) })),
    }];
  }

  if (results.ablation?.length) {
    const accs = results.ablation.filter((a) => a.accuracyIntact !== undefined && a.accuracyAblated !== undefined);
    if (accs.length) {
      ablationPanels.unshift({
        kind: "line",
        id: "ablation-accuracy",
        title: "Accuracy with residuals removed at inference",
        caption: "inference-ablation: both skip connections of one block removed from the frozen graph (out = f(z)); not the retrained models of Raghu et al. Fig. 8.",
        xLabel: "ablated block",
        yLabel: "accuracy",
        series: [
          { name: "intact", points: accs.map((a) => ({ x: a.block, y: num(a.accuracyIntact) })) },
          { name: "ablated", points: accs.map((a) => ({ x: a.block, y: num(a.accuracyAblated), label: a.label })) },
        ],
      });
    }
  }
  if (ablationPanels.length) data.ablation = ablationPanels;
  return data;
}

const SUBLAYER = /\.(attn|mlp|token_mix|channel_mix)$/;

function uniqueBlocks(residuals: string[]): string[] {
  const out: string[] = [];
  for (const r of residuals) {
    const b = r.replace(SUBLAYER, "");
    if (!out.includes(b)) out.push(b);
  }
  return out;
}
