/**
 * The record stamped on every result (METHODS.md §8). Two runs or shards merge only when their
 * records agree field by field; otherwise merging fails loudly, naming the fields.
 */
import { createHash } from "node:crypto";

export interface ModelRecord {
  label: string;
  file: string;
  sha256: string;
  /** canonical site name → exporter's tensor name */
  sites: Record<string, string>;
  preprocessing: Record<string, unknown>;
}

/**
 * The settings record: provenance (tool, models, data) plus every recorded option of the run,
 * generated from the options table (src/plan/options.ts: each option's `record` rule).
 */
export interface SettingsRecord {
  tool: string;
  version: string;
  models: ModelRecord[];
  data: { path: string; images: number; sampleDigest: string; trainPath?: string; trainImages?: number; trainDigest?: string; classes?: string[]; classOrder?: string };
  /** The analyses asked for, sorted. */
  analyses: string[];
  batch: number;
  seed: number;
  /** Number of shards the sample was split into (1 for a single run). */
  shards: number;
  /** Every other recorded option (batch, seed, estimator, tokens, …) under its option key. */
  [option: string]: unknown;
}

/** JSON with object keys sorted, so equal records give equal strings. */
export function canonicalJSON(value: unknown): string {
  return JSON.stringify(value, (_k, v) =>
    v && typeof v === "object" && !Array.isArray(v) && !ArrayBuffer.isView(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]))
      : v,
  );
}

/** sha256 of the canonical JSON of a settings record. */
export function settingsDigest(record: SettingsRecord): string {
  return createHash("sha256").update(canonicalJSON(record)).digest("hex");
}

/** The top-level fields (and model fields) in which two records differ. */
export function settingsDifferences(a: SettingsRecord, b: SettingsRecord): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === "models") {
      const n = Math.max(a.models.length, b.models.length);
      for (let i = 0; i < n; i++) {
        const ma = a.models[i], mb = b.models[i];
        if (!ma || !mb) { out.push(`models[${i}]`); continue; }
        for (const f of ["file", "sha256", "sites", "preprocessing"] as const) {
          const va = f === "file" ? ma.file.split(/[\\/]/).pop() : ma[f];
          const vb = f === "file" ? mb.file.split(/[\\/]/).pop() : mb[f];
          if (canonicalJSON(va) !== canonicalJSON(vb)) out.push(`models[${i}].${f}`);
        }
      }
    } else if (canonicalJSON(a[k]) !== canonicalJSON(b[k])) out.push(k);
  }
  return out;
}
