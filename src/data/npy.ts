/**
 * NumPy `.npy` files (format versions 1.0, 2.0, 3.0), little-endian, C order only: the interop
 * format for arrays shared with numpy/torch scripts (fixtures, probe features, references).
 * Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
 */
import { open, readFile } from "node:fs/promises";
import { writeFileAtomic } from "../files.js";
import { InputError } from "../errors.js";

/** The dtypes this module reads and writes, by numpy `descr`. */
export type NpyDtype = "float32" | "float64" | "int32" | "int64" | "uint8";

/** A typed array of one of the {@link NpyDtype}s (int64 is a BigInt64Array). */
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** An array read from a `.npy` file: its data (row-major) with shape and dtype. */
export interface NpyArray {
  data: NpyData;
  shape: number[];
  dtype: NpyDtype;
}

/** The parsed header of a `.npy` file: where the data starts and what it holds. */
export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first element. */
  offset: number;
  /** Bytes per element. */
  itemSize: number;
}

const DESCR: Record<string, NpyDtype> = {
  "<f4": "float32",
  "<f8": "float64",
  "<i4": "int32",
  "<i8": "int64",
  "|u1": "uint8",
  "<u1": "uint8",
};

const DTYPE_DESCR: Record<NpyDtype, string> = {
  float32: "<f4",
  float64: "<f8",
  int32: "<i4",
  int64: "<i8",
  uint8: "|u1",
};

const ITEM_SIZE: Record<NpyDtype, number> = { float32: 4, float64: 8, int32: 4, int64: 8, uint8: 1 };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/**
 * Parses the header of a `.npy` file from its first bytes (at least the whole header).
 * Throws an InputError naming `file` for a bad magic, Fortran order or an unsupported dtype.
 *
 * @example npyHeader(bytes.subarray(0, 128), "x.npy") // {dtype: "float32", shape: [2, 3], offset: 128, itemSize: 4}
 */
