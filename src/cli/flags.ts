/**
 * Parsed flags → library options: the table's options pass through by key; the CLI-only flags
 * fold into the library option they stand for (--site/--sites-file → extraSites; --mean, --std,
 * --resize, --crop → preprocessOverrides).
 */
import { readFile } from "node:fs/promises";
import { InputError, UsageError } from "../errors.js";
import { ALL_OPTIONS, type RunOptions } from "../plan/types.js";

/** Parses repeated `--site name=pattern` flags and a `--sites-file`. */
export async function extraSites(flags: string[] = [], file?: string): Promise<Record<string, string | RegExp> | undefined> {
  const out: Record<string, string | RegExp> = {};
  const add = (name: string, pattern: string, where: string) => {
    if (!name) throw new UsageError(`invalid site ${where}: no canonical name`);
    const m = /^\/(.*)\/([a-z]*)$/.exec(pattern);
    if (m) {
      try {
        out[name] = new RegExp(m[1], m[2]);
      } catch (e) {
        throw new UsageError(`invalid site ${where}: ${(e as Error).message}`);
      }
    } else out[name] = pattern;
  };
  if (file) {
    let doc: unknown;
    try {
      doc = JSON.parse(await readFile(file, "utf8"));
    } catch (e) {
      throw new InputError(file, (e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not a JSON object of sites (${(e as Error).message})`);
    }
    if (!doc || typeof doc !== "object" || Array.isArray(doc)) throw new InputError(file, "not a JSON object of sites");
    for (const [k, v] of Object.entries(doc)) {
      if (typeof v !== "string") throw new InputError(file, `site ${k} must map to a tensor name or "/regex/"`);
      add(k, v, `${k} in ${file}`);
    }
  }
  for (const f of flags) {
    const i = f.indexOf("=");
    if (i < 0) throw new UsageError(`invalid --site ${f} (expected name=tensor or name=/regex/)`);
    add(f.slice(0, i), f.slice(i + 1), f);
  }
  return Object.keys(out).length ? out : undefined;
}

/** Commander's parsed flags of analyze/compare → RunOptions. */
export async function runOptionsFromFlags(flags: Record<string, unknown>): Promise<RunOptions> {
  const out: Record<string, unknown> = {};
  for (const spec of ALL_OPTIONS) if (spec.flag && !spec.cliOnly && flags[spec.key] !== undefined) out[spec.key] = flags[spec.key];
  const f = flags as { site?: string[]; sitesFile?: string; mean?: number[]; std?: number[]; resize?: number; crop?: number };
  out.extraSites = await extraSites(f.site, f.sitesFile);
  out.preprocessOverrides = {
    ...(f.mean ? { mean: f.mean } : {}),
    ...(f.std ? { std: f.std } : {}),
    ...(f.resize ? { resize: f.resize } : {}),
    ...(f.crop ? { crop: f.crop } : {}),
  };
  return out as RunOptions;
}
