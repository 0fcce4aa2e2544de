/** Data inputs, preprocessing, sampling and batching: the public exports of src/data. */
export type { RawImage, DataSource, DataKind } from "./types.js";
export { openData, type OpenDataOptions } from "./open.js";
export { openImageFolder } from "./folder.js";
export { openIdx, readIdx, decodeIdx, readLabels, type IdxArray } from "./idx.js";
export { openNpy, arrayLayout, type ArrayLayout, type NpyOptions } from "./array.js";
export { openCsv, csvRows } from "./csv.js";
export { decodeImage, isImageFile, IMAGE_EXTENSIONS } from "./image.js";
export { readNpy, writeNpy, encodeNpy, decodeNpy, npyHeader, npyHeaderOf, type NpyArray, type NpyData, type NpyDtype } from "./npy.js";
export { resample, type Interpolation } from "./resize.js";
export {
  preprocess,
  resolvePreprocess,
  checkPreprocess,
  modelCard,
  modelPreprocess,
  channelsTo,
  resizedSize,
  preprocessSize,
  type PreprocessOptions,
  type PreprocessOverrides,
  type ModelCard,
  type ModelInput,
  type ModelPreprocessOptions,
} from "./preprocess.js";
export { sampleIndices, shard, parseShard, batchIndices, sampleDigest, splitmix64, type SampleOptions, type ShardMode } from "./sampling.js";
export { batches, type Batch, type BatchOptions, type SkippedSample } from "./loader.js";
export { codePointOrder } from "./source.js";
