/**
 * `npm run bench -- --fullsize`: the full-size targets, each run a fresh process timed from its
 * start to its results written (`/usr/bin/time`: wall seconds and peak RSS), side by side:
 *
 * - plain onnxruntime inference of both models over the same images and batches (the floor:
 *   the same data pipeline, no taps, nothing kept);
 * - the first batch's floor with attention collapse: the same, with the engine's session options
 *   and every ViT attention map held until the last layer's exists (bench/plain.ts
 *   --hold-attention), the least memory an exact collapse holds, so the fresh pages its first
 *   batch must fault in;
 * - `seelike compare --analyses cka` and `seelike compare` with every analysis that needs no
 *   second data split, with onnxruntime's memory arena (the default) and without (`--low-memory`);
 * - the same CKA job through PyTorch forward hooks and float32 HSIC (bench/torch_cka.py, as the
 *   widely used PyTorch tools do it), on Debian's torch, when /usr/bin/python3 has torch.
 *
 * Models: ViT-B/16 and ResNet-50 with random weights from fixtures/models/make_fullsize.py;
 * images: N random 224×224 RGB (uint8 .npy made once, seeded). Runs interleave over --reps
 * rounds (default 1) and each ratio is of medians.
 *
 * Flags: --fullsize, --images N (256), --batch B (64), --reps R (1), --no-torch.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { writeNpy } from "../src/data/npy.js";

interface Run {
  seconds: number;
  rssMB: number;
  /** Kernel (system) CPU seconds of the process: on a VM that hands freed memory back to its host, mostly first touches of fresh pages. */
  system: number;
  /** First batch and steady batch seconds where the run reports them. */
  first?: number;
  steady?: number;
  extra?: string;
}

/** A seeded uint8 [N, 224, 224, 3] image array (xorshift; only its size and spread matter). */
async function images(file: string, n: number): Promise<void> {
  if (existsSync(file)) return;
  const data = new Uint8Array(n * 224 * 224 * 3);
  let s = 0x2545f491;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    data[i] = s & 255;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  await writeNpy(file, data, [n, 224, 224, 3]);
}

/** Runs argv under /usr/bin/time; wall seconds, system CPU seconds and max RSS of the command itself (not of this process). */
function timed(argv: string[], cwd: string): { seconds: number; rssMB: number; system: number; stdout: string } {
  const r = spawnSync("/usr/bin/time", ["-f", "TIME %e %M %S", ...argv], { cwd, encoding: "utf8", maxBuffer: 1 << 26 });
  const m = /TIME ([\d.]+) (\d+) ([\d.]+)/.exec(r.stderr ?? "");
  if (r.status !== 0 || !m) throw new Error(`${argv.join(" ")} failed (${r.status}):\n${(r.stderr ?? "").slice(-4000)}`);
  return { seconds: Number(m[1]), rssMB: Number(m[2]) / 1024, system: Number(m[3]), stdout: r.stdout };
}

/**
 * What first touching memory costs on this machine: a fresh process writes 1 GiB, twice in a
 * row, each under /usr/bin/time (system seconds). Every run's first batch grows onnxruntime's
 * arena by pages no earlier run left resident; on a VM whose guest hands freed pages back to the
 * host (free page reporting), each of them costs a host fault, and the first figure is many
 * times the second. Printed beside the first-batch ratios, which that cost dominates here.
 */
