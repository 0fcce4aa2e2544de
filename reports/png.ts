/**
 * Minimal PNG encoder (8-bit RGBA, no filtering) for server-side rasters: jsdom has no canvas.
 */
import { deflateSync } from "node:zlib";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, "latin1");
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/**
 * PNG bytes of a width × height RGBA image (row-major, 4 bytes per pixel).
 * @example png(1, 1, new Uint8ClampedArray([255, 0, 0, 255])) // a red pixel
 */
export function png(width: number, height: number, rgba: ArrayLike<number>): Buffer {
  if (!Number.isInteger(width) || width < 1) throw new RangeError(`invalid width: ${width}`);
  if (!Number.isInteger(height) || height < 1) throw new RangeError(`invalid height: ${height}`);
  if (rgba.length !== width * height * 4) throw new RangeError(`invalid rgba length: ${rgba.length} for ${width}×${height}`);
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 4 + 1);
    raw[row] = 0; // filter type None
    for (let i = 0; i < width * 4; i++) raw[row + 1 + i] = rgba[y * width * 4 + i];
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit, RGBA, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/**
 * PNG as a data: URL.
 * @example pngDataURL(1, 1, [0, 0, 0, 255]) // "data:image/png;base64,iVBOR..."
 */
export function pngDataURL(width: number, height: number, rgba: ArrayLike<number>): string {
  return `data:image/png;base64,${png(width, height, rgba).toString("base64")}`;
}
