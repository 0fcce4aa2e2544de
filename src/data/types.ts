/**
 * The contract between data sources, preprocessing and the batch loader.
 */

/**
 * One decoded image, row-major height × width × channels (HWC, channels interleaved).
 * `Uint8Array` holds 0..255 pixels (image files, IDX, uint8 `.npy`); `Float32Array` holds
 * values as stored in a float32 `.npy` (expected in [0, 1], see PreprocessOptions.scale).
 */
export interface RawImage {
  data: Uint8Array | Float32Array;
  height: number;
  width: number;
  channels: number;
  layout: "HWC";
}

/** Which reader a {@link DataSource} came from. */
export type DataKind = "image-folder" | "flat-folder" | "idx" | "npy" | "csv";

/**
 * A random-access set of images with stable sample ids.
 *
 * `ids[i]` names sample i and does not depend on how the data is sampled or sharded:
 * a path relative to the folder or manifest (`"cat/001.jpg"`), or `"idx:1234"` (0-based row)
 * for IDX and `.npy` arrays. `labels[i]` is the integer class of sample i (`classes[label]` its
 * name when known).
 */
export interface DataSource {
  kind: DataKind;
  /** The path the source was opened from. */
  path: string;
  size: number;
  ids: string[];
  classes?: string[];
  labels?: Int32Array;
  /** The file sample i comes from (named in errors). */
  file(index: number): string;
  /** Decodes one sample; throws InputError(file, problem) if it cannot be read. */
  readOne(index: number): Promise<RawImage>;
  /** Decodes several samples (in order); throws on the first that cannot be read. */
  read(indices: readonly number[]): Promise<RawImage[]>;
}
