/**
 * ReportData → figure specs: what each figure draws and its caption. Pure and shared by the
 * HTML report (specs are inlined as JSON and drawn by reports/client/) and by the Node-side SVG
 * of reports/figures.ts, which runs the same client modules.
 */
import type {
  AttentionDistance,
  Collapse,
  Filters,
  Heatmap,
  Localisation,
  Numbers,
  Panel,
  PosEmbed,
  Probes,
  ReportData,
  ReportModel,
  SectionId,
  SkipRatio,
} from "./types.js";

/** Colour schemes the client knows; diverging ones run blue (negative) → white → red. */
export type Scheme = "viridis" | "cividis" | "magma" | "rdbu" | "puor";

/** Values as they travel in JSON: NaN and ±Infinity become null. */
export type Values = (number | null)[];

/** A matrix of cells with labelled rows and columns (CKA, collapse, panels). */
export interface HeatmapSpec {
  title: string;
  rows: string[];
  cols: string[];
  /** rows.length × cols.length values, row-major. */
  values: Values;
  domain: [number, number];
  scheme: Scheme;
  rowTitle?: string;
  colTitle?: string;
  valueName?: string;
  legendLabel?: string;
  /** Longest side of the plot area in px (default 440). */
  size?: number;
  /** Per cell, shown on hover: an interval (e.g. a bootstrap 95% interval) and a p-value. */
  lower?: Values;
  upper?: Values;
  intervalName?: string;
  p?: Values;
}

/** One series of a line chart; `label` names the point in the tooltip (e.g. a site). */
export interface LineSeries {
  name: string;
  points: { x: number; y: number | null; label?: string }[];
}

/** A line chart (skip ratios, probes, CLS attention, panels). */
export interface LinesSpec {
  title: string;
  xLabel?: string;
  yLabel?: string;
  series: LineSeries[];
  xDomain?: [number, number];
  yDomain?: [number, number];
  yLog?: boolean;
  xInteger?: boolean;
  refLines?: { y: number; label: string }[];
  width?: number;
  height?: number;
}

/** Per-head values of one layer. */
export interface LayerHeads {
  layer: number;
  heads: Values;
}

