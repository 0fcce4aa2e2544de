/**
 * Drivers connect the engine to the analysis reducers: which tensors of which model each
 * analysis needs (as taps, reduced inside onnxruntime where that pays), and how a batch's tap
 * outputs become the reducer's input. One driver per analysis instance.
 */
import type { Tensor } from "../tensor.js";
import { InputError } from "../errors.js";
import type { ModelSites, BlockSites } from "../onnx/sites.js";
import { ckaReducer, type CKAState, type Estimator } from "../../analyses/cka.js";
import { attentionDistanceReducer, patchDistances, type AttentionDistanceState, type AttentionWeighting } from "../../analyses/attention-distance.js";
import { skipRatioReducer, type SkipRatioState } from "../../analyses/skip-ratio.js";
import { defaultLocalisationPositions, localisationReducer, type LocalisationState } from "../../analyses/localisation.js";
import { collapseReducer, collapseUpdateSums, type CollapseState } from "../../analyses/collapse.js";
import { probeReducer, type ProbeState } from "../../analyses/probes.js";
import { accuracyReducer, type AccuracyState } from "../../analyses/accuracy.js";
import type { TokenMode } from "../../analyses/flatten.js";
import type { Driver } from "./run.js";
import { unpackLocalisation, type Layout, type TapSpec } from "./taps.js";

/** Runtime facts about a model's sites, from a probe run (shapes of every site tensor). */
export interface ModelGeometry {
  sites: ModelSites;
  /** exporter tensor name → runtime shape at batch `probeBatch` */
  shapes: Map<string, number[]>;
  probeBatch: number;
  /** The image input and its preprocessed [C, H, W]; the model's default-domain opset. */
  input?: { name: string; shape: [number, number, number] };
  opset?: number;
}

/** [B,T,D] → BTD, [B,C,H,W] → BCHW, [B,D] → BD. */
export function layoutOf(shape: readonly number[] | undefined): Layout {
  if (!shape) return "other";
  if (shape.length === 3) return "BTD";
  if (shape.length === 4) return "BCHW";
  if (shape.length === 2) return "BD";
  return "other";
}

/** A site chosen for CKA: canonical name, exporter tensor, layout. */
export interface CkaSite {
  name: string;
  tensor: string;
  layout: Layout;
}

const BLOCK_SET = /\.\d+\.(resid_mid|out)$/;

/**
 * The CKA sites of a model: `blocks` = one per residual sum (ViT/Mixer: resid_mid and out of
 * each block; ResNet: each unit's output); `all` = every named intermediate of every block
 * (LayerNorm outputs, attention output, MLP hidden, residual sums; attention maps excluded).
 */
export function ckaSites(g: ModelGeometry, set: "blocks" | "all"): CkaSite[] {
  const out: CkaSite[] = [];
  const seen = new Set<string>();
  for (const b of g.sites.blocks) {
    for (const [name, tensor] of Object.entries(b.sites)) {
      if (name.endsWith(".attn.probs")) continue;
      if (set === "blocks" && !BLOCK_SET.test(name)) continue;
      if (seen.has(tensor)) continue;
      const shape = g.shapes.get(tensor);
      if (!shape) continue;
      seen.add(tensor);
      out.push({ name, tensor, layout: layoutOf(shape) });
    }
  }
  return out;
}

function gramTaps(sites: CkaSite[], tokens: TokenMode, prefixTokens: number): TapSpec[] {
  return sites.map((s) => ({
    kind: "gram",
    tensor: s.tensor,
    layout: s.layout,
    // `cls`/`spatial` make sense only for token sites; a [B,C,H,W] site uses all positions.
    tokens: s.layout === "BCHW" && tokens === "cls" ? "gap" : s.layout === "BD" ? "all" : tokens,
    prefixTokens: s.layout === "BTD" ? prefixTokens : 0,
  }));
}

function repeatOf(pass: string): number | null {
  if (pass === "main") return 0;
  const m = /^repeat-(\d+)$/.exec(pass);
  return m ? Number(m[1]) : null;
}

