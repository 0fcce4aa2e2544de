/**
 * The layers ARCHITECTURE.md draws, checked against the code: every module of src/, analyses/
 * and reports/ lies in a drawn layer and imports only from its own layer or those above it;
 * browser-bound code uses no Node API.
 */
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(__dirname, "..");

/** The layers, top (imported by all) first, from the code block of "## Layers" in ARCHITECTURE.md. */
function drawnLayers(): string[][] {
  const doc = readFileSync(path.join(root, "ARCHITECTURE.md"), "utf8");
  const section = doc.slice(doc.indexOf("## Layers"));
  const block = /```\n([\s\S]*?)```/.exec(section)![1];
  return block.split("\n").filter((l) => l.includes("←")).map((l) => l.split("←")[0].trim().split(/,\s*/));
}

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(path.join(root, dir))) {
    const rel = path.join(dir, f);
    if (statSync(path.join(root, rel)).isDirectory()) out.push(...sources(rel));
    else if (f.endsWith(".ts") && !f.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

const layers = drawnLayers();
const rank = (file: string) => layers.findIndex((ps) => ps.some((p) => (p.endsWith("/") ? file.startsWith(p) : file === p)));
const files = [...sources("src"), ...sources("analyses"), ...sources("reports")].filter((f) => !f.startsWith("src/onnx/proto/"));
const imports = (file: string) =>
  [...readFileSync(path.join(root, file), "utf8").matchAll(/(?:^|\n)\s*(?:import|export)[^"'\n]*?from\s*["']([^"']+)["']|(?<!typeof )import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? m[2]);

describe("ARCHITECTURE.md's layers", () => {
  it("draws at least the composition layers, in order", () => {
    const flat = layers.map((l) => l.join(" "));
    const order = ["src/numeric/", "analyses/", "src/engine/", "src/pipelines/", "src/plan/", "src/output/", "src/api/", "src/cli/"].map((p) => flat.findIndex((l) => l.includes(p)));
    expect(order.every((r) => r >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("every module lies in a drawn layer", () => {
    expect(files.filter((f) => rank(f) < 0)).toEqual([]);
  });

  it("no module imports from a layer below its own", () => {
    const bad: string[] = [];
    for (const f of files) {
      for (const spec of imports(f)) {
        if (!spec.startsWith(".")) continue;
        const target = path.normalize(path.join(path.dirname(f), spec)).replace(/\.js$/, ".ts");
        const r = rank(target.startsWith("src/onnx/proto/") ? "src/onnx/" : target);
        if (r > rank(f)) bad.push(`${f} imports ${target}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("analyses/, src/numeric/ and reports/client/ use no Node API", () => {
    const bad: string[] = [];
    for (const f of files.filter((x) => /^(analyses|src\/numeric|reports\/client)\//.test(x))) {
      const text = readFileSync(path.join(root, f), "utf8").replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "");
      for (const spec of imports(f)) if (spec.startsWith("node:") || ["fs", "path", "os", "crypto", "child_process"].includes(spec)) bad.push(`${f} imports ${spec}`);
      for (const g of ["process.", "Buffer.", "require("]) if (text.includes(g)) bad.push(`${f} uses ${g}`);
    }
    expect(bad).toEqual([]);
  });

  it("only src/runtime imports onnxruntime-node, and nothing in src/ or reports/ imports jsdom statically", () => {
    const ort = files.filter((f) => imports(f).includes("onnxruntime-node"));
    expect(ort.every((f) => f.startsWith("src/runtime/"))).toBe(true);
    expect(files.filter((f) => imports(f).includes("jsdom"))).toEqual([]);
  });
});
