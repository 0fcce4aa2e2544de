import { existsSync } from "node:fs";
import { mkdtemp, mkdir, readFile, rm, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError, UsageError } from "../src/errors.js";
import { arrayLayout, openNpy } from "../src/data/array.js";
import { csvRows, openCsv } from "../src/data/csv.js";
import { openImageFolder } from "../src/data/folder.js";
import { decodeIdx, openIdx, readIdx } from "../src/data/idx.js";
import { decodeNpy, encodeNpy, readNpy, writeNpy } from "../src/data/npy.js";
import { openData } from "../src/data/open.js";
import { codePointOrder } from "../src/data/source.js";

const DIR = "fixtures/data-tests";
const FMNIST = "/usr/share/datasets/fashion-mnist";
// Debian's dataset-fashion-mnist (.ci/run installs it); without it the IDX tests skip visibly.
const hasFmnist = existsSync(join(FMNIST, "t10k-images-idx3-ubyte.gz"));
if (!hasFmnist) console.warn(`data-sources: IDX tests skipped, ${FMNIST} not found (apt-get install dataset-fashion-mnist to run them)`);
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "seelike-data-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** The single-line message of the InputError `p` rejects with. */
async function inputError(p: Promise<unknown>): Promise<InputError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(InputError);
  expect((e as Error).message).not.toContain("\n");
  return e as InputError;
}

describe("image folders", () => {
  it("openImageFolder reads an ImageFolder with torchvision's class and file order", async () => {
    const src = await openImageFolder(join(DIR, "folder"));
    expect(src.kind).toBe("image-folder");
    // torchvision's own listing, dumped by make_refs.py.
    const tv = JSON.parse(await readFile(join(DIR, "refs/imagefolder.json"), "utf8")) as { classes: string[]; samples: [string, number][] };
    expect(src.classes).toEqual(tv.classes);
    expect(src.ids).toEqual(tv.samples.map((s) => s[0]));
    expect(Array.from(src.labels!)).toEqual(tv.samples.map((s) => s[1]));
    // Python sorted(): "Zebra" < "ant" < "bee" by code point; "B0.png" < "b1.jpg"; notes.txt ignored.
    expect(src.ids).toEqual(["Zebra/z1.png", "Zebra/sub/z2.jpg", "ant/a1.webp", "ant/a2.png", "bee/B0.png", "bee/b1.jpg"]);
    const [a1, a2] = await src.read([2, 3]);
    expect([a1.height, a1.width, a1.channels, a1.layout]).toEqual([41, 50, 3, "HWC"]);
    expect([a2.height, a2.width, a2.channels]).toEqual([33, 29, 1]);
    expect(src.file(5)).toBe(join(DIR, "folder", "bee/b1.jpg"));
  });

  it("openImageFolder reads a flat folder sorted by name, without labels", async () => {
    const src = await openData(join(DIR, "flat"));
    expect(src.kind).toBe("flat-folder");
    expect(src.ids).toEqual(["img1.jpg", "img10.png", "img2.png"]);
    expect(src.labels).toBeUndefined();
    expect((await src.readOne(1)).data.length).toBe(16 * 16 * 3);
  });

  it("openImageFolder orders nested files like sorted(os.walk)", async () => {
    const root = join(tmp, "walk");
    const png = await readFile(join(DIR, "flat/img2.png"));
    for (const rel of ["c/x.png", "c/sub/y.png", "c/sub-a/z.png", "c/sub2/w.png", "c/a.png", "c/sub/deep/v.png"]) {
      await mkdir(join(root, rel, ".."), { recursive: true });
      await writeFile(join(root, rel), png);
    }
    const src = await openImageFolder(root);
    // torchvision ImageFolder on this tree (checked with torchvision 0.14): folders sort by their
    // whole path, so "c/sub-a" comes before "c/sub/deep" ("-" 0x2d < "/" 0x2f).
    expect(src.ids).toEqual(["c/a.png", "c/x.png", "c/sub/y.png", "c/sub-a/z.png", "c/sub/deep/v.png", "c/sub2/w.png"]);
  });

  it("openImageFolder follows symbolic links to folders and files, as torchvision", async () => {
    const { symlink } = await import("node:fs/promises");
    const real = join(tmp, "real/cls");
    await mkdir(real, { recursive: true });
    await copyFile(join(DIR, "flat/img2.png"), join(real, "a.png"));
    await symlink(join(real, "a.png"), join(real, "b.png"));
    await mkdir(join(tmp, "linktop"));
    await symlink(real, join(tmp, "linktop/linked"));
    const src = await openImageFolder(join(tmp, "linktop"));
    expect([src.classes, src.ids]).toEqual([["linked"], ["linked/a.png", "linked/b.png"]]);
  });

  it("codePointOrder sorts like Python, not like UTF-16", () => {
    expect(["b", "B", "a", "\u{1F600}", "\uFF5E"].sort(codePointOrder)).toEqual(["B", "a", "b", "\uFF5E", "\u{1F600}"]);
  });
});

