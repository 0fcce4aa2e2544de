/**
 * A synthetic but realistically shaped ReportData (a ViT-B/16-like model with ~150 sites and a
 * ResNet-like model), for tests and for a look at the report without running the analyses.
 * The numbers are made up from smooth formulas with a seeded generator; they only imitate the
 * qualitative shapes in Raghu et al. (2021). Some names are deliberately hostile HTML.
 */
import type { Heatmap, ReportData } from "./types.js";
import { uniform as random } from "../src/numeric/random.js";

/** Hostile site and label names used by the escaping tests. */
export const HOSTILE = {
  img: "<img src=x onerror=alert(1)>",
  script: "</script><script>alert(1)</script>",
  label: "ViT-B/16 <b>&amp;</b>",
} as const;

/** 150 sites for 12 blocks: the raster path of the heatmap needs more than 60. */
function vitSites(blocks: number): string[] {
  const sites = ["patch_embed", "pos_embed", "cls_token"];
  for (let b = 0; b < blocks; b++) {
    for (const s of ["ln1", "attn.out", "resid_mid", "ln2", "mlp.hidden", "mlp.out", "out"]) sites.push(`blocks.${b}.${s}`);
    for (const s of ["attn.q", "attn.k", "attn.v", "attn.probs", "mlp.act"]) sites.push(`blocks.${b}.${s}`);
  }
  sites.push("norm", "head.pre", "logits");
  return sites;
}

function resnetSites(): string[] {
  const sites = ["stem"];
  const units = [3, 4, 6, 3];
  units.forEach((n, s) => {
    for (let u = 0; u < n; u++) for (const k of ["branch", "shortcut", "out"]) sites.push(`stages.${s}.units.${u}.${k}`);
  });
  sites.push("head.pre", "logits");
  return sites;
}

function cka(id: string, title: string, rowModel: string, colModel: string, rows: string[], cols: string[], seed: number, tau: number): Heatmap {
  const rnd = random(seed);
  const data = new Float64Array(rows.length * cols.length);
  for (let i = 0; i < rows.length; i++) {
    for (let j = 0; j < cols.length; j++) {
      const di = i / (rows.length - 1);
      const dj = j / (cols.length - 1);
      const v = Math.exp(-Math.abs(di - dj) / tau) * (0.92 + 0.08 * rnd()) - 0.02 * rnd();
      data[i * cols.length + j] = rowModel === colModel && i === j ? 1 : v;
    }
  }
  if (rowModel === colModel) {
    for (let i = 0; i < rows.length; i++) for (let j = 0; j < i; j++) data[i * cols.length + j] = data[j * cols.length + i];
  }
  return { id, title, rowModel, colModel, rows, cols, data, estimator: "minibatch-unbiased", tokens: "all" };
}

/**
 * The demo report data. Long on purpose: it is one literal of every section's synthetic data,
 * read top to bottom like the report it renders.
 * @example renderReport(demoReportData())
 */
