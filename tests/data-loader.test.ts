import { existsSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../src/errors.js";
import { batches, type Batch, type SkippedSample } from "../src/data/loader.js";
import { readNpy } from "../src/data/npy.js";
import { openData } from "../src/data/open.js";
import { resolvePreprocess } from "../src/data/preprocess.js";
import { sampleIndices } from "../src/data/sampling.js";
import type { DataSource, RawImage } from "../src/data/types.js";

const DIR = "fixtures/data-tests";
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "seelike-loader-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function all(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** A source of n grey 2×2 images whose pixels are their index, counting reads in flight. */
function countingSource(n: number, delayMs = 5) {
  const stats = { inFlight: 0, maxInFlight: 0, started: 0 };
  const readOne = async (i: number): Promise<RawImage> => {
    stats.started++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    await new Promise((r) => setTimeout(r, delayMs));
    stats.inFlight--;
    return { data: new Uint8Array(4).fill(i), height: 2, width: 2, channels: 1, layout: "HWC" };
  };
  const source: DataSource = {
    kind: "npy",
    path: "mem",
    size: n,
    ids: Array.from({ length: n }, (_, i) => `idx:${i}`),
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
    file: () => "mem",
    readOne,
    read: (ix) => Promise.all(ix.map(readOne)),
  };
  return { source, stats };
}

describe("batches", () => {
  // Debian's dataset-fashion-mnist (.ci/run installs it).
  it.skipIf(!existsSync("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))("batches of Fashion-MNIST IDX with card preprocessing equal (x/255 − mean)/std of numpy's pixels", async () => {
    const src = await openData("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
    const card = { input: { shape: ["batch", 1, 28, 28] }, preprocessing: { scale: "pixel / 255", mean: [0.2860], std: [0.3530] } };
    const opts = resolvePreprocess("card", card);
    const got = await all(batches(src, { indices: [0, 1, 2, 3, 4, 5, 6, 7], batchSize: 3, preprocess: opts }));
    expect(got.map((b) => b.shape)).toEqual([[3, 1, 28, 28], [3, 1, 28, 28], [2, 1, 28, 28]]);
    expect(got.flatMap((b) => b.ids)).toEqual(["idx:0", "idx:1", "idx:2", "idx:3", "idx:4", "idx:5", "idx:6", "idx:7"]);
    const labels = await readNpy(join(DIR, "refs/fmnist_t10k_labels_first8.npy"));
    expect(got.flatMap((b) => Array.from(b.labels!))).toEqual(Array.from(labels.data as BigInt64Array, Number));
    const ref = (await readNpy(join(DIR, "refs/fmnist_t10k_first8.npy"))).data as Uint8Array;
    const input = new Float32Array(8 * 784);
    got.forEach((b, k) => input.set(b.input, k * 3 * 784));
    const f = Math.fround;
    let maxDiff = 0;
    for (let i = 0; i < ref.length; i++) maxDiff = Math.max(maxDiff, Math.abs(input[i] - f(f(f(ref[i] / 255) - f(0.286)) / f(0.353))));
    expect(maxDiff).toBe(0);
  });

  it("batches keep the sample order of the indices, across an RGB image folder with mixed formats", async () => {
    const src = await openData(join(DIR, "folder"));
    const opts = resolvePreprocess("imagenet", undefined, { resize: 16, crop: 16 });
    const order = sampleIndices(src.size, { seed: 3 });
    const got = await all(batches(src, { indices: order, batchSize: 4, preprocess: opts }));
    expect(got.flatMap((b) => b.indices)).toEqual(Array.from(order));
    expect(got.flatMap((b) => b.ids)).toEqual(Array.from(order, (i) => src.ids[i]));
    expect(got[0].shape).toEqual([4, 3, 16, 16]);
    expect(got[1].shape).toEqual([2, 3, 16, 16]);
    expect(got.every((b) => b.input.every(Number.isFinite))).toBe(true);
  });

  it("batches throw the InputError of an unreadable image, naming the file", async () => {
    const dir = join(tmp, "withbad");
    await mkdir(dir);
    for (const f of ["img1.jpg", "img2.png", "img10.png"]) await copyFile(join(DIR, "flat", f), join(dir, f));
    await copyFile(join(DIR, "bad/truncated.png"), join(dir, "img11.png"));
    await writeFile(join(dir, "img12.png"), "");
    const src = await openData(dir); // img1.jpg img10.png img11.png img12.png img2.png
    const opts = resolvePreprocess("none");
    const run = all(batches(src, { indices: [0, 1, 2, 3, 4], batchSize: 2, preprocess: opts }));
    await expect(run).rejects.toBeInstanceOf(InputError);
    await expect(all(batches(src, { indices: [0, 1, 2, 3, 4], batchSize: 2, preprocess: opts }))).rejects.toThrow(
      new RegExp(`^${join(dir, "img11.png")}: cannot decode image: `),
    );

    const skipped: SkippedSample[] = [];
    const got = await all(batches(src, { indices: [0, 1, 2, 3, 4], batchSize: 2, preprocess: opts, skipBad: true, skipped }));
    expect(got.map((b) => b.ids)).toEqual([["img1.jpg", "img10.png"], ["img2.png"]]);
    expect(skipped.map((s) => [s.id, s.index, s.file])).toEqual([["img11.png", 2, join(dir, "img11.png")], ["img12.png", 3, join(dir, "img12.png")]]);
    expect(skipped[1].problem).toBe("empty file (0 bytes)");
    expect(got[1].skipped.map((s) => s.id)).toEqual(["img11.png", "img12.png"]);
  });

  it("batches refuse images that preprocess to different sizes, naming the file", async () => {
    const src = await openData(join(DIR, "folder"));
    const opts = resolvePreprocess("none", undefined, { channels: 3 });
    await expect(all(batches(src, { indices: [0, 1], batchSize: 2, preprocess: opts }))).rejects.toThrow(
      `${join(DIR, "folder", "Zebra/sub/z2.jpg")}: preprocesses to 48×64, unlike the 37×53 of earlier images (set a resize and crop)`,
    );
  });

  it("batches decode at most `concurrency` images at once and prefetch the next batch", async () => {
    const { source, stats } = countingSource(20);
    const opts = resolvePreprocess("none", undefined, { channels: 1 });
    const it = batches(source, { indices: Array.from({ length: 20 }, (_, i) => i), batchSize: 5, preprocess: opts, concurrency: 2 });
    const first = await it.next();
    expect((first.value as Batch).ids).toEqual(["idx:0", "idx:1", "idx:2", "idx:3", "idx:4"]);
    // While the consumer works on batch 1, decoding of batch 2 goes on.
    await new Promise((r) => setTimeout(r, 60));
    expect(stats.started).toBeGreaterThanOrEqual(10);
    const rest: Batch[] = [];
    for (let r = await it.next(); !r.done; r = await it.next()) rest.push(r.value);
    expect(rest.length).toBe(3);
    expect(stats.maxInFlight).toBe(2);
    expect(Array.from(rest[2].input)).toEqual(Array.from({ length: 20 }, (_, k) => Math.fround(Math.floor(15 + k / 4) / 255)));
    expect(Array.from(rest[2].labels!)).toEqual([0, 1, 2, 0, 1]);
  });

  it("batches reject a bad batch size", async () => {
    const { source } = countingSource(2);
    await expect(all(batches(source, { indices: [0], batchSize: 0, preprocess: resolvePreprocess("none") }))).rejects.toThrow("invalid batch size: 0");
  });
});
