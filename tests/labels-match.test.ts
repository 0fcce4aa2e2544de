/**
 * Issue 14, item 8: labels that match. The shipped probe images (the first 10 of classes 0–3)
 * saved as ImageFolders named dress/pullover/trouser/tshirt and 0/1/2/3: with the model card's
 * class names the named folders are matched to the model's classes and give the accuracy of the
 * numbered folders (measured before: 0.00% against 82.50%); without names they are numbered
 * alphabetically, with a warning, and the accuracy at chance warns of the likely cause. The
 * reference is the card's `probe_predictions` (torch's own predictions on the probe set).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { execute, finish, prepare } from "../src/plan/index.js";
import { InputError } from "../src/errors.js";
import { matchClasses, parseClassNames } from "../src/data/classes.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const ZOO = path.join(ROOT, "fixtures/zoo");
const card = JSON.parse(readFileSync(path.join(ZOO, "vit-tiny.json"), "utf8"));
const FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
const NAMED = ["tshirt", "trouser", "pullover", "dress"]; // classes 0..3 under folder names

let dir: string;
/** Probe indices of the 40 images: the first 10 of each class 0–3. */
const picked: { index: number; label: number }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "seelike-labels-"));
  const images = gunzipSync(readFileSync(path.join(ROOT, "fixtures/data/probe-images-idx3-ubyte.gz")));
  const labels = gunzipSync(readFileSync(path.join(ROOT, "fixtures/data/probe-labels-idx1-ubyte.gz")));
  const n = labels.readUInt32BE(4);
  const count = [0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const l = labels[8 + i];
    if (l > 3 || count[l] >= 10) continue;
    count[l]++;
    picked.push({ index: i, label: l });
  }
  const write = async (root: string, folder: (l: number) => string, files = picked) => {
    for (const p of files) {
      const d = path.join(dir, root, folder(p.label));
      mkdirSync(d, { recursive: true });
      const px = images.subarray(16 + p.index * 784, 16 + (p.index + 1) * 784);
      await sharp(Buffer.from(px), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(d, `${String(p.index).padStart(4, "0")}.png`));
    }
  };
  await write("named", (l) => NAMED[l]);
  await write("numbered", (l) => String(l));
  await write("named-other", (l) => (l === 3 ? "frock" : NAMED[l]));
  // vit-tiny without class names: the same model and card, "classes" removed.
  mkdirSync(path.join(dir, "nonames"));
  copyFileSync(path.join(ZOO, "vit-tiny.onnx"), path.join(dir, "nonames", "vit-tiny.onnx"));
  const { classes: _c, ...rest } = card;
  writeFileSync(path.join(dir, "nonames", "vit-tiny.json"), JSON.stringify(rest));
  writeFileSync(path.join(dir, "classes.txt"), FASHION.join("\n") + "\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Correct predictions of torch (the card's probe_predictions) against `label` of each picked image. */
function reference(label: (l: number) => number): number {
  return picked.filter((p) => Number(card.probe_predictions[p.index]) === label(p.label)).length;
}

async function accuracyRun(model: string, data: string, extra: Record<string, unknown> = {}) {
  const plan = await prepare([model], { data, batch: 8, analyses: ["accuracy"], ...extra });
  const r = await execute(plan);
  const results = await finish(plan, r.states, { timings: r.timings, skipped: r.skipped });
  return { plan, results, acc: results.accuracy!["vit-tiny"] };
}

describe("ImageFolder classes matched to the model's class names", () => {
  it("the zoo cards carry Fashion-MNIST's ten class names", () => {
    for (const m of ["vit-tiny", "resnet-tiny", "mixer-tiny", "vit-tiny-10pct", "vit-tiny-gap", "vit-tiny-init", "vit-tiny-noskip"]) {
      expect(JSON.parse(readFileSync(path.join(ZOO, `${m}.json`), "utf8")).classes).toEqual(FASHION);
    }
  });

  it("folders dress/pullover/trouser/tshirt give the accuracy of folders 0…3, as torch predicts", async () => {
    const named = await accuracyRun(path.join(ZOO, "vit-tiny.onnx"), path.join(dir, "named"));
    const numbered = await accuracyRun(path.join(ZOO, "vit-tiny.onnx"), path.join(dir, "numbered"));
    expect(named.acc.total).toBe(40);
    expect(named.acc.correct).toBe(numbered.acc.correct);
    expect(Math.abs(named.acc.correct - reference((l) => l))).toBeLessThanOrEqual(1);
    expect(named.acc.accuracy).toBeGreaterThan(0.7);
    expect(named.results.settings.data.classes).toEqual(FASHION);
    expect(named.results.settings.data.classOrder).toBe(`matched to ${path.join(ZOO, "vit-tiny.json")}`);
    expect(named.results.warnings.filter((w) => /alphabetical|chance/.test(w))).toEqual([]);
  }, 60_000);

  it("--classes FILE gives the names when the card has none", async () => {
    const r = await accuracyRun(path.join(dir, "nonames", "vit-tiny.onnx"), path.join(dir, "named"), { classes: path.join(dir, "classes.txt") });
    expect(Math.abs(r.acc.correct - reference((l) => l))).toBeLessThanOrEqual(1);
    expect(r.results.settings.data.classOrder).toBe(`matched to ${path.join(dir, "classes.txt")}`);
  }, 60_000);

  it("without class names the folders are numbered alphabetically, with a warning, and the accuracy at chance names the cause", async () => {
    const r = await accuracyRun(path.join(dir, "nonames", "vit-tiny.onnx"), path.join(dir, "named"));
    // alphabetical: dress=0, pullover=1, trouser=2, tshirt=3
    const alpha = [3, 2, 1, 0];
    expect(Math.abs(r.acc.correct - reference((l) => alpha[l]))).toBeLessThanOrEqual(1);
    expect(r.acc.accuracy).toBeLessThanOrEqual(0.25);
    expect(r.results.warnings).toContain(`${path.join(dir, "named")}: the class folders were numbered alphabetically (dress=0, pullover=1, trouser=2, tshirt=3), as torchvision's ImageFolder does; if the model numbers its classes otherwise, give --classes FILE (the model's class names in its output order, one per line) or add "classes" to its model card, or name the folders 0, 1, 2, … by the model's class index (--data)`);
    expect(r.results.warnings.find((w) => w.startsWith("accuracy of vit-tiny is"))).toMatch(/^accuracy of vit-tiny is \d+\.\d\d%, at or below chance \(25\.00% for 4 classes\): the class folders were numbered alphabetically, which is probably not the model's class order/);
  }, 60_000);

  it("a folder that matches no class name is an error naming it", async () => {
    const err = await prepare([path.join(ZOO, "vit-tiny.onnx")], { data: path.join(dir, "named-other"), batch: 8, analyses: ["accuracy"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(/named-other: class folder\(s\) "frock" match none \(or more than one\) of the 10 class names of .*vit-tiny\.json/);
  });

  it("--data and --train-data with different class sets: error", async () => {
    const err = await prepare([path.join(ZOO, "vit-tiny.onnx")], { data: path.join(dir, "named"), trainData: path.join(dir, "named-other"), batch: 8, analyses: ["probes"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toBe(`${path.join(dir, "named-other")}: its class folders differ from those of --data ${path.join(dir, "named")}: no "dress"; "frock" not in --data; give both splits the same class folders`);
  });
});

describe("matchClasses and parseClassNames", () => {
  it("matches by name up to case and punctuation, by alternative, and by index", () => {
    expect(matchClasses(["dress", "pullover", "trouser", "tshirt"], FASHION)).toEqual({ indices: [3, 2, 1, 0] });
    expect(matchClasses(["Ankle_boot", "bag"], FASHION)).toEqual({ indices: [9, 8] });
    expect(matchClasses(["0", "10", "2"], [..."abcdefghijk"])).toEqual({ indices: [0, 10, 2] });
    expect(matchClasses(["top", "shoe"], FASHION)).toEqual({ unmatched: ["shoe"], matched: 1 });
  });
  it("reads a JSON list, one name per line, or a comma-separated line; refuses duplicates", () => {
    expect(parseClassNames('["a", "b"]', "f")).toEqual(["a", "b"]);
    expect(parseClassNames("# names\na\n\nb\n", "f")).toEqual(["a", "b"]);
    expect(parseClassNames("a, b", "f")).toEqual(["a", "b"]);
    expect(() => parseClassNames("a\na", "f")).toThrow(/f: class name "a" is listed twice/);
  });
});