/** CKA between model `a` and model `b` (or within `a` alone when b is null). */
export function ckaDriver(
  id: string,
  a: { index: number; sites: CkaSite[]; prefixTokens: number; file: string },
  b: { index: number; sites: CkaSite[]; prefixTokens: number; file: string } | null,
  config: { estimator: Estimator; tokens: TokenMode; repeats: number; seed: number; batch: number; examples: number },
): Driver<CKAState> {
  const tapsA = gramTaps(a.sites, config.tokens, a.prefixTokens);
  const tapsB = b ? gramTaps(b.sites, config.tokens, b.prefixTokens) : [];
  return {
    id,
    taps(pass, m) {
      if (repeatOf(pass) === null) return [];
      return [...(m === a.index ? tapsA : []), ...(b && m === b.index ? tapsB : [])];
    },
    init: () =>
      ckaReducer.init({
        sitesA: a.sites.map((s) => s.name),
        sitesB: b?.sites.map((s) => s.name),
        estimator: config.estimator,
        tokens: config.tokens,
        repeats: config.repeats,
        seed: config.seed,
        batch: config.estimator === "minibatch-unbiased" ? config.batch : config.examples,
        examples: config.examples,
      }),
    update(state, view) {
      const repeat = repeatOf(view.pass);
      if (repeat === null) return state;
      const gramsA = tapsA.map((t) => view.tap(a.index, t).data);
      const gramsB = b ? tapsB.map((t) => view.tap(b.index, t).data) : undefined;
      finiteOrThrow(gramsA, a.sites, a.file, view.batch.ids[0]);
      if (gramsB && b) finiteOrThrow(gramsB, b.sites, b.file, view.batch.ids[0]);
      // The control permutation is seeded by the batch's first sample, not by the batch count, so
      // shards merged and resumed runs equal one uninterrupted run.
      const controlSeed = (config.seed * 1_000_003 + repeat * 7919 + (view.batch.indices[0] ?? 0) * 31) | 0;
      if (config.estimator === "minibatch-unbiased") return ckaReducer.update(state, { gramsA, gramsB, repeat, controlSeed });
      const n = view.batch.ids.length;
      return ckaReducer.update(state, { gramsA, gramsB, repeat, block: { row: state.offset, col: state.offset, rows: n, cols: n } });
    },
    merge: ckaReducer.merge,
  };
}

/** The canonical name of a block's output site (`blocks.3.out`, `stages.1.units.0.out`), if found. */
function blockOut(b: BlockSites): string | undefined {
  const name = `${b.name}.out`;
  return name in b.sites ? name : undefined;
}

/** NaN or ±Inf in a site's activations shows in its Gram; stop with the model and site named. */
function finiteOrThrow(grams: ArrayLike<number>[], sites: CkaSite[], file: string, firstId: string): void {
  grams.forEach((g, i) => {
    for (let k = 0; k < g.length; k++) {
      if (!Number.isFinite(g[k])) throw new InputError(file, `non-finite activations (NaN or Inf) at site ${sites[i].name} (${sites[i].tensor}) in the batch starting at sample ${firstId}`);
    }
  });
}

function attentionBlocks(sites: ModelSites): { layer: number; block: BlockSites; tensor: string }[] {
  const out: { layer: number; block: BlockSites; tensor: string }[] = [];
  sites.blocks.forEach((block, layer) => {
    if (block.attention) out.push({ layer, block, tensor: block.attention.tensor });
  });
  return out;
}

/** Heads of an attention tensor from its runtime shape at the probe batch. */
export function headsOf(shape: number[], probeBatch: number): number {
  return shape.length === 4 ? shape[1] : shape[0] / probeBatch;
}

/** Mean attention distance of every attention layer of model `m` (METHODS.md §2). */
export function attentionDriver(id: string, m: number, g: ModelGeometry, weighting: AttentionWeighting): Driver<AttentionDistanceState> {
  const layers = attentionBlocks(g.sites);
  const grid = g.sites.grid!;
  // Per-query sums are reduced inside onnxruntime ([..., Q, 3] instead of [..., T, T]).
  const distances = Float32Array.from(patchDistances(grid, g.sites.patchSize!));
  const taps: TapSpec[] = layers.map((l) => ({ kind: "attention-distance", tensor: l.tensor, prefixTokens: g.sites.prefixTokens, distances, patches: grid[0] * grid[1] }));
  return {
    id,
    taps: (pass, mm) => (pass === "main" && mm === m ? taps : []),
    init: () => attentionDistanceReducer.init({ grid, patchSize: g.sites.patchSize!, prefixTokens: g.sites.prefixTokens, weighting }),
    update(state, view) {
      if (view.pass !== "main") return state;
      const batchSize = view.batch.ids.length;
      layers.forEach((l, i) => {
        state = attentionDistanceReducer.update(state, { layer: l.layer, querySums: view.tap(m, taps[i]), batchSize });
      });
      return state;
    },
    merge: attentionDistanceReducer.merge,
  };
}

