/**
 * Opening any supported data input by its path.
 */
import { open, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { InputError, UsageError } from "../errors.js";
import { openNpy, type ArrayLayout } from "./array.js";
import { openCsv } from "./csv.js";
import { imageListSource, openImageFolder } from "./folder.js";
import { isImageFile } from "./image.js";
import { isGzip, isIdx, openIdx } from "./idx.js";
import { fileProblem } from "./npy.js";
import type { DataSource } from "./types.js";

/** Options of {@link openData}. */
export interface OpenDataOptions {
  /** Labels file (IDX or `.npy`) for IDX and `.npy` images. */
  labels?: string;
  /** Axis order of a 4-D `.npy` array whose shape does not tell. */
  layout?: ArrayLayout;
}

/**
 * The labels file next to an IDX images file by the MNIST naming convention
 * (`x-images-idx3-ubyte[.gz]` → `x-labels-idx1-ubyte[.gz]`), if it exists.
 */
async function siblingLabels(path: string): Promise<string | undefined> {
  const name = basename(path);
  if (!/images-idx3/.test(name)) return undefined;
  const candidate = join(dirname(path), name.replace("images-idx3", "labels-idx1"));
  return (await stat(candidate).catch(() => undefined))?.isFile() ? candidate : undefined;
}

async function head(path: string, n: number): Promise<Uint8Array> {
  const fh = await open(path, "r");
  try {
    const bytes = new Uint8Array(n);
    const { bytesRead } = await fh.read(bytes, 0, n, 0);
    return bytes.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Opens a data input, choosing the reader from the path: a folder (ImageFolder or flat),
 * `.npy`, `.csv`, an IDX file (gzip or raw, recognised by its magic bytes), or a single image.
 * IDX images without `labels` pick up the labels file next to them by the MNIST naming
 * convention (`*-images-idx3-ubyte.gz` → `*-labels-idx1-ubyte.gz`) when it exists.
 *
 * Throws InputError for a missing path, a folder without images, an unknown format and a labels
 * file whose length differs; UsageError for `labels` with a folder or CSV (their labels come
 * from the folder names or the manifest).
 *
 * @example const src = await openData("fixtures/data/probe-images-idx3-ubyte.gz") // 2,000 images with labels
 */
export async function openData(path: string, options: OpenDataOptions = {}): Promise<DataSource> {
  const info = await stat(path).catch((e) => {
    throw new InputError(path, fileProblem(e));
  });
  const lower = path.toLowerCase();
  const noLabels = (kind: string) => {
    if (options.labels !== undefined) throw new UsageError(`--labels applies to IDX and .npy data, not to ${kind} (${path})`);
  };
  if (info.isDirectory()) {
    noLabels("an image folder");
    return openImageFolder(path);
  }
  if (lower.endsWith(".npy")) return openNpy(path, options);
  if (lower.endsWith(".csv")) {
    noLabels("a CSV manifest");
    return openCsv(path);
  }
  if (info.size === 0) throw new InputError(path, "empty file (0 bytes)");
  const bytes = await head(path, 4);
  if (isGzip(bytes) || isIdx(bytes)) {
    return openIdx(path, options.labels ?? (await siblingLabels(path)));
  }
  if (isImageFile(path)) {
    noLabels("a single image");
    return imageListSource("flat-folder", path, dirname(path), [basename(path)]);
  }
  throw new InputError(path, "unknown data format: expected an image folder, a .npy array, a .csv manifest or an IDX file");
}
