/**
 * loadModel: read an ONNX file, index it at the wire level and validate it, so that nothing
 * malformed ever reaches onnxruntime. Every problem is an InputError(file, one-line problem).
 */
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { InputError } from "../errors.js";
import { onnx } from "./proto/onnx.js";
import {
  GRAPH,
  MODEL,
  type ModelSpans,
  type Span,
  type TensorHeader,
  WireError,
  decodeNode,
  decodeTensor,
  decodeValueInfo,
  lengthDelimited,
  spliceGraphFields,
  modelSpans,
  payloadOf,
  tensorHeader,
  varintOf,
} from "./wire.js";
import { type GraphIndex, graphIndex } from "./graph.js";

/**
 * Lowest default-domain opset accepted, and the highest onnxruntime-node 1.30 loads (measured:
 * it loads opset 26 and refuses 27 in ValidateOpsetForDomain; tests/onnx-bad-models checks both).
 */
export const MIN_OPSET = 7;
export const MAX_OPSET = 26;

/** ONNX TensorProto.DataType → name. */
export const DTYPES: Record<number, string> = {
  1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool",
  10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16",
};
/** Bytes per element of each fixed-size ONNX data type. */
export const DTYPE_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2 };

/** A dimension: a number, a symbolic name (`"batch"`), or null when unknown. */
export type Dim = number | string | null;

/** A declared graph input, output or value_info entry. */
export interface ValueInfo {
  name: string;
  /** ONNX elem_type (1 = float32); 0 when not a tensor or undeclared. */
  elemType: number;
  dtype: string;
  /** Declared shape, or null when the rank is unknown. */
  shape: Dim[] | null;
}

/** An initializer's header; its payload stays in the file (or its external file). */
export interface InitializerInfo {
  name: string;
  dims: number[];
  dataType: number;
  dtype: string;
  span: Span;
  header: TensorHeader;
  /** Set when the data lives in an external file (resolved absolute path). */
  external?: { file: string; offset: number; length: number };
}

/** A plain attribute value. */
export type AttrValue = number | string | number[] | string[] | onnx.TensorProto | onnx.GraphProto | null;

/** A decoded node with its span in the file. */
export interface NodeInfo {
  index: number;
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
  span: Span;
}

/** A loaded, validated model. */
export interface OnnxModel {
  path: string;
  /** sha256 (hex) of the .onnx file as read (before any external data was inlined). */
  sha256: string;
  bytes: Uint8Array;
  spans: ModelSpans;
  irVersion: number;
  producer: { name: string; version: string };
  /** The model's metadata_props (key → value). */
  metadata: Record<string, string>;
  /** Default-domain (ai.onnx) opset version. */
  opset: number;
  opsets: Record<string, number>;
  nodes: NodeInfo[];
  /** Graph inputs that are not initializers (the real feeds). */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  valueInfo: Map<string, ValueInfo>;
  initializers: Map<string, InitializerInfo>;
  /** The 4-D float image input (NCHW). */
  imageInput: ValueInfo;
  graph: GraphIndex;
}

/** Options of loadModel. */
export interface LoadOptions {
  /** Skip the "4-D float image input" requirement (for non-vision graphs in tests). */
  requireImageInput?: boolean;
  /** Read external-data weights into the model bytes (default true; needed for sessions from bytes). */
  inlineExternalData?: boolean;
}

const MODEL_WIRE: Record<number, number> = { 1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2 };
const KNOWN_DOMAINS = new Set(["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training", "com.ms.internal.nhwc"]);

/**
 * Reads and validates an ONNX model. Rejects, with an InputError naming the file, anything
 * that is not an ONNX ModelProto, is truncated or corrupt, references missing tensors or
 * external data, has a cycle, an unsupported opset, or no 4-D float image input.
 *
 * @example
 * const model = await loadModel("vit_b_16.onnx");
 * model.imageInput; // {name: "input", dtype: "float32", shape: ["batch", 3, 224, 224]}
 */
export async function loadModel(file: string, options: LoadOptions = {}): Promise<OnnxModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(file, code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not an ONNX file" : `cannot read (${code ?? String(e)})`);
  }
  return parseModel(file, bytes, options);
}

/**
 * Validates and indexes model bytes already in memory (`file` names them in errors and anchors
 * external data). Same checks as loadModel.
 *
 * One long function on purpose: the checks run in a fixed order, each relying on what the one
 * before established (wire spans, then opsets, graph contents, payload sizes, external data,
 * references, the image input), and the first failure must be the one reported; the stages are
 * marked by comments.
 *
 * @example
 * const model = await parseModel("m.onnx", bytes);
 */