/** One dot per head and layer, with the uniform-attention ceiling. */
export interface DotsSpec {
  title: string;
  layers: LayerHeads[];
  ceiling: number;
  ceilingLabel?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

/** Heads sorted by value, one panel per chosen layer. */
export interface SortedHeadsSpec {
  title: string;
  panels: LayerHeads[];
  ceiling: number;
}

/** Small multiples of grid maps with a shared colour scale. */
export interface TilesSpec {
  title: string;
  grid: [number, number];
  /** `position` [row, column] is outlined in its map. */
  maps: { label: string; position?: [number, number]; values: Values }[];
  domain: [number, number];
  scheme: Scheme;
  valueName?: string;
}

/** g×g tiles of g×g maps drawn as one raster (position-embedding similarity). */
export interface TileGridSpec {
  title: string;
  grid: [number, number];
  /** (gr·gc)² values: tile (i, j) holds patch (i, j) against every patch, row-major. */
  values: Values;
  domain: [number, number];
  scheme: Scheme;
  valueName?: string;
}

/** Filter components as small images, each scaled to its own range. */
export interface FiltersSpec {
  title: string;
  patchSize: number;
  channels: number;
  layout: "chw" | "hwc";
  components: { values: Values; variance: number }[];
}

/** The spec each figure kind draws; the client has one drawing module per key. */
export interface FigureSpecs {
  heatmap: HeatmapSpec;
  lines: LinesSpec;
  dots: DotsSpec;
  "sorted-heads": SortedHeadsSpec;
  tiles: TilesSpec;
  "tile-grid": TileGridSpec;
  filters: FiltersSpec;
}

/** Figure kinds drawn by reports/client/. */
export type FigureKind = keyof FigureSpecs;

/** A figure to draw: its kind with that kind's spec, and an id (prefix of the SVG's element ids). */
export type Drawable = { [K in FigureKind]: { id: string; kind: K; spec: FigureSpecs[K] } }[FigureKind];

/**
 * One figure: its kind, the plain-JSON spec the client draws, its caption (plain text), and
 * what it shows, so notebook helpers can pick it: `models` (model ids; [row, column] for a
 * heatmap) and `source` (the id of the heatmap or panel it was made from, when it has one).
 */
export type FigureSpec = Drawable & { caption: string; models: string[]; source?: string };

/** One report section: heading, introduction, notes (e.g. models without this analysis), figures. */
export interface SectionSpec {
  /** A fixed section's id, or a generic section's (`ReportData.sections`). */
  id: SectionId | string;
  title: string;
  intro: string;
  notes: string[];
  figures: FigureSpec[];
}

/** Model id → label; unknown ids are shown as given. */
export type Labels = (id: string) => string;

/**
 * Values for JSON: 6 significant digits (plenty for a figure, a third of the bytes), NaN → null.
 * @example values(new Float64Array([1 / 3, NaN])) // [0.333333, null]
 */
export function values(a: Numbers): Values {
  const out = new Array<number | null>(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    out[i] = v === null || v === undefined || !Number.isFinite(v) ? null : Number(v.toPrecision(6));
  }
  return out;
}

function extent(a: Numbers): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (v === null || v === undefined || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : [0, 1];
}

function negatives(a: Numbers): number {
  let k = 0;
  for (let i = 0; i < a.length; i++) if ((a[i] ?? 0) < 0) k++;
  return k;
}

/** Entry validation, so renderReport fails on bad data instead of drawing a broken figure. */
function size(what: string, got: number, want: number, shape: string): void {
  if (got !== want) throw new RangeError(`invalid ${what}: ${got} values for ${shape}`);
}

function fixed(v: number, digits = 1): string {
  return Number.isFinite(v) ? v.toFixed(digits) : String(v);
}

/**
 * Colour domain: [0, 1] (sequential) for data in [0, 1], a symmetric diverging domain when
 * values are negative, otherwise the data extent.
 * @example colourDomain([0.2, -0.5]) // { domain: [-0.5, 0.5], scheme: "rdbu" }
 */
export function colourDomain(a: Numbers): { domain: [number, number]; scheme: Scheme } {
  const [lo, hi] = extent(a);
  if (lo < 0) {
    const m = Math.max(-lo, hi) || 1;
    return { domain: [-m, m], scheme: "rdbu" };
  }
  return hi <= 1 ? { domain: [0, 1], scheme: "viridis" } : { domain: [0, hi], scheme: "viridis" };
}

/** Labels of the run's models. */
export function modelLabels(models: ReportModel[]): Labels {
  const map = new Map(models.map((m) => [m.id, m.label]));
  return (id) => map.get(id) ?? id;
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 40);
}

/**
 * CKA heatmap (Raghu Fig. 1 intra-model, Fig. 2 cross-model), viridis on [0, 1].
 * @example ckaFigure(heatmap, modelLabels(run.models), 0).spec.rows
 */
