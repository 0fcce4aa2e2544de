/**
 * What `npm pack` ships: the built library and CLI, the zoo and probe set the demo runs on
 * (with their cards and licence), and nothing the tests alone need. The file list comes from
 * `npm pack --dry-run --json` over the current dist/ (built by `npm test` before vitest runs);
 * `--ignore-scripts` keeps `prepare` from rebuilding inside the test.
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import ts from "typescript";

const root = path.resolve(__dirname, "..");

/**
 * Bounds on the tarball (gzip) and on what it unpacks to. At this commit: 7.06 MB packed,
 * 8.48 MB unpacked, 164 files, nearly all of it the seven zoo models (5.5 MB) and the two
 * probe/train image sets (1.75 MB), which compress no further. The margin (~0.9 MB packed)
 * leaves room for a bundled report client; fixtures/models slipping in (8 MB) breaks it, and
 * smaller leaks are caught by name in the test before. The file bound follows the module count:
 * 305 files once the registry split src/ into one module per concept (.js and .d.ts each).
 */
const MAX_PACKED_BYTES = 8_000_000;
const MAX_UNPACKED_BYTES = 10_000_000;
const MAX_FILES = 400;

interface PackEntry {
  path: string;
  size: number;
}
interface Pack {
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: PackEntry[];
}

function dryRunPack(): Pack {
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const [pack] = JSON.parse(out) as Pack[];
  return pack;
}

const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  bin: Record<string, string>;
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

/** The package a bare import specifier names (`protobufjs/minimal.js` → `protobufjs`, `@a/b/c` → `@a/b`). */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/**
 * Static and dynamic import specifiers and require() calls of a module, read by TypeScript's
 * scanner, so that `import ... from "seelike"` in a JSDoc @example does not count.
 */
function importSpecifiers(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((f) => f.fileName);
}

describe("npm pack", () => {
  const pack = dryRunPack();
  const files = new Set(pack.files.map((f) => f.path));
  const list = [...files];

  it("ships the library entry, its types, the CLI, package.json and the user docs", () => {
    for (const f of ["package.json", "README.md", "docs/methods.md", "examples/zoo-findings.mjs", "dist/src/index.js", "dist/src/index.d.ts", "dist/src/cli/index.js", "bin/seelike.js"]) expect(files, f).toContain(f);
    for (const f of [pkg.main, pkg.types, ...Object.values(pkg.bin)]) expect(files, f).toContain(path.posix.normalize(f));
    for (const target of Object.values(pkg.exports)) {
      for (const f of typeof target === "string" ? [target] : Object.values(target)) expect(files, f).toContain(path.posix.normalize(f));
    }
  });

  it("ships every zoo model with its model card, and the probe and training sets with their labels and licence", () => {
    const zoo = ["vit-tiny", "resnet-tiny", "vit-tiny-10pct", "vit-tiny-gap", "vit-tiny-noskip", "mixer-tiny", "vit-tiny-init"];
    for (const m of zoo) {
      expect(files).toContain(`fixtures/zoo/${m}.onnx`);
      expect(files).toContain(`fixtures/zoo/${m}.json`);
    }
    for (const f of [
      "fixtures/zoo/README.md",
      "fixtures/data/README.md",
      "fixtures/data/LICENSE-fashion-mnist",
      "fixtures/data/probe-images-idx3-ubyte.gz",
      "fixtures/data/probe-labels-idx1-ubyte.gz",
      "fixtures/data/train2k-images-idx3-ubyte.gz",
      "fixtures/data/train2k-labels-idx1-ubyte.gz",
    ]) expect(files).toContain(f);
    // Every shipped model is byte-identical to the repository's (the cards' sha256 check it at run time).
    for (const f of pack.files.filter((e) => e.path.startsWith("fixtures/zoo/"))) {
      expect(f.size, f.path).toBe(readFileSync(path.join(root, f.path)).length);
    }
  });

  it("ships no test fixtures, tests, python scripts, TypeScript sources or source maps", () => {
    const forbidden = [
      /^fixtures\/models\//,
      /^fixtures\/reference\//,
      /^fixtures\/interop\//,
      /^fixtures\/data-tests\//,
      /^fixtures\/make\.sh$/,
      /^tests\//,
      /^bench\//,
      /^dist\/bench\//,
      /^dist\/tests\//,
      /^examples\/(?!zoo-findings\.mjs$)/,
      /\.py$/,
      /(?<!\.d)\.ts$/,
      /\.map$/,
      /(^|\/)\.npmrc$/,
    ];
    const leaked = list.filter((f) => forbidden.some((re) => re.test(f)));
    expect(leaked).toEqual([]);
  });

  it(`stays under ${MAX_PACKED_BYTES / 1e6} MB packed, ${MAX_UNPACKED_BYTES / 1e6} MB unpacked and ${MAX_FILES} files`, () => {
    expect(pack.size).toBeLessThan(MAX_PACKED_BYTES);
    expect(pack.unpackedSize).toBeLessThan(MAX_UNPACKED_BYTES);
    expect(pack.entryCount).toBeLessThan(MAX_FILES);
  });

  it("resolves every relative import of a shipped module inside the package", () => {
    const dangling: string[] = [];
    for (const f of list.filter((p) => p.endsWith(".js"))) {
      for (const spec of importSpecifiers(readFileSync(path.join(root, f), "utf8"))) {
        if (!spec.startsWith(".")) continue;
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(f), spec));
        if (!files.has(target)) dangling.push(`${f} → ${spec}`);
      }
    }
    expect(dangling).toEqual([]);
  });

  it("imports at run time only Node built-ins and packages in dependencies (an install with --omit=dev has no others)", () => {
    const runtime = new Set(Object.keys({ ...pkg.dependencies, ...pkg.peerDependencies, ...pkg.optionalDependencies }));
    const builtins = new Set(builtinModules);
    const missing: string[] = [];
    for (const f of list.filter((p) => p.endsWith(".js"))) {
      for (const spec of importSpecifiers(readFileSync(path.join(root, f), "utf8"))) {
        if (spec.startsWith(".") || spec.startsWith("node:") || builtins.has(spec)) continue;
        if (!runtime.has(packageOf(spec))) missing.push(`${f} imports ${spec}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe("the repository", () => {
  // Twice a worktree's node_modules/.cache links were committed; merging them replaced the
  // main checkout's installed packages and full-size exports with links to themselves.
  it("tracks no symbolic link and nothing under node_modules, .cache, dist or test-artifacts", () => {
    const out = execFileSync("git", ["ls-files", "-s"], { encoding: "utf8" });
    const links = out.split("\n").filter((l) => l.startsWith("120000 ")).map((l) => l.split("\t")[1]);
    expect(links).toEqual([]);
    const generated = out.split("\n").map((l) => l.split("\t")[1]).filter((f) => f && /^(node_modules|\.cache|dist|test-artifacts)(\/|$)/.test(f));
    expect(generated).toEqual([]);
  });
});
