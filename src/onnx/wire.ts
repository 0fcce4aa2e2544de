/**
 * Wire-level view of an ONNX ModelProto: fields as byte spans over the original file, so
 * tensor payloads stay undecoded (Netron-style) and surgery can splice bytes exactly.
 * Small messages (nodes, value infos, tensor headers) are decoded with the generated codec.
 */
import protobuf from "protobufjs/minimal.js";
import { onnx } from "./proto/onnx.js";

const { Reader } = protobuf;

/** One field of a protobuf message: tag number, wire type and its byte range in the buffer. */
export interface Span {
  field: number;
  wireType: number;
  /** Offset of the tag. */
  start: number;
  /** Offset of the payload (after the tag and, for wire type 2, the length). */
  payload: number;
  /** Offset one past the end of the field. */
  end: number;
}

/** A malformed message; `problem` is one line, `offset` where it went wrong. */
export class WireError extends Error {
  readonly offset: number;
  /** True when the bytes ran out (a length or varint past the end): the mark of truncation. */
  readonly pastEnd: boolean;
  /** Fields read before the failure, and the tag that failed (when it could be read). */
  partial: Span[] = [];
  failedTag: { field: number; wireType: number } | null = null;
  /** For a field running past the end: where it would end, and where the bytes end. */
  needed = -1;
  available = -1;
  constructor(problem: string, offset: number, pastEnd = false) {
    super(problem);
    this.name = "WireError";
    this.offset = offset;
    this.pastEnd = pastEnd;
  }
}

/**
 * The fields of the message held in `buf[start, end)` as spans, without decoding payloads.
 * Throws a WireError when the bytes are not a protobuf message or run past `end` (truncated).
 *
 * @example
 * const top = spans(bytes); // [{field: 1, wireType: 0, ...}, {field: 7, wireType: 2, ...}]
 */
export function spans(buf: Uint8Array, start = 0, end = buf.length): Span[] {
  const out: Span[] = [];
  let pos = start;
  let failedTag: { field: number; wireType: number } | null = null;
  try {
    while (pos < end) {
      failedTag = null;
      const tagStart = pos;
      const [tag, p1] = varint(buf, pos, end);
      pos = p1;
      const field = Math.floor(tag / 8);
      const wireType = tag % 8;
      failedTag = { field, wireType };
      if (field === 0) throw new WireError(`invalid field number 0 at byte ${tagStart}`, tagStart);
      let payload = pos;
      if (wireType === 0) pos = varint(buf, pos, end)[1];
      else if (wireType === 1) pos += 8;
      else if (wireType === 5) pos += 4;
      else if (wireType === 2) {
        const [len, p2] = varint(buf, pos, end);
        payload = p2;
        pos = p2 + len;
      } else throw new WireError(`invalid wire type ${wireType} at byte ${tagStart}`, tagStart);
      if (pos > end) {
        const e = new WireError(`field ${field} at byte ${tagStart} runs past the end (${pos} > ${end})`, tagStart, true);
        e.needed = pos;
        e.available = end;
        throw e;
      }
      out.push({ field, wireType, start: tagStart, payload, end: pos });
    }
  } catch (e) {
    if (e instanceof WireError) {
      e.partial = out;
      e.failedTag = failedTag;
    }
    throw e;
  }
  return out;
}

/** Reads a varint at `pos`; returns [value, next position]. Values beyond 2^53 lose precision. */
export function varint(buf: Uint8Array, pos: number, end = buf.length): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new WireError(`varint at byte ${pos} runs past the end`, pos, true);
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
  }
  throw new WireError(`varint at byte ${pos} is longer than 10 bytes`, pos);
}

/** Encodes `value` (a non-negative integer) as a varint. */
export function encodeVarint(value: number): Uint8Array {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Uint8Array.from(bytes);
}

/** A length-delimited field `field` holding `payload`, as bytes (tag, length, payload). */
export function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const tag = encodeVarint(field * 8 + 2);
  const len = encodeVarint(payload.length);
  const out = new Uint8Array(tag.length + len.length + payload.length);
  out.set(tag, 0);
  out.set(len, tag.length);
  out.set(payload, tag.length + len.length);
  return out;
}

/** Payload bytes of a span (a view, no copy). */
export function payloadOf(buf: Uint8Array, s: Span): Uint8Array {
  return buf.subarray(s.payload, s.end);
}

/** Value of a varint span. */
export function varintOf(buf: Uint8Array, s: Span): number {
  return varint(buf, s.payload, s.end)[0];
}

/** ModelProto field numbers (onnx.proto). */
export const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14, trainingInfo: 20, functions: 25 } as const;
/** GraphProto field numbers (onnx.proto). */
export const GRAPH = { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12, valueInfo: 13, quantizationAnnotation: 14, sparseInitializer: 15 } as const;
/** TensorProto field numbers (onnx.proto). */
export const TENSOR = { dims: 1, dataType: 2, segment: 3, floatData: 4, int32Data: 5, stringData: 6, int64Data: 7, name: 8, rawData: 9, doubleData: 10, uint64Data: 11, docString: 12, externalData: 13, dataLocation: 14 } as const;

