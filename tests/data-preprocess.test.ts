import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeImage } from "../src/data/image.js";
import { openNpy } from "../src/data/array.js";
import { readNpy } from "../src/data/npy.js";
import { channelsTo, checkPreprocess, modelCard, modelPreprocess, preprocess, resizedSize, resolvePreprocess, type PreprocessOptions } from "../src/data/preprocess.js";
import { resample, type Interpolation } from "../src/data/resize.js";

const DIR = "fixtures/data-tests";
/** The shape of fixtures/zoo/*.json cards (fixtures/zoo/train.py), trimmed. */
const ZOO_CARD = {
  name: "vit-tiny",
  input: { name: "input", shape: ["batch", 1, 28, 28], dtype: "float32" },
  preprocessing: { scale: "pixel / 255", mean: [0.286], std: [0.353], formula: "(pixel/255 - mean) / std" },
};
const ref = async (name: string) => readNpy(join(DIR, "refs", name));

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe("decodeImage", () => {
  // PNG and lossless WebP are exact by construction. JPEG: sharp's libjpeg-turbo (mozjpeg build)
  // and PIL's libjpeg62-turbo both default to the islow IDCT with fancy upsampling; they agree
  // exactly on these files (asserted, so a decoder change shows up here).
  for (const [name, rel] of [
    ["z1", "folder/Zebra/z1.png"],
    ["a1", "folder/ant/a1.webp"],
    ["a2", "folder/ant/a2.png"],
    ["z2", "folder/Zebra/sub/z2.jpg"],
    ["b1", "folder/bee/b1.jpg"],
    ["img1", "flat/img1.jpg"],
    ["exif_rot6", "misc/exif_rot6.jpg"],
    ["icc_srgb", "misc/icc_srgb.png"],
    ["rgba", "misc/rgba.png"],
    ["grey_alpha", "misc/grey_alpha.png"],
    ["palette_trns", "misc/palette_trns.png"],
  ]) {
    it(`decodeImage(${rel}) equals PIL's pixels`, async () => {
      const img = await decodeImage(join(DIR, rel));
      const r = await ref(`decode_${name}.npy`);
      expect([img.height, img.width, img.channels]).toEqual([r.shape[0], r.shape[1], r.shape[2] ?? 1]);
      expect(maxAbsDiff(img.data, r.data as Uint8Array)).toBe(0);
    });
  }
});

describe("resample", () => {
  const cases: [string, string, number, number, Interpolation][] = [
    ["b1_bilinear_85x64", "folder/bee/b1.jpg", 64, 85, "bilinear"],
    ["b1_bicubic_37x29", "folder/bee/b1.jpg", 29, 37, "bicubic"],
    ["z1_bilinear_100x70", "folder/Zebra/z1.png", 70, 100, "bilinear"],
    ["z1_bicubic_53x20", "folder/Zebra/z1.png", 20, 53, "bicubic"],
    ["a2_bilinear_11x40", "folder/ant/a2.png", 40, 11, "bilinear"],
  ];
  for (const [name, rel, h, w, interp] of cases) {
    it(`resample matches PIL Image.resize exactly: ${name}`, async () => {
      const img = await decodeImage(join(DIR, rel));
      const out = resample(img.data as Uint8Array, img.height, img.width, img.channels, h, w, interp);
      const r = await ref(`resize_${name}.npy`);
      expect(r.shape.slice(0, 2)).toEqual([h, w]);
      expect(maxAbsDiff(out, r.data as Uint8Array)).toBe(0);
    });
  }

  it("resample of float32 matches PIL mode F to float32 rounding", async () => {
    const src = await openNpy(join(DIR, "arrays/nchw_f32.npy"));
    const img = await src.readOne(1);
    const out = resample(img.data as Float32Array, 12, 10, 3, 9, 7, "bilinear");
    const r = await ref("resize_f32_bilinear_7x9.npy"); // [3, 9, 7]
    let m = 0;
    for (let c = 0; c < 3; c++) for (let p = 0; p < 63; p++) m = Math.max(m, Math.abs(out[p * 3 + c] - (r.data as Float32Array)[c * 63 + p]));
    // Same double accumulation and float32 stores as Pillow: identical bits expected.
    expect(m).toBe(0);
  });

  it("resample rejects a zero size", () => {
    expect(() => resample(new Uint8Array(4), 2, 2, 1, 0, 2)).toThrow(/invalid resize: 0×2/);
  });
});

