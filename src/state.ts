/**
 * Bit-exact serialisation of reducer state (plain objects of numbers, strings, booleans, null,
 * arrays and typed arrays), so checkpoints and shard states merge exactly as in memory, and
 * atomic file writes for checkpoints.
 *
 * Format: JSON `{"format": "seelike-state", "version": 1, "value": …}`. Typed arrays become
 * `{"$typed": "Float64Array", "base64": <little-endian bytes>}`, so every bit
 * (NaN payloads, −0, subnormals) survives. Numbers JSON cannot hold (NaN, ±Infinity, −0) become
 * `{"$number": "NaN" | "Infinity" | "-Infinity" | "-0"}`; bigints `{"$bigint": "123"}`. A
 * plain object that itself has a key starting with "$" is wrapped as `{"$object": {…}}`.
 * `sha256` is the hex digest of the JSON text of `value`: an edited number or a torn file is
 * refused on reading (an integrity check against accidents, not a signature).
 */
import { createHash, randomBytes } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import { dirname, basename, join } from "node:path";
import { endianness } from "node:os";
import { InputError } from "./errors.js";

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

const FORMAT = "seelike-state";
const VERSION = 1;

if (endianness() !== "LE") throw new Error("src/state.ts assumes a little-endian platform");

function encodeValue(v: unknown, path: string): unknown {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return { $number: "NaN" };
    if (v === Infinity) return { $number: "Infinity" };
    if (v === -Infinity) return { $number: "-Infinity" };
    if (Object.is(v, -0)) return { $number: "-0" };
    return v;
  }
  if (typeof v === "bigint") return { $bigint: v.toString() };
  if (Array.isArray(v)) return v.map((x, i) => encodeValue(x === undefined ? null : x, `${path}[${i}]`));
  if (ArrayBuffer.isView(v)) {
    const name = v.constructor.name as TypedName;
    if (!(name in TYPED) || v instanceof DataView) throw new TypeError(`invalid state value at ${path}: ${v.constructor.name}`);
    return { $typed: name, base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
  }
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`invalid state value at ${path}: ${proto?.constructor?.name ?? "object"}`);
    const out: Record<string, unknown> = {};
    let dollar = false;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      if (k.startsWith("$")) dollar = true;
      out[k] = encodeValue(x, `${path}.${k}`);
    }
    return dollar ? { $object: out } : out;
  }
  throw new TypeError(`invalid state value at ${path}: ${typeof v}`);
}

function decodeValue(v: unknown, file: string, path: string): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x, i) => decodeValue(x, file, `${path}[${i}]`));
  const o = v as Record<string, unknown>;
  if ("$typed" in o) {
    const name = o.$typed as TypedName;
    const Ctor = TYPED[name];
    if (Ctor === undefined || typeof o.base64 !== "string") throw new InputError(file, `bad typed array at ${path}`);
    const bytes = Buffer.from(o.base64, "base64");
    if (bytes.length % Ctor.BYTES_PER_ELEMENT !== 0) throw new InputError(file, `bad ${name} length at ${path}`);
    const copy = new Uint8Array(bytes.length); // aligned, not a view into Buffer's pool
    copy.set(bytes);
    return new Ctor(copy.buffer);
  }
  if ("$number" in o) {
    const n = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0": -0 }[o.$number as string];
    if (n === undefined) throw new InputError(file, `bad number at ${path}: ${o.$number}`);
    return n;
  }
  if ("$bigint" in o) return BigInt(o.$bigint as string);
  const inner = "$object" in o ? (o.$object as Record<string, unknown>) : o;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(inner)) out[k] = decodeValue(x, file, `${path}.${k}`);
  return out;
}

/**
 * Encodes state as a JSON string that {@link decodeState} turns back into an equal value,
 * bit for bit in every typed array and number. Throws a TypeError naming the path of a value
 * it cannot encode (functions, Maps, class instances).
 *
 * @example decodeState(encodeState({ sum: new Float64Array([NaN, -0]) })) // { sum: Float64Array [NaN, -0] }
 */
export function encodeState(state: unknown): string {
  const value = JSON.stringify(encodeValue(state, "state"));
  const sha256 = createHash("sha256").update(value).digest("hex");
  // `value` last, spliced in as text, so the digest covers exactly the bytes on disk.
  return `{"format":${JSON.stringify(FORMAT)},"version":${VERSION},"sha256":"${sha256}","value":${value}}`;
}

/** The JSON text of the top-level `value` field of an encoded state, as written. */
function valueText(text: string): string | undefined {
  const key = '"value":';
  const at = text.indexOf(key);
  if (at < 0) return undefined;
  const end = text.lastIndexOf("}");
  return end > at ? text.slice(at + key.length, end) : undefined;
}

/**
 * Decodes what {@link encodeState} wrote; `file` names the source in InputErrors for text that
 * is not a state of this version.
 *
 * @example const state = decodeState(await readFile("ckpt.json"), "ckpt.json")
 */
export function decodeState(text: string | Uint8Array, file = "<state>"): unknown {
  let doc: { format?: unknown; version?: unknown; sha256?: unknown; value?: unknown };
  const str = typeof text === "string" ? text : Buffer.from(text).toString("utf8");
  try {
    doc = JSON.parse(str);
  } catch (e) {
    throw new InputError(file, `not a state file: ${(e as Error).message}`);
  }
  if (doc === null || typeof doc !== "object" || doc.format !== FORMAT) throw new InputError(file, "not a seelike state file");
  if (doc.version !== VERSION) throw new InputError(file, `unsupported state version ${String(doc.version)} (expected ${VERSION})`);
  if (typeof doc.sha256 !== "string") throw new InputError(file, "state file has no integrity digest (sha256); it was not written by this version of seelike");
  const v = valueText(str);
  if (v === undefined || createHash("sha256").update(v).digest("hex") !== doc.sha256) {
    throw new InputError(file, "integrity check failed: the state was edited or corrupted after it was written (sha256 mismatch); rerun the run that made it");
  }
  return decodeValue(doc.value, file, "state");
}

/**
 * Reads and decodes a state file written with `writeFileAtomic(path, encodeState(state))`.
 *
 * @example const state = await readState("out/checkpoint.json")
 */
export async function readState(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(path, code === "ENOENT" ? "no such file or directory" : (e as Error).message);
  }
  return decodeState(text, path);
}

/**
 * Writes a file atomically: a temporary file in the same folder is written and fsynced, renamed
 * over `path`, and the folder fsynced, so a crash leaves the old or the new file, never a torn one.
 *
 * @example await writeFileAtomic("out/checkpoint.json", encodeState(state))
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fail = (e: unknown): never => {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === "ENOSPC" ? "no space left on device" : code === "EDQUOT" ? "disk quota exceeded" : code === "EROFS" ? "read-only file system" : (e as Error).message;
    throw new Error(`${path}: cannot write (${reason}${code && !reason.includes(code) ? `, ${code}` : ""}); the previous version of the file, if any, is unchanged`);
  };
  const fh = await open(tmp, "wx").catch(fail);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    fail(e);
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  // Persist the rename; some platforms cannot open or fsync a directory, which is not an error there.
  const d = await open(dir, "r").catch(() => undefined);
  if (d) {
    await d.sync().catch(() => undefined);
    await d.close();
  }
}
