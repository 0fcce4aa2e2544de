/**
 * Pillow's separable resampling (Pillow 9.4 `src/libImaging/Resample.c`), reimplemented so that
 * `Resize` matches torchvision on PIL images pixel for pixel: the filter support grows with the
 * downscale factor (antialiasing), coefficients are normalised per output pixel, 8-bit images
 * use 22-bit fixed-point coefficients with rounding and clamping after each pass, and the
 * horizontal pass runs first. sharp's own resize (libvips reduce) differs from Pillow by up to a
 * few levels per pixel, hence this module.
 */

/** Resampling filters of Pillow's `Image.resize`. */
export type Interpolation = "bilinear" | "bicubic";

interface Filter {
  support: number;
  weight(x: number): number;
}

const FILTERS: Record<Interpolation, Filter> = {
  bilinear: {
    support: 1,
    weight(x) {
      x = Math.abs(x);
      return x < 1 ? 1 - x : 0;
    },
  },
  bicubic: {
    support: 2,
    // Keys cubic with a = -0.5, as Pillow.
    weight(x) {
      const a = -0.5;
      x = Math.abs(x);
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
};

const PRECISION_BITS = 32 - 8 - 2;

interface Coefficients {
  ksize: number;
  /** Per output pixel: first input pixel, number of input pixels. */
  bounds: Int32Array;
  /** outSize × ksize weights, normalised to sum 1 per output pixel. */
  weights: Float64Array;
}

/** Pillow's `precompute_coeffs` for the box [0, inSize). */
function coefficients(inSize: number, outSize: number, filter: Filter): Coefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C casts truncate toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    const k = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const w = filter.weight((x + xmin - center + 0.5) * ss);
      weights[k + x] = w;
      ww += w;
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) weights[k + x] /= ww;
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

/** Pillow's `normalize_coeffs_8bpc`: weights as 22-bit fixed point, rounded half away from zero. */
function fixedPoint(weights: Float64Array): Int32Array {
  const out = new Int32Array(weights.length);
  const one = 1 << PRECISION_BITS;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i];
    out[i] = w < 0 ? Math.trunc(-0.5 + w * one) : Math.trunc(0.5 + w * one);
  }
  return out;
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over rows [y0, y1) of an HWC image. */
function horizontal(src: Uint8Array | Float32Array, width: number, channels: number, y0: number, y1: number, outW: number, c: Coefficients): Uint8Array | Float32Array {
  const rows = y1 - y0;
  const { ksize, bounds, weights } = c;
  if (src instanceof Uint8Array) {
    const k = fixedPoint(weights);
    const out = new Uint8Array(rows * outW * channels);
    for (let y = 0; y < rows; y++) {
      const row = (y + y0) * width * channels;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx];
        const xmax = bounds[2 * xx + 1];
        const kk = xx * ksize;
        for (let ch = 0; ch < channels; ch++) {
          let ss = 1 << (PRECISION_BITS - 1);
          for (let x = 0; x < xmax; x++) ss += src[row + (x + xmin) * channels + ch] * k[kk + x];
          out[(y * outW + xx) * channels + ch] = clip8(ss);
        }
      }
    }
    return out;
  }
  const out = new Float32Array(rows * outW * channels);
  for (let y = 0; y < rows; y++) {
    const row = (y + y0) * width * channels;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[2 * xx];
      const xmax = bounds[2 * xx + 1];
      const kk = xx * ksize;
      for (let ch = 0; ch < channels; ch++) {
        let ss = 0;
        for (let x = 0; x < xmax; x++) ss += src[row + (x + xmin) * channels + ch] * weights[kk + x];
        out[(y * outW + xx) * channels + ch] = ss;
      }
    }
  }
  return out;
}

/** Vertical pass; `c.bounds` are relative to the first row of `src`. */
function vertical(src: Uint8Array | Float32Array, width: number, channels: number, outH: number, c: Coefficients, rowShift: number): Uint8Array | Float32Array {
  const { ksize, bounds, weights } = c;
  const stride = width * channels;
  if (src instanceof Uint8Array) {
    const k = fixedPoint(weights);
    const out = new Uint8Array(outH * stride);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[2 * yy] - rowShift;
      const ymax = bounds[2 * yy + 1];
      const kk = yy * ksize;
      for (let i = 0; i < stride; i++) {
        let ss = 1 << (PRECISION_BITS - 1);
        for (let y = 0; y < ymax; y++) ss += src[(y + ymin) * stride + i] * k[kk + y];
        out[yy * stride + i] = clip8(ss);
      }
    }
    return out;
  }
  const out = new Float32Array(outH * stride);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[2 * yy] - rowShift;
    const ymax = bounds[2 * yy + 1];
    const kk = yy * ksize;
    for (let i = 0; i < stride; i++) {
      let ss = 0;
      for (let y = 0; y < ymax; y++) ss += src[(y + ymin) * stride + i] * weights[kk + y];
      out[yy * stride + i] = ss;
    }
  }
  return out;
}

/**
 * Resizes an HWC image to outH × outW exactly as Pillow 9.4's `Image.resize((outW, outH), filter)`
 * (8-bit images as modes "L"/"RGB", float32 images as mode "F" per channel).
 *
 * @example const small = resample(pixels, 480, 640, 3, 256, 341, "bilinear") // Uint8Array(256 * 341 * 3)
 */
export function resample<A extends Uint8Array | Float32Array>(
  data: A,
  height: number,
  width: number,
  channels: number,
  outH: number,
  outW: number,
  interpolation: Interpolation = "bilinear",
): A {
  if (!(outH >= 1 && outW >= 1 && Number.isInteger(outH) && Number.isInteger(outW))) throw new RangeError(`invalid resize: ${outH}×${outW}`);
  const filter = FILTERS[interpolation];
  if (filter === undefined) throw new RangeError(`invalid interpolation: ${interpolation}`);
  if (outH === height && outW === width) return data.slice() as A;
  const vc = coefficients(height, outH, filter);
  let img: Uint8Array | Float32Array = data;
  let shift = 0;
  if (outW !== width) {
    // Only the rows the vertical pass reads (Pillow's ybox_first .. ybox_last).
    const first = vc.bounds[0];
    const last = vc.bounds[2 * outH - 2] + vc.bounds[2 * outH - 1];
    img = horizontal(data, width, channels, first, last, outW, coefficients(width, outW, filter));
    shift = first;
  }
  if (outH !== height) img = vertical(img, outW, channels, outH, vc, shift);
  return img as A;
}
