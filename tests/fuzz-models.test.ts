/**
 * Model and image fuzzing: mutated copies of the fixture and zoo models (bit flips, truncation, protobuf
 * field splices at the wire level — swap/duplicate/delete fields, corrupt varints and lengths,
 * changed dims/data_type of initializers, rewired node inputs) go through the pipeline a CLI run
 * takes before its first batch, in child worker processes (tests/fuzz-worker.mjs). Asserted:
 * no native crash (the worker dies), no hang (the worker goes silent), and every case ends in a
 * result or a one-line InputError/UsageError/RangeError (the CLI's exit code 2). A fifth of the
 * cases are mutated images (bit flips, truncation, header bytes, PNG IHDR dimensions with a valid
 * CRC) through decodeImage → preprocess.
 *
 * SEELIKE_FUZZ_CASES=N (default 2000) sets the number of cases; SEELIKE_FUZZ_SEED the seed.
 * A crashing or hanging case is copied to test-artifacts/fuzz/ for reproduction
 * (`node tests/fuzz-worker.mjs LIST.json` on a list holding its path). Needs `npm run build`.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spans, encodeVarint, lengthDelimited, concat, MODEL, GRAPH, TENSOR, type Span } from "../src/onnx/wire.js";

const root = path.resolve(__dirname, "..");
const worker = path.join(root, "tests", "fuzz-worker.mjs");
const CASES = Number(process.env.SEELIKE_FUZZ_CASES ?? 2000);
const SEED = Number(process.env.SEELIKE_FUZZ_SEED ?? 20261122);
const WORKERS = 2;
/** A case silent for this long is a hang (a normal case takes well under a second). */
const HANG_MS = 30_000;

/** Small models first: most cases go to the small ones so the default run stays within minutes. */
const SOURCES = [
  { file: "tests/bad-models/valid.onnx", weight: 6 },
  { file: "fixtures/models/mixer_op17.onnx", weight: 2 },
  { file: "fixtures/models/timm_vit_op17.onnx", weight: 2 },
  { file: "fixtures/models/timm_vit_gap_op14.onnx", weight: 1 },
  { file: "fixtures/models/tv_resnet50_op14.onnx", weight: 1 },
  { file: "fixtures/models/tv_vit_b16_op17.onnx", weight: 1 },
  { file: "fixtures/zoo/resnet-tiny.onnx", weight: 1 },
  { file: "fixtures/zoo/vit-tiny.onnx", weight: 1 },
].filter((s) => existsSync(path.join(root, s.file)));

/** Images fuzzed through decodeImage → preprocess (a share IMAGE_SHARE of the cases). */
const IMAGES = [
  "fixtures/data-tests/folder/Zebra/z1.png", "fixtures/data-tests/folder/ant/a1.webp", "fixtures/data-tests/folder/bee/b1.jpg",
  "fixtures/data-tests/misc/exif_rot6.jpg", "fixtures/data-tests/misc/grey_alpha.png", "fixtures/data-tests/misc/icc_srgb.png",
  "fixtures/data-tests/misc/palette_trns.png", "fixtures/data-tests/misc/rgba.png", "tests/bad-inputs/folders/png-16-bit/grey16.png",
  "tests/bad-inputs/folders/jpeg-cmyk/cmyk.jpg",
].filter((f) => existsSync(path.join(root, f)));
const IMAGE_SHARE = 0.2;

/** mulberry32: a small seeded generator, so a failing case can be regenerated from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)] };
}
type Rng = ReturnType<typeof rng>;

/** Every length-delimited message span down the ModelProto → GraphProto → Node/Tensor/ValueInfo tree. */
function messageTree(bytes: Uint8Array) {
  const top = spans(bytes);
  const graph = top.find((s) => s.field === MODEL.graph);
  const graphFields = graph ? spans(bytes, graph.payload, graph.end) : [];
  return { top, graph, graphFields };
}

/** Replaces bytes [start, end) with `insert`. */
function splice(bytes: Uint8Array, start: number, end: number, insert: Uint8Array): Uint8Array {
  return concat([bytes.subarray(0, start), insert, bytes.subarray(end)]);
}

