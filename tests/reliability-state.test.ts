/**
 * Faults around the files a run writes: tampered or mismatched state is refused with the
 * reason; an unwritable or full output folder is a clear error before the work where it can be
 * known, and a disk that fills mid-run leaves the earlier results intact; every file write goes
 * through writeFileAtomic. Needs `npm run build`.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeState, encodeState, stateHeader } from "../src/engine/state.js";
import { readCheckpoint, writeCheckpoint, CHECKPOINT_FORMAT } from "../src/engine/stream.js";
import { InputError } from "../src/errors.js";

const root = path.resolve(__dirname, "..");
const bin = path.join(root, "bin", "seelike.js");
const MIXER = path.join(root, "fixtures/models/mixer_op17.onnx");
const DATA = path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz");
const COMMON = ["--data", DATA, "--limit", "64", "--batch", "16", "--analyses", "cka,skip", "--quiet", "--threads", "1"];

function cli(args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", timeout: 300_000 });
}

function oneLine(stderr: string): string {
  const lines = stderr.trim().split("\n");
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^seelike: /);
  return lines[0];
}

/** The file with its header replaced by `edit(header text)` (lengths and padding redone). */
function withHeader(file: Uint8Array, edit: (header: string) => string): Buffer {
  const buf = Buffer.from(file);
  const h = buf.readUInt32LE(8);
  const payload = buf.subarray(Math.ceil((16 + h) / 8) * 8);
  const header = Buffer.from(edit(buf.subarray(16, 16 + h).toString("utf8")), "utf8");
  const out = Buffer.alloc(Math.ceil((16 + header.length) / 8) * 8 + payload.length);
  buf.copy(out, 0, 0, 16);
  out.writeUInt32LE(header.length, 8);
  header.copy(out, 16);
  payload.copy(out, out.length - payload.length);
  return out;
}

/** A same-length edit of the decimal number after `key` (its last digit changed). */
function editNumber(file: Uint8Array, key: string): Buffer {
  const text = Buffer.from(file).toString("latin1");
  const m = new RegExp(`"${key}":(\\d+)`).exec(text)!;
  const digits = m[1].slice(0, -1) + String((Number(m[1].at(-1)) + 1) % 10);
  return Buffer.from(text.replace(m[0], `"${key}":${digits}`), "latin1");
}