export function demoReportData(): ReportData {
  const rnd = random(7);
  const blocks = 12;
  const vit = vitSites(blocks);
  vit[40] = HOSTILE.img;
  const res = resnetSites();
  res[10] = HOSTILE.script;
  const g = 14;
  const ceiling = 116.49;

  const attentionLayers = Array.from({ length: blocks }, (_, l) => ({
    layer: l,
    heads: Array.from({ length: 12 }, (_, h) => {
      const lo = 15 + (l / (blocks - 1)) * 85;
      return Math.min(ceiling * 0.99, lo + (ceiling - lo) * (h / 11) * (0.6 + 0.4 * rnd()));
    }),
    clsMass: Array.from({ length: 12 }, () => 0.02 + 0.2 * rnd() * (l / blocks)),
  }));

  const pos = new Float64Array(g ** 4);
  for (let i = 0; i < g; i++)
    for (let j = 0; j < g; j++)
      for (let k = 0; k < g; k++)
        for (let l = 0; l < g; l++) {
          const d2 = (i - k) ** 2 + (j - l) ** 2;
          const stripe = i === k || j === l ? 0.25 : 0;
          pos[(i * g + j) * g * g + k * g + l] = Math.max(-1, Math.min(1, 1.25 * Math.exp(-d2 / 6) + stripe - 0.25));
        }

  const P = 16;
  const components = Array.from({ length: 28 }, (_, c) => {
    const fx = (c % 5) + 0.5;
    const fy = Math.floor(c / 5) + 0.5;
    const data = new Float64Array(3 * P * P);
    for (let ch = 0; ch < 3; ch++)
      for (let y = 0; y < P; y++)
        for (let x = 0; x < P; x++)
          data[ch * P * P + y * P + x] = Math.cos((Math.PI * fx * (x + 0.5)) / P) * Math.cos((Math.PI * fy * (y + 0.5)) / P) * (1 + 0.3 * (ch - 1) * (c % 3 === 0 ? 1 : 0));
    return { data, variance: 0.3 * Math.exp(-c / 5) };
  });

  const locMaps = [
    [2, 3],
    [7, 7],
    [11, 2],
    [12, 12],
  ].map(([r, c]) => {
    const data = new Float64Array(g * g);
    for (let k = 0; k < g; k++) for (let l = 0; l < g; l++) data[k * g + l] = 0.05 + 0.6 * Math.exp(-((k - r) ** 2 + (l - c) ** 2) / 2);
    return { position: [r, c] as [number, number], label: `token (${r}, ${c})`, data };
  });

  const collapseNames = Array.from({ length: blocks }, (_, l) => `blocks.${l}.attn.probs`);
  const collapse = new Float64Array(blocks * blocks);
  for (let p = 0; p < blocks; p++) for (let q = 0; q < blocks; q++) collapse[p * blocks + q] = p === q ? 1 : 0.3 + 0.6 * Math.exp(-Math.abs(p - q) / 3) * Math.min(p, q) / blocks;

  return {
    run: {
      title: "ViT-B/16 vs ResNet-50 on Fashion-MNIST (synthetic demo)",
      toolVersion: "0.1.0",
      created: "2026-11-22T05:30:00Z",
      models: [
        { id: "vit", label: HOSTILE.label, file: "models/vit_b16.onnx", sha256: "9f2c".padEnd(64, "0"), family: "vit", sites: vit.length },
        { id: "resnet", label: "ResNet-50", file: `models/${HOSTILE.img}.onnx`, sha256: "41ab".padEnd(64, "7"), family: "cnn", sites: res.length },
      ],
      data: { path: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte", images: 2560, sampleDigest: "sha256:" + "c0ffee".padEnd(64, "1") },
      settings: { estimator: "minibatch-unbiased", tokens: "all", batchSize: 256, batches: 10, seed: 0, sites: "all", attention: "renormalised" },
      timings: { activations: 812.4, cka: 95.2, attention: 12.7, probes: 41.9 },
      sanity: [
        { id: "cka.self", passed: true, value: 1, detail: "CKA(X, X) = 1 for every site" },
        { id: "cka.symmetric", passed: true, value: "2.2e-16", detail: "max |K - Kᵀ|" },
        { id: "attention.uniform", passed: true, value: 116.49, detail: "uniform attention 14×14, P = 16" },
        { id: "probe.chance", passed: false, value: 0.13, detail: `shuffled labels above chance at ${HOSTILE.script}` },
      ],
      warnings: [`site ${HOSTILE.img} has a constant activation; its CKA is undefined`],
    },
    cka: [
      cka("vit-vit", `${HOSTILE.label}: CKA between sites`, "vit", "vit", vit, vit, 1, 0.35),
      cka("resnet-resnet", "ResNet-50: CKA between sites", "resnet", "resnet", res, res, 2, 0.12),
      cka("vit-resnet", "ViT-B/16 × ResNet-50", "vit", "resnet", vit, res, 3, 0.25),
    ],
    attentionDistance: [{ model: "vit", patchSize: 16, grid: [g, g], ceiling, weighting: "renormalised", layers: attentionLayers }],
    skipRatio: [
      {
        model: "vit",
        rows: Array.from({ length: blocks }, (_, b) => [
          { block: b, sublayer: "attn" as const, cls: b < 6 ? 30 - 3 * b : 5, spatial: 2 + b * 1.5 },
          { block: b, sublayer: "mlp" as const, cls: b < 6 ? 20 - 2 * b : 4, spatial: 1.5 + b * 1.2 },
        ]).flat(),
      },
      { model: "resnet", rows: Array.from({ length: 16 }, (_, b) => ({ block: b, sublayer: "unit" as const, spatial: 0.8 + 0.1 * rnd() })) },
    ],
    probes: [
      {
        model: "vit",
        series: [
          { name: "cls, 10-shot", points: Array.from({ length: 13 }, (_, b) => ({ depth: b / 12, accuracy: 0.15 + 0.7 * (b / 12) ** 3, site: `blocks.${b}.out` })) },
          { name: "gap, 10-shot", points: Array.from({ length: 13 }, (_, b) => ({ depth: b / 12, accuracy: 0.3 + 0.55 * Math.sqrt(b / 12), site: `blocks.${b}.out` })) },
        ],
      },
      { model: "resnet", series: [{ name: "gap, 10-shot", points: Array.from({ length: 17 }, (_, u) => ({ depth: u / 16, accuracy: 0.2 + 0.6 * (u / 16) ** 1.5, site: u === 5 ? HOSTILE.script : `unit ${u}` })) }] },
    ],
    localisation: [{ model: "vit", grid: [g, g], maps: locMaps }],
    posEmbed: [{ model: "vit", grid: [g, g], data: pos }],
    filters: [{ model: "vit", patchSize: P, channels: 3, components }],
    collapse: [{ model: "vit", id: "collapse-vit", title: "ViT-B/16: attention collapse", rowModel: "vit", colModel: "vit", rows: collapseNames, cols: collapseNames, data: collapse }],
    dataScale: [
      {
        kind: "line",
        id: "data-scale",
        title: "CKA to the final checkpoint by training-set size",
        caption: "Per-block CKA of models trained on 3%, 10% and 100% of the data against the 100% model (Raghu Fig. 12).",
        xLabel: "block",
        yLabel: "CKA",
        series: [3, 10, 100].map((pct) => ({ name: `${pct}% data`, points: Array.from({ length: 12 }, (_, b) => ({ x: b, y: Math.min(1, 0.5 + (pct / 100) * 0.5 - b * 0.01 * (100 - pct) / 100) })) })),
      },
    ],
    ablation: [
      {
        kind: "heatmap",
        id: "skip-removed",
        title: "CKA with both skips of block 6 removed (inference-ablation)",
        caption: "inference-ablation: out = f(z) at block 6 of the frozen graph; not the paper's retrained model.",
        rowModel: "vit",
        colModel: "vit",
        rows: Array.from({ length: blocks }, (_, b) => `blocks.${b}.out`),
        cols: Array.from({ length: blocks }, (_, b) => `blocks.${b}.out`),
        data: Array.from({ length: blocks * blocks }, (_, k) => {
          const i = Math.floor(k / blocks);
          const j = k % blocks;
          return (i < 6) === (j < 6) ? 0.9 - 0.03 * Math.abs(i - j) : 0.2;
        }),
      },
    ],
    omitted: { attentionDistance: "ResNet-50 is convolutional: it has no attention heads." },
  };
}
