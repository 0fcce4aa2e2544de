/**
 * Writing a run's files: the report, results.json (schema-versioned, METHODS.md §8 record),
 * one CSV per figure, `.npy` matrices, and the mergeable state. Every file is written to a
 * temporary name, fsynced and renamed, so no file is ever half-written.
 */
import { mkdir, access, constants } from "node:fs/promises";
import path from "node:path";
import { InputError } from "../errors.js";
import { writeFileAtomic } from "../files.js";
import { checkFreeSpace, writeProblem } from "../limits.js";
import type { Results } from "../plan/types.js";
import { REGISTRY } from "../pipelines/index.js";
import type { AnalysisDefinition, OutputContext } from "../pipelines/contract.js";

/** Where a run writes: `report.html` → report, and `report/` beside it for everything else. */
export interface OutputPaths {
  report: string;
  dir: string;
  results: string;
  /** The mergeable state (src/engine/state.ts): rewritten at every checkpoint, final once the run ends. */
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

/** A file-name-safe slug of a label (names from models never become paths unescaped). */
export function slug(s: string): string {
  const out = s.normalize("NFKD").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(0, 80);
  return out || "x";
}

/** The output context of a run's results: labels, report model ids, slugs. */
export function outputContext(results: Results): OutputContext {
  const labels = results.models.map((m) => m.label);
  return { labels, modelId: (label) => `m${Math.max(0, labels.indexOf(label))}`, slug };
}

/** One CSV per figure, and `.npy` for every matrix, from each analysis' `files`: file name → bytes or text. */
export function figureFiles(results: Results): Map<string, string | Uint8Array> {
  const files = new Map<string, string | Uint8Array>();
  const ctx = outputContext(results);
  const sections = results as unknown as Record<string, unknown>;
  for (const d of REGISTRY as readonly AnalysisDefinition<any, any, any, any>[]) {
    const section = sections[d.id];
    if (section === undefined || !d.files) continue;
    for (const [name, data] of d.files(section, ctx, sections)) {
      if (files.has(name)) throw new Error(`two output files named ${name}`);
      files.set(name, data);
    }
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
