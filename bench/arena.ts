/**
 * `node dist/bench/arena.js DATA ANALYSES BATCHES BATCH MODEL...`: resident memory run by run.
 * Opens one session per model with the taps that `seelike compare MODEL... --analyses ANALYSES`
 * appends to it, with the engine's session options, runs BATCHES batches of one BATCH-sized input
 * through the sessions in turn as a pass does, and prints VmRSS and VmHWM after every run: how
 * far each model's onnxruntime arena grows, and on which run (issue 17: on ViT-B/16 with
 * attention collapse the second batch still adds a third of a GB). ANALYSES `plain` runs the
 * models with no taps. DATA is only read to plan the taps (`--data`).
 *
 * The full-size bench (`--fullsize`) gives whole runs' peaks; this one says which session and
 * which run a peak comes from.
 */
import { readFileSync } from "node:fs";
import { prepare, type AnalysisId } from "../src/plan/index.js";
import { tappedModel } from "../src/engine/stream.js";
import { createSession, release, run, type Session } from "../src/runtime/session.js";

const [data, analyses, batchesArg, batchArg, ...files] = process.argv.slice(2);
if (!data || !analyses || !files.length) {
  process.stderr.write("usage: node dist/bench/arena.js DATA ANALYSES|plain BATCHES BATCH MODEL...\n");
  process.exit(2);
}
const batches = Number(batchesArg ?? 3);
const batch = Number(batchArg ?? 64);

/** VmRSS and VmHWM of this process, MB of 2^20 bytes. */
function memory(): string {
  const status = readFileSync("/proc/self/status", "utf8");
  const mb = (key: string) => Math.round(Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024);
  return `VmRSS ${mb("VmRSS")} MB, VmHWM ${mb("VmHWM")} MB`;
}

const plan = await prepare(files, { data, limit: batch, batch, seed: 0, analyses: analyses === "plain" ? ["cka"] : (analyses.split(",") as AnalysisId[]), threads: 2 });
const opened: { label: string; session: Session; outputs: string[]; input: string; shape: number[]; data: Float32Array }[] = [];
for (const em of plan.models) {
  const specs = analyses === "plain" ? [] : plan.drivers.flatMap((d) => d.driver.taps("main", em.index));
  const { bytes, names } = tappedModel(em, specs);
  const session = await createSession(bytes, { threads: 2, memoryPattern: false, spinning: plan.models.length === 1, file: em.file });
  const [c, h, w] = em.geometry.input!.shape;
  // One input per model, made before the first run: no JS allocation between runs adds to the RSS read after them.
  const data = new Float32Array(batch * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
  opened.push({ label: em.label, session, outputs: names.length ? names : [...session.outputNames], input: em.model.imageInput.name, shape: [batch, c, h, w], data });
}
process.stdout.write(`${analyses}, batch ${batch}: sessions open: ${memory()}\n`);
for (let b = 0; b < batches; b++) {
  for (const o of opened) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await run(o.session, { [o.input]: { data: o.data, shape: o.shape } }, o.outputs);
    const cpu = process.cpuUsage(c0);
    process.stdout.write(`batch ${b} ${o.label}: ${((performance.now() - t0) / 1000).toFixed(2)} s (system ${(cpu.system / 1e6).toFixed(1)} s): ${memory()}\n`);
  }
}
for (const o of opened) await release(o.session);