/** Skip-connection norm ratios of every residual of model `m` (METHODS.md §3). */
export function skipDriver(id: string, m: number, g: ModelGeometry): Driver<SkipRatioState> {
  const residuals = g.sites.residuals.filter((r) => {
    const a = g.shapes.get(r.z);
    const b = g.shapes.get(r.fz);
    return a && b && a.length === b.length && a.every((d, i) => d === b[i]) && (a.length === 3 || a.length === 4);
  });
  // Channel norms are reduced inside onnxruntime: [B,T] or [B,H,W] instead of whole activations.
  const taps: TapSpec[] = residuals.flatMap((r) => {
    const layout = layoutOf(g.shapes.get(r.z));
    return [{ kind: "norms", tensor: r.z, layout }, { kind: "norms", tensor: r.fz, layout }];
  });
  return {
    id,
    taps: (pass, mm) => (pass === "main" && mm === m ? taps : []),
    init: () => skipRatioReducer.init({ prefixTokens: g.sites.prefixTokens }),
    update(state, view) {
      if (view.pass !== "main") return state;
      residuals.forEach((r, i) => {
        const residual = r.sublayer === "unit" ? r.block : `${r.block}.${r.sublayer}`;
        state = skipRatioReducer.update(state, { residual, skipNorms: view.tap(m, taps[2 * i]), branchNorms: view.tap(m, taps[2 * i + 1]) });
      });
      return state;
    },
    merge: skipRatioReducer.merge,
  };
}

/**
 * Spatial localisation (METHODS.md §5) of the last block's tokens (ViT, Mixer) or of the last
 * unit of every stage (ResNet), against the preprocessed input patches.
 */
export function localisationDriver(id: string, m: number, g: ModelGeometry, batch: number): Driver<LocalisationState> | null {
  const sites: { name: string; tensor: string }[] = [];
  let layout: Layout = "other";
  if (g.sites.family === "resnet") {
    // The last unit of each stage whose grid is at most 16×16 (always the last stage): a
    // stride-1 or stride-4 stage has thousands of one-pixel cells, costly and uninformative.
    const stages = g.sites.stages.map((st) => {
      const b = g.sites.blocks.find((x) => x.name === st.units[st.units.length - 1]);
      const name = b ? blockOut(b) : undefined;
      const shape = b && name ? g.shapes.get(b.sites[name]) : undefined;
      return b && name && shape ? { name, tensor: b.sites[name], cells: shape[2] * shape[3] } : null;
    }).filter((x): x is { name: string; tensor: string; cells: number } => x !== null);
    stages.forEach((st, i) => {
      if (st.cells <= 256 || i === stages.length - 1) sites.push({ name: st.name, tensor: st.tensor });
    });
    layout = "BCHW";
  } else {
    const blocks = g.sites.blocks;
    const pick = [blocks[Math.floor((blocks.length - 1) / 2)], blocks[blocks.length - 1]];
    for (const b of pick) {
      const name = b ? blockOut(b) : undefined;
      if (b && name && !sites.some((s) => s.tensor === b.sites[name])) sites.push({ name, tensor: b.sites[name] });
    }
    layout = "BTD";
  }
  const usable = sites.filter((s) => layoutOf(g.shapes.get(s.tensor)) === layout);
  if (usable.length === 0 || (layout === "BTD" && !g.sites.grid)) return null;
  const config = {
    sites: usable.map((s) => s.name),
    layout: layout === "BTD" ? { layout: "BTD" as const, prefixTokens: g.sites.prefixTokens } : { layout: "BCHW" as const },
    batch,
  };
  const sums = localisationTaps(usable, layout, g);
  if (sums) {
    // Reduced inside onnxruntime: JS sees O(n²) per position and O(n) per cell per batch.
    return {
      id,
      taps: (pass, mm) => (pass === "main" && mm === m ? sums : []),
      init: () => localisationReducer.init(config),
      update(state, view) {
        if (view.pass !== "main") return state;
        const n = view.batch.ids.length;
        return localisationReducer.update(state, {
          sums: sums.map((t) => {
            const cells = t.grid[0] * t.grid[1];
            return { grid: t.grid, positions: t.positions, n, ...unpackLocalisation(view.tap(m, t).data as Float32Array, t.positions.length, cells, n) };
          }),
        });
      },
      merge: localisationReducer.merge,
    };
  }
  const taps: TapSpec[] = usable.map((s) => ({ kind: "raw", tensor: s.tensor }));
  return {
    id,
    taps: (pass, mm) => (pass === "main" && mm === m ? taps : []),
    init: () => localisationReducer.init(config),
    update(state, view) {
      if (view.pass !== "main") return state;
      const b = view.batchOf(m);
      const images: Tensor = { data: b.input, shape: b.shape };
      return localisationReducer.update(state, { activations: taps.map((t) => view.tap(m, t)), images });
    },
    merge: localisationReducer.merge,
  };
}

/**
 * In-graph localisation taps for the sites, or null where the graph route does not apply (input
 * size unknown, a token count that is not a square grid, a grid that does not divide the input,
 * opset < 9 for EyeLike);
 * the raw-activation route then computes the same maps in JS.
 */
