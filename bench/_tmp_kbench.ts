import { matmulTransB, rowSet } from "../src/numeric/matmul.js";
const n = 256, p = 151296 / 4;
const x = new Float32Array(n * p).map(() => Math.random() - 0.5);
for (const panel of [64, 128, 256, 512, 1024, 64, 256]) {
  const t = performance.now();
  matmulTransB(rowSet(x, n, p), undefined, { panel });
  const dt = (performance.now() - t) / 1000;
  console.log(panel, dt.toFixed(3), "s", (2 * n * n * p / dt / 1e9).toFixed(2), "GFLOP/s (2n²p)");
}
