/**
 * The scripts a report inlines: d3's UMD build and the report client bundle (built from
 * reports/client/*.ts by `npm run build`). Read once per process.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cache = new Map<string, string>();

/**
 * The report client bundle, dist/reports/client/report.js. Found next to this module when it
 * runs from dist/reports/, and under dist/ when the TypeScript sources run (vitest).
 * @example clientBundle().startsWith('"use strict";') // true
 */
export function clientBundle(): string {
  const hit = cache.get("client");
  if (hit !== undefined) return hit;
  const candidates = [join(here, "client", "report.js"), join(here, "..", "dist", "reports", "client", "report.js")];
  const file = candidates.find((f) => existsSync(f));
  if (!file) throw new Error(`report client bundle not found (looked in ${candidates.join(", ")}): run npm run build`);
  const text = readFileSync(file, "utf8");
  cache.set("client", text);
  return text;
}

/**
 * The minified UMD build of d3 from node_modules (its first line is the licence comment).
 * d3's package "exports" hide dist/d3.min.js, so resolve the package entry and take its folder.
 * @example d3Source().startsWith("// https://d3js.org") // true
 */
export function d3Source(): string {
  const hit = cache.get("d3");
  if (hit !== undefined) return hit;
  const entry = createRequire(import.meta.url).resolve("d3");
  const file = join(dirname(entry), "d3.min.js");
  if (!existsSync(file)) throw new Error(`d3 build not found: ${file}`);
  const text = readFileSync(file, "utf8");
  cache.set("d3", text);
  return text;
}
