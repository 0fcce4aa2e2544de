/**
 * Graph surgery that leaves every other byte of the model as it was.
 *
 * Additions (graph outputs, nodes, initializers) are appended as a second serialized
 * `ModelProto{graph{...}}`: protobuf merges a repeated embedded message field and appends
 * repeated fields, so weights, metadata and unknown fields stay byte-identical and in place.
 * Replacements (removeResidual) splice single node records and rewrite the graph's length.
 */
import { onnx } from "./proto/onnx.js";
import type { OnnxModel } from "./model.js";
import { type ModelSites, discoverSites } from "./sites.js";
import { GRAPH, type Span, concat, lengthDelimited, spliceGraphFields } from "./wire.js";
import { inferShapes } from "./shapes.js";

function allTensors(model: OnnxModel): Set<string> {
  const s = new Set<string>([...model.inputs.map((v) => v.name), ...model.initializers.keys()]);
  for (const n of model.nodes) for (const o of n.outputs) if (o) s.add(o);
  return s;
}

/**
 * Appends graph-level additions to the model bytes (protobuf merge semantics).
 *
 * @example
 * const bytes = appendGraph(model.bytes, { output: [{ name: "x", type: { tensor_type: { elem_type: 1 } } }] });
 */
export function appendGraph(bytes: Uint8Array, graph: onnx.IGraphProto): Uint8Array {
  const tail = onnx.ModelProto.encode({ graph }).finish();
  return concat([bytes, tail]);
}

/**
 * Model bytes with the named tensors added as graph outputs (names that already are outputs
 * are skipped). The original bytes are a prefix of the result.
 *
 * @example
 * const bytes = exposeOutputs(model, ["/encoder/layers/encoder_layer_0/Add_output_0"]);
 * const session = await createSession(bytes);
 */
export function exposeOutputs(model: OnnxModel, tensorNames: readonly string[]): Uint8Array {
  const have = allTensors(model);
  const outputs = new Set(model.outputs.map((o) => o.name));
  let types: Map<string, { dtype: number }> | null = null;
  const add: onnx.IValueInfoProto[] = [];
  for (const name of new Set(tensorNames)) {
    if (!have.has(name)) throw new RangeError(`invalid tensor: ${name} (not in the graph of ${model.path})`);
    if (outputs.has(name)) continue;
    types ??= inferShapes(model);
    const elem = model.valueInfo.get(name)?.elemType || types.get(name)?.dtype || 1;
    add.push({ name, type: { tensor_type: { elem_type: elem } } });
  }
  if (add.length === 0) return model.bytes;
  return appendGraph(model.bytes, { output: add });
}

/**
 * Appends nodes, initializers and graph outputs (e.g. an analysis subgraph reading sites).
 * Outputs may be given as names (float32 assumed) or full ValueInfoProtos.
 *
 * @example
 * const g = gramSubgraph("/blocks/blocks.0/Add_1_output_0", "gram0", { opset: model.opset });
 * const bytes = appendNodes(model, g.nodes, g.initializers, g.outputs);
 */
export function appendNodes(model: OnnxModel, nodes: onnx.INodeProto[], initializers: onnx.ITensorProto[] = [], outputs: readonly (string | onnx.IValueInfoProto)[] = []): Uint8Array {
  const have = allTensors(model);
  for (const t of initializers) have.add(t.name ?? "");
  for (const n of nodes) {
    for (const i of n.input ?? []) if (i && !have.has(i)) throw new RangeError(`invalid node input: ${i} (node ${n.name ?? n.op_type})`);
    for (const o of n.output ?? []) {
      if (have.has(o)) throw new RangeError(`invalid node output: ${o} already exists in the graph`);
      have.add(o);
    }
  }
  // Existing graph outputs and repeats are skipped: onnxruntime rejects duplicate outputs.
  const seen = new Set(model.outputs.map((o) => o.name));
  const outs: onnx.IValueInfoProto[] = [];
  for (const o of outputs) {
    const v = typeof o === "string" ? { name: o, type: { tensor_type: { elem_type: 1 } } } : o;
    if (!have.has(v.name ?? "")) throw new RangeError(`invalid output: ${v.name}`);
    if (seen.has(v.name ?? "")) continue;
    seen.add(v.name ?? "");
    outs.push(v);
  }
  return appendGraph(model.bytes, { node: nodes, initializer: initializers, output: outs });
}