export async function parseModel(file: string, bytes: Uint8Array, options: LoadOptions = {}, sha256?: string): Promise<OnnxModel> {
  const fail = (problem: string): never => {
    throw new InputError(file, printable(problem));
  };
  if (bytes.length === 0) fail("empty file, not an ONNX model");
  const magic = foreignFormat(bytes);
  if (magic) fail(`not an ONNX model: ${magic}`);

  let sp: ModelSpans;
  try {
    sp = modelSpans(bytes);
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    fail(wireProblem(e));
    throw e;
  }
  for (const s of sp.top) {
    const want = MODEL_WIRE[s.field];
    if (want !== undefined && want !== s.wireType) fail(`not an ONNX model: ModelProto field ${s.field} has wire type ${s.wireType}`);
  }
  const irSpan = sp.top.find((s) => s.field === MODEL.irVersion);
  if (!irSpan) fail(sp.graph ? "not an ONNX model: ir_version is missing" : "not an ONNX model: no ir_version and no graph");
  // A cut at a field boundary leaves a well-formed prefix: say it may be truncated.
  const cut = sp.graph ? "" : " (or truncated before it)";
  const irVersion = varintOf(bytes, irSpan!);
  if (irVersion < 3 || irVersion > 20) fail(`not an ONNX model: ir_version ${irVersion} is out of range`);
  if (!sp.graph) fail(`not an ONNX model: no graph${cut}`);

  const text = (field: number) => {
    const s = sp.top.filter((x) => x.field === field).pop();
    return s ? new TextDecoder().decode(payloadOf(bytes, s)) : "";
  };
  const producer = { name: text(MODEL.producerName), version: text(MODEL.producerVersion) };
  // metadata_props: free-form key → value pairs (class names may be recorded there, issue 14 item 8).
  const metadata: Record<string, string> = {};
  for (const s of sp.top) {
    if (s.field !== MODEL.metadataProps) continue;
    const e = guard(file, "corrupt metadata_props", () => onnx.StringStringEntryProto.decode(payloadOf(bytes, s)));
    if (e.key) metadata[e.key] = e.value ?? "";
  }

  // Opsets.
  const opsets: Record<string, number> = {};
  for (const s of sp.top) {
    if (s.field !== MODEL.opsetImport) continue;
    const o = guard(file, "corrupt opset_import", () => onnx.OperatorSetIdProto.decode(payloadOf(bytes, s)));
    opsets[o.domain === "ai.onnx" ? "" : o.domain] = num(o.version);
  }
  if (!("" in opsets)) fail(Object.keys(opsets).length ? "no default-domain (ai.onnx) opset_import" : "not an ONNX model or truncated: no opset_import");
  const opset = opsets[""];
  if (opset < MIN_OPSET || opset > MAX_OPSET) fail(`unsupported opset ${opset} (onnxruntime-node 1.30 runs opset ${MIN_OPSET} to ${MAX_OPSET})`);

  // Graph contents.
  const nodes: NodeInfo[] = [];
  const initializers = new Map<string, InitializerInfo>();
  const declaredInputs: ValueInfo[] = [];
  const outputs: ValueInfo[] = [];
  const valueInfo = new Map<string, ValueInfo>();
  for (const s of sp.graphFields) {
    if (s.field === GRAPH.node) {
      checkWire(file, s, "NodeProto");
      const n = guard(file, `corrupt node #${nodes.length}`, () => decodeNode(bytes, s));
      nodes.push(nodeInfo(n, nodes.length, s));
    } else if (s.field === GRAPH.initializer) {
      checkWire(file, s, "TensorProto");
      const h = guard(file, `corrupt initializer #${initializers.size}`, () => tensorHeader(bytes, s));
      initializers.set(h.name, { name: h.name, dims: h.dims, dataType: h.dataType, dtype: DTYPES[h.dataType] ?? `type${h.dataType}`, span: s, header: h });
    } else if (s.field === GRAPH.input || s.field === GRAPH.output || s.field === GRAPH.valueInfo) {
      checkWire(file, s, "ValueInfoProto");
      const v = valueInfoOf(guard(file, "corrupt ValueInfoProto", () => decodeValueInfo(bytes, s)));
      if (s.field === GRAPH.input) declaredInputs.push(v);
      else if (s.field === GRAPH.output) outputs.push(v);
      else valueInfo.set(v.name, v);
    }
  }
  if (nodes.length === 0) fail("graph has no nodes");
  if (outputs.length === 0) fail("graph has no outputs");
  const inputs = declaredInputs.filter((v) => !initializers.has(v.name));

  for (const n of nodes) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n.opType)) fail(`corrupt node ${n.name || n.index}: operator type ${JSON.stringify(n.opType)} is not an identifier`);
    if (!KNOWN_DOMAINS.has(n.domain)) fail(`node ${n.name || n.index} (${n.opType}) uses custom operator domain '${n.domain}', which onnxruntime cannot run`);
  }

  // Payload sizes must agree with the dims (a corrupt or hand-edited file otherwise crashes later).
  for (const init of initializers.values()) {
    if (init.header.dataLocation === 1) continue;
    const size = DTYPE_BYTES[init.dataType];
    if (!size) continue;
    const count = init.dims.reduce((a, b) => a * b, 1);
    for (const p of init.header.payload) {
      let bytesHeld = -1;
      if (p.field === 9) bytesHeld = p.end - p.payload;
      else if ((p.field === 4 || p.field === 10) && p.wireType === 2) bytesHeld = ((p.end - p.payload) / (p.field === 4 ? 4 : 8)) * size;
      if (bytesHeld >= 0 && bytesHeld !== count * size) fail(`corrupt initializer ${init.name}: ${p.field === 9 ? "raw_data" : "data"} holds ${bytesHeld} bytes, dims [${init.dims.join(",")}] of ${init.dtype} need ${count * size}`);
    }
  }

  // External data: resolve relative to the model file; the file must exist and be long enough.
  const dir = path.dirname(path.resolve(file));
  for (const init of initializers.values()) {
    if (init.header.dataLocation !== 1) continue;
    const loc = init.header.externalData.location;
    if (!loc) fail(`initializer ${init.name} has external data without a location`);
    const ext = path.resolve(dir, loc);
    if (path.isAbsolute(loc) || !ext.startsWith(dir + path.sep)) fail(`initializer ${init.name}: external data location ${loc} lies outside the model's folder`);
    const offset = Number(init.header.externalData.offset ?? 0);
    const length = init.header.externalData.length !== undefined ? Number(init.header.externalData.length) : init.dims.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[init.dataType] ?? 1);
    let size: number;
    try {
      const st = await stat(ext);
      size = st.size;
    } catch {
      throw new InputError(ext, `missing external data file for initializer ${init.name} (referenced by ${file})`);
    }
    if (size < offset + length) throw new InputError(ext, `external data file is too short for initializer ${init.name}: needs ${offset + length} bytes, has ${size} (referenced by ${file})`);
    init.external = { file: ext, offset, length };
  }
  if (options.inlineExternalData !== false && hasExternalData(initializers)) {
    // onnxruntime resolves external data of a model given as bytes against the working
    // directory, so the weights are read into the model (up to protobuf's 2 GB limit).
    const inlined = await inlineExternal(file, bytes, sp, initializers);
    return parseModel(file, inlined, options, sha256 ?? createHash("sha256").update(bytes).digest("hex"));
  }

  // References, duplicates and cycles.
  const graph = graphIndex(nodes);
  const known = new Set<string>([...declaredInputs.map((v) => v.name), ...initializers.keys()]);
  for (const n of nodes) {
    for (const o of n.outputs) {
      if (o === "") continue;
      if (known.has(o) && !graph.producer.has(o)) fail(`node ${n.name || n.index} (${n.opType}) overwrites graph input or initializer ${o}`);
    }
  }
  for (const [t, list] of graph.duplicates) fail(`tensor ${t} is produced by more than one node (${list.join(", ")})`);
  for (const n of nodes) {
    for (const i of n.inputs) {
      if (i !== "" && !known.has(i) && !graph.producer.has(i)) fail(`dangling reference: node ${n.name || n.index} (${n.opType}) reads tensor ${i}, which is no graph input, initializer or node output`);
    }
  }
  for (const o of outputs) {
    if (!known.has(o.name) && !graph.producer.has(o.name)) fail(`dangling reference: graph output ${o.name} is produced by no node`);
  }
  if (graph.cycle) fail(`cycle in the graph through ${graph.cycle.map((i) => `${nodes[i].name || i} (${nodes[i].opType})`).join(" → ")}`);

  const imageInput = inputs.find((v) => v.elemType === 1 && v.shape !== null && v.shape.length === 4);
  if (!imageInput && options.requireImageInput !== false) {
    const list = inputs.map((v) => `${v.name} ${v.dtype}${v.shape ? `[${v.shape.map((d) => d ?? "?").join(",")}]` : "[?]"}`).join(", ");
    fail(`no 4-D float image input (N×C×H×W); inputs: ${list || "none"}`);
  }
  if (imageInput && options.requireImageInput !== false) {
    // What the data layer can feed: 1 (grey) or 3 (RGB) channels, and a non-empty image.
    const [, c, h, w] = imageInput.shape!;
    if (typeof c === "number" && c !== 1 && c !== 3) fail(`image input ${imageInput.name} has ${c} channels; seelike feeds grey (1) or RGB (3) images`);
    for (const [d, what] of [[h, "height"], [w, "width"]] as const) if (typeof d === "number" && d < 1) fail(`image input ${imageInput.name} has ${what} ${d}`);
  }

  return {
    path: file,
    sha256: sha256 ?? createHash("sha256").update(bytes).digest("hex"),
    bytes,
    spans: sp,
    irVersion,
    producer,
    metadata,
    opset,
    opsets,
    nodes,
    inputs,
    outputs,
    valueInfo,
    initializers,
    imageInput: imageInput ?? inputs[0],
    graph,
  };
}