describe.skipIf(!hasFmnist)("IDX", () => {
  it("openIdx reads the Fashion-MNIST test set (gzip) like numpy", async () => {
    const src = await openIdx(join(FMNIST, "t10k-images-idx3-ubyte.gz"), join(FMNIST, "t10k-labels-idx1-ubyte.gz"));
    expect(src.size).toBe(10000);
    expect(src.ids.slice(0, 2)).toEqual(["idx:0", "idx:1"]);
    const ref = await readNpy(join(DIR, "refs/fmnist_t10k_first8.npy"));
    const labels = await readNpy(join(DIR, "refs/fmnist_t10k_labels_first8.npy"));
    const imgs = await src.read([0, 1, 2, 3, 4, 5, 6, 7]);
    for (let i = 0; i < 8; i++) {
      expect([imgs[i].height, imgs[i].width, imgs[i].channels]).toEqual([28, 28, 1]);
      expect(Array.from(imgs[i].data)).toEqual(Array.from((ref.data as Uint8Array).subarray(i * 784, (i + 1) * 784)));
    }
    expect(Array.from(src.labels!.subarray(0, 8))).toEqual(Array.from(labels.data as BigInt64Array, Number));
  });

  it("openIdx reads raw (uncompressed) IDX, told apart by magic bytes", async () => {
    const { gunzipSync } = await import("node:zlib");
    const raw = gunzipSync(await readFile(join(FMNIST, "t10k-labels-idx1-ubyte.gz")));
    await writeFile(join(tmp, "labels.gz"), raw); // a misleading name: raw bytes
    const arr = await readIdx(join(tmp, "labels.gz"));
    expect(arr.shape).toEqual([10000]);
    const ref = await readNpy(join(DIR, "refs/fmnist_t10k_labels_first8.npy"));
    expect(Array.from(arr.data.subarray(0, 8))).toEqual(Array.from(ref.data as BigInt64Array, Number));
  });

  it("openData finds the labels next to IDX images by the MNIST naming", async () => {
    const src = await openData(join(FMNIST, "train-images-idx3-ubyte.gz"));
    expect(src.kind).toBe("idx");
    expect(src.size).toBe(60000);
    expect(src.labels?.length).toBe(60000);
  });

  it("openData reads the shipped probe set with its labels: rows of t10k at indices.json", async () => {
    const probe = await openData("fixtures/data/probe-images-idx3-ubyte.gz");
    const info = JSON.parse(await readFile("fixtures/data/indices.json", "utf8")) as { sets: { probe: { indices: number[]; class_counts: number[] } } };
    expect(probe.size).toBe(info.sets.probe.indices.length);
    const counts = new Array(10).fill(0);
    for (const l of probe.labels!) counts[l]++;
    expect(counts).toEqual(info.sets.probe.class_counts);
    const t10k = await openIdx(join(FMNIST, "t10k-images-idx3-ubyte.gz"), join(FMNIST, "t10k-labels-idx1-ubyte.gz"));
    for (const k of [0, 1, 999, probe.size - 1]) {
      const src = info.sets.probe.indices[k];
      expect(Array.from((await probe.readOne(k)).data)).toEqual(Array.from((await t10k.readOne(src)).data));
      expect(probe.labels![k]).toBe(t10k.labels![src]);
    }
  });

  it("decodeIdx reads big-endian int32 arrays", () => {
    const b = new Uint8Array([0, 0, 0x0c, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0]);
    const arr = decodeIdx(b, "x");
    expect(Array.from(arr.data)).toEqual([-2, 256]);
  });

  it("openIdx rejects a labels file of the wrong length", async () => {
    const e = await inputError(openIdx(join(FMNIST, "t10k-images-idx3-ubyte.gz"), join(DIR, "arrays/labels_short_i32.npy")));
    expect(e.message).toBe(`${join(DIR, "arrays/labels_short_i32.npy")}: has 3 labels but ${join(FMNIST, "t10k-images-idx3-ubyte.gz")} has 10000 images`);
  });
});

