/**
 * Bit-exact serialisation of reducer state (plain objects of numbers, strings, booleans, null,
 * arrays and typed arrays), so checkpoints and shard states merge exactly as in memory, and
 * atomic file writes for checkpoints.
 *
 * File layout (format `seelike-state`, version 2), all integers little-endian:
 *
 *     offset 0   8 bytes   magic "SEELIKE\0" (the NUL keeps text tools from taking it for text)
 *     offset 8   u32       H, byte length of the header
 *     offset 12  u32       0 (reserved)
 *     offset 16  H bytes   header, UTF-8 JSON:
 *                          {"format":"seelike-state","version":2,"sha256":"<hex>",
 *                           "settingsDigest":…,"payloadBytes":P,"blobs":[…],"value":…}
 *     then       zeros up to a multiple of 8
 *     then       P bytes   payload: the typed arrays' bytes, each blob at a multiple of 8
 *
 * `value` is the state with every typed array replaced by `{"$blob": i}`, an index into
 * `blobs` (`{"type", "stored", "offset", "length"}`: the array's class, the element type of
 * its bytes in the payload, their byte offset in the payload, the element count). Numbers JSON
 * cannot hold (NaN, ±Infinity, −0) become `{"$number": "NaN" | "Infinity" | "-Infinity" | "-0"}`;
 * bigints `{"$bigint": "123"}`; a plain object with a key starting with "$" is wrapped as
 * `{"$object": {…}}`.
 *
 * Two lossless savings, because over 90 % of the demo's state is probe feature rows (activations that
 * onnxruntime computed in float32, held in Float64Array): a Float64Array whose every element is
 * exactly a float32 (no NaN, no value float32 rounds) is stored as float32 and widened back on
 * reading, so every bit still comes back; and blobs with identical bytes (the labels and sample
 * indices every probe block keeps) are stored once. Each reference decodes to its own copy, so
 * reducers may still update arrays in place.
 *
 * `sha256` is the hex SHA-256 of every byte of the file after the `"sha256":"<hex>",` field
 * (the rest of the header, the padding and the payload): an edited number, a flipped payload
 * bit or a torn file is refused on reading (an integrity check against accidents, not a
 * signature). `settingsDigest` is the METHODS.md §8 settings digest of the run that wrote it,
 * readable without decoding the payload ({@link stateHeader}).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { InputError } from "../errors.js";

const TYPED = {
  Float64Array,
  Float32Array,
  Int32Array,
  Uint32Array,
  Int16Array,
  Uint16Array,
  Int8Array,
  Uint8Array,
  Uint8ClampedArray,
  BigInt64Array,
  BigUint64Array,
} as const;
type TypedName = keyof typeof TYPED;
type Typed = InstanceType<(typeof TYPED)[TypedName]>;

const FORMAT = "seelike-state";
const VERSION = 2;
const MAGIC = Buffer.from("SEELIKE\0", "latin1");
const PREAMBLE = 16;
/** The header's fixed start: the digest sits at a known offset, before anything it covers. */
const HEAD = `{"format":"${FORMAT}","version":${VERSION},"sha256":"`;
/** Offset in the file of the first byte the digest covers (after `<64 hex>",`). */
const COVERED = PREAMBLE + HEAD.length + 64 + 2;

if (endianness() !== "LE") throw new Error("src/engine/state.ts assumes a little-endian platform");

interface Blob {
  type: TypedName;
  stored: TypedName;
  offset: number;
  length: number;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** True when every element is a float32 value, so float32 storage loses no bit (NaN is left out: its payload might not survive). */
function float32Exact(v: Float64Array): boolean {
  for (let i = 0; i < v.length; i++) if (Math.fround(v[i]) !== v[i]) return false; // NaN !== NaN fails too
  return true;
}

/** Collects the typed arrays of a state as blobs, each distinct content once. */
class Blobs {
  readonly list: Blob[] = [];
  readonly sources: Typed[] = [];
  bytes = 0;
  private readonly byKey = new Map<string, number[]>();