async function inlineExternal(file: string, bytes: Uint8Array, sp: ModelSpans, initializers: Map<string, InitializerInfo>): Promise<Uint8Array> {
  let total = bytes.length;
  for (const i of initializers.values()) if (i.external) total += i.external.length;
  if (total >= 2 ** 31 - 1) throw new InputError(file, `model with external data is ${(total / 2 ** 30).toFixed(1)} GB; models over 2 GB are not supported`);
  const replacements = new Map<Span, Uint8Array>();
  const { open } = await import("node:fs/promises");
  for (const init of initializers.values()) {
    if (!init.external) continue;
    const t = decodeTensor(bytes, init.span);
    const raw = new Uint8Array(init.external.length);
    const fh = await open(init.external.file, "r");
    try {
      await fh.read(raw, 0, raw.length, init.external.offset);
    } finally {
      await fh.close();
    }
    t.raw_data = raw;
    t.external_data = [];
    t.data_location = 0;
    replacements.set(init.span, lengthDelimited(GRAPH.initializer, onnx.TensorProto.encode(t).finish()));
  }
  return spliceGraphFields(bytes, sp.top, replacements);
}

/** Recognisable non-ONNX formats users pass by mistake. */
function foreignFormat(b: Uint8Array): string | null {
  const starts = (...xs: number[]) => xs.every((x, i) => b[i] === x);
  if (starts(0x50, 0x4b, 0x03, 0x04)) return "a zip archive (a PyTorch .pt/.pth checkpoint?); export it with torch.onnx.export";
  if (starts(0x89, 0x48, 0x44, 0x46)) return "an HDF5 file (a Keras .h5 model?); convert it with tf2onnx";
  if (starts(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59)) return "a NumPy .npy array";
  if (starts(0x80) && (b[1] ?? 0) >= 2 && (b[1] ?? 0) <= 5) return "a Python pickle (a PyTorch checkpoint?); export it with torch.onnx.export";
  if (starts(0x89, 0x50, 0x4e, 0x47) || starts(0xff, 0xd8, 0xff)) return "an image file";
  return null;
}