/**
 * Rewrites a field inside the graph and keeps the enclosing lengths right (graph field length),
 * so the mutation reaches deep validation rather than failing at the first length check.
 */
function replaceInGraph(bytes: Uint8Array, graph: Span, start: number, end: number, insert: Uint8Array): Uint8Array {
  const inner = splice(bytes.subarray(graph.payload, graph.end), start - graph.payload, end - graph.payload, insert);
  return splice(bytes, graph.start, graph.end, lengthDelimited(MODEL.graph, inner));
}

/** A message's fields rebuilt from spans, with one field changed by `edit`. */
function rebuildMessage(bytes: Uint8Array, msg: Span, edit: (fields: Span[], parts: Uint8Array[]) => void, field: number): Uint8Array {
  const fields = spans(bytes, msg.payload, msg.end);
  const parts = fields.map((f) => bytes.subarray(f.start, f.end));
  edit(fields, parts);
  return lengthDelimited(field, concat(parts));
}

/** CRC-32 (PNG chunks). */
function crc32(bytes: Uint8Array): number {
  let c = ~0 >>> 0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

const IMAGE_MUTATORS: Record<string, (b: Uint8Array, r: Rng) => Uint8Array> = {
  imageBitflip(b, r) {
    const out = Uint8Array.from(b);
    for (let k = 1 + r.int(8); k > 0; k--) out[r.int(out.length)] ^= 1 << r.int(8);
    return out;
  },
  imageTruncate(b, r) {
    return b.slice(0, r.int(b.length));
  },
  imageHeaderBytes(b, r) {
    // The first 64 bytes hold the header (PNG IHDR, JPEG SOF/markers, WebP VP8 frame size).
    const out = Uint8Array.from(b);
    for (let k = 1 + r.int(4); k > 0; k--) out[8 + r.int(Math.min(56, out.length - 8))] = r.pick([0x00, 0xff, 0x7f, 0x80, r.int(256)]);
    return out;
  },
  pngDims(b, r) {
    // A PNG whose IHDR claims other dimensions or bit depth, with a valid CRC (reaches the decoder).
    if (b[1] !== 0x50 || b[2] !== 0x4e) return b;
    const out = Uint8Array.from(b);
    const v = new DataView(out.buffer);
    const which = r.int(3);
    if (which < 2) v.setUint32(16 + 4 * which, r.pick([0, 1, 2 ** 31 - 1, 65535, 100000, 40000, v.getUint32(16 + 4 * which) * 2 + 1]));
    else out[24] = r.pick([0, 1, 2, 3, 4, 5, 8, 16, 32]);
    v.setUint32(29, crc32(out.subarray(12, 29)));
    return out;
  },
};

const MUTATORS: Record<string, (b: Uint8Array, r: Rng) => Uint8Array> = {
  bitflip(b, r) {
    const out = Uint8Array.from(b);
    const n = 1 + r.int(8);
    // Half the flips land in the first 4 KiB, where the structure is (weights follow).
    for (let k = 0; k < n; k++) out[r.next() < 0.5 ? r.int(Math.min(4096, out.length)) : r.int(out.length)] ^= 1 << r.int(8);
    return out;
  },
  truncate(b, r) {
    return b.slice(0, r.next() < 0.5 ? r.int(Math.min(b.length, 8192)) : r.int(b.length));
  },
  randomBytes(b, r) {
    const out = Uint8Array.from(b);
    const at = r.int(out.length);
    const n = 1 + r.int(64);
    for (let k = 0; k < n && at + k < out.length; k++) out[at + k] = r.int(256);
    return out;
  },
  varint(b, r) {
    // A corrupt varint or length: a tag or length byte replaced by a large/continuation value.
    const { graphFields } = messageTree(b);
    const f = r.pick(graphFields);
    const out = Uint8Array.from(b);
    const at = f.start + r.int(Math.max(1, f.payload - f.start));
    out[at] = r.pick([0xff, 0x80, 0x00, 0x7f, out[at] + 1, out[at] - 1]) & 0xff;
    return out;
  },
  length(b, r) {
    // A length-delimited graph field whose length prefix lies (longer, shorter, huge).
    const { graph, graphFields } = messageTree(b);
    const f = r.pick(graphFields.filter((s) => s.wireType === 2));
    const len = f.end - f.payload;
    const lie = r.pick([len + 1, Math.max(0, len - 1), len * 2, 0, 2 ** 31 - 1, 2 ** 35]);
    const tag = encodeVarint(f.field * 8 + 2);
    return replaceInGraph(b, graph!, f.start, f.payload, concat([tag, encodeVarint(lie)]));
  },
  deleteField(b, r) {
    const { top, graph, graphFields } = messageTree(b);
    if (r.next() < 0.3) {
      const f = r.pick(top);
      return splice(b, f.start, f.end, new Uint8Array(0));
    }
    const f = r.pick(graphFields);
    return replaceInGraph(b, graph!, f.start, f.end, new Uint8Array(0));
  },
  duplicateField(b, r) {
    const { graph, graphFields } = messageTree(b);
    const f = r.pick(graphFields);
    const field = b.subarray(f.start, f.end);
    return replaceInGraph(b, graph!, f.start, f.end, concat([field, field]));
  },
  swapFields(b, r) {
    const { graph, graphFields } = messageTree(b);
    let i = r.int(graphFields.length);
    let j = r.int(graphFields.length);
    if (i > j) [i, j] = [j, i];
    if (i === j) return b;
    const a = graphFields[i];
    const c = graphFields[j];
    const mid = b.subarray(a.end, c.start);
    return replaceInGraph(b, graph!, a.start, c.end, concat([b.subarray(c.start, c.end), mid, b.subarray(a.start, a.end)]));
  },
  wrongWireType(b, r) {
    // A field's tag with another wire type (a protobuf with wrong field types).
    const { graph, graphFields } = messageTree(b);
    const f = r.pick(graphFields);
    const wt = r.pick([0, 1, 2, 5].filter((w) => w !== f.wireType));
    const tag = encodeVarint(f.field * 8 + wt);
    const old = spans(b, f.start, f.end).length ? encodeVarint(f.field * 8 + f.wireType).length : 1;
    return replaceInGraph(b, graph!, f.start, f.start + old, tag);
  },
  initializerDims(b, r) {
    const { graph, graphFields } = messageTree(b);
    const inits = graphFields.filter((s) => s.field === GRAPH.initializer);
    if (!inits.length) return b;
    const t = r.pick(inits);
    const msg = rebuildMessage(b, t, (fields, parts) => {
      const dims = fields.map((f, k) => [f, k] as const).filter(([f]) => f.field === TENSOR.dims);
      const choice = r.int(4);
      const value = r.pick([0, 1, 2, 3, 7, 1000, 2 ** 31, 2 ** 40, 2 ** 53 - 1]);
      const dimField = (v: number) => concat([encodeVarint(TENSOR.dims * 8), encodeVarint(v)]);
      if (choice === 0 && dims.length) parts[r.pick(dims)[1]] = dimField(value);
      else if (choice === 1 && dims.length) parts[r.pick(dims)[1]] = new Uint8Array(0);
      else if (choice === 2) parts.unshift(dimField(value));
      else {
        // A negative dim: int64 −1 as a ten-byte varint.
        parts.unshift(concat([encodeVarint(TENSOR.dims * 8), Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])]));
      }
    }, GRAPH.initializer);
    return replaceInGraph(b, graph!, t.start, t.end, msg);
  },
  initializerType(b, r) {
    const { graph, graphFields } = messageTree(b);
    const inits = graphFields.filter((s) => s.field === GRAPH.initializer);
    if (!inits.length) return b;
    const t = r.pick(inits);
    const msg = rebuildMessage(b, t, (fields, parts) => {
      const k = fields.findIndex((f) => f.field === TENSOR.dataType);
      const dt = concat([encodeVarint(TENSOR.dataType * 8), encodeVarint(r.pick([0, 2, 3, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 23, 40, 255]))]);
      if (k >= 0) parts[k] = dt;
      else parts.push(dt);
    }, GRAPH.initializer);
    return replaceInGraph(b, graph!, t.start, t.end, msg);
  },
  rewireNode(b, r) {
    // A node input (or output) renamed to another tensor of the graph, a new name, or its own output.
    const { graph, graphFields } = messageTree(b);
    const nodes = graphFields.filter((s) => s.field === GRAPH.node);
    if (!nodes.length) return b;
    const names: string[] = [];
    for (const n of nodes) for (const f of spans(b, n.payload, n.end)) if (f.field === 1 || f.field === 2) names.push(new TextDecoder().decode(b.subarray(f.payload, f.end)));
    const n = r.pick(nodes);
    const msg = rebuildMessage(b, n, (fields, parts) => {
      const io = fields.map((f, k) => [f, k] as const).filter(([f]) => f.field === 1 || (f.field === 2 && r.next() < 0.3));
      if (!io.length) return;
      const [f, k] = r.pick(io);
      const name = r.pick([...names, "does_not_exist", ""]);
      parts[k] = lengthDelimited(f.field, new TextEncoder().encode(name));
    }, GRAPH.node);
    return replaceInGraph(b, graph!, n.start, n.end, msg);
  },
  attribute(b, r) {
    // A node attribute's int/ints/floats bytes changed (kernel shapes, axes, perms, strides).
    const { graph, graphFields } = messageTree(b);
    const nodes = graphFields.filter((s) => s.field === GRAPH.node);
    if (!nodes.length) return b;
    const n = r.pick(nodes);
    const attrs = spans(b, n.payload, n.end).filter((f) => f.field === 5);
    if (!attrs.length) return b;
    const a = r.pick(attrs);
    const inner = spans(b, a.payload, a.end).filter((f) => f.field !== 1 && f.field !== 20);
    if (!inner.length) return b;
    const f = r.pick(inner);
    const out = Uint8Array.from(b);
    const at = f.payload + r.int(Math.max(1, f.end - f.payload));
    out[at] = r.pick([0x00, 0x7f, 0xff, 0x01, 0x40]);
    return out;
  },
  inputDims(b, r) {
    // The image input's declared shape changed (huge, zero, rank): the batch fed follows it, so an
    // absurd size must be refused (--max-memory) rather than allocated.
    const { graph, graphFields } = messageTree(b);
    const inputs = graphFields.filter((s) => s.field === GRAPH.input);
    if (!inputs.length) return b;
    const inp = inputs[0];
    const bytes = Uint8Array.from(b);
    // Find the varint dim_value fields (TensorShapeProto.Dimension field 1) by descending
    // ValueInfo(2: type) → TypeProto(1: tensor_type) → Tensor(2: shape) → Shape(1: dim).
    const down = (s: Span, field: number) => spans(bytes, s.payload, s.end).filter((f) => f.field === field);
    const type = down(inp, 2)[0];
    const tensor = type && down(type, 1)[0];
    const shape = tensor && down(tensor, 2)[0];
    if (!shape) return b;
    const dims = down(shape, 1);
    if (!dims.length) return b;
    const d = r.pick(dims);
    const value = r.pick([0, 1, 5, 4096, 65536, 2 ** 20, 2 ** 31 - 1, 2 ** 40]);
    const dimMsg = lengthDelimited(1, concat([encodeVarint(1 * 8), encodeVarint(value)]));
    // Rebuild shape → tensor → type → value info with the new dim (lengths change).
    const rebuilt = (s: Span, field: number, inner: Span, replacement: Uint8Array) => lengthDelimited(field, splice(bytes.subarray(s.payload, s.end), inner.start - s.payload, inner.end - s.payload, replacement));
    const newShape = rebuilt(shape, 2, d, dimMsg);
    const newTensor = rebuilt(tensor, 1, shape, newShape);
    const newType = rebuilt(type, 2, tensor, newTensor);
    const newInput = rebuilt(inp, GRAPH.input, type, newType);
    return replaceInGraph(bytes, graph!, inp.start, inp.end, newInput);
  },
  opset(b, r) {
    const { top } = messageTree(b);
    const o = top.find((s) => s.field === MODEL.opsetImport);
    if (!o) return b;
    const msg = lengthDelimited(MODEL.opsetImport, concat([encodeVarint(2 * 8), encodeVarint(r.pick([0, 1, 6, 7, 11, 13, 18, 21, 26, 27, 99, 2 ** 40]))]));
    return splice(b, o.start, o.end, msg);
  },
};