export function ckaFigure(h: Heatmap, label: Labels, index = 0): FigureSpec {
  size(`heatmap ${h.id}`, h.data.length, h.rows.length * h.cols.length, `${h.rows.length}×${h.cols.length}`);
  const rows = label(h.rowModel);
  const cols = label(h.colModel);
  const neg = negatives(h.data);
  const how = [h.estimator && `estimator ${h.estimator}`, h.tokens && `tokens ${h.tokens}`].filter(Boolean).join(", ");
  return {
    id: `cka-${index}-${slug(h.id)}`,
    kind: "heatmap",
    models: [h.rowModel, h.colModel],
    source: h.id,
    caption:
      `Linear CKA between the sites of ${rows} (rows, ${h.rows.length}) and ${cols} (columns, ${h.cols.length})` +
      (how ? ` (${how})` : "") +
      ". Each cell compares the representations at two sites over the same images: 1 means equal up to rotation and " +
      "isotropic scaling, 0 means unrelated. Bright blocks are stretches of sites that compute similar representations; " +
      (h.rowModel === h.colModel
        ? "Raghu et al. (Fig. 1) find ViTs more uniform across depth than ResNets, whose lower and higher layers differ sharply. "
        : "a bright diagonal band means the two models process in corresponding order (Raghu et al. Fig. 2). ") +
      (neg > 0 ? `${neg} cells are below 0 (the unbiased estimator is not clamped) and share the darkest colour. ` : "") +
      (h.lower && h.upper ? `Hover a cell for its two sites, value and ${Math.round((h.level ?? 0.95) * 100)}% bootstrap interval over batches${h.p ? " and permutation p-value" : ""}.` : "Hover a cell for its two sites and value."),
    spec: {
      title: h.title,
      rows: h.rows,
      cols: h.cols,
      values: values(h.data),
      domain: [0, 1],
      scheme: "viridis",
      rowTitle: `${rows} site`,
      colTitle: `${cols} site`,
      valueName: "CKA",
      legendLabel: "linear CKA",
      ...(h.lower && h.upper ? { lower: values(h.lower), upper: values(h.upper), intervalName: `${Math.round((h.level ?? 0.95) * 100)}% bootstrap interval` } : {}),
      ...(h.p ? { p: values(h.p) } : {}),
    },
  };
}

/**
 * Attention distance per head and layer (ViT paper Fig. 7 right; Raghu Fig. 3): dots, and heads
 * sorted within the first two and last two layers.
 * @example attentionFigures(ad, label)[0].kind // "dots"
 */
export function attentionFigures(ad: AttentionDistance, label: Labels): FigureSpec[] {
  const name = label(ad.model);
  const ceilingLabel = `uniform attention: ${fixed(ad.ceiling)} px`;
  const grid = `${ad.grid[0]}×${ad.grid[1]} patches of ${ad.patchSize} px`;
  const layers = ad.layers.map((l) => ({ layer: l.layer, heads: values(l.heads) }));
  const picked = layers.length <= 4 ? layers : [...layers.slice(0, 2), ...layers.slice(-2)];
  const figs: FigureSpec[] = [
    {
      id: `attention-${slug(ad.model)}`,
      kind: "dots",
      models: [ad.model],
      caption:
        `Mean attention distance of every head (one dot per head) in each layer of ${name}, in input pixels (${grid}` +
        (ad.weighting ? `, ${ad.weighting} weights` : "") +
        `). The dashed line is the distance under uniform attention (${fixed(ad.ceiling, 2)} px): heads near it attend globally, ` +
        "heads near 0 locally. Lower layers that mix both show ViT's local and global heads (ViT paper Fig. 7, Raghu Fig. 3).",
      spec: { title: `${name}: attention distance per head`, layers, ceiling: ad.ceiling, ceilingLabel },
    },
    {
      id: `attention-sorted-${slug(ad.model)}`,
      kind: "sorted-heads",
      models: [ad.model],
      caption:
        `Heads of the first two and the last two layers of ${name}, sorted by mean attention distance (Raghu Fig. 3). ` +
        "A spread from near 0 to the dashed uniform-attention line means local and global heads in one layer; " +
        "Raghu et al. find lower layers lose their local heads when pre-trained on too little data.",
      spec: { title: `${name}: heads sorted by distance`, panels: picked, ceiling: ad.ceiling },
    },
  ];
  const cls = ad.layers.filter((l) => l.clsMass && l.clsMass.length > 0);
  if (cls.length > 0) {
    figs.push({
      id: `attention-cls-${slug(ad.model)}`,
      kind: "lines",
      models: [ad.model],
      caption:
        `Mean attention mass that patch queries of ${name} put on the CLS token, averaged over heads, per layer. ` +
        "High values mean the patch tokens read mostly from CLS in that layer.",
      spec: {
        title: `${name}: attention to CLS`,
        xLabel: "layer (block index)",
        yLabel: "attention mass on CLS",
        xInteger: true,
        yDomain: [0, 1],
        series: [
          {
            name: "mean over heads",
            points: cls.map((l) => {
              const m = l.clsMass!.reduce((s, v) => s + v, 0) / l.clsMass!.length;
              return { x: l.layer, y: Number(m.toPrecision(6)) };
            }),
          },
        ],
      },
    });
  }
  return figs;
}

