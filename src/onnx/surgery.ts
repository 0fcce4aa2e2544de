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
 * const sum = { op_type: "ReduceSum", input: ["/blocks/blocks.0/Add_1_output_0"], output: ["sum0"] };
 * const bytes = appendNodes(model, [sum], [], ["sum0"]);
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
