/**
 * .npy interop with numpy, both ways, at test time (Debian's /usr/bin/python3 with numpy 1.24):
 * seelike writes → numpy reads and reports dtype, shape and every value; numpy writes → seelike
 * reads. And the CKA matrices a run writes next to its report load in numpy with the shape and
 * values of results.json. Skipped when numpy is not available.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeNpy, readNpy, encodeNpy, decodeNpy, compare, type NpyData } from "../src/index.js";
import { outputPaths, writeResultFiles } from "../src/output/files.js";

const PY = "/usr/bin/python3";
const hasNumpy = spawnSync(PY, ["-c", "import numpy"]).status === 0;
if (!hasNumpy) console.warn("tests/interop-npy.test.ts skipped: /usr/bin/python3 with numpy not found");
const root = path.resolve(__dirname, "..");

function python(code: string): unknown {
  const r = spawnSync(PY, ["-c", code], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** numpy's view of a file: dtype, shape, C-contiguity and values (int64 as strings, exact). */
function numpyView(file: string): { dtype: string; shape: number[]; c: boolean; values: (number | string)[] } {
  return python(`
import json, numpy as np
a = np.load(${JSON.stringify(file)})
vals = [str(v) for v in a.ravel().tolist()] if a.dtype.kind in "iu" else a.ravel().tolist()
print(json.dumps({"dtype": str(a.dtype), "shape": list(a.shape), "c": bool(a.flags.c_contiguous), "values": vals}))
`) as never;
}

const values = (d: NpyData): (number | string)[] => (d instanceof BigInt64Array ? Array.from(d, (v) => v.toString()) : Array.from(d as ArrayLike<number>));

describe.skipIf(!hasNumpy)(".npy round trips with numpy", () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "seelike-npy-"));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const cases: { name: string; data: NpyData; shape: number[]; dtype: string }[] = [
    { name: "f32", data: Float32Array.from({ length: 12 }, (_, i) => Math.fround((i - 5.5) * 0.1 + 1e-7 * i)), shape: [3, 4], dtype: "float32" },
    { name: "f64", data: Float64Array.from([Math.PI, -Math.E, 1e-300, 1.7976931348623157e308, -0, 0.1 + 0.2]), shape: [2, 3], dtype: "float64" },
    { name: "i64", data: BigInt64Array.from([0n, -1n, 2n ** 62n + 1n, -(2n ** 63n), 2n ** 53n + 1n, 7n]), shape: [6, 1], dtype: "int64" },
    { name: "f32-3d", data: Float32Array.from({ length: 2 * 3 * 5 }, (_, i) => Math.fround(Math.sin(i) * 100)), shape: [2, 3, 5], dtype: "float32" },
  ];

  for (const c of cases) {
    it(`writeNpy ${c.dtype} [${c.shape}] → np.load gives the same dtype, shape and values`, async () => {
      const file = path.join(tmp, `js-${c.name}.npy`);
      await writeNpy(file, c.data, c.shape);
      const v = numpyView(file);
      expect(v.dtype).toBe(c.dtype);
      expect(v.shape).toEqual(c.shape);
      expect(v.c).toBe(true);
      expect(v.values).toEqual(values(c.data));
    });
  }

  it("np.save float32/float64/int64 and a 3-D array → readNpy gives numpy's dtype, shape and values", async () => {
    const dir = path.join(tmp, "py");
    const made = python(`
import json, os, numpy as np
d = ${JSON.stringify(dir)}
os.makedirs(d, exist_ok=True)
rng = np.random.default_rng(7)
arrays = {
  "f32": rng.standard_normal((4, 5)).astype(np.float32),
  "f64": rng.standard_normal((3, 2)) * 1e10,
  "i64": np.array([[0, -1, 2**62 + 1], [-(2**63), 2**53 + 1, 9]], dtype=np.int64),
  "f64-3d": rng.standard_normal((2, 3, 4)),
  "f32-1d": np.arange(7, dtype=np.float32) / 3,
}
out = {}
for k, a in arrays.items():
  np.save(os.path.join(d, k + ".npy"), a)
  vals = [str(v) for v in a.ravel().tolist()] if a.dtype.kind in "iu" else a.ravel().tolist()
  out[k] = {"dtype": str(a.dtype), "shape": list(a.shape), "values": vals}
print(json.dumps(out))
`) as Record<string, { dtype: string; shape: number[]; values: (number | string)[] }>;
    expect(Object.keys(made).length).toBe(5);
    for (const [name, want] of Object.entries(made)) {
      const a = await readNpy(path.join(dir, `${name}.npy`));
      expect(a.dtype, name).toBe(want.dtype);
      expect(a.shape, name).toEqual(want.shape);
      expect(values(a.data), name).toEqual(want.values);
      // and decodeNpy(encodeNpy(x)) is the identity on what numpy wrote
      const again = decodeNpy(encodeNpy(a.data, a.shape));
      expect(values(again.data), name).toEqual(want.values);
    }
  });

  it("readNpy rejects numpy's Fortran-order and big-endian files, naming the file", async () => {
    const f = path.join(tmp, "fortran.npy");
    const b = path.join(tmp, "big.npy");
    python(`
import numpy as np, json
np.save(${JSON.stringify(f)}, np.asfortranarray(np.ones((3, 2))))
np.save(${JSON.stringify(b)}, np.ones((3, 2), dtype=">f8"))
print("{}")
`);
    await expect(readNpy(f)).rejects.toThrow(`${f}: Fortran-order`);
    await expect(readNpy(b)).rejects.toThrow(`${b}: unsupported .npy dtype >f8`);
  });
});

describe.skipIf(!hasNumpy)("the CKA .npy files a run writes next to its report", () => {
  let dir: string;
  beforeAll(async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), "seelike-run-npy-"));
    const results = await compare(path.join(root, "fixtures/models/timm_vit_gap_op17.onnx"), path.join(root, "fixtures/models/mixer_op17.onnx"), {
      data: path.join(root, "fixtures/data/probe-images-idx3-ubyte.gz"), limit: 32, batch: 16, threads: 1, analyses: ["cka"],
    });
    const paths = outputPaths(path.join(tmp, "report.html"));
    await writeResultFiles(paths, results);
    dir = paths.dir;
  });
  afterAll(() => rmSync(path.dirname(dir), { recursive: true, force: true }));

  it("every cka-*.npy loads in numpy as float64 [rows, cols] equal to results.json's matrix", () => {
    const doc = JSON.parse(readFileSync(path.join(dir, "results.json"), "utf8"));
    const files = readdirSync(dir).filter((f) => /^cka-.*\.npy$/.test(f)).sort();
    expect(files).toEqual(["cka-timm_vit_gap_op17-mixer_op17-AA.npy", "cka-timm_vit_gap_op17-mixer_op17-AB.npy", "cka-timm_vit_gap_op17-mixer_op17-BB.npy"]);
    for (const f of files) {
      const key = /-(AA|BB|AB)\.npy$/.exec(f)![1];
      const m = doc.cka[0].result.matrices[key];
      const v = numpyView(path.join(dir, f));
      expect(v.dtype).toBe("float64");
      expect(v.shape).toEqual([m.rows.length, m.cols.length]);
      expect(v.shape).toEqual(m.shape);
      expect(v.values).toEqual(m.data);
    }
  });
});