describe("state integrity", () => {
  const state = { count: 12345, sums: new Float64Array([1.5, 2.5, 0.1]) };
  const file = encodeState(state);
  const payloadAt = file.length - 24;

  it("decodeState refuses a state whose numbers were edited, and one without a digest", () => {
    expect(decodeState(file, "s.seelike")).toEqual(state);
    const edited = editNumber(file, "count");
    expect(edited.equals(Buffer.from(file))).toBe(false);
    expect(edited.length).toBe(file.length);
    expect(() => decodeState(edited, "s.seelike")).toThrow(InputError);
    expect(() => decodeState(edited, "s.seelike")).toThrow(/^s\.seelike: integrity check failed/);
    const noDigest = withHeader(file, (h) => h.replace(/"sha256":"[0-9a-f]{64}",/, ""));
    expect(() => decodeState(noDigest, "s.seelike")).toThrow(/^s\.seelike: state file has no integrity digest/);
    // The header rewritten by a JSON tool (same content, other key order) is not the header the digest was made with.
    const reordered = withHeader(file, (h) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(h)).reverse())));
    expect(() => decodeState(reordered, "s.seelike")).toThrow(/integrity check failed/);
  });

  it("decodeState refuses a flipped payload bit, a truncated file and bytes after the end", () => {
    const flipped = Buffer.from(file);
    flipped[payloadAt + 3] ^= 0x10;
    expect(() => decodeState(flipped, "s.seelike")).toThrow(/^s\.seelike: integrity check failed: .*sha256 mismatch/);
    for (const cut of [1, 8, 24]) {
      expect(() => decodeState(file.subarray(0, file.length - cut), "s.seelike")).toThrow(`s.seelike: truncated: ${file.length - cut} bytes, expected ${file.length}`);
    }
    expect(() => decodeState(file.subarray(0, 40), "s.seelike")).toThrow(/^s\.seelike: truncated: 40 bytes, but its header alone needs \d+/);
    expect(() => decodeState(Buffer.concat([file, Buffer.alloc(8)]), "s.seelike")).toThrow("s.seelike: corrupted: 8 bytes after the end of the state");
    // A header torn inside its JSON (its length field edited) is refused as corrupted, not a crash.
    const torn = Buffer.from(file);
    torn.writeUInt32LE(torn.readUInt32LE(8) - 5, 8);
    expect(() => decodeState(torn, "s.seelike")).toThrow(/^s\.seelike: corrupted state header/);
  });

  it("decodeState refuses the JSON state of an earlier seelike with the reason", () => {
    const v1 = '{"format":"seelike-state","version":1,"sha256":"' + "0".repeat(64) + '","value":{"format":"seelike-run-state@1","states":{}}}';
    for (const text of [v1, Buffer.from(v1), ` \n${v1}`]) {
      expect(() => decodeState(text, "out/state.json")).toThrow(InputError);
      expect(() => decodeState(text, "out/state.json")).toThrow("out/state.json: a JSON state (seelike-state version 1) written by an earlier seelike; this version reads only binary state files (seelike-state version 2): rerun the run that made it");
    }
  });

  it("readCheckpoint refuses a checkpoint of other settings before its payload, and reads one of the same settings", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "seelike-ckpt-"));
    try {
      const ckpt = path.join(dir, "state.seelike");
      const cp = { format: CHECKPOINT_FORMAT, pass: 1, cursor: 32, batches: 3, states: { s: { sum: new Float64Array([NaN, -0, 1 / 3]) } }, skipped: [], timings: { a: 0.5 } };
      await writeCheckpoint(ckpt, "digest-a", cp);
      const back = await readCheckpoint(ckpt, "digest-a");
      expect(back).toEqual(cp);
      expect(Object.is((back.states.s as { sum: Float64Array }).sum[1], -0)).toBe(true);
      await expect(readCheckpoint(ckpt, "digest-b")).rejects.toThrow(`${ckpt}: checkpoint was made with different settings`);
      // The settings are read from the header: a checkpoint of other settings whose payload is corrupt is still refused for its settings.
      const bad = Buffer.from(readFileSync(ckpt));
      bad[bad.length - 1] ^= 1;
      writeFileSync(ckpt, bad);
      await expect(readCheckpoint(ckpt, "digest-b")).rejects.toThrow(/checkpoint was made with different settings/);
      await expect(readCheckpoint(ckpt, "digest-a")).rejects.toThrow(/integrity check failed/);
      await expect(readCheckpoint(path.join(dir, "none.seelike"), "digest-a")).rejects.toThrow(`${path.join(dir, "none.seelike")}: no checkpoint to resume from`);
      writeFileSync(path.join(dir, "checkpoint.json"), '{"format":"seelike-state","version":1}');
      await expect(readCheckpoint(path.join(dir, "none.seelike"), "digest-a")).rejects.toThrow(`no checkpoint to resume from (${path.join(dir, "checkpoint.json")} is the JSON checkpoint of an earlier seelike, which this version does not read; rerun without --resume)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("through the CLI", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), "seelike-state-"));
      for (const i of [0, 1]) {
        const r = cli(["analyze", MIXER, ...COMMON, "--checkpoint-every", "1", "--shard", `${i}/2`, "--out", path.join(dir, `s${i}/report.html`)]);
        expect(r.status, r.stderr).toBe(0);
      }
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("a run keeps one state file, which is also its checkpoint", () => {
      const files = readdirSync(path.join(dir, "s0/report"));
      expect(files).toContain("state.seelike");
      expect(files.filter((f) => /state|checkpoint/.test(f))).toEqual(["state.seelike"]);
    });

    it("merge refuses a shard state with an edited number, a flipped payload bit, a truncated file, naming the file and the reason", () => {
      const ok = cli(["merge", path.join(dir, "s0/report"), path.join(dir, "s1/report"), "--out", path.join(dir, "m/report.html")]);
      expect(ok.status, ok.stderr).toBe(0);
      const file = path.join(dir, "s1/report/state.seelike");
      const bytes = readFileSync(file);
      const flipped = Buffer.from(bytes);
      flipped[bytes.length - 100] ^= 0x04;
      for (const [bad, reason] of [[editNumber(bytes, "images"), "integrity check failed"], [flipped, "integrity check failed"], [bytes.subarray(0, bytes.length >> 1), "truncated"]] as const) {
        writeFileSync(file, bad);
        const r = cli(["merge", path.join(dir, "s0/report"), path.join(dir, "s1/report"), "--out", path.join(dir, "m2/report.html")]);
        expect(r.status).toBe(2);
        const line = oneLine(r.stderr);
        expect(line).toContain(file);
        expect(line).toContain(reason);
        expect(existsSync(path.join(dir, "m2/report/results.json"))).toBe(false);
      }
      writeFileSync(file, bytes);
    });

    it("merge refuses the checkpoint of a run that did not finish, with the reason", () => {
      const file = path.join(dir, "s1/report/state.seelike");
      const bytes = readFileSync(file);
      const { settings: _s, shard: _h, models: _m, options: _o, ...checkpoint } = decodeState(bytes, file) as Record<string, unknown>;
      writeFileSync(file, encodeState(checkpoint, stateHeader(bytes, file)));
      const r = cli(["merge", path.join(dir, "s0/report"), path.join(dir, "s1/report"), "--out", path.join(dir, "m4/report.html")]);
      writeFileSync(file, bytes);
      expect(r.status).toBe(2);
      expect(oneLine(r.stderr)).toBe(`seelike: ${file}: the run that wrote this state did not finish; rerun it with --resume, then merge`);
    });

    it("merge refuses a folder holding the JSON state.json of an earlier seelike, with the reason", () => {
      const old = path.join(dir, "old/report");
      mkdirSync(old, { recursive: true });
      writeFileSync(path.join(old, "state.json"), '{"format":"seelike-state","version":1,"sha256":"' + "0".repeat(64) + '","value":{"format":"seelike-run-state@1"}}');
      const r = cli(["merge", path.join(dir, "s0/report"), old, "--out", path.join(dir, "m3/report.html")]);
      expect(r.status).toBe(2);
      expect(oneLine(r.stderr)).toBe(`seelike: ${path.join(old, "state.json")}: a JSON state (seelike-state version 1) written by an earlier seelike; this version reads only binary state files (seelike-state version 2): rerun the run that made it`);
    });

    it("--resume refuses a checkpoint with an edited number, and one of other settings", () => {
      const ckpt = path.join(dir, "s0/report/state.seelike");
      const bytes = readFileSync(ckpt);
      writeFileSync(ckpt, editNumber(bytes, "batches"));
      const r = cli(["analyze", MIXER, ...COMMON, "--checkpoint-every", "1", "--shard", "0/2", "--resume", "--out", path.join(dir, "s0/report.html")]);
      expect(r.status).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/state\.seelike: integrity check failed/);
      writeFileSync(ckpt, bytes);
      const other = cli(["analyze", MIXER, ...COMMON.map((x) => (x === "64" ? "48" : x)), "--checkpoint-every", "1", "--shard", "0/2", "--resume", "--out", path.join(dir, "s0/report.html")]);
      expect(other.status).toBe(2);
      expect(oneLine(other.stderr)).toMatch(/checkpoint was made with different settings/);
    });
  });
});

describe("unwritable or full output", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "seelike-out-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("an output path under a regular file (ENOTDIR) is refused before any work", () => {
    const file = path.join(dir, "plain.txt");
    writeFileSync(file, "x");
    const t0 = Date.now();
    const r = cli(["analyze", MIXER, ...COMMON, "--out", path.join(file, "report.html")]);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toMatch(/plain\.txt.*cannot write output here \(ENOTDIR\)/);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  // Mounting needs root and a kernel that lets this container mount tmpfs; skipped elsewhere.
  const canMount = (() => {
    if (process.getuid?.() !== 0) return false;
    const probe = mkdtempSync(path.join(tmpdir(), "seelike-mnt-probe-"));
    const ok = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]).status === 0;
    if (ok) spawnSync("umount", [probe]);
    rmSync(probe, { recursive: true, force: true });
    return ok;
  })();

  it.skipIf(!canMount)("a read-only file system is refused before any work (EROFS)", () => {
    const mnt = path.join(dir, "ro");
    mkdirSync(mnt);
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m,ro", "tmpfs", mnt]).status).toBe(0);
    try {
      const r = cli(["analyze", MIXER, ...COMMON, "--out", path.join(mnt, "report.html")]);
      expect(r.status).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/cannot write output here \(EROFS\)/);
    } finally {
      spawnSync("umount", [mnt]);
    }
  });

  it.skipIf(!canMount)("a full disk: refused up front when it is already full; ENOSPC mid-run leaves the earlier results intact", async () => {
    const mnt = path.join(dir, "small");
    mkdirSync(mnt);
    expect(spawnSync("mount", ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt]).status).toBe(0);
    try {
      const out = path.join(mnt, "report.html");
      const first = cli(["analyze", MIXER, ...COMMON, "--out", out]);
      expect(first.status, first.stderr).toBe(0);
      const results = path.join(mnt, "report/results.json");
      const before = readFileSync(results);
      const listing = () => readdirSync(path.join(mnt, "report")).filter((f) => !f.startsWith(".")).sort();
      const filesBefore = listing();

      // Already full: refused before the work starts, earlier results untouched.
      const fill = (leave: number) => {
        const free = Number(spawnSync("df", ["--output=avail", "-B1", mnt], { encoding: "utf8" }).stdout.trim().split("\n")[1]);
        spawnSync("dd", ["if=/dev/zero", `of=${path.join(mnt, `filler-${Date.now()}`)}`, "bs=4096", `count=${Math.max(0, Math.floor((free - leave) / 4096))}`], { stdio: "ignore" });
      };
      const filler = () => readdirSync(mnt).filter((f) => f.startsWith("filler-")).forEach((f) => rmSync(path.join(mnt, f)));
      fill(256 * 1024);
      const full = cli(["analyze", MIXER, ...COMMON, "--seed", "5", "--out", out]);
      expect(full.status).toBe(2);
      expect(oneLine(full.stderr)).toMatch(/free on this file system.*no space left on device/);
      expect(readFileSync(results).equals(before)).toBe(true);
      filler();

      // Fills up during the run: start with room, fill the disk once the first checkpoint is written.
      const child = spawn(process.execPath, [bin, "analyze", MIXER, ...COMMON.map((x) => (x === "64" ? "256" : x)), "--seed", "6", "--checkpoint-every", "1", "--out", out], { cwd: root, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      const ckpt = path.join(mnt, "report/state.seelike");
      const m0 = existsSync(ckpt) ? statSync(ckpt).mtimeMs : 0;
      let filled = false;
      const code = await new Promise<number | null>((resolve) => {
        const t = setInterval(() => {
          if (!filled && existsSync(ckpt) && statSync(ckpt).mtimeMs !== m0) {
            filled = true;
            fill(0);
          }
        }, 5);
        child.on("exit", (c) => {
          clearInterval(t);
          resolve(c);
        });
      });
      expect(filled, "the disk was filled mid-run").toBe(true);
      expect(code, stderr).not.toBe(0);
      expect(oneLine(stderr)).toMatch(/no space left on device/);
      // The earlier results and report are intact: every file of the first run is as it was.
      expect(readFileSync(results).equals(before)).toBe(true);
      expect(listing()).toEqual(filesBefore);
      JSON.parse(readFileSync(results, "utf8"));
      decodeState(readFileSync(path.join(mnt, "report/state.seelike")), "state.seelike");
    } finally {
      spawnSync("umount", [mnt]);
    }
  }, 300_000);
});

describe("every write is atomic", () => {
  it("no module writes files except through writeFileAtomic (temp, fsync, rename)", () => {
    const offenders: string[] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, f.name);
        if (f.isDirectory()) {
          if (f.name !== "proto") walk(p);
        } else if (f.name.endsWith(".ts")) {
          readFileSync(p, "utf8").split("\n").forEach((line, i) => {
            if (/^\s*(\*|\/\/)/.test(line)) return; // comments and examples
            if (/\b(writeFile|writeFileSync|appendFile|appendFileSync|createWriteStream|copyFile|copyFileSync)\s*\(/.test(line) && !/fh\.writeFile\(/.test(line)) offenders.push(`${path.relative(root, p)}:${i + 1}: ${line.trim()}`);
          });
        }
      }
    };
    for (const d of ["src", "analyses", "reports"]) walk(path.join(root, d));
    expect(offenders).toEqual([]);
    // and writeFileAtomic fsyncs the temporary file before the rename
    const state = readFileSync(path.join(root, "src/files.ts"), "utf8");
    expect(state).toMatch(/await fh\.sync\(\);[\s\S]*await rename\(tmp, path\)/);
  });
});