/**
 * Skip-connection norm ratios (Raghu Fig. 7): one line per token group and sublayer.
 * @example skipFigure(ratio, label).spec.series
 */
export function skipFigure(s: SkipRatio, label: Labels): FigureSpec {
  const name = label(s.model);
  const groups: { name: string; sub: string; key: "cls" | "spatial" }[] = [
    { name: "CLS, attention", sub: "attn", key: "cls" },
    { name: "CLS, MLP", sub: "mlp", key: "cls" },
    { name: "spatial tokens, attention", sub: "attn", key: "spatial" },
    { name: "spatial tokens, MLP", sub: "mlp", key: "spatial" },
    { name: "residual unit", sub: "unit", key: "spatial" },
  ];
  const series = groups
    .map((g) => ({
      name: g.name,
      points: s.rows
        .filter((r) => r.sublayer === g.sub && typeof r[g.key] === "number")
        .map((r) => ({ x: r.block, y: Number((r[g.key] as number).toPrecision(6)) })),
    }))
    .filter((g) => g.points.length > 0);
  const ys = series.flatMap((g) => g.points.map((p) => p.y)).filter((v) => v > 0);
  const yLog = ys.length > 0 && Math.max(...ys) / Math.min(...ys) > 20;
  const tokens = s.rows.some((r) => r.sublayer !== "unit");
  return {
    id: `skip-${slug(s.model)}`,
    kind: "lines",
    models: [s.model],
    caption:
      `Ratio of norms ‖z‖ / ‖f(z)‖ at each residual sum of ${name}: ` +
      (tokens
        ? "z is the skip input, f(z) the attention or MLP sublayer's output (L2 over channels per token"
        : "z is the shortcut, f(z) the residual branch before the addition (L2 over the whole feature map") +
      `, ${s.convention ?? "mean-of-ratios"}). Above 1 the skip connection dominates and the ` +
      "sublayer changes the representation little. Raghu et al. (Fig. 7) find ViT ratios well above ResNet's" +
      (tokens ? ", with the CLS token high in the first half and spatial tokens high in the second." : ".") +
      (yLog ? " Logarithmic y axis." : ""),
    spec: { title: `${name}: skip norm ratio`, xLabel: "block", yLabel: "‖z‖ / ‖f(z)‖", xInteger: true, yLog, series },
  };
}

/**
 * Linear-probe accuracy against normalised depth for all models in one chart (Raghu Figs. 11, 13).
 * @example probesFigure(data.probes, label).spec.xDomain // [0, 1]
 */
export function probesFigure(probes: Probes[], label: Labels): FigureSpec {
  const series = probes.flatMap((p) =>
    p.series.map((s) => ({
      name: probes.length > 1 ? `${label(p.model)}: ${s.name}` : s.name,
      points: s.points.map((q) => ({ x: q.depth, y: Number(q.accuracy.toPrecision(6)), label: q.site })),
    })),
  );
  const who = probes.map((p) => label(p.model)).join(", ");
  return {
    id: "probes",
    kind: "lines",
    models: probes.map((p) => p.model),
    caption:
      `Test accuracy of closed-form linear probes (regularised least squares to ±1 targets) trained on each site of ${who}, ` +
      "against depth normalised to 0 (input) … 1 (last block). Raghu et al. find ViT's CLS token only becomes linearly " +
      "decodable near the end, while global-average-pooled spatial tokens carry the class earlier. Hover a point for its site.",
    spec: { title: "Linear probe accuracy by depth", xLabel: "normalised depth", yLabel: "test accuracy", xDomain: [0, 1], yDomain: [0, 1], series },
  };
}

