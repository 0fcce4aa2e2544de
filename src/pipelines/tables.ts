/**
 * Small helpers shared by the pipelines' `files` and `report` parts: CSV text (d3-dsv) and
 * numbers read back from results.json (where NaN was written as null).
 */
import { csvFormatRows } from "d3";

/** A numeric array as results carry it: typed arrays from a run, plain arrays (null for NaN) from results.json. */
export type Arr = ArrayLike<number | null>;

/** null/undefined → NaN. */
export function num(v: number | null | undefined): number {
  return v === null || v === undefined ? NaN : v;
}

/** Row-major data → rows of numbers. */
export function rowsOf(a: Arr, rows: number, cols: number): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) out.push(Array.from({ length: cols }, (_, c) => num(a[r * cols + c])));
  return out;
}

function cell(v: unknown): string | null {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return null;
  return String(v);
}

/** CSV text of rows (RFC 4180 quoting by d3-dsv); missing and non-finite numbers are empty cells. */
export function csv(rows: unknown[][]): string {
  return csvFormatRows(rows.map((r) => r.map(cell) as string[])) + "\n";
}

/** A labelled matrix as CSV: a header of column names, then one row per row name. */
export function matrixCsv(rows: string[], cols: string[], data: ArrayLike<number>): string {
  const out: unknown[][] = [["", ...cols]];
  rows.forEach((r, i) => out.push([r, ...cols.map((_, j) => data[i * cols.length + j])]));
  return csv(out);
}