const PAYLOAD_FIELDS = new Set<number>([TENSOR.floatData, TENSOR.int32Data, TENSOR.stringData, TENSOR.int64Data, TENSOR.rawData, TENSOR.doubleData, TENSOR.uint64Data]);

/** The top-level and graph-level layout of a model file. */
export interface ModelSpans {
  top: Span[];
  /** The (last) graph field; protobuf merges repeated occurrences, handled by `graphFields`. */
  graph: Span | null;
  /** Graph fields over every occurrence of ModelProto.graph, in file order. */
  graphFields: Span[];
}

/**
 * Top-level and graph fields of a ModelProto as spans. Throws WireError on malformed bytes.
 *
 * @example
 * const { graphFields } = modelSpans(bytes);
 * const nodes = graphFields.filter((s) => s.field === GRAPH.node);
 */
export function modelSpans(buf: Uint8Array): ModelSpans {
  const top = spans(buf);
  let graph: Span | null = null;
  const graphFields: Span[] = [];
  for (const s of top) {
    if (s.field !== MODEL.graph) continue;
    if (s.wireType !== 2) throw new WireError(`ModelProto.graph has wire type ${s.wireType}, expected 2`, s.start);
    graph = s;
    for (const f of spans(buf, s.payload, s.end)) graphFields.push(f);
  }
  return { top, graph, graphFields };
}

/** Decodes a NodeProto span with the generated codec. */
export function decodeNode(buf: Uint8Array, s: Span): onnx.NodeProto {
  // protobufjs clamps over-long strings on Buffers instead of failing; check the framing first.
  spans(buf, s.payload, s.end);
  // From a copy: the codec's bytes fields (a Constant's raw_data, a subgraph's initializers) are
  // views into the buffer it reads, and a model keeps its decoded nodes, so decoding from the
  // file's buffer would pin all of it after the model lets go of its bytes (releaseBytes).
  return onnx.NodeProto.decode(Reader.create(Uint8Array.prototype.slice.call(buf, s.payload, s.end)));
}

/** Decodes a ValueInfoProto span with the generated codec. */
export function decodeValueInfo(buf: Uint8Array, s: Span): onnx.ValueInfoProto {
  spans(buf, s.payload, s.end);
  return onnx.ValueInfoProto.decode(Reader.create(payloadOf(buf, s)));
}

/** A TensorProto's header (everything but the payload) and where its payload lies. */
export interface TensorHeader {
  name: string;
  dims: number[];
  dataType: number;
  /** Payload spans (raw_data, float_data, ...) inside the file buffer, undecoded. */
  payload: Span[];
  /** DataLocation: 0 default, 1 external. */
  dataLocation: number;
  externalData: Record<string, string>;
}

/**
 * The header of the TensorProto in span `s`, decoded with the generated codec after leaving the
 * payload fields out, so weights are never copied or boxed.
 *
 * @example
 * const h = tensorHeader(bytes, initSpan); // {name: "conv.weight", dims: [64, 3, 7, 7], dataType: 1, ...}
 */
export function tensorHeader(buf: Uint8Array, s: Span): TensorHeader {
  const fields = spans(buf, s.payload, s.end);
  const keep = fields.filter((f) => !PAYLOAD_FIELDS.has(f.field));
  let n = 0;
  for (const f of keep) n += f.end - f.start;
  const head = new Uint8Array(n);
  let o = 0;
  for (const f of keep) {
    head.set(buf.subarray(f.start, f.end), o);
    o += f.end - f.start;
  }
  const t = onnx.TensorProto.decode(Reader.create(head));
  const externalData: Record<string, string> = {};
  for (const e of t.external_data) externalData[e.key ?? ""] = e.value ?? "";
  return {
    name: t.name,
    dims: t.dims.map(Number),
    dataType: t.data_type,
    payload: fields.filter((f) => PAYLOAD_FIELDS.has(f.field)),
    dataLocation: t.data_location,
    externalData,
  };
}

/** Decodes a whole TensorProto span (payload included); for small tensors only. */
export function decodeTensor(buf: Uint8Array, s: Span): onnx.TensorProto {
  return onnx.TensorProto.decode(Reader.create(payloadOf(buf, s)));
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Replaces graph-level field records (e.g. node or initializer spans) by new bytes, rewriting
 * the length of each ModelProto.graph field that changes; every other byte is copied as it was.
 *
 * @example
 * const out = spliceGraphFields(bytes, modelSpans(bytes).top, new Map([[nodeSpan, newNodeField]]));
 */
export function spliceGraphFields(bytes: Uint8Array, top: readonly Span[], replacements: Map<Span, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  const keys = [...replacements.keys()].sort((a, b) => a.start - b.start);
  for (const t of top) {
    const inside = keys.filter((s) => s.start >= t.payload && s.end <= t.end);
    if (t.field !== MODEL.graph || inside.length === 0) {
      parts.push(bytes.subarray(t.start, t.end));
      continue;
    }
    const payload: Uint8Array[] = [];
    let pos = t.payload;
    for (const s of inside) {
      payload.push(bytes.subarray(pos, s.start), replacements.get(s)!);
      pos = s.end;
    }
    payload.push(bytes.subarray(pos, t.end));
    const body = concat(payload);
    parts.push(encodeVarint(MODEL.graph * 8 + 2), encodeVarint(body.length), body);
  }
  return concat(parts);
}