interface Line {
  i: number;
  outcome: "result" | "error" | "unexpected";
  name?: string;
  message?: string;
  lines?: number;
  stack?: string;
  ms: number;
}

/** Runs the worker over files[from..] until it ends, dies or hangs; returns its lines and fate. */
function runWorker(list: string, from: number): Promise<{ lines: Line[]; fate: "ok" | "crash" | "hang"; detail: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [worker, list, String(from)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    const lines: Line[] = [];
    let buf = "";
    let err = "";
    let hung = false;
    let timer = setTimeout(onHang, HANG_MS * 3); // first case also pays for module loading
    function onHang() {
      hung = true;
      child.kill("SIGKILL");
    }
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      let k: number;
      while ((k = buf.indexOf("\n")) >= 0) {
        const text = buf.slice(0, k);
        buf = buf.slice(k + 1);
        if (!text.trim()) continue;
        lines.push(JSON.parse(text));
        clearTimeout(timer);
        timer = setTimeout(onHang, HANG_MS);
      }
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()).length > 4000 && (err = err.slice(-4000)));
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      const fate = hung ? "hang" : code === 0 ? "ok" : "crash";
      resolve({ lines, fate, detail: `exit ${code} signal ${signal} ${err.trim().split("\n").slice(-3).join(" | ")}` });
    });
  });
}

