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
import { decodeState, encodeState } from "../src/state.js";
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

describe("state integrity", () => {
  it("decodeState refuses a state whose numbers were edited, and one without a digest", () => {
    const text = encodeState({ count: 12345, sums: new Float64Array([1.5, 2.5]) });
    expect(decodeState(text, "s.json")).toEqual({ count: 12345, sums: new Float64Array([1.5, 2.5]) });
    const edited = text.replace("12345", "12346");
    expect(edited).not.toBe(text);
    expect(() => decodeState(edited, "s.json")).toThrow(InputError);
    expect(() => decodeState(edited, "s.json")).toThrow(/^s\.json: integrity check failed/);
    const noDigest = text.replace(/"sha256":"[0-9a-f]{64}",/, "");
    expect(() => decodeState(noDigest, "s.json")).toThrow(/no integrity digest/);
    // A bit flipped inside a typed array's base64 is caught too.
    const b64 = /"base64":"([A-Za-z0-9+/]+)/.exec(text)!;
    const flipped = text.replace(b64[1], b64[1].slice(0, 3) + (b64[1][3] === "A" ? "B" : "A") + b64[1].slice(4));
    expect(() => decodeState(flipped, "s.json")).toThrow(/integrity check failed/);
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

    it("merge refuses a shard state.json with an edited number, naming the file and the reason", () => {
      const ok = cli(["merge", path.join(dir, "s0/report"), path.join(dir, "s1/report"), "--out", path.join(dir, "m/report.html")]);
      expect(ok.status, ok.stderr).toBe(0);
      const file = path.join(dir, "s1/report/state.json");
      const text = readFileSync(file, "utf8");
      const m = /"images":(\d+)/.exec(text)!;
      writeFileSync(file, text.replace(m[0], `"images":${Number(m[1]) + 1}`));
      const r = cli(["merge", path.join(dir, "s0/report"), path.join(dir, "s1/report"), "--out", path.join(dir, "m2/report.html")]);
      expect(r.status).toBe(2);
      const line = oneLine(r.stderr);
      expect(line).toContain(file);
      expect(line).toContain("integrity check failed");
      expect(existsSync(path.join(dir, "m2/report/results.json"))).toBe(false);
      writeFileSync(file, text);
    });

    it("--resume refuses a checkpoint with an edited number, and one of other settings", () => {
      const ckpt = path.join(dir, "s0/report/checkpoint.json");
      const text = readFileSync(ckpt, "utf8");
      const m = /"batches":(\d+)/.exec(text)!;
      writeFileSync(ckpt, text.replace(m[0], `"batches":${Number(m[1]) + 1}`));
      const r = cli(["analyze", MIXER, ...COMMON, "--checkpoint-every", "1", "--shard", "0/2", "--resume", "--out", path.join(dir, "s0/report.html")]);
      expect(r.status).toBe(2);
      expect(oneLine(r.stderr)).toMatch(/checkpoint\.json: integrity check failed/);
      writeFileSync(ckpt, text);
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
      const ckpt = path.join(mnt, "report/checkpoint.json");
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
      decodeState(readFileSync(path.join(mnt, "report/state.json")), "state.json");
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
    const state = readFileSync(path.join(root, "src/state.ts"), "utf8");
    expect(state).toMatch(/await fh\.sync\(\);[\s\S]*await rename\(tmp, path\)/);
  });
});
