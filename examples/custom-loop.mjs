// The CKA reducer driven by hand, from plain Node: activations you already have (here the
// per-site .npy files numpy wrote in fixtures/interop/a and b), fed batch by batch.
// Run after `npm run build`:  node examples/custom-loop.mjs [batch]
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readNpy, gram, ckaReducer, linearCKA } from "../dist/src/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = (d) => path.join(here, "..", "fixtures", "interop", d);
const sitesA = ["s0", "s1", "s2"];
const sitesB = ["t0", "t1"];
const load = async (d, s) => readNpy(path.join(dir(d), `${s}.npy`));
const A = await Promise.all(sitesA.map((s) => load("a", s)));
const B = await Promise.all(sitesB.map((s) => load("b", s)));

const batch = Number(process.argv[2] ?? 20);
const m = A[0].shape[0];
/** Rows [start, start + n) of an example-first array, as a tensor. */
const rows = (t, start, n) => {
  const per = t.data.length / t.shape[0];
  return { data: t.data.subarray(start * per, (start + n) * per), shape: [n, ...t.shape.slice(1)] };
};

// Grams you compute yourself (here with seelike's `gram`; any n×n X·Xᵀ works) ...
let acc = ckaReducer.init({ sitesA, sitesB, batch });
for (let s = 0; s + batch <= m; s += batch) {
  const gramsA = A.map((t) => gram(rows(t, s, batch), { centre: true }));
  const gramsB = B.map((t) => gram(rows(t, s, batch), { centre: true }));
  acc = ckaReducer.update(acc, { gramsA, gramsB });
}
const fromGrams = ckaReducer.finalize(acc);

// ... or features, and the reducer makes the Grams.
let acc2 = ckaReducer.init({ sitesA, sitesB, batch });
for (let s = 0; s + batch <= m; s += batch) {
  acc2 = ckaReducer.updateFeatures(acc2, { featuresA: A.map((t) => rows(t, s, batch)), featuresB: B.map((t) => rows(t, s, batch)) });
}
const fromFeatures = ckaReducer.finalize(acc2);

// One pair in one call, on all the examples at once.
const oneShot = linearCKA(A[0], B[0], { batch });

const AB = fromGrams.matrices.AB;
console.log(JSON.stringify({
  rows: AB.rows,
  cols: AB.cols,
  batch,
  examples: fromGrams.examples,
  fromGrams: Array.from(AB.data),
  fromFeatures: Array.from(fromFeatures.matrices.AB.data),
  oneShot: oneShot.cka,
}));
