/**
 * The CLI as a user meets it: help, exit codes, and bad input — each a one-line error naming
 * the file and the problem, exit code 2, never a native crash.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { modelSpans, tensorHeader, GRAPH } from "../src/onnx/wire.js";

const root = path.resolve(__dirname, "..");
const bin = path.join(root, "bin", "seelike.js");
const VIT = path.join(root, "fixtures/models/timm_vit_op17.onnx");
const MIXER = path.join(root, "fixtures/models/mixer_op17.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");

function cli(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 300_000 });
}

/** Exit code 2 and exactly one line on stderr that matches. */
function expectBadInput(r: ReturnType<typeof cli>, pattern: RegExp) {
  expect(r.status, r.stderr).toBe(2);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^seelike: /);
  expect(lines[0]).toMatch(pattern);
}

describe("seelike CLI", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-cli-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--help lists the commands and exits 0", () => {
    const r = cli(["--help"]);
    expect(r.status).toBe(0);
    for (const c of ["inspect", "compare", "analyze", "report", "merge", "cka", "demo"]) expect(r.stdout).toContain(c);
    const c = cli(["compare", "--help"]);
    expect(c.status).toBe(0);
    for (const o of ["--estimator", "--tokens", "--site-set", "--limit", "--seed", "--batch", "--repeats", "--attention-weighting", "--probe-shots", "--shard", "--resume"]) expect(c.stdout).toContain(o);
  });

  it("an unknown option is bad usage (exit 2)", () => {
    expect(cli(["compare", VIT, MIXER, "--data", DATA, "--out", path.join(dir, "x.html"), "--frobnicate"]).status).toBe(2);
    expect(cli(["compare", VIT, MIXER, "--data", DATA, "--out", path.join(dir, "x.html"), "--estimator", "nope"]).status).toBe(2);
  });

  it("inspect --json prints the sites of a model", () => {
    const r = cli(["inspect", VIT, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.family).toBe("vit");
    expect(j.grid).toEqual([8, 8]);
    expect(j.prefixTokens).toBe(1);
  });

  it("a non-ONNX model file is refused with its name", () => {
    const f = path.join(dir, "notes.onnx");
    writeFileSync(f, "this is not a model\n");
    expectBadInput(cli(["compare", f, MIXER, "--data", DATA, "--out", path.join(dir, "a.html")]), /notes\.onnx/);
  });

  it("a truncated model is refused with its name", () => {
    const f = path.join(dir, "truncated.onnx");
    writeFileSync(f, readFileSync(VIT).subarray(0, 50_000));
    expectBadInput(cli(["analyze", f, "--data", DATA, "--out", path.join(dir, "b.html")]), /truncated\.onnx/);
  });

  it("an empty image folder is refused", () => {
    const empty = path.join(dir, "empty");
    mkdirSync(empty);
    expectBadInput(cli(["analyze", VIT, "--data", empty, "--out", path.join(dir, "c.html")]), /empty.*no images|no images/);
  });

  it("an unreadable image stops the run with its path; --skip-bad counts it and goes on", () => {
    const folder = path.join(dir, "images", "shirts");
    mkdirSync(folder, { recursive: true });
    const src = path.join(root, "fixtures/data-tests/folder");
    // Six good images from the data-test fixtures plus one broken PNG.
    const good = spawnSync("find", [src, "-type", "f", "(", "-name", "*.png", "-o", "-name", "*.jpg", ")"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    good.slice(0, 8).forEach((f, i) => copyFileSync(f, path.join(folder, `g${i}${path.extname(f)}`)));
    writeFileSync(path.join(folder, "broken.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    const data = path.join(dir, "images");
    const r = cli(["analyze", VIT, "--data", data, "--batch", "4", "--analyses", "cka", "--out", path.join(dir, "d.html"), "--quiet"]);
    expectBadInput(r, /broken\.png/);
    const ok = cli(["analyze", VIT, "--data", data, "--batch", "4", "--analyses", "cka", "--skip-bad", "--out", path.join(dir, "d.html"), "--quiet"]);
    expect(ok.status, ok.stderr).toBe(0);
    const results = JSON.parse(readFileSync(path.join(dir, "d", "results.json"), "utf8"));
    expect(results.skipped.map((s: { file: string }) => path.basename(s.file))).toEqual(["broken.png"]);
  });

  it("linear probes asked for without labelled training data are refused", () => {
    expectBadInput(cli(["analyze", VIT, "--data", DATA, "--analyses", "probes", "--out", path.join(dir, "e.html")]), /training split/);
  });

  it("a batch below 4 with the unbiased estimator is refused", () => {
    expectBadInput(cli(["analyze", VIT, "--data", DATA, "--batch", "3", "--out", path.join(dir, "f.html")]), /at least 4/);
  });

  it("an image size the model cannot take is refused before inference", () => {
    expectBadInput(cli(["analyze", VIT, "--data", DATA, "--crop", "50", "--limit", "16", "--batch", "8", "--out", path.join(dir, "g.html")]), /64×64|\[3,50,50\]|50×50/);
  });

  it("--device cuda without the CUDA provider is a clear error", () => {
    expectBadInput(cli(["analyze", VIT, "--data", DATA, "--device", "cuda", "--limit", "16", "--batch", "8", "--out", path.join(dir, "h.html")]), /cuda/);
  });

  it("NaN activations stop the run with the model and the site named", () => {
    // A copy of the ViT with its first LayerNorm scale set to NaN.
    const bytes = new Uint8Array(readFileSync(VIT));
    const { graphFields } = modelSpans(bytes);
    const init = graphFields.filter((s) => s.field === GRAPH.initializer).map((s) => tensorHeader(bytes, s)).find((h) => /norm1\.weight$/.test(h.name) && h.dataType === 1 && h.payload.length);
    expect(init, "a LayerNorm weight initializer").toBeDefined();
    const p = init!.payload[0];
    const view = new DataView(bytes.buffer, bytes.byteOffset + p.payload, p.end - p.payload);
    for (let i = 0; i + 4 <= view.byteLength; i += 4) view.setFloat32(i, NaN, true);
    const f = path.join(dir, "nan.onnx");
    writeFileSync(f, bytes);
    const r = cli(["analyze", f, "--data", DATA, "--limit", "16", "--batch", "8", "--analyses", "cka", "--out", path.join(dir, "i.html")]);
    expectBadInput(r, /nan\.onnx: non-finite activations/);
    expect(existsSync(path.join(dir, "i", "results.json"))).toBe(false);
  });

  it("report re-renders results.json without recomputing", () => {
    const out = path.join(dir, "j.html");
    const r = cli(["analyze", MIXER, "--data", DATA, "--limit", "32", "--batch", "16", "--analyses", "cka,skip", "--out", out, "--quiet"]);
    expect(r.status, r.stderr).toBe(0);
    const again = cli(["report", path.join(dir, "j", "results.json"), "--out", path.join(dir, "k.html")]);
    expect(again.status, again.stderr).toBe(0);
    const html = readFileSync(path.join(dir, "k.html"), "utf8");
    expect(html).toContain("Content-Security-Policy");
    expect(html).toContain("blocks.0.out");
    expectBadInput(cli(["report", path.join(dir, "nothing.json"), "--out", path.join(dir, "l.html")]), /nothing\.json: no such file/);
  });

  for (const [what, args] of [
    ["demo", ["demo", "--limit", "400", "--batch", "100"]],
    ["compare", ["compare", VIT, MIXER, "--data", DATA, "--limit", "256", "--batch", "16", "--analyses", "cka,skip", "--threads", "1"]],
  ] as const) {
    it(`Ctrl-C during ${what} stops after the batch with a checkpoint and exits 130`, async () => {
      const out = path.join(dir, `sigint-${what}/report.html`);
      const child = spawn(process.execPath, [bin, ...args, "--out", out], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      let sent = false;
      child.stderr.on("data", (d) => {
        stderr += d;
        // The first progress line: the run is streaming batches.
        if (!sent && /img|batch|\d+\s*\//.test(stderr)) {
          sent = true;
          child.kill("SIGINT");
        }
      });
      const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
      expect(sent, stderr).toBe(true);
      expect(code, stderr).toBe(130);
      expect(stderr).toMatch(/stopping after this batch/);
      expect(stderr).toMatch(/interrupted; state saved to .*, continue with --resume/);
      expect(existsSync(path.join(dir, `sigint-${what}/report/results.json`))).toBe(false);
    });
  }
});
