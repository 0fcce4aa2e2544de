/**
 * examples/quickstart.ipynb run for real: registers the tslab kernel into a temporary Jupyter
 * data dir (nothing global is touched), executes the notebook headlessly with nbconvert, and
 * checks every code cell ran cleanly and the two figures came out inline.
 * Needs `npm run build` first (the notebook imports ../dist/src/index.js), the apt packages
 * jupyter-nbconvert and python3-ipykernel, and the tslab dev dependency; skips without them.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(__dirname, "..");
const notebook = path.join(root, "examples", "quickstart.ipynb");
const tslab = path.join(root, "node_modules", "tslab", "bin", "tslab");
const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

function missing(): string | null {
  if (spawnSync("jupyter", ["nbconvert", "--version"], { encoding: "utf8" }).status !== 0) return "jupyter nbconvert not found (apt-get install jupyter-nbconvert python3-ipykernel)";
  if (spawnSync(python, ["-c", "import jupyter_client, IPython"]).status !== 0) return `${python} lacks jupyter_client/IPython (apt-get install python3-ipykernel)`;
  if (!existsSync(tslab)) return "tslab is not installed (npm install)";
  return null;
}

interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  metadata?: { execution?: Record<string, string> };
  outputs?: Output[];
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "ignore", "pipe"], timeout: 170_000 });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stderr }));
  });
}

const join = (s: string | string[] | undefined) => (Array.isArray(s) ? s.join("") : s ?? "");
const why = missing();
if (why) console.warn(`tests/notebook.test.ts skipped: ${why}`);

describe.skipIf(why !== null)("examples/quickstart.ipynb in the tslab kernel", () => {
  let tmp: string;
  let cells: Cell[];
  let nbconvert: { status: number | null; stderr: string };

  beforeAll(async () => {
    if (!existsSync(path.join(root, "dist", "src", "index.js"))) throw new Error("dist/src/index.js is missing: run `npm run build` before this test");
    tmp = mkdtempSync(path.join(os.tmpdir(), "seelike-nb-"));
    const prefix = path.join(tmp, "prefix");
    const install = spawnSync(process.execPath, [tslab, "install", `--python=${python}`, `--prefix=${prefix}`, `--binary=${tslab}`], { encoding: "utf8" });
    if (install.status !== 0) throw new Error(`tslab install failed: ${install.stderr}`);
    const env = {
      ...process.env,
      JUPYTER_PATH: path.join(prefix, "share", "jupyter"),
      JUPYTER_RUNTIME_DIR: path.join(tmp, "runtime"),
      JUPYTER_CONFIG_DIR: path.join(tmp, "config"),
    };
    // async: a synchronous wait would block the test worker's RPC for the whole run
    nbconvert = await run(
      "jupyter",
      ["nbconvert", "--to", "notebook", "--execute", "--ExecutePreprocessor.kernel_name=tslab", "--ExecutePreprocessor.timeout=150", "--output-dir", tmp, "--output", "executed", notebook],
      env,
    );
    const out = path.join(tmp, "executed.ipynb");
    cells = existsSync(out) ? JSON.parse(readFileSync(out, "utf8")).cells : [];
  }, 180_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("tslab install registers the kernelspec in the temporary data dir", () => {
    const spec = JSON.parse(readFileSync(path.join(tmp, "prefix", "share", "jupyter", "kernels", "tslab", "kernel.json"), "utf8"));
    expect(spec.argv[0]).toBe(tslab);
    expect(spec.language).toBe("typescript");
  });

  it("nbconvert --execute runs every code cell without an error output", () => {
    expect(nbconvert.status, String(nbconvert.stderr).slice(-2000)).toBe(0);
    const code = cells.filter((c) => c.cell_type === "code");
    expect(code.length).toBeGreaterThanOrEqual(5);
    for (const c of code) {
      const src = join(c.source).slice(0, 60);
      // tslab sends no execution_count; nbclient stamps the kernel's reply time on each cell it ran
      expect(c.metadata?.execution?.["shell.execute_reply"], src).toBeTypeOf("string");
      for (const o of c.outputs ?? []) {
        expect(o.output_type, `${src}: ${o.ename}: ${o.evalue}`).not.toBe("error");
        // tslab reports exceptions on stderr; the notebook writes nothing there when all is well
        if (o.output_type === "stream") expect(o.name, `${src}: ${join(o.text)}`).toBe("stdout");
      }
    }
  });

  it("the notebook shows the CKA heatmap and the attention-distance figure inline as SVG", () => {
    const rich = cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "display_data" || o.output_type === "execute_result");
    const markup = rich.map((o) => join(o.data?.["text/html"]) + join(o.data?.["image/svg+xml"])).filter((m) => m.includes("<svg"));
    expect(markup.length).toBeGreaterThanOrEqual(2);
    const cka = markup.find((m) => m.includes("Linear CKA between the sites"));
    const att = markup.find((m) => m.includes("Mean attention distance of every head"));
    expect(cka).toBeDefined();
    expect(att).toBeDefined();
    expect(cka).toMatch(/<svg[^>]*data-render="(vector|raster)"/);
  });

  it("the comparison in the notebook used 256 probe images with the default estimator", () => {
    const text = cells.flatMap((c) => c.outputs ?? []).filter((o) => o.output_type === "stream").map((o) => join(o.text)).join("");
    expect(text).toMatch(/CKA \d+×\d+ \(minibatch-unbiased, 256 images, batch 64\)/);
  });
});