describe("preprocess", () => {
  it("preprocess matches torchvision Resize/CenterCrop/ToTensor/Normalize bit for bit", async () => {
    const settings = JSON.parse(await readFile(join(DIR, "refs/preprocess.json"), "utf8")) as Record<string, Record<string, unknown>>;
    const names = Object.keys(settings).filter((n) => n !== "f32_array_8");
    expect(names.length).toBe(7);
    for (const name of names) {
      const s = settings[name];
      const opts = resolvePreprocess("none", undefined, {
        channels: (s.channels as 1 | 3) ?? 3,
        resize: s.resize as number | [number, number],
        crop: s.crop as number,
        interpolation: (s.interpolation as Interpolation) ?? "bilinear",
        mean: s.mean as number[],
        std: s.std as number[],
        channelOrder: (s.channelOrder as "RGB" | "BGR") ?? "RGB",
      });
      const img = await decodeImage(join(DIR, s.file as string));
      const { data, shape } = preprocess(img, opts);
      const r = await ref(`pre_${name}.npy`);
      expect(shape, name).toEqual(r.shape);
      // float32 arithmetic in the same order as torch (x/255, −mean, /std): exact.
      expect(maxAbsDiff(data, r.data as Float32Array), name).toBe(0);
    }
  });

  it("preprocess of a float32 array matches PIL mode F + torchvision Normalize", async () => {
    const src = await openNpy(join(DIR, "arrays/nchw_f32.npy"));
    const opts = resolvePreprocess("imagenet", undefined, { resize: 8, crop: 8 });
    const { data, shape } = preprocess(await src.readOne(2), opts);
    const r = await ref("pre_f32_array_8.npy");
    expect(shape).toEqual([3, 8, 8]);
    expect(maxAbsDiff(data, r.data as Float32Array)).toBe(0);
  });

  it("preprocess writes into a batch buffer at an offset", async () => {
    const img = await decodeImage(join(DIR, "folder/Zebra/z1.png"));
    const opts = resolvePreprocess("imagenet", undefined, {}, { channels: 3, height: 28, width: 28 });
    const buf = new Float32Array(2 * 3 * 28 * 28).fill(7);
    preprocess(img, opts, buf, 3 * 28 * 28);
    expect(buf[0]).toBe(7);
    expect(Array.from(buf.subarray(3 * 28 * 28))).toEqual(Array.from(preprocess(img, opts).data));
  });

  it("channelsTo converts RGB to grey with PIL's fixed-point luma", () => {
    const img = { data: Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]), height: 1, width: 4, channels: 3, layout: "HWC" as const };
    // PIL: Image.new("RGB", ...).convert("L") gives 76, 150, 29 for pure R, G, B; (10, 20, 30) gives 18.
    expect(Array.from(channelsTo(img, 1).data)).toEqual([76, 150, 29, 18]);
  });

  it("resizedSize follows torchvision (shorter side, longer truncated)", () => {
    expect(resizedSize(192, 256, 64)).toEqual([64, 85]);
    expect(resizedSize(375, 500, 256)).toEqual([256, 341]);
    expect(resizedSize(500, 375, 256)).toEqual([341, 256]);
    expect(resizedSize(10, 10, [3, 4])).toEqual([3, 4]);
  });
});