  add(v: Typed): number {
    const type = v.constructor.name as TypedName;
    const src = bytesOf(v);
    // A cheap key (type, size, both ends) and a full comparison; a few candidates per key
    // bound the work when many arrays share their ends (zero-initialised sums).
    const buf = Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    const key = `${type}:${src.byteLength}:${buf.subarray(0, 16).toString("hex")}:${buf.subarray(Math.max(0, src.byteLength - 16)).toString("hex")}`;
    const candidates = this.byKey.get(key) ?? [];
    for (const i of candidates) if (buf.equals(bytesOf(this.sources[i]))) return i;
    const stored: TypedName = v instanceof Float64Array && float32Exact(v) ? "Float32Array" : type;
    const i = this.list.length;
    this.list.push({ type, stored, offset: this.bytes, length: v.length });
    this.sources.push(v);
    this.bytes = align8(this.bytes + v.length * TYPED[stored].BYTES_PER_ELEMENT);
    if (candidates.length < 4) this.byKey.set(key, [...candidates, i]);
    return i;
  }
}

function encodeValue(v: unknown, path: string, blobs: Blobs): unknown {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return { $number: "NaN" };
    if (v === Infinity) return { $number: "Infinity" };
    if (v === -Infinity) return { $number: "-Infinity" };
    if (Object.is(v, -0)) return { $number: "-0" };
    return v;
  }
  if (typeof v === "bigint") return { $bigint: v.toString() };
  if (Array.isArray(v)) return v.map((x, i) => encodeValue(x === undefined ? null : x, `${path}[${i}]`, blobs));
  if (ArrayBuffer.isView(v)) {
    const name = v.constructor.name as TypedName;
    if (!(name in TYPED) || v instanceof DataView) throw new TypeError(`invalid state value at ${path}: ${v.constructor.name}`);
    return { $blob: blobs.add(v as Typed) };
  }
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`invalid state value at ${path}: ${proto?.constructor?.name ?? "object"}`);
    const out: Record<string, unknown> = {};
    let dollar = false;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      if (k.startsWith("$")) dollar = true;
      out[k] = encodeValue(x, `${path}.${k}`, blobs);
    }
    return dollar ? { $object: out } : out;
  }
  throw new TypeError(`invalid state value at ${path}: ${typeof v}`);
}

/** What {@link encodeState} records beside the state. */
export interface StateOptions {
  /** Digest of the settings record of the run that made the state (src/engine/settings.ts). */
  settingsDigest?: string | null;
}

/**
 * Encodes state as the bytes of a state file (layout above) that {@link decodeState} turns
 * back into an equal value, bit for bit in every typed array and number. Throws a TypeError
 * naming the path of a value it cannot encode (functions, Maps, class instances).
 *
 * @example decodeState(encodeState({ sum: new Float64Array([NaN, -0]) })) // { sum: Float64Array [NaN, -0] }
 */
export function encodeState(state: unknown, options: StateOptions = {}): Uint8Array {
  const blobs = new Blobs();
  const value = encodeValue(state, "state", blobs);
  const rest = `"settingsDigest":${JSON.stringify(options.settingsDigest ?? null)},"payloadBytes":${blobs.bytes},"blobs":${JSON.stringify(blobs.list)},"value":${JSON.stringify(value)}}`;
  const header = Buffer.from(`${HEAD}${"0".repeat(64)}",${rest}`, "utf8");
  const start = align8(PREAMBLE + header.length);
  // A fresh Uint8Array: zero-filled (the padding) and at offset 0 of its buffer, so every blob is aligned.
  const file = new Uint8Array(start + blobs.bytes);
  const view = new DataView(file.buffer);
  file.set(MAGIC, 0);
  view.setUint32(8, header.length, true);
  file.set(header, PREAMBLE);
  blobs.list.forEach((b, i) => {
    const src = blobs.sources[i];
    if (b.stored === b.type) file.set(bytesOf(src), start + b.offset);
    else new Float32Array(file.buffer, start + b.offset, b.length).set(src as Float64Array);
  });
  const sha256 = createHash("sha256").update(file.subarray(COVERED)).digest("hex");
  file.set(Buffer.from(sha256, "latin1"), PREAMBLE + HEAD.length);
  return file;
}