export function npyHeader(bytes: Uint8Array, file: string): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new InputError(file, "not a .npy file (bad magic)");
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start: number;
  let length: number;
  if (major === 1) {
    start = 10;
    length = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new InputError(file, "truncated .npy header");
    start = 12;
    length = view.getUint32(8, true);
  } else {
    throw new InputError(file, `unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (bytes.length < start + length) throw new InputError(file, "truncated .npy header");
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(start, start + length));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new InputError(file, `bad .npy header: ${text.trim()}`);
  }
  if (fortran === "True") throw new InputError(file, "Fortran-order .npy arrays are not supported (save with np.ascontiguousarray)");
  const dtype = DESCR[descr];
  if (dtype === undefined) {
    throw new InputError(file, `unsupported .npy dtype ${descr} (expected float32, float64, int32, int64 or uint8, little-endian)`);
  }
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((s) => {
      const n = Number(s.replace(/L$/, ""));
      if (!Number.isSafeInteger(n) || n < 0) throw new InputError(file, `bad .npy shape (${shapeText})`);
      return n;
    });
  return { dtype, shape, offset: start + length, itemSize: ITEM_SIZE[dtype] };
}

function typedView(dtype: NpyDtype, bytes: Uint8Array, count: number): NpyData {
  // Copy into a fresh, aligned buffer: the data offset of a .npy is only 16/64-aligned within the file.
  const copy = new Uint8Array(count * ITEM_SIZE[dtype]);
  copy.set(bytes.subarray(0, copy.length));
  switch (dtype) {
    case "float32":
      return new Float32Array(copy.buffer);
    case "float64":
      return new Float64Array(copy.buffer);
    case "int32":
      return new Int32Array(copy.buffer);
    case "int64":
      return new BigInt64Array(copy.buffer);
    case "uint8":
      return copy;
  }
}

/**
 * Decodes a whole `.npy` file from its bytes. `file` names it in errors.
 *
 * @example const {data, shape} = decodeNpy(await readFile("x.npy"), "x.npy")
 */
export function decodeNpy(bytes: Uint8Array, file = "<bytes>"): NpyArray {
  const header = npyHeader(bytes, file);
  const count = header.shape.reduce((a, b) => a * b, 1);
  const need = header.offset + count * header.itemSize;
  if (bytes.length < need) throw new InputError(file, `truncated .npy data: ${bytes.length} bytes, expected ${need}`);
  return { data: typedView(header.dtype, bytes.subarray(header.offset), count), shape: header.shape, dtype: header.dtype };
}

/**
 * Reads a `.npy` file (or decodes its bytes).
 *
 * @example const {data, shape, dtype} = await readNpy("fixtures/data-tests/ref.npy")
 */
export async function readNpy(source: string | Uint8Array): Promise<NpyArray> {
  if (typeof source !== "string") return decodeNpy(source);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(source);
  } catch (e) {
    throw new InputError(source, fileProblem(e));
  }
  return decodeNpy(bytes, source);
}

/** The numpy dtype of a typed array, or a TypeError. */
export function npyDtype(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof BigInt64Array) return "int64";
  if (data instanceof Uint8Array) return "uint8";
  throw new TypeError(`invalid npy data: ${Object.prototype.toString.call(data)}`);
}

/**
 * Encodes a typed array with its shape as `.npy` (version 1.0, header padded to 64 bytes as
 * numpy writes it). The dtype follows from the array type.
 *
 * @example encodeNpy(new Float32Array([1, 2, 3, 4]), [2, 2]) // Uint8Array starting \x93NUMPY
 */
export function encodeNpy(data: NpyData, shape: readonly number[]): Uint8Array {
  const dtype = npyDtype(data);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    throw new RangeError(`invalid shape [${shape}] for ${data.length} elements`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '${DTYPE_DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  dict = dict + " ".repeat(pad % 64) + "\n";
  if (dict.length > 0xffff) throw new RangeError(`invalid shape [${shape}]: header too long`);
  const out = new Uint8Array(10 + dict.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + dict.length);
  return out;
}

/**
 * Writes a typed array with its shape to a `.npy` file numpy can `np.load`.
 *
 * @example await writeNpy("out.npy", new Float64Array(6), [2, 3])
 */
export async function writeNpy(path: string, data: NpyData, shape: readonly number[]): Promise<void> {
  await writeFileAtomic(path, encodeNpy(data, shape)); // temp + fsync + rename: never half-written
}

/**
 * Reads rows [start, start + count) of the first axis of a `.npy` file without loading the rest
 * (for large image arrays). `header` comes from {@link npyHeaderOf}.
 */
export async function readNpyRows(path: string, header: NpyHeader, start: number, count: number): Promise<NpyData> {
  const rowItems = header.shape.slice(1).reduce((a, b) => a * b, 1);
  const bytes = new Uint8Array(count * rowItems * header.itemSize);
  const fh = await open(path, "r");
  try {
    const { bytesRead } = await fh.read(bytes, 0, bytes.length, header.offset + start * rowItems * header.itemSize);
    if (bytesRead < bytes.length) throw new InputError(path, `truncated .npy data: row ${start + count - 1} is past the end of the file`);
  } finally {
    await fh.close();
  }
  return typedView(header.dtype, bytes, count * rowItems);
}

/**
 * Reads only the header of a `.npy` file and checks that the file is long enough for the data.
 *
 * @example const h = await npyHeaderOf("images.npy") // {dtype: "uint8", shape: [100, 28, 28, 1], ...}
 */
export async function npyHeaderOf(path: string): Promise<NpyHeader> {
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw new InputError(path, fileProblem(e));
  }
  try {
    const head = new Uint8Array(65536 + 12);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const header = npyHeader(head.subarray(0, bytesRead), path);
    const { size } = await fh.stat();
    const need = header.offset + header.shape.reduce((a, b) => a * b, 1) * header.itemSize;
    if (size < need) throw new InputError(path, `truncated .npy data: ${size} bytes, expected ${need}`);
    return header;
  } finally {
    await fh.close();
  }
}

/** A one-line description of a file-system error, for InputError messages. */
export function fileProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") return "no such file or directory";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return e instanceof Error ? e.message.split("\n")[0] : String(e);
}
