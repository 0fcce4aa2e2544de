/**
 * Taps: small ONNX subgraphs appended to a model so that what an analysis needs per batch is
 * reduced inside onnxruntime instead of copying whole activations out to JavaScript.
 *
 * Measured reason (STYLE.md): a Gram X·Xᵀ of a 64 × 151,296 float32 matrix takes ~15 ms as one
 * Gemm(transB=1) in onnxruntime and ~460 ms as a plain JS loop, and a ViT-B/16 block output is
 * 38 MB per batch of 64; a Gram is 16 KB.
 *
 * Kinds:
 * - `gram`   : features flattened per example (METHODS.md §1 `tokens` modes), centred over the
 *              batch (HSIC₁ is shift invariant; centring reduces float32 cancellation), then
 *              Gemm(X, X, transB=1) → [B, B].
 * - `norms`  : L2 norm over channels: [B,T,D] → [B,T]; [B,C,H,W] → [B,H,W] (METHODS.md §3).
 * - `pool`   : pooled features for the probes: `cls` → [B,D], `mean` (spatial tokens) → [B,D],
 *              `gap` ([B,C,H,W] → [B,C]), `token:i` → [B,D].
 * - `raw`    : the tensor itself (attention maps, small sites).
 */
import { onnx } from "../onnx/proto/onnx.js";
import type { OnnxModel } from "../onnx/model.js";

import type { PoolMode, TensorLayout as Layout, TokenMode } from "../../analyses/vocabulary.js";
import { windowDistanceTap, type WindowDistanceTap } from "./window-taps.js";

// The vocabulary is declared once in analyses/vocabulary.ts; drivers.ts still imports the
// layout under its old name from here.
/** A pool tap always reduces something: `none` (already [B, D]) is the probe reducer's alone. */
export type TapPoolMode = Exclude<PoolMode, "none">;

export type TapSpec =
  | { kind: "gram"; tensor: string; layout: Layout; tokens: TokenMode; prefixTokens: number }
  /** `elements`: the tensor's elements per image, which picks the kernel of its squares (`SQUARED_COPY_LIMIT`). */
  | { kind: "norms"; tensor: string; layout: Layout; elements?: number }
  | { kind: "pool"; tensor: string; layout: Layout; mode: TapPoolMode; prefixTokens: number }
  | { kind: "raw"; tensor: string }
  /**
   * Attention collapse (METHODS.md §7): per (image, head) the Frobenius inner products of the
   * layers' column-normalised maps, ⟨Â_p, Â_r⟩ = Σ_t cos(A_p[:, t], A_r[:, t]), summed over
   * the batch → [L, L]. `tensor` is the first layer's map (naming only); `tensors` all layers.
   * With `cols`, one block of that matrix: rows `tensors`, columns `cols` → [R, C]. Blocks of
   * one model share each layer's unit map and each group's stack (named by tensor). `elements`:
   * one map's elements per image (all the block's maps have one shape), as for norms.
   */
  | { kind: "collapse"; tensor: string; tensors: string[]; tokens: number; cols?: string[]; elements?: number }
  /**
   * Mean attention distance (METHODS.md §2), per query patch: Σ_k A[q,k]·d(q,k) and Σ_k A[q,k]
   * over patch keys, Σ_k A[q,k] over prefix keys → [..., Q, 3], instead of the [..., T, T] map.
   * `distances` is the Q×Q pixel-distance matrix of the grid.
   */
  | { kind: "attention-distance"; tensor: string; prefixTokens: number; distances: Float32Array; patches: number }
  /** Mean attention distance of a windowed map (Swin, MaxViT): per-query sums [B, H, windows·N, 3] (./window-taps.ts). */
  | WindowDistanceTap
  /**
   * Attention mass per prefix token (analyses/prefix-mass.ts): Σ over patch queries q of
   * A[q, j] for each prefix key j → [..., 1, P], as A·E (E selects the prefix key columns)
   * summed over patch query rows by a [1, T] indicator: two products, no Slice of the map.
   */
  | { kind: "prefix-mass"; tensor: string; prefixTokens: number; patches: number }
  /**
   * Spatial localisation (METHODS.md §5), everything but O(n²) per position and cell reduced
   * inside onnxruntime. With K̃_t the Gram of token t (centred over the batch, diagonal zeroed)
   * and L̃_s the same for input cell s of `image` (grid = the site's token grid), one flat
   * output packs [tr(K̃_t L̃_s) (P × cells) | K̃_t (P × n × n) | ‖L̃_s‖²_F (cells) | L̃_s·1
   * (cells × n)]; {@link unpackLocalisation} splits it. Input-cell Grams are built once per
   * grid and shared by every site on that grid.
   */
  | { kind: "localisation"; tensor: string; layout: "BTD" | "BCHW"; prefixTokens: number; grid: [number, number]; positions: [number, number][]; image: string; imageShape: [number, number, number] };