/**
 * Localisation maps (Raghu Figs. 9, 10): CKA of a token with every input patch.
 * @example localisationFigure(loc, label).kind // "tiles"
 */
export function localisationFigure(loc: Localisation, label: Labels): FigureSpec {
  for (const m of loc.maps) size(`localisation map ${m.label} of ${loc.model}`, m.data.length, loc.grid[0] * loc.grid[1], `${loc.grid[0]}×${loc.grid[1]}`);
  const name = label(loc.model);
  let hi = 0;
  for (const m of loc.maps) hi = Math.max(hi, extent(m.data)[1]);
  const top = Math.min(1, Math.ceil(Math.max(hi, 0.05) * 20) / 20);
  return {
    id: `localisation-${slug(loc.model)}`,
    kind: "tiles",
    models: [loc.model],
    caption:
      `For each token of ${name} (outlined cell: its own position), the linear CKA between that token's representation and ` +
      `each ${loc.grid[0]}×${loc.grid[1]} input patch. A single bright cell at the outline means the token still ` +
      "carries its own patch; a diffuse map means the token mixes the image (Raghu et al. Figs. 9, 10). " +
      `Colours span 0 … ${top} (shared legend).`,
    spec: {
      title: `${name}: localisation`,
      grid: loc.grid,
      maps: loc.maps.map((m) => ({ label: m.label, position: m.position, values: values(m.data) })),
      domain: [0, top],
      scheme: "viridis",
      valueName: "CKA",
    },
  };
}

/**
 * Position-embedding cosine similarity as a grid of tiles (ViT paper Fig. 7 centre).
 * @example posEmbedFigure(pe, label).kind // "tile-grid"
 */
export function posEmbedFigure(pe: PosEmbed, label: Labels): FigureSpec {
  size(`position-embedding similarity of ${pe.model}`, pe.data.length, (pe.grid[0] * pe.grid[1]) ** 2, `a ${pe.grid[0]}×${pe.grid[1]} grid`);
  const name = label(pe.model);
  return {
    id: `posembed-${slug(pe.model)}`,
    kind: "tile-grid",
    models: [pe.model],
    caption:
      `Cosine similarity of the position embedding of each patch of ${name} (tile at row i, column j) with the embeddings ` +
      "of all patches (cells within the tile); the class token is excluded. Learned embeddings that encode 2-D position " +
      "show a bright spot at the tile's own place and row/column stripes (ViT paper Fig. 7). Diverging scale: red similar, blue opposite.",
    spec: { title: `${name}: position-embedding similarity`, grid: pe.grid, values: values(pe.data), domain: [-1, 1], scheme: "rdbu", valueName: "cosine similarity" },
  };
}

/**
 * Principal components of the patch-embedding filters (ViT paper Fig. 7 left).
 * @example filtersFigure(f, label).spec.components.length
 */
export function filtersFigure(f: Filters, label: Labels): FigureSpec {
  f.components.forEach((c, k) => size(`filter component ${k} of ${f.model}`, c.data.length, f.patchSize * f.patchSize * f.channels, `${f.patchSize}×${f.patchSize}×${f.channels}`));
  const name = label(f.model);
  return {
    id: `filters-${slug(f.model)}`,
    kind: "filters",
    models: [f.model],
    caption:
      `The first ${f.components.length} principal components of ${name}'s patch-embedding filters (${f.patchSize}×${f.patchSize}×${f.channels}), ` +
      "each scaled to its own range; the label gives the fraction of variance explained. Trained ViTs show smooth, " +
      "low-frequency bases resembling those of CNN first layers (ViT paper Fig. 7).",
    spec: {
      title: `${name}: embedding filter components`,
      patchSize: f.patchSize,
      channels: f.channels,
      layout: f.layout ?? "chw",
      components: f.components.map((c) => ({ values: values(c.data), variance: c.variance })),
    },
  };
}

/**
 * Attention-collapse heatmap (DeepViT): cosine similarity of attention maps between layers.
 * @example collapseFigure(c, label).kind // "heatmap"
 */
