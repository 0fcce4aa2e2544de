#!/usr/bin/env node
/**
 * Fuzz worker: runs each model file of a list through the pipeline a CLI run takes before its
 * first batch (loadModel → discoverSites → exposeOutputs → createSession → run one batch), and
 * each image file through decodeImage → preprocess, and prints one JSON line per case: {i, outcome: "result" | "error" | "unexpected", ...}.
 *
 * "error" is an InputError/UsageError/RangeError (the CLI's exit code 2, one line);
 * "unexpected" is any other exception (exit code 1 — a bug). A native crash or a hang shows as
 * the process dying or going silent, which the parent (tests/fuzz-models.test.ts) detects.
 *
 * Usage: node tests/fuzz-worker.mjs LIST.json   (LIST: JSON array of file paths; uses dist/)
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => import(path.join(root, "dist", "src", p));
const { loadModel } = await dist("onnx/model.js");
const { discoverSites } = await dist("onnx/sites.js");
const { exposeOutputs } = await dist("onnx/surgery.js");
const { createSession, run, release } = await dist("runtime/session.js");
const { InputError, UsageError } = await dist("errors.js");
const { modelMemory, setMaxMemory } = await dist("limits.js");
const { decodeImage } = await dist("data/image.js");
const { preprocess, resolvePreprocess } = await dist("data/preprocess.js");

const files = JSON.parse(readFileSync(process.argv[2], "utf8"));
const start = Number(process.argv[3] ?? 0);
// Generous for the fixtures (the batch stays small) and far below the machine: as in the CLI,
// a mutated dim that asks for terabytes is refused before onnxruntime allocates it.
const MAX_MEMORY = 2 ** 31;
setMaxMemory(MAX_MEMORY);
const IMAGE = /\.(png|jpe?g|webp|gif|tiff?)$/i;
const PRE = resolvePreprocess("imagenet", undefined, { resize: 40, crop: 32 }, { channels: 3, height: 32, width: 32 });

/** An image case: decode (header checked against the limit first), then preprocess. */
async function image(file) {
  const img = await decodeImage(file);
  const { shape } = preprocess(img, PRE);
  return { shape, decoded: [img.height, img.width, img.channels] };
}

function dimOf(d, fallback) {
  return typeof d === "number" && d > 0 ? d : fallback;
}

async function one(file) {
  const model = await loadModel(file);
  const sites = discoverSites(model);
  const names = new Set();
  for (const b of sites.blocks) {
    for (const t of Object.values(b.sites)) names.add(t);
    if (b.attention) names.add(b.attention.tensor);
  }
  for (const r of sites.residuals) {
    names.add(r.z);
    names.add(r.fz);
  }
  const list = [...names];
  const shape = model.imageInput.shape ?? [];
  const dims = [2, dimOf(shape[1], 3), dimOf(shape[2], 32), dimOf(shape[3], 32)];
  modelMemory(model, { batch: 2, inputShape: dims, maxMemory: MAX_MEMORY });
  const session = await createSession(exposeOutputs(model, list), { threads: 1, file });
  try {
    const n = dims.reduce((a, b) => a * b, 1);
    const out = await run(session, { [model.imageInput.name]: { data: new Float32Array(n).fill(0.25), shape: dims } }, session.outputNames);
    return { outputs: Object.keys(out).length, sites: list.length, family: sites.family };
  } finally {
    await release(session);
  }
}

for (let i = start; i < files.length; i++) {
  const t0 = performance.now();
  let line;
  try {
    const r = IMAGE.test(files[i]) ? await image(files[i]) : await one(files[i]);
    line = { i, outcome: "result", ...r };
  } catch (e) {
    const expected = e instanceof InputError || e instanceof UsageError || e instanceof RangeError;
    const message = String(e?.message ?? e);
    line = { i, outcome: expected ? "error" : "unexpected", name: e?.name, message: message.slice(0, 400), lines: message.trim().split("\n").length };
    if (!expected) line.stack = String(e?.stack ?? "").split("\n").slice(0, 6).join(" | ");
  }
  line.ms = Math.round(performance.now() - t0);
  process.stdout.write(JSON.stringify(line) + "\n");
}
