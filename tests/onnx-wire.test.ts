import path from "node:path";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { onnx } from "../src/onnx/proto/onnx.js";
import { GRAPH, MODEL, WireError, encodeVarint, lengthDelimited, modelSpans, spans, tensorHeader, varint } from "../src/onnx/wire.js";
import { graphIndex, isAncestor } from "../src/onnx/graph.js";
import { inferNode } from "../src/onnx/shapes.js";
import { loadModel } from "../src/onnx/model.js";

describe("wire", () => {
  it("varint(encodeVarint(v)) round-trips small and large values", () => {
    for (const v of [0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 32 + 5, 2 ** 50]) {
      const b = encodeVarint(v);
      expect(varint(b, 0)).toEqual([v, b.length]);
    }
  });

  it("spans lists the fields of a message encoded by the generated codec", () => {
    const bytes = onnx.ModelProto.encode({ ir_version: 8, producer_name: "x", graph: { name: "g" }, opset_import: [{ domain: "", version: 17 }] }).finish();
    const s = spans(bytes);
    expect(s.map((f) => [f.field, f.wireType])).toEqual([[MODEL.irVersion, 0], [MODEL.producerName, 2], [MODEL.graph, 2], [MODEL.opsetImport, 2]]);
    expect(s[s.length - 1].end).toBe(bytes.length);
    expect(new TextDecoder().decode(bytes.subarray(s[1].payload, s[1].end))).toBe("x");
  });

  it("spans throws a WireError marked pastEnd on a truncated message", () => {
    const bytes = lengthDelimited(7, new Uint8Array(10));
    const err = (() => {
      try {
        spans(bytes.subarray(0, 6));
      } catch (e) {
        return e;
      }
    })() as WireError;
    expect(err).toBeInstanceOf(WireError);
    expect(err.pastEnd).toBe(true);
    expect(err.message).toMatch(/field 7 at byte 0 runs past the end/);
  });

  it("spans rejects wire types 6 and 7 and field number 0", () => {
    expect(() => spans(Uint8Array.of(0x0e))).toThrow(/invalid wire type 6/);
    expect(() => spans(Uint8Array.of(0x00, 0x00))).toThrow(/invalid field number 0/);
  });

  it("tensorHeader decodes dims, type and name and leaves raw_data as a payload span", () => {
    const raw = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const t = onnx.TensorProto.encode({ name: "w", dims: [2, 3], data_type: 1, raw_data: raw }).finish();
    const field = lengthDelimited(GRAPH.initializer, t);
    const [s] = spans(field);
    const h = tensorHeader(field, s);
    expect(h).toMatchObject({ name: "w", dims: [2, 3], dataType: 1, dataLocation: 0 });
    expect(h.payload).toHaveLength(1);
    expect(Array.from(new Float32Array(field.slice(h.payload[0].payload, h.payload[0].end).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("modelSpans merges repeated ModelProto.graph fields in file order", () => {
    const a = onnx.ModelProto.encode({ ir_version: 8, graph: { node: [{ op_type: "Relu" }] } }).finish();
    const b = onnx.ModelProto.encode({ graph: { node: [{ op_type: "Sigmoid" }] } }).finish();
    const both = new Uint8Array([...a, ...b]);
    const s = modelSpans(both);
    expect(s.graphFields.filter((f) => f.field === GRAPH.node)).toHaveLength(2);
    // (protobufjs's static decoder replaces rather than merges embedded messages, which is why
    // the model is never decoded whole; onnxruntime's C++ protobuf merges, as the surgery tests show.)
    expect(s.graphFields.filter((f) => f.field === GRAPH.node).map((f) => onnx.NodeProto.decode(both.subarray(f.payload, f.end)).op_type)).toEqual(["Relu", "Sigmoid"]);
  });
});

describe("graph index", () => {
  const node = (name: string, inputs: string[], outputs: string[]) => ({ name, opType: "X", inputs, outputs });

  it("graphIndex sorts nodes given out of order and finds producers and consumers", () => {
    const g = graphIndex([node("c", ["b"], ["c"]), node("a", ["x"], ["a"]), node("b", ["a", "x"], ["b"])]);
    expect(g.order).toEqual([1, 2, 0]);
    expect(g.cycle).toBeNull();
    expect(g.producer.get("b")).toBe(2);
    expect(g.consumers.get("x")).toEqual([1, 2]);
  });

  it("graphIndex reports a cycle with the nodes on it", () => {
    const g = graphIndex([node("a", ["x", "c"], ["a"]), node("b", ["a"], ["b"]), node("c", ["b"], ["c"]), node("d", ["x"], ["d"])]);
    expect(g.order).toEqual([3]);
    expect(g.cycle?.map((i) => ["a", "b", "c", "d"][i]).sort()).toEqual(["a", "b", "c"]);
  });

  it("isAncestor follows data dependencies only", () => {
    const nodes = [node("a", ["x"], ["a"]), node("b", ["a"], ["b"]), node("c", ["x"], ["c"])];
    const g = graphIndex(nodes);
    expect(isAncestor(g, nodes, "a", "b")).toBe(true);
    expect(isAncestor(g, nodes, "x", "b")).toBe(true);
    expect(isAncestor(g, nodes, "c", "b")).toBe(false);
    expect(isAncestor(g, nodes, "b", "a")).toBe(false);
  });
});

describe("shape inference of single ops", () => {
  const t = (shape: number[], value?: number[]) => ({ shape, dtype: value ? 7 : 1, value });
  it("inferNode folds the exporter's Shape → Gather → Concat → Reshape arithmetic", () => {
    const [shape] = inferNode("Shape", {}, [t([2, 197, 768])], 1, 17);
    expect(shape.value).toEqual([2, 197, 768]);
    const [g] = inferNode("Gather", { axis: 0 }, [shape, t([], [0])], 1, 17);
    expect(g).toMatchObject({ shape: [], value: [2] });
    const [r] = inferNode("Reshape", {}, [t([2, 197, 768]), t([4], [2, 197, 12, -1])], 1, 17);
    expect(r.shape).toEqual([2, 197, 12, 64]);
  });

  it("inferNode gives Conv and MaxPool output sizes with pads, strides and ceil_mode", () => {
    expect(inferNode("Conv", { strides: [16, 16], kernel_shape: [16, 16] }, [t([1, 3, 224, 224]), t([768, 3, 16, 16])], 1, 17)[0].shape).toEqual([1, 768, 14, 14]);
    expect(inferNode("MaxPool", { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, [t([1, 64, 112, 112])], 1, 17)[0].shape).toEqual([1, 64, 56, 56]);
    expect(inferNode("MaxPool", { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, [t([1, 8, 7, 7])], 1, 17)[0].shape).toEqual([1, 8, 4, 4]);
  });

  it("inferNode reads ReduceMean axes from the attribute before opset 18 and from the input after", () => {
    expect(inferNode("ReduceMean", { axes: [-1] }, [t([2, 65, 48])], 1, 17)[0].shape).toEqual([2, 65, 1]);
    expect(inferNode("ReduceMean", { keepdims: 0 }, [t([2, 65, 48]), t([1], [1])], 1, 18)[0].shape).toEqual([2, 48]);
  });
});

describe("loadModel facts", () => {
  it("loadModel reads opset, producer, the image input with its symbolic batch, outputs and initializer headers", async () => {
    const m = await loadModel(path.resolve("fixtures/models/tv_vit_b16_op17.onnx"));
    expect(m.opset).toBe(17);
    expect(m.producer.name).toBe("pytorch");
    expect(m.imageInput).toMatchObject({ name: "input", dtype: "float32" });
    expect(m.imageInput.shape?.slice(1)).toEqual([3, 64, 64]);
    expect(typeof m.imageInput.shape?.[0]).toBe("string");
    expect(m.outputs.map((o) => o.name)).toEqual(["logits"]);
    const w = m.initializers.get("conv_proj.weight")!;
    expect(w.dims).toEqual([48, 3, 16, 16]);
    expect(w.dtype).toBe("float32");
    // The header span covers the whole record; the payload is the raw_data field inside it.
    expect(w.header.payload[0].end - w.header.payload[0].payload).toBe(48 * 3 * 16 * 16 * 4);
    expect(readFileSync("fixtures/models/tv_vit_b16_op17.onnx").length).toBe(m.bytes.length);
  });
});