export function collapseFigure(c: Collapse, label: Labels): FigureSpec {
  size(`collapse heatmap ${c.id}`, c.data.length, c.rows.length * c.cols.length, `${c.rows.length}×${c.cols.length}`);
  const name = label(c.model);
  const { domain, scheme } = colourDomain(c.data);
  return {
    id: `collapse-${slug(c.model)}`,
    kind: "heatmap",
    models: [c.model],
    source: c.id,
    caption:
      `Cosine similarity between the attention maps of layers p (rows) and q (columns) of ${name}, averaged over ` +
      "tokens, heads and images (DeepViT, arXiv 2103.11886). A bright block away from the diagonal means deep layers " +
      "repeat the same attention (attention collapse).",
    spec: {
      title: c.title,
      rows: c.rows,
      cols: c.cols,
      values: values(c.data),
      domain: scheme === "viridis" ? [0, Math.max(1, domain[1])] : domain,
      scheme,
      rowTitle: "layer p",
      colTitle: "layer q",
      valueName: "cosine",
    },
  };
}

/**
 * A generic line or heatmap panel (data scale, ablation).
 * @example panelFigure({ kind: "line", ... }, "ablation", 0, labels).kind // "lines"
 */
export function panelFigure(p: Panel, section: string, index: number, label: Labels = (id) => id): FigureSpec {
  const id = `${section}-${index}-${slug(p.id)}`;
  if (p.kind === "line") {
    return {
      id,
      kind: "lines",
      models: [],
      source: p.id,
      caption: p.caption ?? p.title,
      spec: {
        title: p.title,
        xLabel: p.xLabel,
        yLabel: p.yLabel,
        series: p.series.map((s) => ({ name: s.name, points: s.points.map((q) => ({ x: q.x, y: q.y, label: q.label })) })),
      },
    };
  }
  size(`panel heatmap ${p.id}`, p.data.length, p.rows.length * p.cols.length, `${p.rows.length}×${p.cols.length}`);
  const auto = colourDomain(p.data);
  const domain = p.domain ?? auto.domain;
  return {
    id,
    kind: "heatmap",
    models: [p.rowModel, p.colModel],
    source: p.id,
    caption: p.caption ?? p.title,
    spec: {
      title: p.title,
      rows: p.rows,
      cols: p.cols,
      values: values(p.data),
      domain,
      scheme: domain[0] < 0 ? "rdbu" : "viridis",
      rowTitle: label(p.rowModel),
      colTitle: label(p.colModel),
      valueName: "value",
    },
  };
}

const INTROS: Record<SectionId, [string, string]> = {
  cka: ["Representation similarity (CKA)", "Linear centred kernel alignment between every pair of tapped sites, within each model and across models."],
  attentionDistance: ["Attention distance", "How far, in input pixels, each attention head looks on average (docs/methods.md, attention distance)."],
  skipRatio: ["Skip connections", "How much each residual sum is carried by the skip path rather than the sublayer (docs/methods.md, skip ratio)."],
  probes: ["Linear probes", "How linearly decodable the class is at each depth (docs/methods.md, linear probes)."],
  localisation: ["Spatial localisation", "Whether tokens keep information about their own input position (docs/methods.md, localisation)."],
  posEmbed: ["Position embeddings", "Similarity structure of the learned position embeddings (docs/methods.md, position embeddings)."],
  filters: ["Patch-embedding filters", "Principal components of the linear patch embedding (docs/methods.md, patch-embedding filters)."],
  collapse: ["Attention collapse", "Whether deeper layers repeat the attention maps of earlier ones (docs/methods.md, attention collapse)."],
  dataScale: ["Data scale", "How the analyses change with the amount of training data (Raghu Fig. 12)."],
  ablation: ["Ablations", "Effects of removing components; inference-time ablations are labelled as such (docs/methods.md, ablations)."],
};

/** Display order of the sections. */
export const SECTION_ORDER: SectionId[] = Object.keys(INTROS) as SectionId[];