/** The parsed header of a state file and where its payload starts. */
interface Parsed {
  settingsDigest: string | null;
  sha256: string;
  blobs: Blob[];
  value: unknown;
  start: number;
}

/** Why bytes that do not start with the signature are not a state this version reads. */
function notAState(bytes: Uint8Array, file: string): never {
  if (bytes.length === 0) throw new InputError(file, "empty file, not a seelike state");
  const k = Math.min(bytes.length, MAGIC.length);
  if (bytes.length < PREAMBLE && MAGIC.subarray(0, k).equals(Buffer.from(bytes.buffer, bytes.byteOffset, k))) {
    throw new InputError(file, `truncated: ${bytes.length} bytes, shorter than the ${PREAMBLE}-byte preamble of a state file; rerun the run that made it`);
  }
  const start = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 256)).toString("utf8").trimStart();
  const old = /^\{\s*"format"\s*:\s*"(seelike-[a-z-]+(?:@\d+)?)"\s*,\s*"version"\s*:\s*(\d+)/.exec(start);
  if (old) throw new InputError(file, `a JSON state (${old[1]} version ${old[2]}) written by an earlier seelike; this version reads only binary state files (${FORMAT} version ${VERSION}): rerun the run that made it`);
  throw new InputError(file, start.startsWith("{") ? "not a state file (JSON, not a seelike state)" : "not a state file (no seelike state signature)");
}

function parse(input: Uint8Array, file: string): Parsed {
  if (input.length < PREAMBLE || !Buffer.from(input.buffer, input.byteOffset, MAGIC.length).equals(MAGIC)) notAState(input, file);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const length = view.getUint32(8, true);
  if (view.getUint32(12, true) !== 0) throw new InputError(file, "corrupted state preamble (reserved field is not zero)");
  if (PREAMBLE + length > input.length) throw new InputError(file, `truncated: ${input.length} bytes, but its header alone needs ${PREAMBLE + length}; rerun the run that made it`);
  const text = Buffer.from(input.buffer, input.byteOffset + PREAMBLE, length).toString("utf8");
  let doc: { format?: unknown; version?: unknown; sha256?: unknown; settingsDigest?: unknown; payloadBytes?: unknown; blobs?: unknown; value?: unknown };
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(file, `corrupted state header (${(e as Error).message})`);
  }
  if (doc === null || typeof doc !== "object" || doc.format !== FORMAT) throw new InputError(file, "not a seelike state file");
  if (doc.version !== VERSION) throw new InputError(file, `unsupported state version ${String(doc.version)} (expected ${VERSION})`);
  if (typeof doc.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(doc.sha256)) throw new InputError(file, "state file has no integrity digest (sha256); it was not written by this version of seelike");
  if (!text.startsWith(`${HEAD}${doc.sha256}",`)) throw new InputError(file, "integrity check failed: the state header was rewritten after it was written; rerun the run that made it");
  const payload = doc.payloadBytes;
  if (typeof payload !== "number" || !Number.isSafeInteger(payload) || payload < 0) throw new InputError(file, "corrupted state header (payloadBytes)");
  const start = align8(PREAMBLE + length);
  const expected = start + payload;
  if (input.length < expected) throw new InputError(file, `truncated: ${input.length} bytes, expected ${expected}; rerun the run that made it`);
  if (input.length > expected) throw new InputError(file, `corrupted: ${input.length - expected} bytes after the end of the state (expected ${expected} bytes)`);
  if (doc.settingsDigest !== null && typeof doc.settingsDigest !== "string") throw new InputError(file, "corrupted state header (settingsDigest)");
  if (!Array.isArray(doc.blobs)) throw new InputError(file, "corrupted state header (blobs)");
  const blobs = doc.blobs as Blob[];
  blobs.forEach((b, i) => {
    const Stored = TYPED[b?.stored as TypedName];
    const ok = b !== null && typeof b === "object" && TYPED[b.type] !== undefined && Stored !== undefined && (b.stored === b.type || (b.type === "Float64Array" && b.stored === "Float32Array"))
      && Number.isSafeInteger(b.offset) && Number.isSafeInteger(b.length) && b.offset >= 0 && b.length >= 0 && b.offset % 8 === 0 && b.offset + b.length * Stored.BYTES_PER_ELEMENT <= payload;
    if (!ok) throw new InputError(file, `corrupted state header (blob ${i})`);
  });
  return { settingsDigest: (doc.settingsDigest as string | null) ?? null, sha256: doc.sha256, blobs, value: doc.value, start };
}