function wireProblem(e: WireError): string {
  // Truncation: every field read so far was a plausible ModelProto field and the bytes ran out.
  const plausible = (f: { field: number; wireType: number }) => MODEL_WIRE[f.field] === f.wireType;
  const okSoFar = e.partial.every(plausible) && (e.failedTag === null || plausible(e.failedTag));
  if (e.pastEnd && okSoFar) {
    const names: Record<number, string> = { 1: "ir_version", 2: "producer_name", 3: "producer_version", 4: "domain", 5: "model_version", 6: "doc_string", 7: "graph", 8: "opset_import", 14: "metadata_props", 20: "training_info", 25: "functions" };
    const f = e.failedTag ? names[e.failedTag.field] ?? `field ${e.failedTag.field}` : "a field";
    if (e.needed >= 0) return `truncated: ${f} at byte ${e.offset} needs ${e.needed} bytes, the file has ${e.available}`;
    return `truncated: ${e.message}`;
  }
  if (e.partial.length > 0 && e.partial.every(plausible) && e.pastEnd) return `truncated or corrupt: ${e.message}`;
  return `not an ONNX model (not a protobuf ModelProto: ${e.message})`;
}

function checkWire(file: string, s: Span, what: string) {
  if (s.wireType !== 2) throw new InputError(file, `corrupt graph: ${what} at byte ${s.start} has wire type ${s.wireType}`);
}