export interface TapGraph {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
  /** Output tensor name for each requested tap, in request order. */
  outputs: string[];
}

const INT64 = onnx.TensorProto.DataType.INT64;

function safe(tensor: string): string {
  return tensor.replace(/[^A-Za-z0-9_.\-/:]/g, "_");
}

/** A stable, collision-free output name for a tap. */
export function tapName(spec: TapSpec): string {
  const base = safe(spec.tensor);
  switch (spec.kind) {
    case "gram": return `seelike/gram/${spec.tokens}/${base}`;
    case "norms": return `seelike/norms/${base}`;
    case "pool": return `seelike/pool/${spec.mode}/${base}`;
    case "raw": return spec.tensor;
    case "collapse": return spec.cols ? `seelike/collapse/${spec.tensors.length}x${spec.cols.length}/${base}/${safe(spec.cols[0])}` : `seelike/collapse/${spec.tensors.length}/${base}`;
    case "attention-distance": return `seelike/attention-distance/${base}`;
    case "window-distance": return `seelike/window-distance/${base}`;
    case "prefix-mass": return `seelike/prefix-mass/${base}`;
    case "localisation": return `seelike/localisation/${spec.positions.map((p) => p.join("_")).join("-")}/${base}`;
  }
}

/** For scheduleTaps: the rank of a tensor's producer in the model's topological order (−1: a graph input or initializer). */
export function tensorPosition(model: OnnxModel): (tensor: string) => number {
  const { producer, position } = model.graph;
  return (t) => {
    const i = producer.get(t);
    return i === undefined ? -1 : position[i];
  };
}

/** The model tensors a tap reads. */
function sources(spec: TapSpec): string[] {
  if (spec.kind === "collapse") return [...spec.tensors, ...(spec.cols ?? [])];
  if (spec.kind === "localisation") return [spec.tensor, spec.image];
  return [spec.tensor];
}

/**
 * The largest tensor, in elements per image, whose sums of squares over an axis are taken as Mul +
 * ReduceSum; larger ones (and those of unknown size) use ReduceSumSquare. onnxruntime's
 * ReduceSumSquare off the whole tensor takes a generic reduction path, 1.5–3× slower than
 * ReduceSum over the same axis, but Mul + ReduceSum first writes a squared copy of the tensor
 * (`node dist/bench/squares.js`, ms; ReduceSum alone / Mul + ReduceSum / ReduceSumSquare):
 * - [64, 16, 32, 32] over the channels: 0.17 / 0.26 / 0.96; [64, 65, 192] over the features:
 *   0.09 / 0.15 / 0.36; [64, 3, 65, 65] over the queries: 0.17 / 0.28 / 0.52. ReduceL2 costs
 *   as ReduceSumSquare, Pow + ReduceSum more than Mul + ReduceSum, Einsum 10–40× more.
 * - In the tapped zoo models, kernel time per batch of 64 from onnxruntime's profile: resnet-tiny's
 *   skip norms 2.8–3.3 → 2.0–2.2 ms, vit-tiny's collapse column norms 2.9–3.2 → 1.3–1.7 ms.
 * On full-size sites the copy costs more than it saves: ResNet-50's skip norms, 128 images, 1.60
 * → 1.36 GB peak and 8.1 → 7.2 s of inference with ReduceSumSquare; ViT-B/16's collapse 3.84 →
 * 3.78 GB and 34.5 → 33.9 s. At this limit the copy is at most 16 MB at batch 64; the smallest
 * full-size sites are above it (ViT-B/16's [197, 768] and [12, 197, 197], ResNet-50's [2048, 7, 7]).
 */
