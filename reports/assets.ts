/**
 * The report's client-side sources (read at render time, inlined into the HTML).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const cache = new Map<string, string>();

/**
 * Source of reports/client/NAME. Looked up next to this module and, when running from the
 * compiled dist/reports/, in the source tree (tsc does not copy .js assets).
 * @example clientSource("figures.js").includes("seelikeFigures") // true
 */
export function clientSource(name: string): string {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const candidates = [join(here, "client", name), join(here, "..", "..", "reports", "client", name)];
  const file = candidates.find((f) => existsSync(f));
  if (!file) throw new Error(`report client source not found: ${name} (looked in ${candidates.join(", ")})`);
  const text = readFileSync(file, "utf8");
  cache.set(name, text);
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
