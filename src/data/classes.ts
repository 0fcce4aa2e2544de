/**
 * Class names and labels that match (issue 14, item 8). torchvision's ImageFolder numbers its
 * class folders alphabetically; a model numbers its outputs in its training set's order. When
 * the model's class names are known (`--classes FILE`, the model card's `classes`, or the ONNX
 * metadata_props `classes`), the folders are matched to them by name and relabelled in the
 * model's order; when they are not, a warning says the folders were numbered alphabetically and
 * how to fix it.
 */
import { readFile } from "node:fs/promises";
import { InputError } from "../errors.js";
import { fileProblem } from "./npy.js";
import type { DataSource } from "./types.js";
import type { OnnxModel } from "../onnx/model.js";
import { modelCard } from "./preprocess.js";

/**
 * A model's class names in its output order: `--classes FILE`, else the model card's `classes`,
 * else the ONNX metadata_props `classes` (or `class_names`, `labels`); undefined when none says.
 *
 * @example await modelClassNames("fixtures/zoo/vit-tiny.onnx", model) // { classes: ["T-shirt/top", …], from: "fixtures/zoo/vit-tiny.json" }
 */
export async function modelClassNames(file: string, model: OnnxModel): Promise<{ classes: string[]; from: string } | undefined> {
  const card = await modelCard(file);
  const listed = (card?.card as { classes?: unknown } | undefined)?.classes;
  if (listed !== undefined) return { classes: parseClassNames(JSON.stringify(listed), card!.file), from: card!.file };
  for (const key of CLASS_METADATA_KEYS) {
    const v = model.metadata?.[key];
    if (v) return { classes: parseClassNames(v, `${file} (metadata_props ${key})`), from: `${file} (metadata_props ${key})` };
  }
  return undefined;
}

/** Metadata keys read for class names (JSON list, or one name per line / comma-separated). */
export const CLASS_METADATA_KEYS = ["classes", "class_names", "labels"] as const;

/** Class names from text: a JSON list of strings, else one per line (blank lines and `#` comments skipped). */
export function parseClassNames(text: string, file: string): string[] {
  const t = text.trim();
  let names: unknown;
  if (t.startsWith("[")) {
    try {
      names = JSON.parse(t);
    } catch (e) {
      throw new InputError(file, `invalid JSON list of class names: ${(e as Error).message}`);
    }
  } else {
    const lines = t.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    names = lines.length === 1 && lines[0].includes(",") ? lines[0].split(",").map((x) => x.trim()) : lines;
  }
  if (!Array.isArray(names) || names.length === 0 || !names.every((n) => typeof n === "string" && n.length > 0)) {
    throw new InputError(file, "class names must be a non-empty list of strings (a JSON list, or one name per line)");
  }
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new InputError(file, `class name ${JSON.stringify(dup)} is listed twice`);
  return names as string[];
}

/** Reads a `--classes` file. */
export async function readClassNames(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new InputError(file, fileProblem(e));
  }
  return parseClassNames(text, file);
}

/** Lower case, letters and digits only: "T-shirt/top" → "tshirttop". */
function norm(s: string): string {
  return s.toLowerCase().normalize("NFKD").replace(/[^\p{L}\p{N}]/gu, "");
}

/**
 * The model's class index of each folder class, or the folders that match none. A folder
 * matches a class when their names agree up to case and punctuation, or when it names one of
 * the class's `/`- or `,`-separated alternatives ("tshirt" → "T-shirt/top"); folders named by
 * number ("0", "1", …) are taken as the model's class indices.
 *
 * @example matchClasses(["dress", "pullover"], FASHION_MNIST) // { indices: [3, 2] }
 */
