/**
 * `--low-memory` (issue 17): onnxruntime without its CPU memory arena. It changes where tensors
 * live, never what is computed: every number of a run must come out bit for bit the same, and
 * the CLI must take the flag.
 */
import { describe, expect, it, vi } from "vitest";
import path from "node:path";
import { compare, type Results } from "../src/index.js";
import { RUN_OPTIONS } from "../src/options.js";
import { createSession, release, run } from "../src/runtime/session.js";
import { readFileSync } from "node:fs";

// The arena setting of every session the engine opens for a model (named by `file`), so the
// comparison below fails if `lowMemory` never reaches onnxruntime.
const arenas: (boolean | undefined)[] = [];
vi.mock("../src/runtime/session.js", async (original) => {
  const m = await original<typeof import("../src/runtime/session.js")>();
  return {
    ...m,
    createSession: (bytes: Uint8Array, o: Parameters<typeof m.createSession>[1] = {}) => {
      if (o.file?.endsWith(".onnx")) arenas.push(o.arena);
      return m.createSession(bytes, o);
    },
  };
});

const root = path.resolve(__dirname, "..");
const A = path.join(root, "fixtures/zoo/vit-tiny.onnx");
const B = path.join(root, "fixtures/zoo/resnet-tiny.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");

/** Every number in a results object, in a fixed order (timings and the run's own record left out). */
function numbers(r: Results): number[] {
  const out: number[] = [];
  const walk = (v: unknown, key: string): void => {
    if (key === "timings" || key === "settings" || key === "run") return;
    if (typeof v === "number") out.push(v);
    else if (ArrayBuffer.isView(v)) out.push(...Array.from(v as unknown as ArrayLike<number>));
    else if (Array.isArray(v)) v.forEach((x, i) => walk(x, String(i)));
    else if (v && typeof v === "object") for (const k of Object.keys(v).sort()) walk((v as Record<string, unknown>)[k], k);
  };
  walk(r, "");
  return out;
}

describe("--low-memory", () => {
  it("is a run option with a CLI flag", () => {
    const o = RUN_OPTIONS.find((x) => x.key === "lowMemory");
    expect(o?.flag).toBe("--low-memory");
  });

  it("a session without the arena computes what one with it does", async () => {
    const bytes = readFileSync(A);
    const x = new Float32Array(2 * 1 * 28 * 28).map((_, i) => Math.sin(i) * 0.5);
    const outs: Float32Array[] = [];
    for (const arena of [true, false]) {
      const s = await createSession(bytes, { threads: 1, arena });
      const r = await run(s, { [s.inputNames[0]]: { data: x, shape: [2, 1, 28, 28] } });
      outs.push(Float32Array.from(Object.values(r)[0].data as Float32Array));
      await release(s);
    }
    expect(Array.from(outs[1])).toEqual(Array.from(outs[0]));
  });

  it("a comparison with every analysis gives the same numbers with and without the arena", async () => {
    const opts = { data: DATA, limit: 64, batch: 32, seed: 2, threads: 1, analyses: ["cka", "attention", "skip", "localisation", "collapse", "embeddings"] };
    arenas.length = 0;
    const withArena = await compare(A, B, opts);
    expect(arenas.length).toBeGreaterThan(0);
    expect(arenas.every((a) => a === true)).toBe(true);
    arenas.length = 0;
    const without = await compare(A, B, { ...opts, lowMemory: true });
    expect(arenas.length).toBeGreaterThan(0);
    expect(arenas.every((a) => a === false)).toBe(true);
    const a = numbers(withArena), b = numbers(without);
    expect(a.length).toBeGreaterThan(1000);
    expect(b).toEqual(a);
  }, 120_000);
});
