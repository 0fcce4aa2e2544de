/** Shape inference over a whole graph, at one batch size or at two to find the batch dims. */
import { type OnnxModel, initializerValues } from "../model.js";
import { inferNode } from "./table.js";
import { SMALL, type Inferred, type InferOptions, type SymDim } from "./types.js";

/**
 * Infers shapes (and small values) of every tensor with the batch and image size made concrete.
 * Uses declared value_info where inference knows nothing.
 *
 * @example
 * const shapes = inferShapes(model, { batch: 1 });
 * shapes.get("/encoder/Add_output_0")?.shape; // [1, 197, 768]
 */
export function inferShapes(model: OnnxModel, options: InferOptions = {}): Map<string, Inferred> {
  const batch = options.batch ?? 1;
  const side = options.imageSize ?? 224;
  const known = new Map<string, Inferred>();
  for (const init of model.initializers.values()) {
    const count = init.dims.reduce((a, b) => a * b, 1);
    const entry: Inferred = { shape: [...init.dims], dtype: init.dataType };
    if (count <= SMALL) {
      const v = initializerValues(model, init.name, SMALL);
      if (v) entry.value = v;
    }
    known.set(init.name, entry);
  }
  for (const inp of model.inputs) {
    const given = options.inputs?.[inp.name];
    const shape = given ? [...given] : inp.shape ? inp.shape.map((d, i) => (typeof d === "number" && d > 0 ? d : i === 0 ? batch : inp.shape!.length === 4 && i === 1 ? 3 : side)) : null;
    known.set(inp.name, { shape, dtype: inp.elemType });
  }
  for (const i of model.graph.order) {
    const n = model.nodes[i];
    let outs: Inferred[];
    try {
      outs = inferNode(n.opType, n.attrs, n.inputs.map((t) => (t === "" ? undefined : known.get(t))), n.outputs.length, model.opset);
    } catch {
      outs = [];
    }
    n.outputs.forEach((o, k) => {
      let r = outs[k] ?? { shape: null, dtype: 0 };
      if (r.shape === null) {
        const vi = model.valueInfo.get(o) ?? model.outputs.find((v) => v.name === o);
        if (vi?.shape && vi.shape.every((d) => typeof d === "number")) r = { shape: vi.shape as number[], dtype: vi.elemType || r.dtype };
      }
      if (r.value && r.value.length > SMALL) delete r.value;
      known.set(o, r);
    });
  }
  return known;
}

/**
 * Shapes with batch-dependent dims made symbolic: inference runs at batch 1 and 2, and a dim
 * that doubles becomes "B" (or "B*k" when heads are merged into the batch).
 *
 * @example
 * symbolicShapes(model).get(probs); // ["B*12", 197, 197]
 */
export function symbolicShapes(model: OnnxModel, options: InferOptions = {}): { one: Map<string, Inferred>; sym: Map<string, SymDim[] | null> } {
  const one = inferShapes(model, { ...options, batch: 1 });
  const two = inferShapes(model, { ...options, batch: 2 });
  const sym = new Map<string, SymDim[] | null>();
  for (const [name, a] of one) {
    const b = two.get(name);
    if (!a.shape || !b?.shape || a.shape.length !== b.shape.length) {
      sym.set(name, a.shape);
      continue;
    }
    sym.set(name, a.shape.map((d, k) => (b.shape![k] === d ? d : b.shape![k] === 2 * d ? (d === 1 ? "B" : `B*${d}`) : d)));
  }
  return { one, sym };
}
