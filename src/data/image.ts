/**
 * Decoding one image file with sharp (libvips) into 8-bit HWC pixels.
 */
import { readFile } from "node:fs/promises";
import sharp from "sharp";
import { InputError } from "../errors.js";
import { fileProblem } from "./npy.js";
import type { RawImage } from "./types.js";
import { imageMemory } from "../limits.js";

/**
 * File extensions of images, as torchvision's `IMG_EXTENSIONS` (so an ImageFolder lists the
 * same files, in the same order, as torchvision), plus `.gif` and `.avif`, which sharp decodes.
 * sharp's libvips has no BMP loader: a `.bmp` is listed and fails with an InputError when read.
 */
export const IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif", ".avif"];

/** Whether a file name has an image extension (case-insensitive, like torchvision). */
export function isImageFile(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Decodes an image file to 8-bit pixels, HWC, keeping 1 (grey) or 3 (RGB) channels.
 *
 * Parity with torchvision's PIL loader (`Image.open(f).convert("RGB")`): the alpha channel is
 * dropped without compositing, EXIF orientation is not applied, and an embedded ICC profile is
 * not applied (PIL ignores it; `keepIccProfile` stops sharp's default conversion to sRGB).
 * Grey images keep one channel; preprocessing converts grey↔RGB for the model. Only the first
 * frame of an animation is read. 16-bit images are reduced to 8 bits by libvips (PIL clips
 * 16-bit grey instead; such files differ from torchvision).
 *
 * @example const img = await decodeImage("data/cat/001.jpg") // {height, width, channels: 3, layout: "HWC", data}
 */
export async function decodeImage(file: string): Promise<RawImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new InputError(file, fileProblem(e));
  }
  if (bytes.length === 0) throw new InputError(file, "empty file (0 bytes)");
  try {
    const image = sharp(bytes, { failOn: "error", pages: 1, limitInputPixels: false });
    const meta = await image.metadata();
    // From the header only: a decompression bomb is refused before libvips allocates its pixels
    // (by --max-memory, src/limits.ts, in place of sharp's fixed pixel limit).
    imageMemory(file, meta);
    const colour = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0);
    // sharp would expand grey to 3 channels on raw output; keep it grey (PIL mode "L").
    if (colour === 1) image.toColourspace("b-w");
    const { data, info } = await image.keepIccProfile().removeAlpha().raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) {
      throw new Error(`unsupported channel count ${info.channels}`);
    }
    return {
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      height: info.height,
      width: info.width,
      channels: info.channels,
      layout: "HWC",
    };
  } catch (e) {
    if (e instanceof InputError) throw e;
    const message = e instanceof Error ? e.message : String(e);
    throw new InputError(file, `cannot decode image: ${message.split("\n")[0].trim()}`);
  }
}