export const SQUARED_COPY_LIMIT = 1 << 16;

/**
 * The distinct taps in the order to append them: the tap whose latest input comes last in the
 * model first, the one reading the earliest tensor last. onnxruntime orders a graph by a depth-first
 * walk back from its leaf nodes, starting from the leaf of highest node index (its GraphViewer's
 * reverse DFS), and every tap ends in a leaf; so each tap then runs as soon as its input exists and
 * that input is freed, instead of every tapped tensor staying alive until the model's output has run.
 * On ViT-B/16 at batch 64 (`/usr/bin/time` peak of `seelike analyze`): CKA 2.78 → 2.02 GB, attention
 * distance 3.37 → 2.01 GB, skip norms 3.85 → 2.03 GB, against 2.0 GB for plain inference.
 * `position(t)` is the rank of t's producer in a topological order (−1 for graph inputs).
 */
export function scheduleTaps(specs: readonly TapSpec[], position: (tensor: string) => number): TapSpec[] {
  const unique = new Map<string, TapSpec>();
  for (const s of specs) if (!unique.has(tapName(s))) unique.set(tapName(s), s);
  return [...unique.values()]
    .map((spec, i) => ({ spec, i, last: Math.max(...sources(spec).map(position)) }))
    .sort((a, b) => b.last - a.last || a.i - b.i)
    .map((x) => x.spec);
}

/**
 * Builds the subgraph computing every tap. `opset` is the model's default-domain opset:
 * from opset 18 ReduceMean/ReduceL2 take their axes as an input instead of an attribute.
 */