function touchCost(cwd: string): { fresh: number; again: number; reporting?: string } {
  const once = () => timed(["node", "-e", "Buffer.alloc(2 ** 30).fill(1)"], cwd).system;
  const fresh = once();
  const again = once();
  const dir = "/sys/module/page_reporting/parameters";
  const param = (k: string) => (existsSync(path.join(dir, k)) ? readFileSync(path.join(dir, k), "utf8").trim() : undefined);
  const order = param("page_reporting_order");
  return { fresh, again, ...(order !== undefined ? { reporting: `free page reporting to the host: /sys/module/page_reporting has page_reporting_order ${order}${param("min_free_ms") !== undefined ? `, min_free_ms ${param("min_free_ms")}` : ""}` } : {}) };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function seelikeRun(root: string, models: string[], data: string, n: number, batch: number, analyses: string, out: string, extra: string[] = []): Run {
  rmSync(out, { recursive: true, force: true });
  const t = timed(["node", path.join(root, "bin/seelike.js"), "compare", ...models, "--data", data, "--limit", String(n), "--batch", String(batch), "--threads", "2", "--analyses", analyses, ...extra, "--quiet", "--out", path.join(out, "report.html")], root);
  const results = JSON.parse(readFileSync(path.join(out, "report", "results.json"), "utf8"));
  const timings: Record<string, number> = results.timings ?? {};
  const first = timings["first-batch:main"];
  const pass = timings["pass:main"];
  const nb = Math.ceil(n / batch);
  const steady = first !== undefined && pass !== undefined && nb > 1 ? (pass - first) / (nb - 1) : undefined;
  return { seconds: t.seconds, rssMB: t.rssMB, system: t.system, first, steady };
}

export async function fullsizeBench(root: string, argv: string[], say: (s: string) => void): Promise<void> {
  const flag = (name: string, dflt: number) => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  const n = flag("--images", 256);
  const batch = flag("--batch", 64);
  const reps = flag("--reps", 1);
  const dir = path.join(root, ".cache/fullsize");
  const models = [path.join(dir, "tv_vit_b16_op14.onnx"), path.join(dir, "tv_resnet50_op14.onnx")];
  const missing = models.filter((m) => !existsSync(m));
  if (missing.length) {
    say(`(skipping the full-size bench: ${missing.join(", ")} absent; run /usr/bin/python3 fixtures/models/make_fullsize.py)`);
    return;
  }
  const data = path.join(root, ".cache/bench", `images-${n}.npy`);
  await images(data, n);
  const torch = !argv.includes("--no-torch") && spawnSync("/usr/bin/python3", ["-c", "import torch, torchvision"]).status === 0;
  const everything = "cka,rbf-cka,attention,skip,localisation,collapse,embeddings,accuracy";
  const runs: Record<string, Run[]> = { plain: [], held: [], cka: [], all: [], low: [], torch: [] };
  const plainRun = (extra: string[]): Run => {
    const p = timed(["node", path.join(root, "dist/bench/plain.js"), ...extra, data, String(n), String(batch), ...models], root);
    const pj = JSON.parse(p.stdout.trim().split("\n").pop()!);
    return { seconds: p.seconds, rssMB: p.rssMB, system: p.system, first: pj.first, steady: pj.steady };
  };
  const touch = touchCost(root);
  for (let r = 0; r < reps; r++) {
    runs.plain.push(plainRun([]));
    runs.held.push(plainRun(["--hold-attention"]));
    runs.cka.push(seelikeRun(root, models, data, n, batch, "cka", path.join(root, ".cache/bench/out-cka")));
    runs.all.push(seelikeRun(root, models, data, n, batch, everything, path.join(root, ".cache/bench/out-all")));
    runs.low.push(seelikeRun(root, models, data, n, batch, everything, path.join(root, ".cache/bench/out-low"), ["--low-memory"]));
    if (torch) {
      const t = timed(["/usr/bin/python3", path.join(root, "bench/torch_cka.py"), data, String(batch), "2"], root);
      const tj = JSON.parse(t.stdout.trim().split("\n").pop()!);
      runs.torch.push({ seconds: t.seconds, rssMB: t.rssMB, system: t.system, first: tj.first, extra: `NaN in ${tj.nan} of ${tj.cells} cells` });
    }
  }
  const plainS = median(runs.plain.map((x) => x.seconds));
  const plainRss = median(runs.plain.map((x) => x.rssMB));
  say(`\n## Full size: ViT-B/16 + ResNet-50 (random weights), ${n} random 224×224 images, batch ${batch}, 2 threads; process start to results written (/usr/bin/time), median of ${reps}`);
  say(`This machine: writing 1 GiB in a fresh process costs ${touch.fresh.toFixed(2)} s of system time, ${touch.again.toFixed(2)} s when repeated at once${touch.reporting ? `; ${touch.reporting}` : ""}. A run's first batch pays that rate for every page its arena grows by.`);
  say("run | time s | ratio to plain (target) | peak RSS MB | RSS ratio (target) | first batch / steady batch (target ≤ 1.2) | system s");
  const row = (name: string, xs: Run[], tTarget: string, rTarget: string) => {
    if (!xs.length) return;
    const s = median(xs.map((x) => x.seconds));
    const rss = median(xs.map((x) => x.rssMB));
    const fs = xs.filter((x) => x.first !== undefined && x.steady !== undefined);
    const fsr = fs.length ? median(fs.map((x) => x.first! / x.steady!)).toFixed(2) : "–";
    say(`${name} | ${s.toFixed(1)} | ${(s / plainS).toFixed(3)} ${tTarget} | ${rss.toFixed(0)} | ${(rss / plainRss).toFixed(2)} ${rTarget} | ${fsr} | ${median(xs.map((x) => x.system)).toFixed(1)}${xs[0].extra ? ` | ${xs[0].extra}` : ""}`);
  };
  row("plain onnxruntime inference (floor)", runs.plain, "", "");
  row("first-batch floor with collapse: plain inference, every attention map held to the last layer (bench/plain.ts --hold-attention)", runs.held, "", "");
  row("seelike compare --analyses cka", runs.cka, "(≤ 1.10)", "(≤ 1.5)");
  row("seelike compare, all analyses", runs.all, "(≤ 1.25)", "(≤ 2)");
  row("seelike compare, all analyses, --low-memory (no onnxruntime arena)", runs.low, "(≤ 1.25)", "(≤ 2)");
  row("PyTorch hooks + float32 HSIC, CKA only", runs.torch, "", "");
  if (runs.torch.length) say(`seelike CKA is ${(median(runs.torch.map((x) => x.seconds)) / median(runs.cka.map((x) => x.seconds))).toFixed(2)}× as fast as the PyTorch pipeline (target ≥ 2)`);
  else say("(PyTorch side skipped: /usr/bin/python3 has no torch; apt-get install python3-torch python3-torchvision libopenblas0-pthread)");
}
