/**
 * Per-batch wall times of one engine pass, and the process's peak RSS: what the first batches
 * cost against the steady state (onnxruntime warm-up), which `npm run bench` only summarises.
 *
 *   npm run build && node dist/bench/batches.js MODEL.onnx [images=160] [batch=32] [analyses=all but probes]
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { runModels, packageRoot } from "../src/api/index.js";
import type { AnalysisId } from "../src/plan/index.js";

const [file, n = "160", batch = "32", list = "cka,attention,skip,localisation,collapse,embeddings"] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: node dist/bench/batches.js MODEL.onnx [images] [batch] [analyses]\n");
  process.exit(2);
}
let last = 0;
const times: number[] = [];
const r = await runModels([file], {
  data: path.join(packageRoot(), "fixtures/data/probe-images-idx3-ubyte.gz"),
  limit: Number(n),
  batch: Number(batch),
  seed: 0,
  analyses: list.split(",") as AnalysisId[],
  threads: 2,
  onProgress: (p) => {
    times.push(p.elapsed - last);
    last = p.elapsed;
  },
});
const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
process.stdout.write(`${list} on ${path.basename(file)}, batch ${batch}: per batch s ${times.map((t) => t.toFixed(2)).join(" ")}; pass ${r.timings["pass:main"].toFixed(2)} s; peak RSS ${hwm ? Math.round(Number(hwm[1]) / 1024) : "?"} MB\n`);
