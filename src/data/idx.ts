/**
 * IDX files (LeCun's MNIST format, also Fashion-MNIST): big-endian header, gzip or raw.
 * http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").
 */
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { InputError } from "../errors.js";
import { fileProblem, readNpy } from "./npy.js";
import { checkIndex, checkLabelCount, readMany } from "./source.js";
import type { DataSource, RawImage } from "./types.js";

const gunzipAsync = promisify(gunzip);

/** An IDX array: row-major data with its shape. */
export interface IdxArray {
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
  shape: number[];
}

const TYPES: Record<number, { name: string; size: number }> = {
  0x08: { name: "uint8", size: 1 },
  0x09: { name: "int8", size: 1 },
  0x0b: { name: "int16", size: 2 },
  0x0c: { name: "int32", size: 4 },
  0x0d: { name: "float32", size: 4 },
  0x0e: { name: "float64", size: 8 },
};

const READERS: Record<string, { array: typeof Int16Array | typeof Int32Array | typeof Float32Array | typeof Float64Array; get: (v: DataView, o: number) => number }> = {
  int16: { array: Int16Array, get: (v, o) => v.getInt16(o, false) },
  int32: { array: Int32Array, get: (v, o) => v.getInt32(o, false) },
  float32: { array: Float32Array, get: (v, o) => v.getFloat32(o, false) },
  float64: { array: Float64Array, get: (v, o) => v.getFloat64(o, false) },
};

/** Whether bytes start like a gzip stream (RFC 1952 magic 1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Whether bytes start like an IDX file (two zero bytes, a known type code, 1..4 dims). */
export function isIdx(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0 && bytes[1] === 0 && bytes[2] in TYPES && bytes[3] >= 1 && bytes[3] <= 4;
}

/**
 * Decodes an IDX file from its (already decompressed) bytes; `file` names it in errors.
 *
 * @example decodeIdx(bytes, "t10k-labels-idx1-ubyte") // {data: Uint8Array(10000), shape: [10000]}
 */
export function decodeIdx(bytes: Uint8Array, file: string): IdxArray {
  if (!isIdx(bytes)) throw new InputError(file, "not an IDX file (bad magic)");
  const type = TYPES[bytes[2]];
  const ndim = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * ndim) throw new InputError(file, "truncated IDX header");
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(view.getUint32(4 + 4 * d, false));
  const count = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  const need = start + count * type.size;
  if (bytes.length < need) throw new InputError(file, `truncated IDX data: ${bytes.length} bytes, expected ${need} for shape [${shape}]`);
  let data: IdxArray["data"];
  if (type.name === "uint8") data = bytes.slice(start, need);
  else if (type.name === "int8") data = new Int8Array(bytes.slice(start, need).buffer);
  else {
    // IDX is big-endian: read element by element.
    const read = READERS[type.name];
    const out = new read.array(count);
    for (let i = 0; i < count; i++) out[i] = read.get(view, start + i * type.size);
    data = out;
  }
  return { data, shape };
}

/**
 * Reads an IDX file, gzip-compressed or raw (told apart by the gzip magic bytes, not the name).
 *
 * @example const {data, shape} = await readIdx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") // shape [10000, 28, 28]
 */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new InputError(path, fileProblem(e));
  }
  if (isGzip(bytes)) {
    try {
      bytes = await gunzipAsync(bytes);
    } catch (e) {
      throw new InputError(path, `corrupt gzip stream: ${(e as Error).message}`);
    }
  }
  return decodeIdx(bytes, path);
}

/** Converts integer labels of any typed array to Int32Array, naming the file if one is not an int32. */
export function int32Labels(values: ArrayLike<number | bigint>, file: string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw new InputError(file, `label ${i} is not an int32: ${values[i]}`);
    out[i] = v;
  }
  return out;
}

/**
 * Opens IDX images (`[N, H, W]` grey or `[N, H, W, C]`, uint8) with optional IDX labels
 * (`[N]`, uint8 or int32). Ids are `"idx:i"` (0-based row). The whole file is held in memory
 * (Fashion-MNIST train: 47 MB).
 *
 * @example const src = await openIdx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
 */
export async function openIdx(imagesPath: string, labelsPath?: string): Promise<DataSource> {
  const images = await readIdx(imagesPath);
  if (!(images.data instanceof Uint8Array)) throw new InputError(imagesPath, "IDX images must be unsigned bytes (type 0x08)");
  if (images.shape.length !== 3 && images.shape.length !== 4) {
    throw new InputError(imagesPath, `IDX images must have shape [N, H, W] or [N, H, W, C], got [${images.shape}]`);
  }
  const [size, height, width, channels = 1] = images.shape;
  const pixels = height * width * channels;
  const data = images.data;
  let labels: Int32Array | undefined;
  if (labelsPath !== undefined) {
    labels = await readLabels(labelsPath);
    checkLabelCount(labelsPath, labels, imagesPath, size);
  }
  const ids = Array.from({ length: size }, (_, i) => `idx:${i}`);
  const readOne = async (index: number): Promise<RawImage> => {
    checkIndex(index, size);
    return { data: data.slice(index * pixels, (index + 1) * pixels), height, width, channels, layout: "HWC" };
  };
  return {
    kind: "idx",
    path: imagesPath,
    size,
    ids,
    labels,
    file: () => imagesPath,
    readOne,
    read: (indices) => readMany(readOne, indices),
  };
}

/**
 * Reads a 1-D labels file: IDX (gzip or raw) or `.npy` (int32, int64 or uint8).
 *
 * @example const labels = await readLabels("t10k-labels-idx1-ubyte.gz") // Int32Array(10000)
 */
export async function readLabels(path: string): Promise<Int32Array> {
  if (path.toLowerCase().endsWith(".npy")) {
    const arr = await readNpy(path);
    if (arr.dtype !== "int32" && arr.dtype !== "int64" && arr.dtype !== "uint8") {
      throw new InputError(path, `labels must be int32, int64 or uint8, got ${arr.dtype}`);
    }
    if (arr.shape.length !== 1) throw new InputError(path, `labels must be a 1-D array, got shape [${arr.shape}]`);
    return int32Labels(arr.data as ArrayLike<number | bigint>, path);
  }
  const arr = await readIdx(path);
  if (arr.shape.length !== 1) throw new InputError(path, `labels must be a 1-D IDX array, got shape [${arr.shape}]`);
  if (arr.data instanceof Float32Array || arr.data instanceof Float64Array) throw new InputError(path, "labels must be integers");
  return int32Labels(arr.data, path);
}