describe(".npy", () => {
  it("openNpy reads NHWC uint8, NCHW float32 and NHW grey arrays as HWC images", async () => {
    const nhwc = await readNpy(join(DIR, "arrays/nhwc_u8.npy"));
    expect([nhwc.dtype, nhwc.shape]).toEqual(["uint8", [4, 12, 10, 3]]);
    const a = await openNpy(join(DIR, "arrays/nhwc_u8.npy"), { labels: join(DIR, "arrays/labels_i64.npy") });
    const b = await openData(join(DIR, "arrays/nchw_f32.npy"), { labels: join(DIR, "arrays/labels_u8.npy") });
    const g = await openNpy(join(DIR, "arrays/nhw_u8.npy"));
    expect([a.size, b.size, g.size]).toEqual([4, 4, 4]);
    expect(Array.from(a.labels!)).toEqual([3, 1, 4, 1]);
    expect(Array.from(b.labels!)).toEqual([2, 7, 1, 8]);
    const ia = await a.readOne(3);
    const ib = await b.readOne(3);
    expect(ia.data).toBeInstanceOf(Uint8Array);
    expect(ib.data).toBeInstanceOf(Float32Array);
    expect([ib.height, ib.width, ib.channels]).toEqual([12, 10, 3]);
    // make_refs.py wrote nchw_f32 = transpose(nhwc) / 255 in float32.
    for (let i = 0; i < ia.data.length; i++) expect(ib.data[i]).toBe(Math.fround(ia.data[i] / 255));
    expect((await g.readOne(0)).channels).toBe(1);
    const off = (nhwc.data as Uint8Array).subarray(3 * 360, 4 * 360);
    expect(Array.from(ia.data)).toEqual(Array.from(off));
  });

  it("arrayLayout decides by which axis is 1 or 3", () => {
    expect(arrayLayout([5, 28, 28, 1])).toBe("NHWC");
    expect(arrayLayout([5, 3, 32, 32])).toBe("NCHW");
    expect(arrayLayout([5, 3, 32, 3])).toBeUndefined();
    expect(arrayLayout([5, 4, 32, 4])).toBeUndefined();
  });

  it("writeNpy round-trips every dtype through readNpy", async () => {
    const arrays = [
      new Float32Array([1.5, -0, NaN, 3.4e38]),
      new Float64Array([Math.PI, 5e-324, -Infinity, 0]),
      new Int32Array([-2147483648, 0, 1, 2147483647]),
      new BigInt64Array([-(2n ** 63n), 0n, 1n, 2n ** 62n]),
      new Uint8Array([0, 1, 254, 255]),
    ];
    for (const data of arrays) {
      const file = join(tmp, `rt-${data.constructor.name}.npy`);
      await writeNpy(file, data, [2, 2]);
      const back = await readNpy(file);
      expect(back.shape).toEqual([2, 2]);
      expect(Buffer.from(back.data.buffer).equals(Buffer.from(data.buffer))).toBe(true);
    }
  });

  it("encodeNpy writes the header numpy writes", async () => {
    // numpy's own bytes for np.array([3, 1, 4, 1], dtype=np.int64), saved by make_refs.py.
    const numpyBytes = await readFile(join(DIR, "arrays/labels_i64.npy"));
    const ours = encodeNpy(new BigInt64Array([3n, 1n, 4n, 1n]), [4]);
    expect(Buffer.from(ours).equals(numpyBytes)).toBe(true);
    expect(decodeNpy(ours).shape).toEqual([4]);
  });
});

describe("CSV manifests", () => {
  it("csvRows handles quotes, doubled quotes, CRLF and a BOM", () => {
    expect(csvRows('\uFEFFpath,label\r\n"a,b.png","x ""y"""\r\n\r\nc.png,1')).toEqual([["path", "label"], ["a,b.png", 'x "y"'], ["c.png", "1"]]);
  });

  it("openCsv reads paths relative to the CSV and names classes in code-point order", async () => {
    const src = await openCsv(join(DIR, "manifest.csv"));
    expect(src.kind).toBe("csv");
    expect(src.ids).toEqual(["folder/bee/b1.jpg", "folder/Zebra/z1.png", "folder/ant/a1.webp"]);
    expect(src.classes).toEqual(["Zebra", "ant", "bee"]);
    expect(Array.from(src.labels!)).toEqual([2, 0, 1]);
    const img = await src.readOne(1);
    expect([img.height, img.width]).toEqual([37, 53]);
  });

  it("openCsv keeps integer labels as given", async () => {
    await copyFile(join(DIR, "flat/img2.png"), join(tmp, "p.png"));
    await writeFile(join(tmp, "ints.csv"), "label,path\n7,p.png\n-1,p.png\n");
    const src = await openData(join(tmp, "ints.csv"));
    expect(Array.from(src.labels!)).toEqual([7, -1]);
    expect(src.classes).toBeUndefined();
  });
});

