/**
 * Static shape inference for site geometry. Exporters compute shapes at run time
 * (Shape → Gather → Concat → Reshape), so small integer tensors are evaluated along the way.
 * The batch is a concrete number here; `symbolicShapes` runs two batches to tell which dims
 * scale with it. Unknown ops give unknown (null) shapes downstream, never an error.
 *
 * Under src/onnx/shapes/: types (what is known of a tensor), one file per family of op rules
 * (elementwise, movement, compute), table (op type → rule, and inferNode), infer (the graph walk).
 */
export { inferShapes, symbolicShapes } from "./shapes/infer.js";
export { inferNode, shapeRules } from "./shapes/table.js";
export type { Inferred, InferOptions, SymDim, OpCall, OpRule } from "./shapes/types.js";