/**
 * A message safe for one terminal line: names from a (corrupt or hostile) model may hold
 * newlines or escape sequences, shown here as \xNN.
 */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function guard<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof InputError) throw e;
    const msg = e instanceof Error ? e.message : String(e);
    throw new InputError(file, printable(`${what}: ${msg}`));
  }
}

/** A protobufjs int64 (number or Long) as a number. */
export function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (v && typeof (v as { toNumber?: () => number }).toNumber === "function") return (v as { toNumber: () => number }).toNumber();
  return Number(v);
}

function valueInfoOf(v: onnx.ValueInfoProto): ValueInfo {
  const t = v.type?.tensor_type;
  const elemType = t?.elem_type ?? 0;
  let shape: Dim[] | null = null;
  if (t?.shape) {
    // Decoded oneof members are own properties; unset ones fall back to the prototype default.
    shape = (t.shape.dim ?? []).map((d) => {
      if (Object.prototype.hasOwnProperty.call(d, "dim_param") && d.dim_param) return d.dim_param;
      if (Object.prototype.hasOwnProperty.call(d, "dim_value")) return num(d.dim_value);
      return null;
    });
  }
  return { name: v.name, elemType, dtype: DTYPES[elemType] ?? (elemType ? `type${elemType}` : "unknown"), shape };
}

function nodeInfo(n: onnx.NodeProto, index: number, span: Span): NodeInfo {
  const attrs: Record<string, AttrValue> = {};
  for (const a of n.attribute) attrs[a.name ?? ""] = attrValue(a as onnx.AttributeProto);
  return { index, name: n.name, opType: n.op_type, domain: n.domain === "ai.onnx" ? "" : n.domain, inputs: [...n.input], outputs: [...n.output], attrs, span };
}

function attrValue(a: onnx.AttributeProto): AttrValue {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.type) {
    case T.FLOAT:
      return a.f;
    case T.INT:
      return num(a.i);
    case T.STRING:
      return new TextDecoder().decode(a.s);
    case T.TENSOR:
      return a.t as onnx.TensorProto;
    case T.GRAPH:
      return a.g as onnx.GraphProto;
    case T.FLOATS:
      return [...a.floats];
    case T.INTS:
      return a.ints.map(num);
    case T.STRINGS:
      return a.strings.map((s) => new TextDecoder().decode(s));
    default:
      return null;
  }
}

/**
 * Values of a small tensor (a Constant's value or an initializer) as numbers, or null when the
 * type is not numeric or the tensor holds more than `limit` elements. Reads external data.
 *
 * @example
 * tensorValues(constNode.attrs.value as onnx.TensorProto); // [0, -1, 768]
 */
export function tensorValues(t: onnx.TensorProto, limit = 1 << 16): number[] | null {
  const count = t.dims.reduce((a: number, d) => a * num(d), 1);
  if (count > limit) return null;
  const dt = t.data_type;
  if (t.raw_data && t.raw_data.length > 0) {
    const raw = t.raw_data;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out: number[] = [];
    const size = DTYPE_BYTES[dt];
    if (!size) return null;
    const n = Math.floor(raw.length / size);
    for (let i = 0; i < n; i++) {
      const o = i * size;
      switch (dt) {
        case 1: out.push(dv.getFloat32(o, true)); break;
        case 11: out.push(dv.getFloat64(o, true)); break;
        case 7: out.push(Number(dv.getBigInt64(o, true))); break;
        case 13: out.push(Number(dv.getBigUint64(o, true))); break;
        case 6: out.push(dv.getInt32(o, true)); break;
        case 12: out.push(dv.getUint32(o, true)); break;
        case 5: out.push(dv.getInt16(o, true)); break;
        case 4: out.push(dv.getUint16(o, true)); break;
        case 3: out.push(dv.getInt8(o)); break;
        case 2: case 9: out.push(dv.getUint8(o)); break;
        default: return null;
      }
    }
    return out;
  }
  if (dt === 1) return [...t.float_data];
  if (dt === 11) return [...t.double_data];
  if (dt === 7) return t.int64_data.map(num);
  if (dt === 13) return t.uint64_data.map(num);
  if (dt === 6 || dt === 5 || dt === 4 || dt === 3 || dt === 2 || dt === 9) return [...t.int32_data];
  return null;
}