describe("bad inputs", () => {
  it("openData rejects a missing path", async () => {
    const e = await inputError(openData(join(DIR, "nope")));
    expect(e.message).toBe(`${join(DIR, "nope")}: no such file or directory`);
  });

  it("openData rejects an empty folder", async () => {
    await mkdir(join(tmp, "empty"));
    const e = await inputError(openData(join(tmp, "empty")));
    expect(e.message).toBe(`${join(tmp, "empty")}: no images found`);
  });

  it("openData rejects a folder whose class folders hold no images", async () => {
    await mkdir(join(tmp, "hollow/a"), { recursive: true });
    await writeFile(join(tmp, "hollow/a/readme.txt"), "x");
    expect((await inputError(openData(join(tmp, "hollow")))).problem).toMatch(/^no images found/);
  });

  it("openData rejects a folder mixing images and class folders", async () => {
    const e = await inputError(openData(join(DIR, "bad/mixed")));
    expect(e.problem).toMatch(/holds both images \(top\.png\) and sub-folders \(cls\)/);
  });

  for (const [name, problem] of [
    ["empty.png", /^empty file \(0 bytes\)$/],
    ["text.png", /^cannot decode image: .+/],
    ["truncated.png", /^cannot decode image: .+/],
  ] as const) {
    it(`decoding bad/${name} names the file`, async () => {
      const dir = join(tmp, `flat-${name}`);
      await mkdir(dir);
      await copyFile(join(DIR, "bad", name), join(dir, name));
      const src = await openData(dir);
      const e = await inputError(src.readOne(0));
      expect(e.file).toBe(join(dir, name));
      expect(e.problem).toMatch(problem);
    });
  }

  it("openData rejects .npy files with a bad header, Fortran order or float64 images", async () => {
    expect((await inputError(openData(join(DIR, "bad/bad_header.npy")))).message).toBe(`${join(DIR, "bad/bad_header.npy")}: not a .npy file (bad magic)`);
    expect((await inputError(openData(join(DIR, "bad/fortran.npy")))).problem).toMatch(/^Fortran-order .npy arrays are not supported/);
    expect((await inputError(openData(join(DIR, "bad/f64.npy")))).problem).toBe("image arrays must be uint8 or float32, got float64");
  });

  it("openNpy rejects labels of the wrong length and an ambiguous layout", async () => {
    const e = await inputError(openNpy(join(DIR, "arrays/nhwc_u8.npy"), { labels: join(DIR, "arrays/labels_short_i32.npy") }));
    expect(e.problem).toBe(`has 3 labels but ${join(DIR, "arrays/nhwc_u8.npy")} has 4 images`);
    await writeNpy(join(tmp, "amb.npy"), new Uint8Array(2 * 3 * 5 * 3), [2, 3, 5, 3]);
    expect((await inputError(openNpy(join(tmp, "amb.npy")))).problem).toMatch(/^cannot tell the channel axis of shape \[2,3,5,3\]/);
    expect((await openNpy(join(tmp, "amb.npy"), { layout: "NCHW" })).size).toBe(2);
  });

  it("openData rejects a 0-byte file", async () => {
    expect((await inputError(openData(join(DIR, "bad/empty.png")))).message).toBe(`${join(DIR, "bad/empty.png")}: empty file (0 bytes)`);
  });

  it("openData rejects a truncated .npy and an unknown format", async () => {
    const bytes = encodeNpy(new Uint8Array(2 * 4 * 4), [2, 4, 4]);
    await writeFile(join(tmp, "short.npy"), bytes.subarray(0, bytes.length - 1));
    expect((await inputError(openData(join(tmp, "short.npy")))).problem).toMatch(/^truncated .npy data/);
    await writeFile(join(tmp, "x.bin"), "hello");
    expect((await inputError(openData(join(tmp, "x.bin")))).problem).toMatch(/^unknown data format/);
  });

  it("openData rejects a truncated gzip and a truncated IDX, naming the file", async () => {
    const gz = await readFile("fixtures/data/probe-labels-idx1-ubyte.gz");
    await writeFile(join(tmp, "cut-idx1.gz"), gz.subarray(0, gz.length - 20));
    expect((await inputError(openData(join(tmp, "cut-idx1.gz")))).problem).toMatch(/^corrupt gzip stream: /);
    await writeFile(join(tmp, "cut-idx3"), new Uint8Array([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3]));
    expect((await inputError(openData(join(tmp, "cut-idx3")))).message).toBe(`${join(tmp, "cut-idx3")}: truncated IDX data: 19 bytes, expected 24 for shape [2,2,2]`);
  });

  it("openData refuses a labels file for an image folder", async () => {
    await expect(openData(join(DIR, "folder"), { labels: "x.npy" })).rejects.toBeInstanceOf(UsageError);
  });
});