export function tapGraph(specs: readonly TapSpec[], opset: number): TapGraph {
  const b = new Builder(opset);
  const outputs: string[] = [];
  const done = new Set<string>();
  for (const spec of specs) {
    const out = tapName(spec);
    outputs.push(out);
    if (done.has(out) || spec.kind === "raw") continue;
    done.add(out);
    if (spec.kind === "gram") {
      const x = b.features(spec.tensor, spec.layout, spec.tokens, spec.prefixTokens, out);
      const centred = b.centre(x, 0, `${out}/centred`);
      b.node("Gemm", [centred, centred], out, [b.attr("transB", 1)]);
    } else if (spec.kind === "collapse") {
      // Σ over (image, head) of ⟨Â_p, Â_r⟩: per layer its column-normalised map (column norms by
      // ReduceSumSquare over the query axis, without the squared copy of each map that Mul +
      // ReduceSum made: ViT-B/16, 128 images, batch 64, collapse only, 34.3–34.6 → 33.9 s and
      // 3.83–3.85 → 3.78 GB peak), the layers of a group stacked per image as [B, g, ·], then
      // one Gram per image (MatMul with a transposed operand, which onnxruntime fuses into FusedMatMul: no
      // copy), spread over the intra-op threads, and the sum over images. One Gemm over
      // [L, B·H·T²] had run on one thread (M = N = L).
      //
      // Memory (issue 17): each layer's map is normalised on its own so the model's map is freed
      // once its unit copy exists, and the driver asks for blocks of a few layers each (one
      // output per block), so a group's stack is built as soon as its layers have run (see
      // `scheduleTaps`) and its unit maps freed: L unit maps and one group's stack are held, not
      // the L unit maps and a stack of all of them (ViT-B/16 at batch 64: 1.4 + 2 × 0.36 GB
      // instead of 2 × 1.4 GB). Normalising the whole stack at once had held the raw maps, the
      // stack, its square and its quotient together (6.3 GB peak for collapse alone against 2.0
      // GB plain). Same arithmetic per element either way.
      const t = spec.tokens;
      const rows = b.collapseStack(spec.tensors, t, spec.elements);
      const cols = spec.cols ? b.collapseStack(spec.cols, t, spec.elements) : rows;
      const colsT = b.node("Transpose", [cols], `${out}/colsT`, [b.attr("perm", [0, 2, 1])]);
      b.reduce("ReduceSum", b.node("MatMul", [rows, colsT], `${out}/grams`), [0], false, out);
    } else if (spec.kind === "attention-distance") {
      // Over the whole [..., T, T] map (no Slice copies, which cost 5× the arithmetic): the
      // distance matrix padded with zero rows/columns for prefix tokens gives Σ_k A·d per row;
      // one MatMul with [patch-key, prefix-key] indicator columns gives both masses. Only the
      // small [..., T, 3] result is sliced to the patch queries.
      const p = spec.prefixTokens;
      const t = spec.patches + p;
      const dFull = paddedDistances(spec);
      const keys = new Float32Array(t * 2);
      for (let k = 0; k < t; k++) keys[k * 2 + (k < p ? 1 : 0)] = 1;
      const d = b.floats(`seelike/const/distances/${spec.patches}+${p}`, dFull, [t, t]);
      const ind = b.floats(`seelike/const/key-indicators/${spec.patches}+${p}`, keys, [t, 2]);
      const num = b.reduce("ReduceSum", b.node("Mul", [spec.tensor, d], `${out}/weighted`), [-1], true, `${out}/num`);
      const masses = b.node("MatMul", [spec.tensor, ind], `${out}/masses`);
      const all = b.node("Concat", [num, masses], `${out}/all`, [b.attr("axis", -1)]);
      b.node("Slice", [all, b.ints([p]), b.ints([2 ** 62]), b.ints([-2])], out);
    } else if (spec.kind === "window-distance") {
      windowDistanceTap(b, spec, out);
    } else if (spec.kind === "prefix-mass") {
      const p = spec.prefixTokens;
      const t = spec.patches + p;
      const select = new Float32Array(t * p);
      for (let j = 0; j < p; j++) select[j * p + j] = 1;
      const queries = new Float32Array(t).fill(1, p);
      const e = b.floats(`seelike/const/prefix-keys/${spec.patches}+${p}`, select, [t, p]);
      const q = b.floats(`seelike/const/patch-queries/${spec.patches}+${p}`, queries, [1, t]);
      b.node("MatMul", [q, b.node("MatMul", [spec.tensor, e], `${out}/perQuery`)], out);
    } else if (spec.kind === "localisation") {
      b.localisation(spec, out);
    } else if (spec.kind === "norms") {
      // √(Σ x²): the sums of squares as `SQUARED_COPY_LIMIT` picks, then Sqrt. ReduceL2 over the
      // channel axis of [B,C,H,W] took onnxruntime's generic reduction path, about 3× slower.
      if (spec.layout !== "BTD" && spec.layout !== "BCHW") throw new RangeError(`invalid layout for norms: ${spec.layout}`);
      b.node("Sqrt", [b.sumOfSquares(spec.tensor, spec.layout === "BTD" ? 2 : 1, false, `${out}/sumsq`, spec.elements)], out);
    } else {
      b.pool(spec.tensor, spec.layout, spec.mode, spec.prefixTokens, out);
    }
  }
  return { nodes: b.nodes, initializers: b.initializers, outputs };
}

/**
 * The [T, T] distance matrix of an attention-distance tap over the whole map: the Q×Q patch
 * distances with zero rows and columns for the prefix tokens (a prefix query's row is sliced
 * away afterwards; a prefix key contributes no distance).
 */
export function paddedDistances(spec: { distances: Float32Array; patches: number; prefixTokens: number }): Float32Array {
  const p = spec.prefixTokens;
  const t = spec.patches + p;
  const d = new Float32Array(t * t);
  for (let i = 0; i < spec.patches; i++) d.set(spec.distances.subarray(i * spec.patches, (i + 1) * spec.patches), (i + p) * t + p);
  return d;
}