export function matchClasses(folders: readonly string[], classes: readonly string[]): { indices: number[] } | { unmatched: string[]; matched: number } {
  if (folders.every((f) => /^\d+$/.test(f))) {
    const idx = folders.map(Number);
    const bad = folders.filter((_, i) => idx[i] >= classes.length);
    return bad.length ? { unmatched: bad, matched: folders.length - bad.length } : { indices: idx };
  }
  const whole = classes.map(norm);
  const parts = classes.map((c) => c.split(/[\/,]/).map(norm).filter(Boolean));
  const indices: number[] = [];
  const unmatched: string[] = [];
  for (const f of folders) {
    const n = norm(f);
    let i = whole.indexOf(n);
    if (i < 0) {
      const hits = parts.map((p, k) => (p.includes(n) ? k : -1)).filter((k) => k >= 0);
      i = hits.length === 1 ? hits[0] : -1;
    }
    if (i < 0) unmatched.push(f);
    indices.push(i);
  }
  if (unmatched.length) return { unmatched, matched: folders.length - unmatched.length };
  const dup = indices.find((x, k) => indices.indexOf(x) !== k);
  if (dup !== undefined) return { unmatched: folders.filter((_, k) => indices[k] === dup), matched: folders.length - 2 };
  return { indices };
}

/**
 * The source with its labels in the model's class order (`classes` becomes the model's list).
 * A source without folder classes, or already in that order, is returned as it is.
 */
export function relabel(src: DataSource, indices: readonly number[], classes: readonly string[]): DataSource {
  if (!src.labels) return src;
  const labels = Int32Array.from(src.labels, (l) => indices[l]);
  return { ...src, labels, classes: [...classes] };
}

/** What labelling a source against the model's class names did, for the run's warnings. */
export type ClassMatch =
  | { kind: "matched"; source: DataSource; note?: string }
  | { kind: "alphabetical"; source: DataSource; warning: string }
  | { kind: "none"; source: DataSource };

/**
 * Matches an ImageFolder's classes to the model's class names (`names`, with where they came
 * from), relabelling the source; an error when only some folders match (which class a folder is
 * would be a guess); a warning when there are no class names to match.
 */
export function labelSource(src: DataSource, names: { classes: readonly string[]; from: string } | undefined, flag: string): ClassMatch {
  if (src.kind !== "image-folder" || !src.classes || !src.labels) return { kind: "none", source: src };
  const folders = src.classes;
  if (!names && folders.every((f) => /^\d+$/.test(f))) {
    // Folders named by class index: their numbers, not their alphabetical order ("10" sorts before "2").
    const idx = folders.map(Number);
    const classes = Array.from({ length: Math.max(...idx) + 1 }, (_, i) => String(i));
    return { kind: "matched", source: idx.every((x, i) => x === i) ? src : relabel(src, idx, classes) };
  }
  if (!names) {
    const shown = folders.slice(0, 4).map((c, i) => `${c}=${i}`).join(", ") + (folders.length > 4 ? ", …" : "");
    return {
      kind: "alphabetical",
      source: src,
      warning: `${src.path}: the class folders were numbered alphabetically (${shown}), as torchvision's ImageFolder does; if the model numbers its classes otherwise, give --classes FILE (the model's class names in its output order, one per line) or add "classes" to its model card, or name the folders 0, 1, 2, … by the model's class index (${flag})`,
    };
  }
  const m = matchClasses(folders, names.classes);
  if ("unmatched" in m) {
    throw new InputError(src.path, `class folder(s) ${m.unmatched.map((u) => JSON.stringify(u)).join(", ")} match none (or more than one) of the ${names.classes.length} class names of ${names.from} (${names.classes.slice(0, 10).join(", ")}${names.classes.length > 10 ? ", …" : ""}); rename the folders to class names or to class indices 0…${names.classes.length - 1}`);
  }
  const same = m.indices.every((x, i) => x === i) && names.classes.length === folders.length;
  return { kind: "matched", source: same ? src : relabel(src, m.indices, names.classes), note: `${src.path}: class folders matched to the class names of ${names.from}` };
}
