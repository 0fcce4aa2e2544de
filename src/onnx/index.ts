// Public surface of the ONNX layer (no onnxruntime here; see src/runtime/session.ts).
export { loadModel, parseModel, initializerData, initializerValues, tensorValues, MIN_OPSET, MAX_OPSET, DTYPES } from "./model.js";
export type { OnnxModel, NodeInfo, ValueInfo, InitializerInfo, LoadOptions, Dim, AttrValue } from "./model.js";
export { graphIndex, isAncestor } from "./graph.js";
export type { GraphIndex, GraphNode } from "./graph.js";
export { inferShapes, symbolicShapes, inferNode } from "./shapes.js";
export type { Inferred, InferOptions, SymDim } from "./shapes.js";
export { discoverSites } from "./sites.js";
export type { ModelSites, BlockSites, Residual, SiteRef, SiteOptions, Family, AttentionLayout } from "./sites.js";
export { exposeOutputs, removeResidual, appendNodes, appendGraph } from "./surgery.js";
export type { Subgraph } from "./surgery.js";
export { inspectModel, formatInspect } from "./inspect.js";
export type { InspectResult } from "./inspect.js";