/** A fresh array (its own, aligned buffer) holding blob `b`, widened to its class. */
function blobArray(input: Uint8Array, start: number, b: Blob): Typed {
  const Stored = TYPED[b.stored];
  const at = start + b.offset;
  const n = b.length * Stored.BYTES_PER_ELEMENT;
  const aligned = (input.byteOffset + at) % Stored.BYTES_PER_ELEMENT === 0;
  let raw = new Uint8Array(input.buffer, input.byteOffset + at, n);
  if (!aligned) (raw = new Uint8Array(n)).set(input.subarray(at, at + n)); // e.g. a small Buffer from Node's pool
  const src = new Stored(raw.buffer as ArrayBuffer, raw.byteOffset, b.length);
  return (b.stored === b.type ? src.slice() : Float64Array.from(src as Float32Array)) as Typed;
}

function decodeValue(v: unknown, file: string, path: string, input: Uint8Array, p: Parsed): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x, i) => decodeValue(x, file, `${path}[${i}]`, input, p));
  const o = v as Record<string, unknown>;
  if ("$blob" in o) {
    const b = Number.isInteger(o.$blob) ? p.blobs[o.$blob as number] : undefined;
    if (b === undefined) throw new InputError(file, `bad typed array at ${path}`);
    return blobArray(input, p.start, b);
  }
  if ("$number" in o) {
    const n = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0": -0 }[o.$number as string];
    if (n === undefined) throw new InputError(file, `bad number at ${path}: ${o.$number}`);
    return n;
  }
  if ("$bigint" in o) return BigInt(o.$bigint as string);
  const inner = "$object" in o ? (o.$object as Record<string, unknown>) : o;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(inner)) out[k] = decodeValue(x, file, `${path}.${k}`, input, p);
  return out;
}

const asBytes = (input: string | Uint8Array): Uint8Array => (typeof input === "string" ? Buffer.from(input, "utf8") : input);

/**
 * The header fields of a state file, checked for layout and length but not against its digest
 * (cheap: the payload is not read), e.g. to refuse a checkpoint of other settings at once.
 *
 * @example stateHeader(await readFile("out/state.seelike"), "out/state.seelike").settingsDigest
 */
export function stateHeader(input: Uint8Array, file = "<state>"): { settingsDigest: string | null } {
  return { settingsDigest: parse(input, file).settingsDigest };
}

/**
 * Decodes what {@link encodeState} wrote; an InputError naming `file` says why bytes are not a
 * state of this version (a JSON state of an earlier seelike, another version, a truncated,
 * edited or corrupted file).
 *
 * @example const state = decodeState(await readFile("out/state.seelike"), "out/state.seelike")
 */
export function decodeState(input: string | Uint8Array, file = "<state>"): unknown {
  const bytes = asBytes(input);
  const p = parse(bytes, file);
  if (createHash("sha256").update(bytes.subarray(COVERED)).digest("hex") !== p.sha256) {
    throw new InputError(file, "integrity check failed: the state was edited or corrupted after it was written (sha256 mismatch); rerun the run that made it");
  }
  return decodeValue(p.value, file, "state", bytes, p);
}

/** The bytes of a file, or an InputError naming it. */
async function readStateBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(path, code === "ENOENT" ? "no such file or directory" : (e as Error).message);
  }
}

/**
 * Reads and decodes a state file written with `writeFileAtomic(path, encodeState(state))`.
 *
 * @example const state = await readState("out/state.seelike")
 */
export async function readState(path: string): Promise<unknown> {
  return decodeState(await readStateBytes(path), path);
}

export { writeFileAtomic } from "../files.js";
