/**
 * Per-model preprocessing: the torchvision evaluation pipeline
 * `Resize(resize) → CenterCrop(crop) → ToTensor() → Normalize(mean, std)` on PIL images,
 * reproduced bit for bit on decoded pixels (see resize.ts), plus grey↔RGB conversion for the
 * model's channel count, channel order and NCHW float32 output.
 */
import { readFile } from "node:fs/promises";
import { InputError } from "../errors.js";
import { fileProblem } from "./npy.js";
import { resample, type Interpolation } from "./resize.js";
import type { RawImage } from "./types.js";

/** Every step of preprocessing; plain JSON, recorded with each result (METHODS.md §8). */
export interface PreprocessOptions {
  /** Where the settings came from: "imagenet", "inception", "none" or "card" (before overrides). */
  preset: "imagenet" | "inception" | "none" | "card";
  /** Channels the model takes: 1 (grey) or 3 (RGB/BGR). Images are converted to this first. */
  channels: 1 | 3;
  /**
   * Resize: a number sets the shorter side (torchvision `Resize(n)`: the longer side becomes
   * `int(n · long / short)`), `[height, width]` sets both; null keeps the size.
   */
  resize: number | [number, number] | null;
  interpolation: Interpolation;
  /** Centre crop `[height, width]` (torchvision `CenterCrop`, zero-padded if larger); null for none. */
  crop: [number, number] | null;
  /** Pixels are divided by this (torchvision `ToTensor`: 255); "auto": 255 for 8-bit images, 1 for float32 arrays. */
  scale: number | "auto";
  /** Per-channel mean and std in RGB order (one value for grey models), applied after scaling. */
  mean: number[];
  std: number[];
  /** Channel order of the model input; "BGR" reverses the channels after normalisation. */
  channelOrder: "RGB" | "BGR";
}

/** Fields of PreprocessOptions a user may override (flags); undefined fields are ignored. */
export type PreprocessOverrides = Partial<Omit<PreprocessOptions, "preset" | "crop">> & { crop?: number | [number, number] | null };

/** The model input as far as it is known (from the graph or the card). */
export interface ModelInput {
  channels?: number;
  height?: number;
  width?: number;
}

