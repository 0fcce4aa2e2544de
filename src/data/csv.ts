/**
 * CSV manifests: a header row naming a `path` column and optionally a `label` column; one image
 * per row, paths relative to the CSV file (or absolute).
 */
import { readFile } from "node:fs/promises";
import { csvParseRows } from "d3";
import { dirname } from "node:path";
import { InputError } from "../errors.js";
import { imageListSource } from "./folder.js";
import { fileProblem } from "./npy.js";
import { codePointOrder } from "./source.js";
import type { DataSource } from "./types.js";

/**
 * Splits CSV text into rows of fields (RFC 4180: quoted fields, doubled quotes, CRLF, by
 * d3-dsv); a leading BOM and blank lines are dropped.
 *
 * @example csvRows('path,label\n"a,b.png",1\n') // [["path", "label"], ["a,b.png", "1"]]
 */
export function csvRows(text: string): string[][] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return csvParseRows(body).filter((row) => row.length > 1 || row[0] !== "");
}

/**
 * Opens a CSV manifest (`path,label` with a header). Labels that are all integers are used as
 * given; otherwise they are class names, numbered in code-point order (as ImageFolder numbers
 * its folders). Ids are the paths as written in the CSV.
 *
 * @example const src = await openCsv("val.csv") // val.csv: "path,label\ncat/1.png,cat\n..."
 */
export async function openCsv(path: string): Promise<DataSource> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw new InputError(path, fileProblem(e));
  }
  const rows = csvRows(text);
  if (rows.length === 0) throw new InputError(path, "empty CSV manifest");
  const header = rows[0].map((h) => h.trim().toLowerCase());
  const pathCol = header.indexOf("path");
  const labelCol = header.indexOf("label");
  if (pathCol < 0) throw new InputError(path, `CSV manifest needs a header with a "path" column, got: ${rows[0].join(",")}`);
  const ids: string[] = [];
  const raw: string[] = [];
  for (let r = 1; r < rows.length; r++) {
    const p = rows[r][pathCol]?.trim();
    if (!p) throw new InputError(path, `row ${r + 1}: missing path`);
    ids.push(p);
    if (labelCol >= 0) {
      const l = rows[r][labelCol]?.trim();
      if (l === undefined || l === "") throw new InputError(path, `row ${r + 1}: missing label`);
      raw.push(l);
    }
  }
  if (ids.length === 0) throw new InputError(path, "no images found");
  let labels: Int32Array | undefined;
  let classes: string[] | undefined;
  if (labelCol >= 0) {
    if (raw.every((l) => /^-?\d+$/.test(l) && Math.abs(Number(l)) <= 2147483647)) {
      labels = Int32Array.from(raw, Number);
    } else {
      classes = [...new Set(raw)].sort(codePointOrder);
      const index = new Map(classes.map((c, i) => [c, i]));
      labels = Int32Array.from(raw, (l) => index.get(l)!);
    }
  }
  return imageListSource("csv", path, dirname(path), ids, labels, classes);
}
