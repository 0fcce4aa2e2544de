/**
 * Writing a run's files: the report, results.json (schema-versioned, METHODS.md §8 record),
 * one CSV per figure, `.npy` matrices, and the mergeable state. Every file is written to a
 * temporary name, fsynced and renamed, so no file is ever half-written.
 */
import { mkdir, access, constants } from "node:fs/promises";
import path from "node:path";
import { InputError } from "./errors.js";
import { writeFileAtomic } from "./state.js";
import { checkFreeSpace, writeProblem } from "./limits.js";
import { encodeNpy } from "./data/npy.js";
import type { Results } from "./run.js";

/** Where a run writes: `report.html` → report, and `report/` beside it for everything else. */
export interface OutputPaths {
  report: string;
  dir: string;
  results: string;
  /** The mergeable state (src/state.ts): rewritten at every checkpoint, final once the run ends. */
  state: string;
  /** The same file as `state`: a run resumes from the state it was writing. */
  checkpoint: string;
}

/** File name of a run's state inside its output folder. */
export const STATE_FILE = "state.seelike";

/** The output paths for a report path. */
export function outputPaths(report: string): OutputPaths {
  const abs = path.resolve(report);
  const dir = abs.replace(/\.html?$/i, "") + (/\.html?$/i.test(abs) ? "" : ".files");
  const state = path.join(dir, STATE_FILE);
  return { report: abs, dir, results: path.join(dir, "results.json"), state, checkpoint: state };
}

/** Creates the output folder and checks it is writable, before any long work starts. */
export async function prepareOutput(p: OutputPaths): Promise<void> {
  try {
    await mkdir(p.dir, { recursive: true });
    await mkdir(path.dirname(p.report), { recursive: true });
    await access(p.dir, constants.W_OK);
    await access(path.dirname(p.report), constants.W_OK);
  } catch (e) {
    throw new InputError(p.dir, `cannot write output here (${await writeProblem(p.dir, e)})`);
  }
  await checkFreeSpace(p.dir);
}

/** Fields of results that are model internals, not results (probe weights), left out of files. */
const DROP = new Set(["weights", "standardiser"]);

/** A JSON-ready copy: typed arrays → arrays, non-finite numbers → null, probe weights dropped. */
export function toJSONValue(v: unknown): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "bigint") return Number(v);
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, (x) => (Number.isFinite(x) ? x : null));
  if (Array.isArray(v)) return v.map(toJSONValue);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [k, toJSONValue(x)]));
  if (typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (!DROP.has(k)) out[k] = toJSONValue(x);
    return out;
  }
  return v;
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v))) return "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(rows: unknown[][]): string {
  return rows.map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
}

/** A file-name-safe slug of a label (names from models never become paths unescaped). */
export function slug(s: string): string {
  const out = s.normalize("NFKD").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 80);
  return out || "x";
}

function matrixCsv(rows: string[], cols: string[], data: ArrayLike<number>): string {
  const out: unknown[][] = [["", ...cols]];
  rows.forEach((r, i) => out.push([r, ...cols.map((_, j) => data[i * cols.length + j])]));
  return csv(out);
}

