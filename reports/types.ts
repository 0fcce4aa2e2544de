/**
 * The report's input view-model. It is deliberately generic: the API layer fills it from the
 * finalized analysis results (analyses/*), so the renderer never depends on how an analysis
 * stores its state. Every section except `run` is optional; an absent section is omitted
 * from the report, and `omitted[section]` (when given) says why.
 *
 * Text in this object (model labels, site names, class names, file names) is untrusted: the
 * renderer escapes it everywhere (HTML-escaped on the server, `.text()` on the client).
 */

/** A numeric array: plain numbers or a typed array. `null`/NaN entries mean "no value". */
export type Numbers = ArrayLike<number | null>;

/** One model of the run. */
export interface ReportModel {
  /** Stable id, used to match sections to models (e.g. "a", "vit_b16"). */
  id: string;
  /** Human label shown in figures (e.g. "ViT-B/16"). */
  label: string;
  /** Model file as given by the user. */
  file: string;
  /** sha256 of the model file, hex. */
  sha256: string;
  /** Architecture family, e.g. "vit", "resnet", "mixer". */
  family: string;
  /** Number of tapped sites. */
  sites: number;
  /** Prefix (CLS-like) tokens before the patch tokens; 0 for a GAP ViT, absent when unknown. */
  prefixTokens?: number;
  /** Set for an inference-ablation variant: the block whose residuals were removed. */
  ablatedBlock?: number;
  /**
   * Training data as declared (model card or a flag), never guessed: images seen in training
   * and an id of the recipe (architecture, configuration, optimiser, schedule). Checkpoints
   * with equal `recipe` and different `images` are what the data-scale panel compares.
   */
  training?: { images: number; recipe: string; untrained?: boolean };
}

/** One sanity check recorded by the run (METHODS.md checks, e.g. CKA(X, X) = 1). */
export interface SanityCheck {
  id: string;
  passed: boolean;
  value?: number | string;
  detail?: string;
}

/** Provenance and settings of the run (METHODS.md §8). */
export interface RunSummary {
  title: string;
  toolVersion: string;
  /** ISO 8601 date-time of the run. */
  created: string;
  models: ReportModel[];
  data: { path: string; images: number; sampleDigest: string };
  settings: Record<string, string | number | boolean>;
  /** Seconds per phase, e.g. { activations: 12.3, cka: 4.5 }. */
  timings: Record<string, number>;
  sanity: SanityCheck[];
  warnings: string[];
}

/** A row-major matrix with labelled rows and columns. */
export interface Heatmap {
  id: string;
  title: string;
  /** Model id of the rows and the columns (equal for an intra-model heatmap). */
  rowModel: string;
  colModel: string;
  rows: string[];
  cols: string[];
  /** rows.length × cols.length values, row-major. */
  data: Numbers;
  /** CKA estimator id (METHODS.md §1), e.g. "minibatch-unbiased". */
  estimator?: string;
  /** Flattening mode (METHODS.md §1), e.g. "all". */
  tokens?: string;
  /** Per cell: bootstrap interval bounds at `level`, and permutation p-values (when computed). */
  lower?: Numbers;
  upper?: Numbers;
  level?: number;
  p?: Numbers;
}

/** Mean attention distance of one model (METHODS.md §2). */
export interface AttentionDistance {
  model: string;
  patchSize: number;
  /** Patch grid [rows, cols]. */
  grid: [number, number];
  /** Mean distance of uniform attention over the grid, px (the "global" ceiling). */
  ceiling: number;
  /** Weighting id, e.g. "renormalised". */
  weighting?: string;
  /** `stage`: the layer's stage (windowed or hierarchical models); views group layers by it. */
  /** `ceiling`: this layer's own uniform-attention value when it differs (a window instead of the grid). */
  layers: { layer: number; heads: number[]; clsMass?: number[]; stage?: string; ceiling?: number }[];
}

/** Skip-connection norm ratios ‖z‖/‖f(z)‖ of one model (METHODS.md §3). */
export interface SkipRatio {
  model: string;
  convention?: string;
  rows: {
    block: number;
    sublayer: "attn" | "mlp" | "unit";
    cls?: number;
    spatial: number;
    perToken?: number[];
  }[];
}