/** Processes one list with restarts after a crash or hang; returns a line per case and the bad ones. */
async function fuzzList(files: string[], list: string) {
  const results = new Map<number, Line>();
  const bad: { i: number; fate: "crash" | "hang"; detail: string }[] = [];
  let from = 0;
  while (from < files.length) {
    const r = await runWorker(list, from);
    for (const l of r.lines) results.set(l.i, l);
    from = r.lines.length ? r.lines[r.lines.length - 1].i + 1 : from;
    if (r.fate !== "ok") {
      bad.push({ i: from, fate: r.fate, detail: r.detail });
      from++;
    }
  }
  return { results, bad };
}

describe(`fuzzed models (${CASES} cases, seed ${SEED})`, () => {
  it("never crash or hang, and end in a result or a one-line error with exit code 2", async () => {
    expect(existsSync(path.join(root, "dist/src/limits.js")), "run npm run build first").toBe(true);
    const dir = mkdtempSync(path.join(tmpdir(), "seelike-fuzz-"));
    const r = rng(SEED);
    const names = Object.keys(MUTATORS);
    const totalWeight = SOURCES.reduce((a, s) => a + s.weight, 0);
    const originals = SOURCES.map((s) => new Uint8Array(readFileSync(path.join(root, s.file))));
    const images = IMAGES.map((f) => new Uint8Array(readFileSync(path.join(root, f))));
    const imageNames = Object.keys(IMAGE_MUTATORS);
    const files: string[] = [];
    const meta: { source: string; mutator: string }[] = [];
    for (let c = 0; c < CASES; c++) {
      if (images.length && r.next() < IMAGE_SHARE) {
        const k = r.int(images.length);
        const m = r.pick(imageNames);
        const file = path.join(dir, `case-${String(c).padStart(5, "0")}${path.extname(IMAGES[k])}`);
        writeFileSync(file, IMAGE_MUTATORS[m](images[k], r));
        files.push(file);
        meta.push({ source: IMAGES[k], mutator: m });
        continue;
      }
      let w = r.next() * totalWeight;
      let s = 0;
      while (w >= SOURCES[s].weight) w -= SOURCES[s++].weight;
      let bytes: Uint8Array = originals[s];
      const applied: string[] = [];
      // One to three stacked mutations.
      const n = 1 + (r.next() < 0.7 ? 0 : r.int(3));
      for (let k = 0; k < n; k++) {
        const m = r.pick(names);
        try {
          bytes = MUTATORS[m](bytes, r);
          applied.push(m);
        } catch {
          // A stacked mutation can find the bytes no longer parse at the wire level: keep what we have.
        }
      }
      const file = path.join(dir, `case-${String(c).padStart(5, "0")}.onnx`);
      writeFileSync(file, bytes);
      files.push(file);
      meta.push({ source: SOURCES[s].file, mutator: applied.join("+") });
    }
    // Two workers over interleaved halves (the machine has two cores).
    const lists = Array.from({ length: WORKERS }, (_, w) => files.filter((_, i) => i % WORKERS === w));
    const t0 = performance.now();
    const outs = await Promise.all(lists.map((l, w) => {
      const list = path.join(dir, `list-${w}.json`);
      writeFileSync(list, JSON.stringify(l));
      return fuzzList(l, list);
    }));
    const seconds = (performance.now() - t0) / 1000;

    const counts = { tried: CASES, results: 0, errors: 0, unexpected: 0, multiline: 0, crashes: 0, hangs: 0 };
    const problems: string[] = [];
    const byMutator = new Map<string, { result: number; error: number }>();
    const kinds = new Map<string, number>();
    const artifacts = path.join(root, "test-artifacts", "fuzz");
    outs.forEach((o, w) => {
      for (const l of o.results.values()) {
        const global = l.i * WORKERS + w;
        const m = meta[global].mutator.split("+")[0];
        const e = byMutator.get(m) ?? { result: 0, error: 0 };
        if (l.outcome === "result") (counts.results++, e.result++);
        else if (l.outcome === "error") {
          counts.errors++;
          e.error++;
          // The problem without the file name and numbers, to see which checks fire.
          const kind = (l.message ?? "").replace(/^[^:]*case-\d+\.\w+: /, "").replace(/\d+/g, "#").slice(0, 60);
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        }
        else {
          counts.unexpected++;
          problems.push(`case ${global} (${meta[global].source} ${meta[global].mutator}): ${l.name}: ${l.message} ${l.stack ?? ""}`);
        }
        if (l.outcome === "error" && (l.lines ?? 1) > 1) {
          counts.multiline++;
          problems.push(`case ${global}: multi-line message: ${l.message}`);
        }
        byMutator.set(m, e);
      }
      for (const b of o.bad) {
        const global = b.i * WORKERS + w;
        counts[b.fate === "crash" ? "crashes" : "hangs"]++;
        mkdirSync(artifacts, { recursive: true });
        const keep = path.join(artifacts, `${b.fate}-seed${SEED}-case${global}${path.extname(files[global])}`);
        copyFileSync(files[global], keep);
        problems.push(`case ${global} ${b.fate} (${meta[global].source} ${meta[global].mutator}) saved as ${keep}: ${b.detail}`);
      }
    });
    const unexpectedCases = outs.flatMap((o, w) => [...o.results.values()].filter((l) => l.outcome === "unexpected").map((l) => l.i * WORKERS + w));
    for (const g of unexpectedCases.slice(0, 20)) {
      mkdirSync(artifacts, { recursive: true });
      copyFileSync(files[g], path.join(artifacts, `unexpected-seed${SEED}-case${g}${path.extname(files[g])}`));
    }
    const summary = { ...counts, seconds: Math.round(seconds), byMutator: Object.fromEntries(byMutator), errorKinds: Object.fromEntries([...kinds].sort((a, b) => b[1] - a[1])) };
    mkdirSync(path.join(root, "test-artifacts"), { recursive: true });
    writeFileSync(path.join(root, "test-artifacts", "fuzz-summary.json"), JSON.stringify({ seed: SEED, ...summary, problems: problems.slice(0, 50) }, null, 1));
    console.log(`fuzz: ${JSON.stringify({ ...counts, seconds: summary.seconds })} (details: test-artifacts/fuzz-summary.json)`);
    rmSync(dir, { recursive: true, force: true });
    expect(counts.results + counts.errors + counts.unexpected + counts.crashes + counts.hangs).toBe(CASES);
    expect(problems.slice(0, 10), problems.slice(0, 10).join("\n")).toEqual([]);
    expect(counts.crashes).toBe(0);
    expect(counts.hangs).toBe(0);
    // The corpus must exercise both outcomes, or the mutations are not reaching the pipeline.
    expect(counts.results).toBeGreaterThan(0);
    expect(counts.errors).toBeGreaterThan(0);
  }, 900_000);

  // The whole CLI (engine taps, graph surgery, reducers) on a smaller sample of mutants:
  // exit 0, or exit 2 with one stderr line; never a signal, never exit 1.
  const CLI_CASES = Number(process.env.SEELIKE_FUZZ_CLI_CASES ?? 40);
  it(`the CLI on ${CLI_CASES} mutated ViT/Mixer models exits 0 or 2 with one line`, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "seelike-fuzz-cli-"));
    const r = rng(SEED + 1);
    const srcs = ["fixtures/models/timm_vit_op17.onnx", "fixtures/models/mixer_op17.onnx"].map((f) => new Uint8Array(readFileSync(path.join(root, f))));
    const data = path.join(root, "tests/bad-inputs/arrays/npy-uint8-ok.npy");
    const names = Object.keys(MUTATORS);
    const cases: { file: string; mutator: string }[] = [];
    for (let c = 0; c < CLI_CASES; c++) {
      const m = r.pick(names);
      let bytes: Uint8Array = srcs[r.int(srcs.length)];
      try {
        bytes = MUTATORS[m](bytes, r);
      } catch {
        // keep the original when a mutation does not apply
      }
      const file = path.join(dir, `cli-${c}.onnx`);
      writeFileSync(file, bytes);
      cases.push({ file, mutator: m });
    }
    const runOne = (file: string) =>
      new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [path.join(root, "bin/seelike.js"), "analyze", file, "--data", data, "--batch", "4", "--analyses", "cka,attention,skip", "--quiet", "--threads", "1", "--out", file.replace(/\.onnx$/, ".html")], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.on("data", (d) => (stderr += d));
        const t = setTimeout(() => child.kill("SIGKILL"), HANG_MS * 2);
        child.on("exit", (code, signal) => {
          clearTimeout(t);
          resolve({ code, signal, stderr });
        });
      });
    const problems: string[] = [];
    const outcomes = { ok: 0, refused: 0 };
    for (let i = 0; i < cases.length; i += WORKERS) {
      const batch = cases.slice(i, i + WORKERS);
      const res = await Promise.all(batch.map((c) => runOne(c.file)));
      res.forEach((x, k) => {
        const c = batch[k];
        const lines = x.stderr.trim().split("\n").filter(Boolean);
        if (x.code === 0) outcomes.ok++;
        else if (x.code === 2 && lines.length === 1 && lines[0].startsWith("seelike: ") && lines[0].includes(path.basename(c.file))) outcomes.refused++;
        else {
          mkdirSync(path.join(root, "test-artifacts", "fuzz"), { recursive: true });
          const keep = path.join(root, "test-artifacts", "fuzz", `cli-seed${SEED + 1}-${path.basename(c.file)}`);
          copyFileSync(c.file, keep);
          problems.push(`${c.mutator} → exit ${x.code} signal ${x.signal}: ${x.stderr.trim().slice(0, 300)} (saved as ${keep})`);
        }
      });
    }
    console.log(`fuzz cli: ${JSON.stringify({ tried: CLI_CASES, ...outcomes, problems: problems.length })}`);
    rmSync(dir, { recursive: true, force: true });
    expect(problems, problems.join("\n")).toEqual([]);
  }, 900_000);
});
