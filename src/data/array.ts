/**
 * Image arrays in `.npy` files: `[N, H, W, C]`, `[N, C, H, W]` or `[N, H, W]`, uint8 or float32.
 */
import { InputError } from "../errors.js";
import { readLabels } from "./idx.js";
import { npyHeaderOf, readNpyRows } from "./npy.js";
import { checkIndex, checkLabelCount, readMany } from "./source.js";
import type { DataSource, RawImage } from "./types.js";

/** Axis order of a 4-D image array. */
export type ArrayLayout = "NHWC" | "NCHW";

/**
 * The layout of a 4-D image array shape: the channel axis is the one of axes 1 and 3 that is 1
 * or 3. Returns undefined when both or neither are (the caller must say).
 *
 * @example arrayLayout([10, 3, 32, 32]) // "NCHW"
 */
export function arrayLayout(shape: readonly number[]): ArrayLayout | undefined {
  const first = shape[1] === 1 || shape[1] === 3;
  const last = shape[3] === 1 || shape[3] === 3;
  if (first === last) return undefined;
  return last ? "NHWC" : "NCHW";
}

/** Options of {@link openNpy}. */
export interface NpyOptions {
  /** Labels file (IDX or `.npy`, int32/int64/uint8, one per image). */
  labels?: string;
  /** Axis order of a 4-D array when its shape does not tell (e.g. `[N, 3, 5, 3]`). */
  layout?: ArrayLayout;
}

/**
 * Opens an image array stored as `.npy`. 4-D arrays are `[N, H, W, C]` or `[N, C, H, W]`,
 * decided by which of axes 1 and 3 is 1 or 3 (or `layout`); 3-D arrays are `[N, H, W]` grey.
 * uint8 holds 0..255 pixels, float32 values are passed on as stored. Rows are read from disk
 * on demand, so the array need not fit in memory. Ids are `"idx:i"`.
 *
 * @example const src = await openNpy("images.npy", { labels: "labels.npy" })
 */
export async function openNpy(path: string, options: NpyOptions = {}): Promise<DataSource> {
  const header = await npyHeaderOf(path);
  if (header.dtype !== "uint8" && header.dtype !== "float32") {
    throw new InputError(path, `image arrays must be uint8 or float32, got ${header.dtype}`);
  }
  const shape = header.shape;
  let layout: ArrayLayout;
  if (shape.length === 3) {
    layout = "NHWC";
  } else if (shape.length === 4) {
    const found = options.layout ?? arrayLayout(shape);
    if (found === undefined) {
      throw new InputError(path, `cannot tell the channel axis of shape [${shape}]: expected 1 or 3 channels on axis 1 (NCHW) or 3 (NHWC); give the layout`);
    }
    layout = found;
  } else {
    throw new InputError(path, `image arrays must have shape [N, H, W, C], [N, C, H, W] or [N, H, W], got [${shape}]`);
  }
  const size = shape[0];
  const [height, width, channels] = shape.length === 3 ? [shape[1], shape[2], 1] : layout === "NHWC" ? [shape[1], shape[2], shape[3]] : [shape[2], shape[3], shape[1]];
  let labels: Int32Array | undefined;
  if (options.labels !== undefined) {
    labels = await readLabels(options.labels);
    checkLabelCount(options.labels, labels, path, size);
  }
  const readOne = async (index: number): Promise<RawImage> => {
    checkIndex(index, size);
    const row = (await readNpyRows(path, header, index, 1)) as Uint8Array | Float32Array;
    // NaN/Inf pixels would surface much later as non-finite activations: name the sample here.
    if (row instanceof Float32Array) {
      for (let i = 0; i < row.length; i++) if (!Number.isFinite(row[i])) throw new InputError(path, `non-finite pixel value ${row[i]} in sample idx:${index} (element ${i})`);
    }
    if (layout === "NHWC" || channels === 1) return { data: row, height, width, channels, layout: "HWC" };
    const hwc = (row instanceof Float32Array ? new Float32Array(row.length) : new Uint8Array(row.length));
    const plane = height * width;
    for (let c = 0; c < channels; c++) for (let p = 0; p < plane; p++) hwc[p * channels + c] = row[c * plane + p];
    return { data: hwc, height, width, channels, layout: "HWC" };
  };
  return {
    kind: "npy",
    path,
    size,
    ids: Array.from({ length: size }, (_, i) => `idx:${i}`),
    labels,
    file: () => path,
    readOne,
    read: (indices) => readMany(readOne, indices),
  };
}