/** Linear-probe accuracy against normalised depth (METHODS.md §6). */
export interface Probes {
  model: string;
  series: { name: string; points: { depth: number; accuracy: number; site: string }[] }[];
}

/** Spatial localisation maps of one model (METHODS.md §5). */
export interface Localisation {
  model: string;
  /** Input grid [g, g]. */
  grid: [number, number];
  /** The site (layer) of the maps, e.g. "blocks.5.out". */
  site?: string;
  /** One CKA map per token position, row-major over the grid. */
  maps: { position: [number, number]; label: string; data: Numbers }[];
}

/** Position-embedding cosine similarity (METHODS.md §7). */
export interface PosEmbed {
  model: string;
  grid: [number, number];
  /**
   * g⁴ values (for grid [gr, gc]: gr·gc·gr·gc): the block for patch (i, j) starts at
   * (i·gc + j)·gr·gc and holds the cosine of patch (i, j) with every patch (k, l), row-major.
   */
  data: Numbers;
}

/** Principal components of the patch-embedding filters (METHODS.md §7). */
export interface Filters {
  model: string;
  patchSize: number;
  channels: number;
  /**
   * Memory order of each component: "chw" (default; torch Conv2d weight [D, C, P, P]) or
   * "hwc".
   */
  layout?: "chw" | "hwc";
  /** Each component with its fraction of the variance explained (0..1). */
  components: { data: Numbers; variance: number }[];
}

/** Attention collapse (METHODS.md §7): layers × layers cosine similarity. */
export interface Collapse extends Heatmap {
  model: string;
  /** Per row (layer): its stage, for windowed or hierarchical models; the view splits by it. */
  stages?: string[];
}

/** A generic line panel (data scale, ablation). */
export interface LinePanel {
  kind: "line";
  id: string;
  title: string;
  caption?: string;
  xLabel: string;
  yLabel: string;
  /** A categorical x axis: point x = k is drawn at category k (e.g. intact, block 3 ablated). */
  xCategories?: string[];
  series: { name: string; points: { x: number; y: number; label?: string }[] }[];
}

/** A generic heatmap panel (data scale, ablation). */
export interface HeatmapPanel extends Heatmap {
  kind: "heatmap";
  caption?: string;
  /** Colour domain; default [0, 1] for non-negative data, symmetric diverging otherwise. */
  domain?: [number, number];
}

export type Panel = LinePanel | HeatmapPanel;

/** A section of panels (line charts, heatmaps) with its own title and introduction. */
export interface GenericSection {
  /** Stable id (the analysis id), used as the section's anchor. */
  id: string;
  title: string;
  intro: string;
  panels: Panel[];
  /** Shown instead of figures, or beside them (e.g. why a model was skipped). */
  notes?: string[];
}

/** Section keys of a report, in display order. */
export type SectionId =
  | "cka"
  | "attentionDistance"
  | "skipRatio"
  | "probes"
  | "localisation"
  | "posEmbed"
  | "filters"
  | "collapse"
  | "dataScale"
  | "ablation";

/** Everything a report shows. Only `run` is required. */
export interface ReportData {
  run: RunSummary;
  cka?: Heatmap[];
  attentionDistance?: AttentionDistance[];
  skipRatio?: SkipRatio[];
  probes?: Probes[];
  localisation?: Localisation[];
  posEmbed?: PosEmbed[];
  filters?: Filters[];
  collapse?: Collapse[];
  dataScale?: Panel[];
  ablation?: Panel[];
  /**
   * Sections of further analyses, drawn after the fixed ones from generic line and heatmap
   * panels: an analysis added to the registry shows in the report without a new figure kind.
   */
  sections?: GenericSection[];
  /** Why a section is absent or partial, e.g. { attentionDistance: "ResNet-50 has no attention" }. */
  omitted?: Partial<Record<SectionId, string>>;
  /**
   * Analyses skipped for a model, one line each (results' `skippedAnalyses`), keyed by the
   * section they would have filled ("run" for an analysis without a section of its own).
   */
  skippedAnalyses?: { section: SectionId | "run"; analysis: string; model?: string; reason: string }[];
  /** Option values used otherwise than given for a model (results' `substitutions`), by section. */
  substitutions?: { section: SectionId | "run"; analysis: string; model: string; option: string; given: string; used: string; reason: string }[];
}
