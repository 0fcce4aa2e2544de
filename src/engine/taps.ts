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

export type Layout = "BTD" | "BCHW" | "BD" | "other";
export type TokenMode = "all" | "cls" | "spatial" | "gap";
export type PoolMode = "cls" | "mean" | "gap" | `token:${number}`;

export type TapSpec =
  | { kind: "gram"; tensor: string; layout: Layout; tokens: TokenMode; prefixTokens: number }
  | { kind: "norms"; tensor: string; layout: Layout }
  | { kind: "pool"; tensor: string; layout: Layout; mode: PoolMode; prefixTokens: number }
  | { kind: "raw"; tensor: string }
  /**
   * Attention collapse (METHODS.md §7): per (image, head) the Frobenius inner products of the
   * layers' column-normalised maps, ⟨Â_p, Â_r⟩ = Σ_t cos(A_p[:, t], A_r[:, t]), summed over
   * the batch → [L, L]. `tensor` is the first layer's map (naming only); `tensors` all layers.
   */
  | { kind: "collapse"; tensor: string; tensors: string[]; tokens: number }
  /**
   * Mean attention distance (METHODS.md §2), per query patch: Σ_k A[q,k]·d(q,k) and Σ_k A[q,k]
   * over patch keys, Σ_k A[q,k] over prefix keys → [..., Q, 3], instead of the [..., T, T] map.
   * `distances` is the Q×Q pixel-distance matrix of the grid.
   */
  | { kind: "attention-distance"; tensor: string; prefixTokens: number; distances: Float32Array; patches: number };

export interface TapGraph {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
  /** Output tensor name for each requested tap, in request order. */
  outputs: string[];
}

const INT64 = onnx.TensorProto.DataType.INT64;

/** A stable, collision-free output name for a tap. */
export function tapName(spec: TapSpec): string {
  const base = spec.tensor.replace(/[^A-Za-z0-9_.\-/:]/g, "_");
  switch (spec.kind) {
    case "gram": return `seelike/gram/${spec.tokens}/${base}`;
    case "norms": return `seelike/norms/${base}`;
    case "pool": return `seelike/pool/${spec.mode}/${base}`;
    case "raw": return spec.tensor;
    case "collapse": return `seelike/collapse/${spec.tensors.length}/${base}`;
    case "attention-distance": return `seelike/attention-distance/${base}`;
  }
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
      const mean = b.reduce("ReduceMean", x, [0], true, `${out}/mean`);
      const centred = b.node("Sub", [x, mean], `${out}/centred`);
      b.node("Gemm", [centred, centred], out, [{ name: "transB", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
    } else if (spec.kind === "collapse") {
      // Σ over (image, head) of ⟨Â_p, Â_r⟩ is one Gemm of the [L, B·H·T²] matrix whose row l
      // is layer l's column-normalised maps flattened: contiguous rows, no transpose copies.
      const rows = spec.tensors.map((x, l) => {
        // ‖A[:, col]‖ over the query axis (second to last), then Â = A / ‖·‖.
        const n = b.reduce("ReduceL2", x, [-2], true, `${out}/${l}/norm`);
        const unit = b.node("Div", [x, n], `${out}/${l}/unit`);
        return b.node("Reshape", [unit, b.ints([1, -1])], `${out}/${l}/row`);
      });
      const w = rows.length === 1 ? rows[0] : b.node("Concat", rows, `${out}/stack`, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: 0 }]);
      b.node("Gemm", [w, w], out, [{ name: "transB", type: onnx.AttributeProto.AttributeType.INT, i: 1 }]);
    } else if (spec.kind === "attention-distance") {
      const p = spec.prefixTokens;
      const x = spec.tensor;
      const d = b.floats(`seelike/const/distances/${spec.patches}/${out}`, spec.distances, [spec.patches, spec.patches]);
      // Queries are the patch tokens; keys split into patch keys and prefix keys.
      const rows = b.node("Slice", [x, b.ints([p]), b.ints([2 ** 62]), b.ints([-2])], `${out}/queries`);
      const patchKeys = b.node("Slice", [rows, b.ints([p]), b.ints([2 ** 62]), b.ints([-1])], `${out}/patchKeys`);
      const weighted = b.reduce("ReduceSum", b.node("Mul", [patchKeys, d], `${out}/weighted`), [-1], true, `${out}/num`);
      const mass = b.reduce("ReduceSum", patchKeys, [-1], true, `${out}/mass`);
      const parts = [weighted, mass];
      if (p > 0) {
        const prefixKeys = b.node("Slice", [rows, b.ints([0]), b.ints([p]), b.ints([-1])], `${out}/prefixKeys`);
        parts.push(b.reduce("ReduceSum", prefixKeys, [-1], true, `${out}/prefix`));
      } else {
        parts.push(b.node("Mul", [mass, b.floats("seelike/const/zero", new Float32Array([0]), [])], `${out}/prefix`));
      }
      b.node("Concat", parts, out, [{ name: "axis", type: onnx.AttributeProto.AttributeType.INT, i: -1 }]);
    } else if (spec.kind === "norms") {
      if (spec.layout === "BTD") b.reduce("ReduceL2", spec.tensor, [2], false, out);
      else if (spec.layout === "BCHW") b.reduce("ReduceL2", spec.tensor, [1], false, out);
      else throw new RangeError(`invalid layout for norms: ${spec.layout}`);
    } else {
      b.pool(spec.tensor, spec.layout, spec.mode, spec.prefixTokens, out);
    }
  }
  return { nodes: b.nodes, initializers: b.initializers, outputs };
}

class Builder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private consts = new Map<string, string>();
  constructor(private readonly opset: number) {}

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

  reduce(op: "ReduceMean" | "ReduceL2" | "ReduceSum", x: string, axes: number[], keep: boolean, output: string): string {
    const keepdims = { name: "keepdims", type: onnx.AttributeProto.AttributeType.INT, i: keep ? 1 : 0 };
    // ReduceSum takes axes as an input from opset 13, the others from opset 18.
    if (this.opset >= 18 || (op === "ReduceSum" && this.opset >= 13)) return this.node(op, [x, this.ints(axes)], output, [keepdims]);
    return this.node(op, [x], output, [keepdims, { name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: axes }]);
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

  pool(x: string, layout: Layout, mode: PoolMode, prefix: number, out: string): string {
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