/** Appends tap nodes and deduplicated constants (shared with ./window-taps.ts). */
export class Builder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private consts = new Map<string, string>();
  private cellGrams = new Map<string, { flat: string; self: string; rows: string; mask: string }>();
  private made = new Set<string>();
  constructor(private readonly opset: number) {}

  /**
   * The stacked unit maps of attention layers `tensors` ([B, n, H·T·T], each column of each map
   * divided by its norm), made once per tensor and per group whichever block asks first. The
   * units are created last layer first: onnxruntime runs a node's inputs highest node index
   * first, so the first layer's unit runs as soon as its map exists.
   */
  collapseStack(tensors: string[], t: number, elements?: number): string {
    const name = `seelike/collapse-stack/${tensors.length}/${t}/${safe(tensors[0])}/${safe(tensors[tensors.length - 1])}`;
    if (this.made.has(name)) return name;
    const units = new Array<string>(tensors.length);
    for (let l = tensors.length - 1; l >= 0; l--) {
      const x = tensors[l];
      const u = `seelike/collapse-unit/${t}/${safe(x)}`;
      if (!this.made.has(u)) {
        const row = this.node("Reshape", [x, this.ints([0, 1, -1, t, t])], `${u}/row`);
        const sumsq = this.sumOfSquares(row, -2, true, `${u}/sumsq`, elements);
        this.node("Div", [row, this.node("Sqrt", [sumsq], `${u}/norms`)], u);
        this.made.add(u);
      }
      units[l] = u;
    }
    const stack = units.length === 1 ? units[0] : this.node("Concat", units, `${name}/concat`, [this.attr("axis", 1)]);
    this.node("Reshape", [stack, this.ints([0, tensors.length, -1])], name);
    this.made.add(name);
    return name;
  }

  node(op: string, inputs: string[], output: string, attribute: onnx.IAttributeProto[] = []): string {
    this.nodes.push({ op_type: op, input: inputs, output: [output], name: `${output}/${op}`, attribute });
    return output;
  }

  ints(values: number[]): string {
    const key = values.join(",");
    let name = this.consts.get(key);
    if (!name) {
      name = `seelike/const/i64/${key.replace(/-/g, "m")}`;
      this.consts.set(key, name);
      this.initializers.push({ name, data_type: INT64, dims: [values.length], int64_data: values });
    }
    return name;
  }

  floats(name: string, values: Float32Array, dims: number[]): string {
    if (!this.consts.has(name)) {
      this.consts.set(name, name);
      this.initializers.push({ name, data_type: onnx.TensorProto.DataType.FLOAT, dims, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    }
    return name;
  }

  scalarInt(value: number): string {
    const name = `seelike/const/i64scalar/${value}`;
    if (!this.consts.has(name)) {
      this.consts.set(name, name);
      this.initializers.push({ name, data_type: INT64, dims: [], int64_data: [value] });
    }
    return name;
  }

  /** Σ x² over `axis`: Mul + ReduceSum for a tensor of at most SQUARED_COPY_LIMIT elements per image, else ReduceSumSquare. */
  sumOfSquares(x: string, axis: number, keep: boolean, output: string, elements?: number): string {
    if (elements === undefined || elements > SQUARED_COPY_LIMIT) return this.reduce("ReduceSumSquare", x, [axis], keep, output);
    return this.reduce("ReduceSum", this.node("Mul", [x, x], `${output}/squares`), [axis], keep, output);
  }

  reduce(op: "ReduceMean" | "ReduceL2" | "ReduceSum" | "ReduceSumSquare", x: string, axes: number[], keep: boolean, output: string): string {
    const keepdims = { name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: keep ? 1 : 0 };
    // ReduceSum takes axes as an input from opset 13, the others from opset 18.
    if (this.opset >= 18 || (op === "ReduceSum" && this.opset >= 13)) return this.node(op, [x, this.ints(axes)], output, [keepdims]);
    return this.node(op, [x], output, [keepdims, { name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: axes }]);
  }

  attr(name: string, value: number | number[]): onnx.IAttributeProto {
    return Array.isArray(value)
      ? { name, type: onnx.AttributeProto.AttributeType.INTS, ints: value }
      : { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
  }

  /**
   * x − mean of x over `axis` (kept). Subtracting the batch's first example instead (a Gather
   * rather than a ReduceMean pass; HSIC₁ ignores any shift) was ~2% faster on vit-tiny but left
   * the float32 Grams' CKA errors 1.3–3× larger (max relative error against float64 JS on the
   * exposed activations, 256 images at n = 64: vit-tiny 2.0e-9 → 4.4e-9, resnet-tiny 5.0e-9 →
   * 6.6e-9; tests/engine-precision.test.ts), and more when the first example is an outlier.
   */
  centre(x: string, axis: number, output: string): string {
    return this.node("Sub", [x, this.reduce("ReduceMean", x, [axis], true, `${output}/mean`)], output);
  }

  /** [B, n, d] → [B, n, n] Grams with their diagonals set to 0 (`mask` = 1 − I, built when null). */
  hollowGram(x: string, mask: string | null, output: string): { gram: string; mask: string } {
    const xt = this.node("Transpose", [x], `${output}/xT`, [this.attr("perm", [0, 2, 1])]);
    const g = this.node("MatMul", [x, xt], `${output}/full`);
    if (!mask) {
      // 1 − I for the runtime batch size: EyeLike of one [n, n] slice.
      const first = this.node("Gather", [g, this.scalarInt(0)], `${output}/first`, [this.attr("axis", 0)]);
      const eye = this.node("EyeLike", [first], `${output}/eye`);
      mask = this.node("Sub", [this.floats("seelike/const/one", new Float32Array([1]), []), eye], `${output}/mask`);
    }
    return { gram: this.node("Mul", [g, mask], output), mask };
  }

  /** Per input cell of a gh × gw grid: hollow Gram rows [cells, n²], ‖L̃‖²_F [cells], L̃·1 [cells, n]. */
  cells(image: string, [c, h, w]: [number, number, number], [gh, gw]: [number, number]) {
    const key = `${image}/${gh}x${gw}`;
    const hit = this.cellGrams.get(key);
    if (hit) return hit;
    const base = `seelike/localisation-cells/${gh}x${gw}/${image.replace(/[^A-Za-z0-9_.\-/:]/g, "_")}`;
    const ph = h / gh, pw = w / gw;
    const centred = this.centre(image, 0, `${base}/centred`);
    const split = this.node("Reshape", [centred, this.ints([-1, c, gh, ph, gw, pw])], `${base}/split`);
    const byCell = this.node("Transpose", [split], `${base}/byCell`, [this.attr("perm", [2, 4, 0, 1, 3, 5])]);
    const y = this.node("Reshape", [byCell, this.ints([gh * gw, -1, c * ph * pw])], `${base}/y`);
    const { gram, mask } = this.hollowGram(y, null, `${base}/gram`);
    const out = {
      flat: this.node("Reshape", [gram, this.ints([gh * gw, -1])], `${base}/flat`),
      self: this.reduce("ReduceSum", this.node("Mul", [gram, gram], `${base}/sq`), [1, 2], false, `${base}/self`),
      rows: this.reduce("ReduceSum", gram, [2], false, `${base}/rows`),
      mask,
    };
    this.cellGrams.set(key, out);
    return out;
  }

  localisation(spec: Extract<TapSpec, { kind: "localisation" }>, out: string): string {
    const [gh, gw] = spec.grid;
    const cells = this.cells(spec.image, spec.imageShape, spec.grid);
    const tokens = spec.positions.map(([r, c]) => r * gw + c);
    if (tokens.some((t) => !(t >= 0 && t < gh * gw))) throw new RangeError(`invalid positions for a ${gh}×${gw} grid`);
    let x: string;
    if (spec.layout === "BTD") {
      // [n, T, D] → tokens [n, P, D] → [P, n, D]
      const picked = this.node("Gather", [spec.tensor, this.ints(tokens.map((t) => t + spec.prefixTokens))], `${out}/tokens`, [this.attr("axis", 1)]);
      x = this.node("Transpose", [picked], `${out}/x`, [this.attr("perm", [1, 0, 2])]);
    } else {
      // [n, C, H, W] → [n, C, H·W] → positions [n, C, P] → [P, n, C]
      const flat = this.node("Reshape", [spec.tensor, this.ints([0, 0, -1])], `${out}/hw`);
      const picked = this.node("Gather", [flat, this.ints(tokens)], `${out}/tokens`, [this.attr("axis", 2)]);
      x = this.node("Transpose", [picked], `${out}/x`, [this.attr("perm", [2, 0, 1])]);
    }
    const { gram } = this.hollowGram(this.centre(x, 1, `${out}/centred`), cells.mask, `${out}/gram`);
    const rows = this.node("Reshape", [gram, this.ints([tokens.length, -1])], `${out}/flat`);
    const cross = this.node("Gemm", [rows, cells.flat], `${out}/cross`, [this.attr("transB", 1)]);
    const parts = [cross, gram, cells.self, cells.rows].map((t, i) => this.node("Reshape", [t, this.ints([-1])], `${out}/part${i}`));
    return this.node("Concat", parts, out, [this.attr("axis", 0)]);
  }

  slice(x: string, start: number, axis: number, output: string): string {
    return this.node("Slice", [x, this.ints([start]), this.ints([2 ** 62]), this.ints([axis])], output);
  }

  flatten(x: string, output: string): string {
    return this.node("Flatten", [x], output, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
  }

  /** [B, p] features of one site under a METHODS.md §1 flattening mode. */
  features(x: string, layout: Layout, tokens: TokenMode, prefix: number, out: string): string {
    if (layout === "BTD") {
      switch (tokens) {
        case "all": return this.flatten(x, `${out}/flat`);
        case "cls":
          if (prefix < 1) throw new RangeError("invalid tokens: cls (the model has no CLS token)");
          return this.node("Gather", [x, this.scalarInt(0)], `${out}/cls`, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
        case "spatial": return this.flatten(this.slice(x, prefix, 1, `${out}/spatial`), `${out}/flat`);
        case "gap": return this.reduce("ReduceMean", this.slice(x, prefix, 1, `${out}/spatial`), [1], false, `${out}/gap`);
      }
    }
    if (layout === "BCHW") {
      switch (tokens) {
        case "all":
        case "spatial": return this.flatten(x, `${out}/flat`);
        case "gap": return this.reduce("ReduceMean", x, [2, 3], false, `${out}/gap`);
        case "cls": throw new RangeError("invalid tokens: cls (a [B,C,H,W] site has no CLS token)");
      }
    }
    // [B, D] or any other layout: flatten everything but the batch axis.
    if (tokens !== "all") throw new RangeError(`invalid tokens: ${tokens} for a site of layout ${layout}`);
    return this.flatten(x, `${out}/flat`);
  }

  pool(x: string, layout: Layout, mode: TapPoolMode, prefix: number, out: string): string {
    if (layout === "BTD") {
      if (mode === "cls") {
        if (prefix < 1) throw new RangeError("invalid pooling: cls (the model has no CLS token)");
        return this.node("Gather", [x, this.scalarInt(0)], out, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
      }
      if (mode === "mean") return this.reduce("ReduceMean", this.slice(x, prefix, 1, `${out}/spatial`), [1], false, out);
      if (mode.startsWith("token:")) {
        const t = Number(mode.slice(6));
        if (!Number.isInteger(t) || t < 0) throw new RangeError(`invalid pooling: ${mode}`);
        return this.node("Gather", [x, this.scalarInt(t)], out, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
      }
    }
    if (layout === "BCHW" && (mode === "gap" || mode === "mean")) return this.reduce("ReduceMean", x, [2, 3], false, out);
    if (layout === "BD") return this.node("Identity", [x], out);
    throw new RangeError(`invalid pooling: ${mode} for a site of layout ${layout}`);
  }
}

/**
 * Splits a localisation tap output into tr(K̃_t L̃_s) [P × cells], K̃_t [P × n × n], ‖L̃_s‖²_F
 * [cells] and L̃_s·1 [cells × n] (the reducer's `LocalisationSums`).
 * @example unpackLocalisation(view.tap(m, spec).data as Float32Array, 3, 49, 64)
 */
export function unpackLocalisation(data: Float32Array, positions: number, cells: number, n: number): { cross: Float32Array; grams: Float32Array; self: Float32Array; rows: Float32Array } {
  const sizes = [positions * cells, positions * n * n, cells, cells * n];
  if (data.length !== sizes.reduce((a, b) => a + b, 0)) throw new RangeError(`invalid localisation tap: ${data.length} values for ${positions} positions, ${cells} cells, batch ${n}`);
  let o = 0;
  const [cross, grams, self, rows] = sizes.map((k) => data.subarray(o, (o += k)));
  return { cross, grams, self, rows };
}
