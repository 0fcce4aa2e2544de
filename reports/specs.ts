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
  /** A categorical x axis: x = k is drawn at category k. */
  xCategories?: string[];
  /** Legend placement: right of the plot (default) or below it, for many or long names. */
  legend?: "right" | "below";
  refLines?: { y: number; label: string }[];
  width?: number;
  height?: number;
}

/** Per-head values of one layer. */
export interface LayerHeads {
  layer: number;
  heads: Values;
  /** The layer's stage (windowed/hierarchical models): layers are grouped by it. */
  stage?: string;
}

/** One dot per head and layer, with the uniform-attention ceiling. */
export interface DotsSpec {
  title: string;
  layers: LayerHeads[];
  ceiling: number;
  ceilingLabel?: string;
  /** Per-layer ceilings (windowed attention: the uniform value of the layer's window), drawn as dashed steps. */
  layerCeilings?: { layer: number; ceiling: number }[];
  xLabel?: string;
  yLabel?: string;
  /** Shared axes across small multiples: the y axis top and the x (layer) domain. */
  yMax?: number;
  xDomain?: [number, number];
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
  maps: { label: string; position?: [number, number]; values: Values; row?: number; col?: number }[];
  /**
   * A labelled grid of maps: `rowLabels[map.row]` on the left, `colLabels[map.col]` on top
   * (e.g. model · site × token position). Without them, maps flow six to a row.
   */
  rowLabels?: string[];
  colLabels?: string[];
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
      (h.rowModel === h.colModel
        ? `Linear CKA between the ${h.rows.length} sites of ${rows} (Raghu Fig. 1)`
        : `Linear CKA between the sites of ${rows} (rows, ${h.rows.length}) and ${cols} (columns, ${h.cols.length}) (Raghu Fig. 2)`) +
      (how ? `; ${how}` : "") +
      "." +
      (neg > 0 ? ` ${neg} cells are below 0 (the unbiased estimator is not clamped) and share the darkest colour.` : "") +
      (h.lower && h.upper ? ` Hover a cell for its sites, value and ${Math.round((h.level ?? 0.95) * 100)}% bootstrap interval${h.p ? " and permutation p-value" : ""}.` : " Hover a cell for its sites and value."),
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
export function attentionFigures(ad: AttentionDistance, label: Labels, shared?: { yMax: number; xDomain: [number, number] }): FigureSpec[] {
  const name = label(ad.model);
  const ceilingLabel = `uniform attention: ${fixed(ad.ceiling)} px`;
  const grid = `${ad.grid[0]}×${ad.grid[1]} patches of ${ad.patchSize} px`;
  const layers = ad.layers.map((l) => ({ layer: l.layer, heads: values(l.heads), ...(l.stage !== undefined ? { stage: String(l.stage) } : {}) }));
  const staged = layers.some((l) => l.stage !== undefined);
  // With stages (windowed or hierarchical attention), the first and last layer of each stage.
  const picked = staged
    ? [...new Set(layers.map((l) => l.stage))].flatMap((st) => {
        const ls = layers.filter((l) => l.stage === st);
        return ls.length <= 2 ? ls : [ls[0], ls[ls.length - 1]];
      })
    : layers.length <= 4
      ? layers
      : [...layers.slice(0, 2), ...layers.slice(-2)];
  const stages = staged ? [...new Set(layers.map((l) => l.stage))].length : 0;
  const figs: FigureSpec[] = [
    {
      id: `attention-${slug(ad.model)}`,
      kind: "dots",
      models: [ad.model],
      caption:
        `Mean attention distance of every head of ${name} (one dot per head) per layer, in input pixels (${grid}` +
        (ad.weighting ? `, ${ad.weighting} weights` : "") +
        `); dashed: uniform attention (${fixed(ad.ceiling, 2)} px).` +
        (staged ? ` Layers are grouped by their ${stages} stages.` : "") +
        (shared ? " Axes are shared with the other models' panels." : ""),
      spec: {
        title: `${name}: attention distance`,
        layers,
        ceiling: ad.ceiling,
        ceilingLabel,
        ...(ad.layers.some((l) => typeof l.ceiling === "number") ? { layerCeilings: ad.layers.filter((l) => typeof l.ceiling === "number").map((l) => ({ layer: l.layer, ceiling: l.ceiling! })) } : {}),
        ...(shared ? { yMax: shared.yMax, xDomain: shared.xDomain } : {}), width: 360, height: 220 },
    },
    {
      id: `attention-sorted-${slug(ad.model)}`,
      kind: "sorted-heads",
      models: [ad.model],
      caption: staged
        ? `${name}: heads of the first and last layer of each stage, sorted by mean attention distance (Raghu Fig. 3).`
        : `${name}: heads of the first two and the last two layers, sorted by mean attention distance (Raghu Fig. 3).`,
      spec: { title: `${name}: heads sorted by distance`, panels: picked, ceiling: ad.ceiling },
    },
  ];
  const cls = ad.layers.filter((l) => l.clsMass && l.clsMass.length > 0);
  if (cls.length > 0) {
    figs.push({
      id: `attention-cls-${slug(ad.model)}`,
      kind: "lines",
      models: [ad.model],
      caption: `${name}: mean attention mass that patch queries put on the CLS token, averaged over heads, per layer. High values mean the patch tokens read mostly from CLS in that layer.`,
      spec: {
        title: `${name}: attention to CLS`,
        xLabel: "layer (block index)",
        yLabel: "attention mass on CLS",
        xInteger: true,
        yDomain: [0, 1],
        width: 320,
        height: 180,
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

/** Shared axes of the attention-distance panels of several models. */
function attentionAxes(all: AttentionDistance[]): { yMax: number; xDomain: [number, number] } {
  let yMax = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of all) {
    yMax = Math.max(yMax, a.ceiling || 0);
    for (const l of a.layers) {
      lo = Math.min(lo, l.layer);
      hi = Math.max(hi, l.layer);
      for (const h of l.heads) if (Number.isFinite(h)) yMax = Math.max(yMax, h);
    }
  }
  return { yMax: yMax || 1, xDomain: lo <= hi ? [lo - 0.6, hi + 0.6] : [0, 1] };
}

/**
 * Skip-connection norm ratios (Raghu Fig. 7): one line per token group and sublayer.
 * @example skipFigure(ratio, label).spec.series
 */
export function skipFigure(s: SkipRatio, label: Labels, shared?: { yLog: boolean; yDomain?: [number, number] }): FigureSpec {
  const name = label(s.model);
  const groups: { name: string; sub: string; key: "cls" | "spatial" }[] = [
    { name: "CLS, attention", sub: "attn", key: "cls" },
    { name: "CLS, MLP", sub: "mlp", key: "cls" },
    { name: "spatial tokens, attention", sub: "attn", key: "spatial" },
    { name: "spatial tokens, MLP", sub: "mlp", key: "spatial" },
    { name: "residual unit", sub: "unit", key: "spatial" },
  ];
  const series = skipSeries(s, groups);
  const ys = series.flatMap((g) => g.points.map((p) => p.y)).filter((v) => v > 0);
  const yLog = shared ? shared.yLog : ys.length > 0 && Math.max(...ys) / Math.min(...ys) > 20;
  const tokens = s.rows.some((r) => r.sublayer !== "unit");
  return {
    id: `skip-${slug(s.model)}`,
    kind: "lines",
    models: [s.model],
    caption:
      `${name}: ratio of norms ‖z‖ / ‖f(z)‖ at each residual sum, ` +
      (tokens
        ? "z the skip input, f(z) the attention or MLP sublayer's output (L2 over channels per token"
        : "z the shortcut, f(z) the residual branch before the addition (L2 over the whole feature map") +
      `, ${s.convention ?? "mean-of-ratios"}). Above 1 the skip path dominates.` +
      (shared ? ` ${yLog ? "Logarithmic" : "Linear"} y axis, shared by every model's panel.` : yLog ? " Logarithmic y axis." : ""),
    spec: { title: `${name}: skip norm ratio`, xLabel: "block", yLabel: "‖z‖ / ‖f(z)‖", xInteger: true, yLog, ...(shared?.yDomain ? { yDomain: shared.yDomain } : {}), width: 300, height: 200, legend: "below", series },
  };
}

/** The line series of a skip-ratio result: only groups the model has (no CLS for a GAP model). */
function skipSeries(s: SkipRatio, groups: { name: string; sub: string; key: "cls" | "spatial" }[]) {
  return groups
    .map((g) => ({
      name: g.name,
      points: s.rows
        .filter((r) => r.sublayer === g.sub && typeof r[g.key] === "number" && Number.isFinite(r[g.key] as number))
        .map((r) => ({ x: r.block, y: Number((r[g.key] as number).toPrecision(6)) })),
    }))
    .filter((g) => g.points.length > 0);
}

/** One axis convention for every skip-ratio panel: log when the run's ratios span more than 20×, one domain. */
function skipAxes(all: SkipRatio[]): { yLog: boolean; yDomain?: [number, number] } {
  const ys: number[] = [];
  for (const s of all) for (const r of s.rows) for (const v of [r.cls, r.spatial]) if (typeof v === "number" && Number.isFinite(v) && v > 0) ys.push(v);
  if (!ys.length) return { yLog: false };
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  const yLog = hi / lo > 20;
  return { yLog, yDomain: yLog ? [lo, hi] : [0, hi * 1.05] };
}

/**
 * Linear-probe accuracy against normalised depth for all models in one chart (Raghu Figs. 11, 13).
 * @example probesFigure(data.probes, label).spec.xDomain // [0, 1]
 */
export function probesFigure(probes: Probes[], label: Labels): FigureSpec {
  return probesFigures(probes, label)[0];
}

/** The representation of a probe series name ("cls, 10-shot" → "cls") and its shots. */
function probeParts(name: string): { rep: string; shots: string } {
  const i = name.indexOf(", ");
  const raw = i < 0 ? name : name.slice(0, i);
  // A GAP model's "gap" and a CLS model's "mean" probe the same thing: the spatial tokens' mean.
  return { rep: /^(gap|mean)$/i.test(raw) ? "mean" : raw, shots: i < 0 ? "" : name.slice(i + 2) };
}

const REP_NAMES: Record<string, string> = { cls: "CLS token", gap: "mean of spatial tokens", mean: "mean of spatial tokens" };

/**
 * Linear-probe accuracy against normalised depth, one panel per representation (CLS token,
 * mean of spatial tokens, …) with one line per model, at the largest training budget each
 * model has (Raghu Figs. 11, 13); the few-shot budgets are in the CSV files.
 * @example probesFigures(data.probes, label).map((f) => f.spec.title)
 */
export function probesFigures(probes: Probes[], label: Labels): FigureSpec[] {
  const reps = [...new Set(probes.flatMap((p) => p.series.map((s) => probeParts(s.name).rep)))];
  const order = (shots: string) => (shots === "full data" ? Infinity : Number.parseFloat(shots) || 0);
  return reps.map((rep, k) => {
    let shotsUsed = new Set<string>();
    const series = probes.flatMap((p) => {
      const mine = p.series.filter((s) => probeParts(s.name).rep === rep);
      if (!mine.length) return [];
      const best = mine.reduce((a, b) => (order(probeParts(b.name).shots) > order(probeParts(a.name).shots) ? b : a));
      shotsUsed.add(probeParts(best.name).shots);
      return [{ name: label(p.model), points: best.points.map((q) => ({ x: q.depth, y: Number(q.accuracy.toPrecision(6)), label: q.site })) }];
    });
    const repName = REP_NAMES[rep.toLowerCase()] ?? rep;
    const budget = [...shotsUsed].filter(Boolean).join(", ");
    return {
      id: k === 0 ? "probes" : `probes-${slug(rep)}`,
      kind: "lines" as const,
      models: probes.filter((p) => p.series.some((s) => probeParts(s.name).rep === rep)).map((p) => p.model),
      caption:
        `Linear probes on the ${repName}${budget ? ` (${budget})` : ""}: test accuracy of closed-form ridge probes at each depth (0 = input, 1 = last block), one line per model. ` +
        (k === 0 ? "Raghu et al. find the CLS token decodable only near the end, the spatial mean earlier. Few-shot budgets are in the probes CSV files. Hover a point for its site." : "Hover a point for its site."),
      spec: { title: `Probes: ${repName}`, xLabel: "normalised depth", yLabel: "test accuracy", xDomain: [0, 1] as [number, number], yDomain: [0, 1] as [number, number], width: 320, height: 220, legend: "below" as const, series },
    };
  });
}

/**
 * Localisation maps (Raghu Figs. 9, 10): CKA of a token with every input patch.
 * @example localisationFigure(loc, label).kind // "tiles"
 */
export function localisationFigure(loc: Localisation, label: Labels): FigureSpec {
  return localisationGrid([loc], label);
}

/** The site of a localisation entry: `site`, else the label's prefix before " token (". */
function locSite(loc: Localisation): string {
  if (loc.site) return loc.site;
  const m = /^(.*) token \(/.exec(loc.maps[0]?.label ?? "");
  return m ? m[1] : "";
}

/**
 * All localisation maps of a run as one grid (Raghu Figs. 9, 10): a row per model and site, a
 * column per token position, one shared colour scale. Models with different input grids get
 * one grid each.
 * @example localisationGrid(data.localisation, label).kind // "tiles"
 */
export function localisationGrid(locs: Localisation[], label: Labels, index = 0): FigureSpec {
  for (const loc of locs) for (const m of loc.maps) size(`localisation map ${m.label} of ${loc.model}`, m.data.length, loc.grid[0] * loc.grid[1], `${loc.grid[0]}×${loc.grid[1]}`);
  let hi = 0;
  for (const loc of locs) for (const m of loc.maps) hi = Math.max(hi, extent(m.data)[1]);
  const top = Math.min(1, Math.ceil(Math.max(hi, 0.05) * 20) / 20);
  const grid = locs[0].grid;
  const position = (m: Localisation["maps"][number]) => `token (${m.position[0]}, ${m.position[1]})`;
  const colLabels = [...new Set(locs.flatMap((l) => l.maps.map(position)))];
  const rowLabels = locs.map((l) => `${label(l.model)} · ${locSite(l)}`);
  const models = [...new Set(locs.map((l) => l.model))];
  return {
    id: index === 0 ? `localisation-${slug(models.length === 1 ? models[0] : "all")}` : `localisation-${index}-${grid[0]}x${grid[1]}`,
    kind: "tiles",
    models,
    caption:
      `Localisation on the ${grid[0]}×${grid[1]} input grid: for each model and site (rows) and token position (columns, outlined cell), ` +
      "the linear CKA between that token's representation and each input patch. A bright cell at the outline means the token still " +
      `carries its own patch; a diffuse map means it mixes the image (Raghu et al. Figs. 9, 10). One colour scale, 0 … ${top}.`,
    spec: {
      title: models.length === 1 ? `${label(models[0])}: localisation` : "Localisation by model, site and token",
      grid,
      maps: locs.flatMap((l, r) => l.maps.map((m) => ({ label: `${rowLabels[r]} ${position(m)}`, position: m.position, values: values(m.data), row: r, col: colLabels.indexOf(position(m)) }))),
      rowLabels,
      colLabels,
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
  return collapseFigures(c, label)[0];
}

/**
 * Attention-collapse heatmaps of a model: one, or one per stage when the layers carry stages
 * (windowed or hierarchical attention: maps of different stages have different sizes, so
 * collapse is read within a stage).
 * @example collapseFigures(c, label).length // 1 without stages
 */
export function collapseFigures(c: Collapse, label: Labels): FigureSpec[] {
  size(`collapse heatmap ${c.id}`, c.data.length, c.rows.length * c.cols.length, `${c.rows.length}×${c.cols.length}`);
  const name = label(c.model);
  const groups: { stage?: string; idx: number[] }[] = [];
  if (c.stages && c.stages.length === c.rows.length && c.rows.length === c.cols.length) {
    for (const st of [...new Set(c.stages)]) groups.push({ stage: st, idx: c.stages.map((x, i) => (x === st ? i : -1)).filter((i) => i >= 0) });
  } else groups.push({ idx: c.rows.map((_, i) => i) });
  return groups.map((g, k) => {
    const whole = g.stage === undefined;
    const data = whole ? c.data : g.idx.flatMap((i) => g.idx.map((j) => c.data[i * c.cols.length + j]));
    const rows = whole ? c.rows : g.idx.map((i) => c.rows[i]);
    const cols = whole ? c.cols : g.idx.map((j) => c.cols[j]);
    const { domain, scheme } = colourDomain(data);
    return {
      id: whole ? `collapse-${slug(c.model)}` : `collapse-${slug(c.model)}-stage-${k}`,
      kind: "heatmap" as const,
      models: [c.model],
      source: c.id,
      caption:
        `${name}${whole ? "" : `, stage ${g.stage}`}: cosine similarity between the attention maps of layers p (rows) and q (columns), averaged over ` +
        "tokens, heads and images (DeepViT, arXiv 2103.11886). A bright block away from the diagonal means deep layers repeat the same attention.",
      spec: {
        title: whole ? c.title : `${c.title}, stage ${g.stage}`,
        rows,
        cols,
        values: values(data),
        domain: scheme === "viridis" ? ([0, Math.max(1, domain[1])] as [number, number]) : domain,
        scheme,
        rowTitle: "layer p",
        colTitle: "layer q",
        valueName: "cosine",
        size: 260,
      },
    };
  });
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
        ...(p.xCategories ? { xCategories: p.xCategories } : {}),
        ...(p.series.length > 4 || p.series.some((x) => x.name.length > 24) ? { legend: "below" as const } : {}),
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
  cka: [
    "Representation similarity (CKA)",
    "Linear centred kernel alignment between every pair of tapped sites: first each model against itself, then across models; one colour scale, 0 … 1. " +
      "1 means two sites' representations are equal up to rotation and isotropic scaling, 0 unrelated. Bright blocks are stretches of similar representations: " +
      "Raghu et al. (Fig. 1) find ViTs more uniform across depth than ResNets; a bright diagonal band across models means they process in corresponding order (Fig. 2).",
  ],
  attentionDistance: [
    "Attention distance",
    "How far, in input pixels, each attention head looks on average (docs/methods.md, attention distance). Heads near the dashed uniform-attention value attend globally, heads near 0 locally; " +
      "lower layers that mix both show ViT's local and global heads (ViT paper Fig. 7, Raghu Fig. 3), which Raghu et al. find only with enough pre-training data.",
  ],
  skipRatio: [
    "Skip connections",
    "How much each residual sum is carried by the skip path rather than the sublayer (docs/methods.md, skip ratio). Raghu et al. (Fig. 7) find ViT ratios well above ResNet's, " +
      "with the CLS token high in the first half and spatial tokens high in the second.",
  ],
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

/** Why a model has no result in a section, in words a reader can check. */
function whyAbsent(m: ReportModel, section: SectionId): string {
  const ablated = m.ablatedBlock !== undefined;
  const attention = section === "attentionDistance" || section === "collapse";
  if (ablated && attention) return `${m.label}: inference-ablation variant; its attention is not measured separately (the ablation changes only the residual sums of block ${m.ablatedBlock})`;
  if (ablated) return `${m.label}: inference-ablation variant, compared in the Ablations section only`;
  const conv = /resnet|cnn|conv|vgg|efficientnet|mobilenet|regnet|densenet/i.test(m.family);
  const mixer = /mixer/i.test(m.family);
  if (attention) return `${m.label}: ${conv ? "convolutional" : mixer ? "an MLP-Mixer" : m.family}, no attention layers${conv || mixer ? "" : " were found"}`;
  if (section === "posEmbed") return `${m.label}: ${conv ? "convolutional, no position embedding" : mixer ? "an MLP-Mixer, no position embedding" : "no learned position embedding found"}`;
  if (section === "filters") return `${m.label}: ${conv ? "convolutional stem, not a linear patch embedding" : "no linear patch embedding found"}`;
  return `${m.label} (${m.family}): no result`;
}

/** The checkpoints of one recipe on different amounts of data, as declared (never guessed). */
function checkpointGroup(models: ReportModel[]): ReportModel[] {
  const byRecipe = new Map<string, ReportModel[]>();
  for (const m of models) {
    if (!m.training || m.training.untrained || m.ablatedBlock !== undefined || !(m.training.images > 0)) continue;
    byRecipe.set(m.training.recipe, [...(byRecipe.get(m.training.recipe) ?? []), m]);
  }
  const groups = [...byRecipe.values()].filter((g) => new Set(g.map((m) => m.training!.images)).size > 1);
  return groups.sort((a, b) => b.length - a.length)[0] ?? [];
}

/**
 * All sections of a report, in display order. A section with no data is left out unless
 * `data.omitted` gives a reason, which is then shown in its place; models of the run that
 * have no result in a per-model section are named in a note that says why.
 * @example reportSections(data).map((s) => s.id) // ["cka", "attentionDistance", ...]
 */
export function reportSections(data: ReportData): SectionSpec[] {
  const label = modelLabels(data.run.models);
  const sections: SectionSpec[] = [];
  const missing = (present: string[], section: SectionId): string[] => {
    const absent = data.run.models.filter((m) => !present.includes(m.id));
    return absent.length === 0 ? [] : [`Not shown: ${absent.map((m) => whyAbsent(m, section)).join("; ")}.`];
  };
  for (const id of SECTION_ORDER) {
    const [title, intro] = INTROS[id];
    const reason = data.omitted?.[id];
    let figures: FigureSpec[] = [];
    let notes: string[] = [];
    switch (id) {
      case "cka": {
        // Intra-model heatmaps first (Raghu Fig. 1), then cross-model ones (Fig. 2): one colour scale, [0, 1].
        const hs = (data.cka ?? []).map((h, i) => ({ h, i }));
        const ordered = [...hs.filter((x) => x.h.rowModel === x.h.colModel), ...hs.filter((x) => x.h.rowModel !== x.h.colModel)];
        figures = ordered.map(({ h, i }) => ckaFigure(h, label, i));
        break;
      }
      case "attentionDistance": {
        const all = data.attentionDistance ?? [];
        const shared = all.length > 1 ? attentionAxes(all) : undefined;
        // All models' per-head panels side by side on shared axes, then the sorted heads, then CLS mass.
        const per = all.map((a) => attentionFigures(a, label, shared));
        figures = [...per.map((f) => f[0]), ...per.map((f) => f[1]), ...per.flatMap((f) => f.slice(2))];
        if (data.attentionDistance) notes = missing(all.map((a) => a.model), id);
        break;
      }
      case "skipRatio": {
        const all = data.skipRatio ?? [];
        const shared = all.length > 1 ? skipAxes(all) : undefined;
        figures = all.map((s) => skipFigure(s, label, shared));
        if (data.skipRatio) notes = missing(all.map((a) => a.model), id);
        break;
      }
      case "probes":
        figures = data.probes && data.probes.length > 0 ? probesFigures(data.probes, label) : [];
        if (data.probes) notes = missing(data.probes.map((a) => a.model), id);
        break;
      case "localisation": {
        const all = data.localisation ?? [];
        const grids = [...new Set(all.map((l) => `${l.grid[0]}x${l.grid[1]}`))];
        figures = grids.map((g, k) => localisationGrid(all.filter((l) => `${l.grid[0]}x${l.grid[1]}` === g), label, k));
        if (data.localisation) notes = missing(all.map((a) => a.model), id);
        break;
      }
      case "posEmbed":
        figures = (data.posEmbed ?? []).map((p) => posEmbedFigure(p, label));
        if (data.posEmbed) notes = missing(data.posEmbed.map((a) => a.model), id);
        break;
      case "filters":
        figures = (data.filters ?? []).map((f) => filtersFigure(f, label));
        if (data.filters) notes = missing(data.filters.map((a) => a.model), id);
        break;
      case "collapse":
        figures = (data.collapse ?? []).flatMap((c) => collapseFigures(c, label));
        if (data.collapse) notes = missing(data.collapse.map((a) => a.model), id);
        break;
      case "dataScale": {
        // Only checkpoints declared as one recipe on different amounts of data (model cards or a
        // flag). A series naming a model of the run that is not so declared is dropped; a series
        // naming no model of the run came from the caller's own panel and is kept as given.
        const group = checkpointGroup(data.run.models);
        const declared = new Map(group.map((m) => [m.label, m]));
        const runLabels = new Set(data.run.models.map((m) => m.label));
        const dropped = new Set<string>();
        const panels = (data.dataScale ?? []).flatMap((p): Panel[] => {
          if (p.kind !== "line") return [p];
          const series = p.series.flatMap((x) => {
            const m = declared.get(x.name);
            if (m) return [{ ...x, name: `${x.name} (${m.training!.images.toLocaleString("en")} training images)` }];
            if (runLabels.has(x.name)) {
              dropped.add(x.name);
              return [];
            }
            return [x];
          });
          return series.length ? [{ ...p, xLabel: p.xLabel === "block" ? "normalised depth" : p.xLabel, series }] : [];
        });
        figures = panels.map((p, i) => panelFigure(p, id, i, label));
        if (data.dataScale && figures.length === 0) {
          notes = [
            "Not shown: data scale needs checkpoints of one recipe trained on different amounts of data, declared in their model cards (train_images and recipe) or with reportData's checkpoints option; " +
              (group.length ? "the declared checkpoints have no per-block CKA in these results." : "none of this run's models are declared so (GAP, no-skip, Mixer or untrained variants are other experiments, not data-scale checkpoints)."),
          ];
        } else if (dropped.size) {
          notes = [`Not shown: ${[...dropped].join(", ")}, not declared as checkpoints of one recipe on different amounts of data.`];
        }
        break;
      }
      case "ablation":
        figures = (data.ablation ?? []).map((p, i) => panelFigure(p, id, i, label));
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
    const skipped = (data.skippedAnalyses ?? []).filter((k) => k.analysis === g.id).map((k) => `Skipped${k.model ? ` for ${k.model}` : ""}: ${k.reason}.`);
    const notes = [...(g.notes ?? []), ...skipped];
    if (figures.length === 0 && !notes.length) continue;
    sections.push({ id: g.id, title: g.title, intro: g.intro, notes, figures });
  }
  return sections.map(sayOnce);
}

/**
 * A caption shared word for word by several figures of a section is said once, after the
 * section's introduction; those figures keep their title as the caption.
 */
function sayOnce(s: SectionSpec): SectionSpec {
  const count = new Map<string, number>();
  for (const f of s.figures) count.set(f.caption, (count.get(f.caption) ?? 0) + 1);
  const shared = [...count].filter(([, n]) => n > 1).map(([c]) => c);
  if (!shared.length) return s;
  return {
    ...s,
    intro: [s.intro, ...shared].join(" "),
    figures: s.figures.map((f) => (shared.includes(f.caption) ? ({ ...f, caption: `${f.spec.title}.` } as FigureSpec) : f)),
  };
}