describe("resolvePreprocess", () => {
  it("resolvePreprocess('imagenet') is Resize(256) CenterCrop(224) with ImageNet statistics", () => {
    const o = resolvePreprocess("imagenet", undefined, {}, { channels: 3, height: 224, width: 224 });
    expect(o).toEqual({
      preset: "imagenet", channels: 3, resize: 256, interpolation: "bilinear", crop: [224, 224], scale: "auto",
      mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channelOrder: "RGB",
    } satisfies PreprocessOptions);
  });

  it("resolvePreprocess('inception') maps to [-1, 1]", () => {
    const o = resolvePreprocess("inception");
    expect([o.mean, o.std, o.crop]).toEqual([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [224, 224]]);
  });

  it("resolvePreprocess applies overrides over the preset", () => {
    const o = resolvePreprocess("imagenet", undefined, { resize: 300, crop: 288, mean: [0, 0, 0], std: undefined });
    expect([o.resize, o.crop, o.mean, o.std]).toEqual([300, [288, 288], [0, 0, 0], [0.229, 0.224, 0.225]]);
  });

  it("resolvePreprocess('card') reads a zoo-style card", () => {
    const o = resolvePreprocess("card", ZOO_CARD);
    expect(o).toMatchObject({ preset: "card", channels: 1, resize: 28, crop: [28, 28], scale: 255, mean: [0.286], std: [0.353] });
  });

  it("resolvePreprocess rejects bad values naming them", () => {
    expect(() => resolvePreprocess("imagenet", undefined, { mean: [0.5, 0.5] })).toThrow(/invalid mean: 0.5,0.5/);
    expect(() => resolvePreprocess("imagenet", undefined, { std: [1, 0, 1] })).toThrow(/invalid std/);
    expect(() => resolvePreprocess("card", {}, {}, {}, "m.json")).toThrow(/m.json: no preprocessing section/);
    expect(() => checkPreprocess({ ...resolvePreprocess("none"), interpolation: "nearest" as Interpolation })).toThrow(/invalid interpolation: nearest/);
  });

  it("modelCard finds <model>.json, else <model>.card.json, or nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "seelike-card-"));
    try {
      expect(await modelCard(join(dir, "m.onnx"))).toBeUndefined();
      await writeFile(join(dir, "m.card.json"), JSON.stringify({ preprocessing: { mean: 0.5, std: 0.25 } }));
      expect((await modelCard(join(dir, "m.onnx")))?.file).toBe(join(dir, "m.card.json"));
      await writeFile(join(dir, "m.json"), JSON.stringify(ZOO_CARD));
      expect((await modelCard(join(dir, "m.onnx")))?.file).toBe(join(dir, "m.json"));
      await writeFile(join(dir, "bad.json"), "{");
      await expect(modelCard(join(dir, "bad.onnx"))).rejects.toThrow(new RegExp(`^${join(dir, "bad.json")}: invalid JSON`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("modelPreprocess reads the zoo's real cards (fixtures/zoo/*.json)", async () => {
    const { readdir } = await import("node:fs/promises");
    const cards = (await readdir("fixtures/zoo")).filter((f) => f.endsWith(".json"));
    expect(cards.length).toBeGreaterThan(0);
    for (const f of cards) {
      const card = JSON.parse(await readFile(join("fixtures/zoo", f), "utf8"));
      const o = await modelPreprocess(join("fixtures/zoo", f.replace(/\.json$/, ".onnx")));
      expect(o, f).toMatchObject({ preset: "card", channels: 1, resize: 28, crop: [28, 28], scale: 255 });
      expect(o.mean, f).toEqual(card.preprocessing.mean);
      expect(o.std, f).toEqual(card.preprocessing.std);
    }
  });

  it("modelPreprocess uses the card by default, imagenet without one, and names a missing card", async () => {
    const dir = await mkdtemp(join(tmpdir(), "seelike-card-"));
    try {
      await writeFile(join(dir, "zoo.json"), JSON.stringify(ZOO_CARD));
      const o = await modelPreprocess(join(dir, "zoo.onnx"));
      expect(o).toMatchObject({ preset: "card", channels: 1, resize: 28, crop: [28, 28], mean: [0.286], std: [0.353] });
      expect((await modelPreprocess(join(dir, "zoo.onnx"), { preset: "inception" })).mean).toEqual([0.5]);
      expect((await modelPreprocess(join(dir, "other.onnx"), { input: { channels: 3, height: 32, width: 32 } })).crop).toEqual([32, 32]);
      await expect(modelPreprocess(join(dir, "other.onnx"), { preset: "card" })).rejects.toThrow(
        `${join(dir, "other.onnx")}: no model card next to the model (${join(dir, "other")}.json or ${join(dir, "other")}.card.json)`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