/** A model card's preprocessing section (fixtures/zoo/*.json), as far as it is read here. */
export interface ModelCard {
  preprocessing?: {
    mean?: number | number[];
    std?: number | number[];
    scale?: number | string;
    size?: number | [number, number];
    resize?: number | [number, number];
    crop?: number | [number, number];
    interpolation?: string;
    channel_order?: string;
    channelOrder?: string;
  };
  input?: { shape?: (number | string)[] };
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
/** torchvision's evaluation ratio crop/resize (224/256). */
const CROP_RATIO = 0.875;

function pair(v: number | [number, number], what: string): [number, number] {
  const p: [number, number] = typeof v === "number" ? [v, v] : [v[0], v[1]];
  if (!p.every((n) => Number.isInteger(n) && n >= 1)) throw new RangeError(`invalid ${what}: ${v}`);
  return p;
}

function list(v: number | number[] | undefined, what: string, file: string): number[] | undefined {
  if (v === undefined) return undefined;
  const out = typeof v === "number" ? [v] : v;
  if (!Array.isArray(out) || out.length === 0 || !out.every((n) => typeof n === "number" && Number.isFinite(n))) {
    throw new InputError(file, `preprocessing.${what} must be a number or a list of numbers`);
  }
  return out;
}

/**
 * Resolves the preprocessing of one model: a preset, then the model card, then overrides
 * (flags). Presets: `imagenet` (mean 0.485,0.456,0.406, std 0.229,0.224,0.225), `inception`
 * (mean = std = 0.5: [-1, 1]), both bilinear, crop = model input size (224 when unknown),
 * resize = round(crop / 0.875) (torchvision's 256 → 224); `none` (only scaling to [0, 1]);
 * `card` (the card's mean/std/size; crop and resize to the card's input size).
 *
 * @example resolvePreprocess("imagenet", undefined, {}, { channels: 3, height: 224, width: 224 }) // resize 256, crop [224, 224]
 */
export function resolvePreprocess(
  preset: PreprocessOptions["preset"],
  card?: ModelCard,
  overrides: PreprocessOverrides = {},
  input: ModelInput = {},
  cardFile = "model card",
): PreprocessOptions {
  const shape = card?.input?.shape;
  const num = (v: unknown) => (typeof v === "number" && v > 0 ? v : undefined);
  const channelsIn = input.channels ?? num(shape?.[1]);
  const channels: 1 | 3 = channelsIn === 1 ? 1 : 3;
  if (channelsIn !== undefined && channelsIn !== 1 && channelsIn !== 3) throw new RangeError(`invalid model channels: ${channelsIn} (expected 1 or 3)`);
  const height = input.height ?? num(shape?.[2]);
  const width = input.width ?? num(shape?.[3]);
  const size: [number, number] = [height ?? 224, width ?? height ?? 224];
  const grey = (v: number[]) => (channels === 1 ? [v.reduce((a, b) => a + b, 0) / v.length] : v);
  let out: PreprocessOptions;
  switch (preset) {
    case "imagenet":
    case "inception": {
      const mean = preset === "imagenet" ? IMAGENET_MEAN : [0.5, 0.5, 0.5];
      const std = preset === "imagenet" ? IMAGENET_STD : [0.5, 0.5, 0.5];
      // A grey model with the ImageNet preset: the mean over channels (torchvision has no convention).
      out = { preset, channels, resize: Math.round(Math.min(...size) / CROP_RATIO), interpolation: "bilinear", crop: size, scale: "auto", mean: grey(mean), std: grey(std), channelOrder: "RGB" };
      break;
    }
    case "none":
      out = { preset, channels, resize: null, interpolation: "bilinear", crop: null, scale: "auto", mean: [0], std: [1], channelOrder: "RGB" };
      break;
    case "card": {
      const p = card?.preprocessing;
      if (p === undefined) throw new InputError(cardFile, "no preprocessing section in the model card");
      const mean = list(p.mean, "mean", cardFile);
      const std = list(p.std, "std", cardFile);
      if (mean === undefined || std === undefined) throw new InputError(cardFile, "preprocessing needs mean and std");
      const cardSize = p.size !== undefined ? pair(p.size, "card size") : height !== undefined ? size : undefined;
      const crop = p.crop !== undefined ? pair(p.crop, "card crop") : cardSize ?? null;
      const resize = p.resize !== undefined ? p.resize : crop ? Math.min(...crop) : null;
      let scale: number | "auto" = "auto";
      if (typeof p.scale === "number") scale = p.scale;
      else if (typeof p.scale === "string" && /\/\s*255\b/.test(p.scale)) scale = 255;
      const interpolation = (p.interpolation ?? "bilinear").toLowerCase();
      if (interpolation !== "bilinear" && interpolation !== "bicubic") throw new InputError(cardFile, `unsupported interpolation: ${p.interpolation}`);
      const order = (p.channel_order ?? p.channelOrder ?? "RGB").toUpperCase();
      if (order !== "RGB" && order !== "BGR") throw new InputError(cardFile, `unsupported channel order: ${order}`);
      out = { preset, channels, resize, interpolation, crop, scale, mean, std, channelOrder: order };
      break;
    }
    default:
      throw new RangeError(`invalid preprocess preset: ${preset}`);
  }
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    if (k === "crop") out.crop = v === null ? null : pair(v as number | [number, number], "crop");
    else (out as unknown as Record<string, unknown>)[k] = v;
  }
  return checkPreprocess(out);
}

/** Validates options, throwing a RangeError that names the bad value. */
export function checkPreprocess(o: PreprocessOptions): PreprocessOptions {
  if (o.channels !== 1 && o.channels !== 3) throw new RangeError(`invalid channels: ${o.channels}`);
  if (o.resize !== null) pair(o.resize, "resize");
  if (o.crop !== null) pair(o.crop, "crop");
  if (o.interpolation !== "bilinear" && o.interpolation !== "bicubic") throw new RangeError(`invalid interpolation: ${o.interpolation}`);
  if (o.scale !== "auto" && !(typeof o.scale === "number" && o.scale > 0)) throw new RangeError(`invalid scale: ${o.scale}`);
  for (const [name, v] of [["mean", o.mean], ["std", o.std]] as const) {
    if (!Array.isArray(v) || (v.length !== 1 && v.length !== o.channels) || !v.every(Number.isFinite)) {
      throw new RangeError(`invalid ${name}: ${v} (need 1 or ${o.channels} values)`);
    }
  }
  if (o.std.some((s) => s === 0)) throw new RangeError(`invalid std: ${o.std}`);
  if (o.channelOrder !== "RGB" && o.channelOrder !== "BGR") throw new RangeError(`invalid channel order: ${o.channelOrder}`);
  return o;
}