/** Nodes, initializers and outputs of an appended subgraph. */
export interface Subgraph {
  nodes: onnx.INodeProto[];
  initializers: onnx.ITensorProto[];
  outputs: onnx.IValueInfoProto[];
}

/**
 * A Gram-matrix subgraph for one site: Flatten(axis=1) → [Sub(batch mean)] → Gemm(transB=1),
 * giving the B×B matrix X·Xᵀ (of the centred X when `center`), X the batch of flattened activations.
 * `rowLength` reshapes to [-1, rowLength] instead (e.g. H·T·T for [B·H, T, T] attention).
 *
 * @example
 * const g = gramSubgraph("x", "gram_x", { opset: 17, center: true });
 */
export function gramSubgraph(tensor: string, output: string, options: { opset: number; center?: boolean; rowLength?: number }): Subgraph {
  const p = `${output}__`;
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  const attrInt = (name: string, i: number): onnx.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i });
  if (options.rowLength !== undefined) {
    // One row per image when the batch axis is merged with another ([B·H, T, T] attention).
    if (!Number.isInteger(options.rowLength) || options.rowLength < 1) throw new RangeError(`invalid rowLength: ${options.rowLength}`);
    initializers.push({ name: `${p}rows`, data_type: 7, dims: [2], int64_data: [-1, options.rowLength] });
    nodes.push({ name: `${p}reshape`, op_type: "Reshape", input: [tensor, `${p}rows`], output: [`${p}flat`] });
  } else nodes.push({ name: `${p}flatten`, op_type: "Flatten", input: [tensor], output: [`${p}flat`], attribute: [attrInt("axis", 1)] });
  let x = `${p}flat`;
  if (options.center) {
    if (options.opset >= 18) {
      initializers.push({ name: `${p}axes`, data_type: 7, dims: [1], int64_data: [0] });
      nodes.push({ name: `${p}mean`, op_type: "ReduceMean", input: [x, `${p}axes`], output: [`${p}mu`], attribute: [attrInt("keepdims", 1)] });
    } else {
      nodes.push({ name: `${p}mean`, op_type: "ReduceMean", input: [x], output: [`${p}mu`], attribute: [{ name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: [0] }, attrInt("keepdims", 1)] });
    }
    nodes.push({ name: `${p}center`, op_type: "Sub", input: [x, `${p}mu`], output: [`${p}xc`] });
    x = `${p}xc`;
  }
  nodes.push({ name: `${p}gemm`, op_type: "Gemm", input: [x, x], output: [output], attribute: [attrInt("transB", 1)] });
  return { nodes, initializers, outputs: [{ name: output, type: { tensor_type: { elem_type: 1 } } }] };
}

/**
 * The inference ablation of Raghu et al. §5 (skip connections): every residual sum of `block`
 * out = z + f(z) becomes out = f(z) (its Add node replaced by an Identity of f(z)).
 *
 * @example
 * const ablated = removeResidual(model, "blocks.3"); // both residuals of transformer block 3
 */
export function removeResidual(model: OnnxModel, block: string, sites: ModelSites = discoverSites(model)): Uint8Array {
  const residuals = sites.residuals.filter((r) => r.block === block);
  if (residuals.length === 0) throw new RangeError(`invalid block: ${block} (blocks with residuals: ${[...new Set(sites.residuals.map((r) => r.block))].join(", ") || "none"})`);
  const replacements = new Map<Span, Uint8Array>();
  for (const r of residuals) {
    const idx = model.graph.producer.get(r.out);
    if (idx === undefined) throw new RangeError(`invalid residual: ${r.out} has no producer`);
    const node = model.nodes[idx];
    const identity = onnx.NodeProto.encode({ name: node.name, op_type: "Identity", input: [r.fz], output: [r.out] }).finish();
    replacements.set(node.span, lengthDelimited(GRAPH.node, identity));
  }
  return spliceGraphFields(model.bytes, model.spans.top, replacements);
}
