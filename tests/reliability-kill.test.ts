/**
 * kill -9 at many points of one run (during setup, right after a checkpoint write, between
 * checkpoints of the main pass, during the probes' train pass, after the last pass while the
 * results are written), each followed by `--resume` (or a fresh start when no checkpoint exists
 * yet): the final results equal an uninterrupted run exactly, and after every kill each file
 * in the output folder is whole (JSON parses, the state file passes its integrity digest).
 * Extends tests/engine.test.ts (one kill mid-run). Needs `npm run build`.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeState } from "../src/engine/state.js";

const root = path.resolve(__dirname, "..");
const bin = path.join(root, "bin", "seelike.js");
const A = path.join(root, "fixtures/models/timm_vit_op17.onnx");
const B = path.join(root, "fixtures/models/mixer_op17.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
const TRAIN = path.join(root, "fixtures/data/train2k-images-idx3-ubyte.gz");
const ARGS = ["compare", A, B, "--data", DATA, "--limit", "96", "--batch", "16", "--seed", "3", "--threads", "1", "--train-data", TRAIN, "--probe-shots", "1,5,full", "--checkpoint-every", "1", "--quiet"];

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  killedBy?: string;
}

interface Cp {
  pass: number;
  cursor: number;
  mtime: number;
}

/** The checkpoint's pass and cursor (null while none is written). */
function checkpoint(file: string): Cp | null {
  if (!existsSync(file)) return null;
  try {
    const mtime = statSync(file).mtimeMs;
    const cp = decodeState(readFileSync(file), file) as { pass: number; cursor: number };
    return { pass: cp.pass, cursor: cp.cursor, mtime };
  } catch {
    return null; // renamed away between stat and read
  }
}

/** Runs the CLI and kills it with SIGKILL when `when` says so (polled every 2 ms). */
function runUntil(args: string[], ckpt: string, when: ((cp: Cp | null, ms: number) => boolean) | null, label: string): Promise<Exit> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    let killed: string | undefined;
    child.stderr.on("data", (d) => (stderr += d));
    const timer = when
      ? setInterval(() => {
          if (killed) return;
          if (when(checkpoint(ckpt), Date.now() - t0)) {
            killed = label;
            child.kill("SIGKILL");
          }
        }, 2)
      : undefined;
    child.on("exit", (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stderr, killedBy: killed });
    });
  });
}

/** Every number of the analyses (timings and paths excluded), with its path. */
function numbers(r: Record<string, unknown>): Map<string, number | null> {
  const out = new Map<string, number | null>();
  const walk = (v: unknown, p: string) => {
    if (typeof v === "number" || v === null) out.set(p, v as number | null);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${p}[${i}]`));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, `${p}.${k}`);
  };
  for (const k of ["cka", "attention", "skip", "localisation", "collapse", "probes", "accuracy", "embeddings", "skipped", "settings"]) walk(r[k], k);
  return out;
}

/** Every file of the output folder is whole: JSON parses, state files pass their digest. */
function expectWhole(dir: string) {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    if (f.startsWith(".") && f.endsWith(".tmp")) continue; // a kill can leave a temporary file, never a torn real one
    const p = path.join(dir, f);
    if (f === "state.seelike") {
      expect(() => decodeState(readFileSync(p), p), f).not.toThrow();
      continue;
    }
    const text = readFileSync(p, "utf8");
    if (f.endsWith(".json")) expect(() => JSON.parse(text), f).not.toThrow();
    else if (f.endsWith(".csv")) expect(text.endsWith("\n"), f).toBe(true);
  }
}

describe("kill -9 at many points, then --resume", () => {
  let dir: string;
  let reference: Map<string, number | null>;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-kill-"));
    const r = await runUntil([...ARGS, "--out", path.join(dir, "ref/report.html")], "", null, "");
    expect(r.code, r.stderr).toBe(0);
    reference = numbers(JSON.parse(readFileSync(path.join(dir, "ref/report/results.json"), "utf8")));
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("resumes to exactly the uninterrupted results, and no file is ever half-written", async () => {
    const out = path.join(dir, "killed/report.html");
    const outDir = path.join(dir, "killed/report");
    const ckpt = path.join(outDir, "state.seelike");
    const results = path.join(outDir, "results.json");
    // Seeded jitter so the kill points differ within a phase from one trigger to the next.
    let seed = 12345;
    const jitter = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    let lastMtime = 0;
    // Passes in run order: 0 the probes' training split (2,000 images), 1 the evaluation data (96).
    const triggers: { label: string; when: (cp: Cp | null, ms: number) => boolean }[] = [
      { label: "during setup (model loading, geometry probe)", when: (_cp, ms) => ms > 250 + jitter(200) },
      { label: "early in the train pass", when: (cp) => !!cp && cp.pass === 0 && cp.cursor > 0 },
      { label: "right after a checkpoint write in the train pass", when: (cp) => !!cp && cp.pass === 0 && cp.cursor >= 400 && cp.mtime !== lastMtime },
      { label: "between checkpoints in the train pass", when: (() => { let at = 0; return (cp: Cp | null, ms: number) => !!cp && cp.pass === 0 && cp.cursor >= 800 && (at ||= ms + 5 + jitter(60)) <= ms; })() },
      { label: "late in the train pass", when: (cp) => !!cp && cp.pass === 0 && cp.cursor >= 1500 },
      { label: "right after a checkpoint write in the main pass (probes scored online)", when: (cp) => !!cp && cp.pass === 1 && cp.cursor >= 32 && cp.mtime !== lastMtime },
      { label: "between checkpoints in the main pass", when: (() => { let at = 0; return (cp: Cp | null, ms: number) => !!cp && cp.pass === 1 && cp.cursor >= 48 && (at ||= ms + 5 + jitter(60)) <= ms; })() },
      { label: "after the last pass, while results are written", when: (cp) => !!cp && cp.pass >= 2 },
    ];
    const log: string[] = [];
    let kills = 0;
    for (const t of triggers) {
      if (existsSync(results)) break;
      lastMtime = checkpoint(ckpt)?.mtime ?? 0;
      const resume = existsSync(ckpt);
      const r = await runUntil([...ARGS, ...(resume ? ["--resume"] : []), "--out", out], ckpt, t.when, t.label);
      const cp = checkpoint(ckpt);
      log.push(`${t.label}: ${r.killedBy ? "killed" : `exit ${r.code}`} at pass ${cp?.pass ?? "-"} cursor ${cp?.cursor ?? "-"}`);
      if (r.killedBy) {
        kills++;
        expect(r.signal).toBe("SIGKILL");
      } else expect(r.code, r.stderr).toBe(0);
      expectWhole(outDir);
      // Only a finished run writes results.json; a kill before that leaves none.
      if (r.killedBy && cp && cp.pass < 2) expect(existsSync(results), t.label).toBe(false);
    }
    if (!existsSync(results)) {
      const r = await runUntil([...ARGS, "--resume", "--out", out], ckpt, null, "");
      expect(r.code, r.stderr).toBe(0);
    }
    expectWhole(outDir);
    console.log(`kill test: ${kills} kills\n  ${log.join("\n  ")}`);
    expect(kills).toBeGreaterThanOrEqual(5);
    const got = numbers(JSON.parse(readFileSync(results, "utf8")));
    // settings.models[].file differs (another output folder does not change it; the models are the same files)
    expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
    const diffs = [...got].filter(([k, v]) => !Object.is(v, reference.get(k)));
    expect(diffs.slice(0, 5)).toEqual([]);
  }, 600_000);
});