/**
 * Values of an initializer of at most `limit` elements (decoded on demand), or null.
 *
 * @example
 * initializerValues(model, "onnx::Reshape_12"); // [1, 197, 768]
 */
export function initializerValues(model: OnnxModel, name: string, limit = 1 << 16): number[] | null {
  const init = model.initializers.get(name);
  if (!init || init.external) return null;
  if (init.dims.reduce((a, b) => a * b, 1) > limit) return null;
  return tensorValues(decodeTensor(model.bytes, init.span), limit);
}

/**
 * The float32 payload of an initializer as a Float32Array (copied out of the file, or read from
 * its external file), for weights such as the patch embedding.
 *
 * @example
 * const w = await initializerData(model, "conv_proj.weight"); // {data, shape: [768, 3, 16, 16]}
 */
export async function initializerData(model: OnnxModel, name: string): Promise<{ data: Float32Array; shape: number[] }> {
  const init = model.initializers.get(name);
  if (!init) throw new RangeError(`invalid initializer: ${name}`);
  if (init.dataType !== 1) throw new InputError(model.path, `initializer ${name} is ${init.dtype}, expected float32`);
  const count = init.dims.reduce((a, b) => a * b, 1);
  let raw: Uint8Array | null = null;
  if (init.external) {
    const fh = await (await import("node:fs/promises")).open(init.external.file, "r");
    try {
      raw = new Uint8Array(init.external.length);
      await fh.read(raw, 0, raw.length, init.external.offset);
    } finally {
      await fh.close();
    }
  } else {
    const raws = init.header.payload.filter((p) => p.field === 9);
    if (raws.length) raw = payloadOf(model.bytes, raws[raws.length - 1]);
  }
  if (raw) {
    if (raw.length !== count * 4) throw new InputError(model.path, `initializer ${name} holds ${raw.length} bytes, expected ${count * 4}`);
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(raw);
    return { data, shape: init.dims };
  }
  const t = decodeTensor(model.bytes, init.span);
  return { data: Float32Array.from(t.float_data), shape: init.dims };
}

/** Whether any initializer's data lives in an external file (inlined into the bytes by loadModel). */
export function hasExternalData(initializers: ReadonlyMap<string, InitializerInfo>): boolean {
  for (const i of initializers.values()) if (i.external) return true;
  return false;
}

/**
 * Lets go of the model's bytes while onnxruntime holds its own copy of the weights (a pass of the
 * engine: ViT-B/16's file is 0.35 GB of JS memory otherwise, issue 17). The next read of
 * `model.bytes` re-reads the file and checks it against `model.sha256`, so a file changed on disk
 * meanwhile is an error naming it, not a silently different graph. Keeps the bytes, and returns
 * false, when they are not the file's own (external data inlined, or bytes given to parseModel
 * without a file of that size at `model.path`).
 *
 * @example
 * const model = await loadModel("vit.onnx");
 * releaseBytes(model); // true; model.bytes re-reads vit.onnx when next used
 */
export function releaseBytes(model: OnnxModel): boolean {
  const own = Object.getOwnPropertyDescriptor(model, "bytes");
  if (!own || !("value" in own)) return own !== undefined; // already released
  const length = model.bytes.length;
  if (hasExternalData(model.initializers)) return false;
  let size = -1;
  try {
    size = statSync(model.path).size;
  } catch {
    return false;
  }
  if (size !== length) return false;
  Object.defineProperty(model, "bytes", {
    configurable: true,
    enumerable: true,
    get(this: OnnxModel) {
      let bytes: Uint8Array;
      try {
        bytes = readFileSync(this.path);
      } catch (e) {
        throw new InputError(this.path, `cannot read it again (${(e as NodeJS.ErrnoException).code ?? String(e)}) after it was loaded`);
      }
      if (bytes.length !== length || createHash("sha256").update(bytes).digest("hex") !== this.sha256) throw new InputError(this.path, "changed on disk during the run (its sha256 differs from the one loaded); rerun");
      Object.defineProperty(this, "bytes", { value: bytes, writable: true, configurable: true, enumerable: true });
      return bytes;
    },
  });
  return true;
}
