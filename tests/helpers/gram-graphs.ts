/**
 * A standalone Gram-matrix subgraph, used only by tests (to append to a model). The engine's own
 * Gram taps are built in src/engine/taps.ts; the one-Gemm session is src/runtime/session.ts's gramSession.
 */
import { onnx } from "../../src/onnx/proto/onnx.js";
import type { Subgraph } from "../../src/onnx/surgery.js";

/**
 * A Gram-matrix subgraph for one site: Flatten(axis=1) → [Sub(batch mean)] → Gemm(transB=1),
 * giving the B×B matrix X·Xᵀ (of the centred X when `centre`), X the batch of flattened activations.
 * `rowLength` reshapes to [-1, rowLength] instead (e.g. H·T·T for [B·H, T, T] attention).
 *
 * @example
 * const g = gramSubgraph("x", "gram_x", { opset: 17, centre: true });
 */
export function gramSubgraph(tensor: string, output: string, options: { opset: number; centre?: boolean; rowLength?: number }): Subgraph {
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
  if (options.centre) {
    if (options.opset >= 18) {
      initializers.push({ name: `${p}axes`, data_type: 7, dims: [1], int64_data: [0] });
      nodes.push({ name: `${p}mean`, op_type: "ReduceMean", input: [x, `${p}axes`], output: [`${p}mu`], attribute: [attrInt("keepdims", 1)] });
    } else {
      nodes.push({ name: `${p}mean`, op_type: "ReduceMean", input: [x], output: [`${p}mu`], attribute: [{ name: "axes", type: onnx.AttributeProto.AttributeType.INTS, ints: [0] }, attrInt("keepdims", 1)] });
    }
    nodes.push({ name: `${p}centre`, op_type: "Sub", input: [x, `${p}mu`], output: [`${p}xc`] });
    x = `${p}xc`;
  }
  nodes.push({ name: `${p}gemm`, op_type: "Gemm", input: [x, x], output: [output], attribute: [attrInt("transB", 1)] });
  return { nodes, initializers, outputs: [{ name: output, type: { tensor_type: { elem_type: 1 } } }] };
}