function localisationTaps(sites: { tensor: string }[], layout: Layout, g: ModelGeometry): Extract<TapSpec, { kind: "localisation" }>[] | null {
  if (!g.input || (g.opset ?? 0) < 9 || (layout !== "BTD" && layout !== "BCHW")) return null;
  const [, h, w] = g.input.shape;
  const out: Extract<TapSpec, { kind: "localisation" }>[] = [];
  for (const s of sites) {
    const shape = g.shapes.get(s.tensor)!;
    let grid: [number, number];
    if (layout === "BCHW") grid = [shape[2], shape[3]];
    else {
      const side = Math.round(Math.sqrt(shape[1] - g.sites.prefixTokens));
      if (side * side !== shape[1] - g.sites.prefixTokens) return null;
      grid = [side, side];
    }
    if (h % grid[0] !== 0 || w % grid[1] !== 0) return null;
    out.push({
      kind: "localisation", tensor: s.tensor, layout, prefixTokens: layout === "BTD" ? g.sites.prefixTokens : 0, grid,
      positions: defaultLocalisationPositions(grid), image: g.input.name, imageShape: g.input.shape,
    });
  }
  return out;
}

/**
 * Cross-layer attention-map similarity (METHODS.md §7, DeepViT's attention collapse). The
 * per-batch L×L sums of column cosines are computed inside onnxruntime (one batched MatMul of
 * column-normalised maps), since for ViT-B/16 the JS loop costs about half an inference.
 */
export function collapseDriver(id: string, m: number, g: ModelGeometry): Driver<CollapseState> | null {
  const layers = attentionBlocks(g.sites);
  if (layers.length < 2) return null;
  const shape = g.shapes.get(layers[0].tensor)!;
  const heads = headsOf(shape, g.probeBatch);
  const tokens = shape[shape.length - 1];
  const tap: TapSpec = { kind: "collapse", tensor: layers[0].tensor, tensors: layers.map((l) => l.tensor), tokens };
  return {
    id,
    taps: (pass, mm) => (pass === "main" && mm === m ? [tap] : []),
    init: () => collapseReducer.init({ sites: layers.map((l) => `${l.block.name}.attn.probs`), heads }),
    update(state, view) {
      if (view.pass !== "main") return state;
      return collapseUpdateSums(state, { sum: view.tap(m, tap).data, images: view.batch.ids.length, heads, tokens });
    },
    merge: collapseReducer.merge,
  };
}

/** The representation a probe reads at each block output. */
export type ProbeRepresentation = "cls" | "mean" | "gap";

/** Linear probes (METHODS.md §6) on every block output of model `m`, trained on the "train" pass. */
export function probeDriver(
  id: string,
  m: number,
  g: ModelGeometry,
  representation: ProbeRepresentation,
  config: { classes: number; shots: number[]; full: boolean },
): Driver<ProbeState> | null {
  const blocks: { name: string; tensor: string; layout: Layout }[] = [];
  for (const b of g.sites.blocks) {
    const name = blockOut(b);
    if (!name) continue;
    const layout = layoutOf(g.shapes.get(b.sites[name]));
    if (layout === "other") continue;
    blocks.push({ name: b.name, tensor: b.sites[name], layout });
  }
  if (blocks.length === 0) return null;
  const taps: TapSpec[] = blocks.map((b) => ({
    kind: "pool",
    tensor: b.tensor,
    layout: b.layout,
    mode: b.layout === "BCHW" ? "gap" : representation === "cls" ? "cls" : "mean",
    prefixTokens: g.sites.prefixTokens,
  }));
  return {
    id,
    taps: (pass, mm) => ((pass === "main" || pass === "train") && mm === m ? taps : []),
    init: () => probeReducer.init({ classes: config.classes, shots: config.shots, full: config.full, blocks: blocks.map((b) => b.name) }),
    update(state, view) {
      if (view.pass !== "main" && view.pass !== "train") return state;
      const labels = view.batch.labels;
      if (!labels) return state;
      blocks.forEach((b, i) => {
        state = probeReducer.update(state, {
          block: b.name,
          split: view.pass === "train" ? "train" : "test",
          features: view.tap(m, taps[i]),
          labels,
          indices: view.batch.indices,
        });
      });
      return state;
    },
    merge: probeReducer.merge,
  };
}

/** Top-1 accuracy of model `m`'s logits against the labels. */
export function accuracyDriver(id: string, m: number, logits: string): Driver<AccuracyState> {
  const tap: TapSpec = { kind: "raw", tensor: logits };
  return {
    id,
    taps: (pass, mm) => (pass === "main" && mm === m ? [tap] : []),
    init: () => accuracyReducer.init({}),
    update(state, view) {
      if (view.pass !== "main" || !view.batch.labels) return state;
      return accuracyReducer.update(state, { logits: view.tap(m, tap), labels: view.batch.labels });
    },
    merge: accuracyReducer.merge,
  };
}