/**
 * All sections of a report, in display order. A section with no data is left out unless
 * `data.omitted` gives a reason, which is then shown in its place; models of the run that
 * have no result in a per-model section are named in a note.
 * @example reportSections(data).map((s) => s.id) // ["cka", "attentionDistance", ...]
 */
export function reportSections(data: ReportData): SectionSpec[] {
  const label = modelLabels(data.run.models);
  const sections: SectionSpec[] = [];
  const missing = (present: string[], what: string): string[] => {
    const absent = data.run.models.filter((m) => !present.includes(m.id));
    return absent.length === 0 ? [] : [`No ${what} for ${absent.map((m) => `${m.label} (${m.family})`).join(", ")}.`];
  };
  for (const id of SECTION_ORDER) {
    const [title, intro] = INTROS[id];
    const reason = data.omitted?.[id];
    let figures: FigureSpec[] = [];
    let notes: string[] = [];
    switch (id) {
      case "cka":
        figures = (data.cka ?? []).map((h, i) => ckaFigure(h, label, i));
        break;
      case "attentionDistance":
        figures = (data.attentionDistance ?? []).flatMap((a) => attentionFigures(a, label));
        if (data.attentionDistance) notes = missing(data.attentionDistance.map((a) => a.model), "attention-distance result (no attention layers were found)");
        break;
      case "skipRatio":
        figures = (data.skipRatio ?? []).map((s) => skipFigure(s, label));
        if (data.skipRatio) notes = missing(data.skipRatio.map((a) => a.model), "skip-ratio result");
        break;
      case "probes":
        figures = data.probes && data.probes.length > 0 ? [probesFigure(data.probes, label)] : [];
        if (data.probes) notes = missing(data.probes.map((a) => a.model), "probe result");
        break;
      case "localisation":
        figures = (data.localisation ?? []).map((l) => localisationFigure(l, label));
        if (data.localisation) notes = missing(data.localisation.map((a) => a.model), "localisation result");
        break;
      case "posEmbed":
        figures = (data.posEmbed ?? []).map((p) => posEmbedFigure(p, label));
        if (data.posEmbed) notes = missing(data.posEmbed.map((a) => a.model), "position embedding (the model has none, or it is not learned)");
        break;
      case "filters":
        figures = (data.filters ?? []).map((f) => filtersFigure(f, label));
        if (data.filters) notes = missing(data.filters.map((a) => a.model), "linear patch embedding");
        break;
      case "collapse":
        figures = (data.collapse ?? []).map((c) => collapseFigure(c, label));
        if (data.collapse) notes = missing(data.collapse.map((a) => a.model), "attention-collapse result (no attention layers were found)");
        break;
      case "dataScale":
      case "ablation":
        figures = (data[id] ?? []).map((p, i) => panelFigure(p, id, i, label));
        break;
    }
    // A stated reason replaces the generic "no result for …" note; a skip names model and reason.
    if (reason) notes = [reason];
    const skips = (data.skippedAnalyses ?? []).filter((k) => k.section === id);
    if (skips.length) notes = [...notes.filter((n) => !n.startsWith("No ")), ...skips.map((k) => `Skipped${k.model ? ` for ${k.model}` : ""}: ${k.reason}.`)];
    for (const k of (data.substitutions ?? []).filter((x) => x.section === id)) notes.push(`For ${k.model}, --${k.option} ${k.given} was used as ${k.used}: ${k.reason}.`);
    if (figures.length === 0 && notes.length === 0) continue;
    sections.push({ id, title, intro, notes, figures });
  }
  for (const g of data.sections ?? []) {
    if (sections.some((x) => x.id === g.id)) throw new RangeError(`invalid report data: two sections with the id ${g.id}`);
    const figures = g.panels.map((p, i) => panelFigure(p, g.id, i, label));
    if (figures.length === 0 && !g.notes?.length) continue;
    sections.push({ id: g.id, title: g.title, intro: g.intro, notes: g.notes ?? [], figures });
  }
  return sections;
}
