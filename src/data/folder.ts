/**
 * Image folders: torchvision `ImageFolder` layout (one sub-folder per class) or a flat folder of
 * images without labels.
 */
import { readdir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { InputError } from "../errors.js";
import { decodeImage, isImageFile } from "./image.js";
import { fileProblem } from "./npy.js";
import { checkIndex, codePointOrder, readMany } from "./source.js";
import type { DataSource } from "./types.js";

interface Entry {
  name: string;
  dir: boolean;
}

async function entries(dir: string): Promise<Entry[]> {
  let dirents;
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new InputError(dir, fileProblem(e));
  }
  const out: Entry[] = [];
  for (const d of dirents) {
    if (d.isSymbolicLink()) {
      // Follow symbolic links, as torchvision's os.scandir().is_dir() and os.walk(followlinks=True).
      const s = await stat(join(dir, d.name)).catch(() => undefined);
      if (s) out.push({ name: d.name, dir: s.isDirectory() });
    } else out.push({ name: d.name, dir: d.isDirectory() });
  }
  return out;
}

/**
 * Image files under `dir`, relative paths with "/", in torchvision's `make_dataset` order:
 * `sorted(os.walk(dir))` (by folder path) then `sorted(fnames)`, by code point.
 */
async function walk(dir: string, rel = "", seen = new Set<string>()): Promise<{ root: string; name: string }[]> {
  const real = await realpath(dir);
  if (seen.has(real)) return []; // a symlink cycle
  seen.add(real);
  const found: { root: string; name: string }[] = [];
  for (const e of await entries(dir)) {
    if (e.dir) found.push(...(await walk(join(dir, e.name), rel === "" ? e.name : `${rel}/${e.name}`, seen)));
    else if (isImageFile(e.name)) found.push({ root: rel, name: e.name });
  }
  return found;
}

function folderSource(kind: "image-folder" | "flat-folder", path: string, ids: string[], labels?: Int32Array, classes?: string[]): DataSource {
  const file = (index: number) => {
    checkIndex(index, ids.length);
    return join(path, ids[index]);
  };
  const readOne = (index: number) => decodeImage(file(index));
  return {
    kind,
    path,
    size: ids.length,
    ids,
    labels,
    classes,
    file,
    readOne,
    read: (indices) => readMany(readOne, indices),
  };
}

/**
 * Opens a folder of images. With sub-folders it is a torchvision `ImageFolder`: classes are the
 * sub-folder names sorted by code point (Python `sorted`), labels their indices, and the images
 * of each class are found recursively in torchvision's order, so sample i is torchvision's
 * sample i. Without sub-folders it is a flat folder: its images sorted by name, no labels.
 * Ids are paths relative to the folder (`"cat/001.jpg"`).
 *
 * Throws InputError for a missing folder, a folder with no images, and a folder that mixes
 * images with class sub-folders (torchvision would silently ignore the top-level images).
 *
 * @example const src = await openImageFolder("data/val") // src.classes = ["cat", "dog"]
 */
export async function openImageFolder(path: string): Promise<DataSource> {
  const top = await entries(path);
  const dirs = top.filter((e) => e.dir).map((e) => e.name).sort(codePointOrder);
  const images = top.filter((e) => !e.dir && isImageFile(e.name)).map((e) => e.name).sort(codePointOrder);
  if (dirs.length > 0 && images.length > 0) {
    throw new InputError(path, `holds both images (${images[0]}) and sub-folders (${dirs[0]}): use one sub-folder per class, or a flat folder of images`);
  }
  if (dirs.length === 0) {
    if (images.length === 0) throw new InputError(path, "no images found");
    return folderSource("flat-folder", path, images);
  }
  const ids: string[] = [];
  const labels: number[] = [];
  for (let c = 0; c < dirs.length; c++) {
    const files = await walk(join(path, dirs[c]));
    files.sort((a, b) => codePointOrder(a.root, b.root) || codePointOrder(a.name, b.name));
    for (const f of files) {
      ids.push(f.root === "" ? `${dirs[c]}/${f.name}` : `${dirs[c]}/${f.root}/${f.name}`);
      labels.push(c);
    }
  }
  if (ids.length === 0) throw new InputError(path, `no images found in its ${dirs.length} sub-folder(s)`);
  return folderSource("image-folder", path, ids, Int32Array.from(labels), dirs);
}

/**
 * A source of one or more explicit image files (a single image, a CSV manifest): ids are the
 * given relative paths, resolved against `base`.
 */
export function imageListSource(kind: "flat-folder" | "csv", path: string, base: string, ids: string[], labels?: Int32Array, classes?: string[]): DataSource {
  const file = (index: number) => {
    checkIndex(index, ids.length);
    return isAbsolute(ids[index]) ? ids[index] : join(base, ids[index]);
  };
  const readOne = (index: number) => decodeImage(file(index));
  return { kind, path, size: ids.length, ids, labels, classes, file, readOne, read: (indices) => readMany(readOne, indices) };
}