/** One CSV per figure, and `.npy` for every matrix: file name → bytes or text. */
export function figureFiles(results: Results): Map<string, string | Uint8Array> {
  const files = new Map<string, string | Uint8Array>();
  for (const c of results.cka) {
    for (const [key, m] of Object.entries(c.result.matrices)) {
      if (!m) continue;
      const base = `cka-${slug(c.id)}-${key}`;
      files.set(`${base}.csv`, matrixCsv(m.rows, m.cols, m.data));
      files.set(`${base}.npy`, encodeNpy(Float64Array.from(m.data), m.shape));
    }
  }
  for (const [label, r] of Object.entries(results.attention)) {
    const [L, H] = r.distance.shape;
    const rows: unknown[][] = [["layer", "head", "distance_px", "renormalised_px", "raw_px", "prefix_mass", "uniform_px"]];
    for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) rows.push([r.layers[l], h, r.distance.data[l * H + h], r.renormalised.data[l * H + h], r.raw.data[l * H + h], r.prefixMass.data[l * H + h], r.uniform.includingSelf]);
    files.set(`attention-distance-${slug(label)}.csv`, csv(rows));
  }
  for (const [label, r] of Object.entries(results.skip)) {
    const rows: unknown[][] = [["residual", "convention", "cls", "spatial", "whole", "images"]];
    for (const e of r.residuals) for (const conv of ["mean-of-ratios", "ratio-of-frobenius"] as const) rows.push([e.residual, conv, e[conv].cls, e[conv].spatial, e[conv].whole, e.images]);
    files.set(`skip-ratio-${slug(label)}.csv`, csv(rows));
  }
  for (const [label, reps] of Object.entries(results.probes)) {
    const rows: unknown[][] = [["representation", "block", "depth", "shots", "test_accuracy", "lambda", "train_examples"]];
    for (const [rep, r] of Object.entries(reps)) for (const b of r?.blocks ?? []) for (const f of b.fits) rows.push([rep, b.block, b.depth, f.shots, f.testAccuracy, f.lambda, f.trainExamples]);
    files.set(`probes-${slug(label)}.csv`, csv(rows));
  }
  for (const [label, r] of Object.entries(results.localisation)) {
    const rows: unknown[][] = [["site", "token_row", "token_col", "cell_row", "cell_col", "cka"]];
    for (const s of r.sites) {
      const [P, gh, gw] = s.shape;
      for (let p = 0; p < P; p++) for (let i = 0; i < gh; i++) for (let j = 0; j < gw; j++) rows.push([s.site, s.positions[p][0], s.positions[p][1], i, j, s.maps[(p * gh + i) * gw + j]]);
    }
    files.set(`localisation-${slug(label)}.csv`, csv(rows));
  }
  for (const [label, r] of Object.entries(results.collapse)) {
    files.set(`collapse-${slug(label)}.csv`, matrixCsv(r.matrix.rows, r.matrix.cols, r.matrix.data));
    files.set(`collapse-${slug(label)}.npy`, encodeNpy(Float64Array.from(r.matrix.data), r.matrix.shape));
  }
  for (const [label, e] of Object.entries(results.embeddings)) {
    if (e.positions) {
      const [gh, gw] = e.positions.grid;
      const rows: unknown[][] = [["row", "col", "other_row", "other_col", "cosine"]];
      for (let a = 0; a < gh; a++) for (let b = 0; b < gw; b++) for (let c = 0; c < gh; c++) for (let d = 0; d < gw; d++) rows.push([a, b, c, d, e.positions.similarity.data[((a * gw + b) * gh + c) * gw + d]]);
      files.set(`position-embedding-${slug(label)}.csv`, csv(rows));
      files.set(`position-embedding-${slug(label)}.npy`, encodeNpy(Float64Array.from(e.positions.similarity.data), e.positions.similarity.shape));
    }
    if (e.filters) {
      const rows: unknown[][] = [["component", "explained_variance", "explained_variance_ratio"]];
      e.filters.explainedVariance.forEach((v, i) => rows.push([i, v, e.filters!.explainedVarianceRatio[i]]));
      files.set(`patch-filters-${slug(label)}.csv`, csv(rows));
      files.set(`patch-filters-${slug(label)}.npy`, encodeNpy(Float64Array.from(e.filters.components.data), e.filters.components.shape));
    }
  }
  if (Object.keys(results.accuracy).length) {
    files.set("accuracy.csv", csv([["model", "accuracy", "correct", "total"], ...Object.entries(results.accuracy).map(([k, a]) => [k, a.accuracy, a.correct, a.total])]));
  }
  if (results.dataScale) {
    const ds = results.dataScale;
    files.set("data-scale.csv", csv([["block", ...ds.series.map((s) => s.name)], ...ds.blocks.map((b, i) => [b, ...ds.series.map((s) => s.values[i])])]));
  }
  return files;
}

/** Writes results.json and the per-figure files into `dir`. */
export async function writeResultFiles(p: OutputPaths, results: Results): Promise<string[]> {
  await mkdir(p.dir, { recursive: true });
  const written: string[] = [];
  await writeFileAtomic(p.results, JSON.stringify(toJSONValue(results), null, 1));
  written.push(p.results);
  for (const [name, data] of figureFiles(results)) {
    const file = path.join(p.dir, name);
    await writeFileAtomic(file, data);
    written.push(file);
  }
  return written;
}