/**
 * Reads the model card next to a model: `<model>.json`, else `<model>.card.json`
 * (`<model>` is the path without `.onnx`). Returns undefined when there is none.
 *
 * @example const found = await modelCard("fixtures/zoo/vit-tiny.onnx") // {file: "fixtures/zoo/vit-tiny.json", card}
 */
export async function modelCard(modelPath: string): Promise<{ file: string; card: ModelCard } | undefined> {
  const base = modelPath.replace(/\.onnx$/i, "");
  for (const file of [`${base}.json`, `${base}.card.json`]) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw new InputError(file, fileProblem(e));
    }
    try {
      return { file, card: JSON.parse(text) as ModelCard };
    } catch (e) {
      throw new InputError(file, `invalid JSON: ${(e as Error).message}`);
    }
  }
  return undefined;
}

/** The output height and width of preprocessing, or undefined when it depends on the image. */
export function preprocessSize(o: PreprocessOptions): [number, number] | undefined {
  if (o.crop) return o.crop;
  if (Array.isArray(o.resize)) return o.resize;
  return undefined;
}

/** torchvision's `Resize(n)` output size for an image (shorter side n, longer truncated). */
export function resizedSize(height: number, width: number, resize: number | [number, number]): [number, number] {
  if (Array.isArray(resize)) return resize;
  return width <= height ? [Math.trunc((resize * height) / width), resize] : [resize, Math.trunc((resize * width) / height)];
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision's `CenterCrop` on an HWC image: zero-pad when the crop is larger, then crop. */
function centerCrop<A extends Uint8Array | Float32Array>(img: RawImage & { data: A }, ch: number, cw: number): RawImage & { data: A } {
  let { data, height, width } = img;
  const c = img.channels;
  if (cw > width || ch > height) {
    const left = cw > width ? Math.floor((cw - width) / 2) : 0;
    const top = ch > height ? Math.floor((ch - height) / 2) : 0;
    const w = Math.max(cw, width);
    const h = Math.max(ch, height);
    const padded = like(data, h * w * c);
    for (let y = 0; y < height; y++) padded.set(data.subarray(y * width * c, (y + 1) * width * c) as A, ((y + top) * w + left) * c);
    data = padded;
    height = h;
    width = w;
  }
  if (ch === height && cw === width) return { ...img, data, height, width };
  const top = roundHalfEven((height - ch) / 2);
  const left = roundHalfEven((width - cw) / 2);
  const out = like(data, ch * cw * c);
  for (let y = 0; y < ch; y++) out.set(data.subarray(((y + top) * width + left) * c, ((y + top) * width + left + cw) * c) as A, y * cw * c);
  return { ...img, data: out, height: ch, width: cw };
}

/**
 * Converts between grey and RGB: grey → RGB copies the channel (PIL `convert("RGB")`);
 * RGB → grey is ITU-R 601-2 luma as PIL `convert("L")` (8-bit: L = (19595 R + 38470 G + 7471 B
 * + 0x8000) >> 16; float: 0.299 R + 0.587 G + 0.114 B).
 *
 * @example channelsTo(rgbImage, 1) // grey image, same height and width
 */
export function channelsTo(img: RawImage, channels: 1 | 3): RawImage {
  if (img.channels === channels) return img;
  const n = img.height * img.width;
  const src = img.data;
  if (img.channels === 1 && channels === 3) {
    const out = like(src, n * 3);
    for (let p = 0; p < n; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[p];
    return { ...img, data: out, channels: 3 };
  }
  if (img.channels === 3 && channels === 1) {
    if (src instanceof Uint8Array) {
      const out = new Uint8Array(n);
      for (let p = 0; p < n; p++) out[p] = (src[3 * p] * 19595 + src[3 * p + 1] * 38470 + src[3 * p + 2] * 7471 + 0x8000) >>> 16;
      return { ...img, data: out, channels: 1 };
    }
    const out = new Float32Array(n);
    for (let p = 0; p < n; p++) out[p] = 0.299 * src[3 * p] + 0.587 * src[3 * p + 1] + 0.114 * src[3 * p + 2];
    return { ...img, data: out, channels: 1 };
  }
  throw new RangeError(`invalid channel conversion: ${img.channels} → ${channels}`);
}

/**
 * Preprocesses one image into `out` (CHW float32) at `offset`, or into a new array.
 * Steps in torchvision's order: channel conversion, resize, centre crop, scale, normalise
 * (in float32, as torch: (fround(x / scale) − mean) / std), channel order, HWC → CHW.
 * Throws a RangeError if the result does not fit the expected size (`expect` [h, w]).
 *
 * @example const chw = preprocess(img, resolvePreprocess("imagenet")) // Float32Array(3 * 224 * 224)
 */
export function preprocess(image: RawImage, o: PreprocessOptions, out?: Float32Array, offset = 0, expect?: [number, number]): { data: Float32Array; shape: [number, number, number] } {
  let img = channelsTo(image, o.channels);
  if (o.resize !== null) {
    const [h, w] = resizedSize(img.height, img.width, o.resize);
    if (h !== img.height || w !== img.width) img = { ...img, data: resample(img.data, img.height, img.width, img.channels, h, w, o.interpolation), height: h, width: w };
  }
  if (o.crop !== null) img = centerCrop(img, o.crop[0], o.crop[1]);
  const { height, width, channels } = img;
  if (expect && (expect[0] !== height || expect[1] !== width)) {
    throw new RangeError(`image of ${image.height}×${image.width} preprocesses to ${height}×${width}, not ${expect[0]}×${expect[1]}`);
  }
  const plane = height * width;
  const data = out ?? new Float32Array(channels * plane);
  if (data.length < offset + channels * plane) throw new RangeError(`invalid output: ${data.length} elements for offset ${offset} + ${channels * plane}`);
  const scale = o.scale === "auto" ? (img.data instanceof Uint8Array ? 255 : 1) : o.scale;
  const f = Math.fround;
  const scale32 = f(scale);
  const src = img.data;
  for (let c = 0; c < channels; c++) {
    const m = f(o.mean.length === 1 ? o.mean[0] : o.mean[c]);
    const s = f(o.std.length === 1 ? o.std[0] : o.std[c]);
    const target = offset + (o.channelOrder === "BGR" ? channels - 1 - c : c) * plane;
    for (let p = 0; p < plane; p++) data[target + p] = f(f(src[p * channels + c] / scale32) - m) / s;
  }
  return { data: out ? data.subarray(offset, offset + channels * plane) : data, shape: [channels, height, width] };
}

/** Options of {@link modelPreprocess}. */
export interface ModelPreprocessOptions {
  /** Preset; undefined: the model card when there is one with a preprocessing section, else imagenet. */
  preset?: PreprocessOptions["preset"];
  overrides?: PreprocessOverrides;
  /** The model input as the graph declares it (numeric dims only). */
  input?: ModelInput;
}

/**
 * The preprocessing of the model at `modelPath`, resolved as the CLI's `--preprocess` documents:
 * an explicit preset, else the model card next to the model, else `imagenet`; then overrides.
 * Throws InputError naming the model when `card` is asked for and there is no card.
 *
 * @example const opts = await modelPreprocess("fixtures/zoo/vit-tiny.onnx", { input: { channels: 1, height: 28, width: 28 } })
 */
export async function modelPreprocess(modelPath: string, options: ModelPreprocessOptions = {}): Promise<PreprocessOptions> {
  const found = await modelCard(modelPath);
  let preset = options.preset;
  if (preset === undefined) preset = found?.card.preprocessing ? "card" : "imagenet";
  if (preset === "card" && found === undefined) {
    const base = modelPath.replace(/\.onnx$/i, "");
    throw new InputError(modelPath, `no model card next to the model (${base}.json or ${base}.card.json)`);
  }
  return resolvePreprocess(preset, found?.card, options.overrides, options.input, found?.file);
}

/** A zeroed array of the same element type (a Node Buffer gives a plain Uint8Array, not `new Buffer`). */
function like<A extends Uint8Array | Float32Array>(data: A, n: number): A {
  return (data instanceof Float32Array ? new Float32Array(n) : new Uint8Array(n)) as A;
}
