/**
 * The similarity measures' products injected from the pipeline layer (onnxruntime's float64
 * Gemm, src/runtime/session.ts productSession) give the numpy reference's matrices as the JS
 * kernel does: every product of the exported zoo features (vit-tiny, resnet-tiny and a p > m
 * site, as similarity-measures.test.ts) through the session, against site_measures.py at 1e-9
 * (PWCCA 1e-8) and against the JS path.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MEASURES, MEASURE_VALUES, SiteBank, type Products } from "../analyses/similarity/site-measures.js";
import { matmulTransB, rowSet } from "../src/numeric/matmul.js";
import { productOf, productSession, release, type ProductSession } from "../src/runtime/session.js";
import { readNpy } from "./helpers/npy.js";
import { exported } from "./helpers/pooled.js";

const dir = path.resolve(__dirname, "../fixtures/reference/similarity");
const ref = JSON.parse(readFileSync(path.join(dir, "site_measures.json"), "utf8"));


const KEYS: Record<string, string> = {
  "cca/mean-r2": "cca", "svcca/mean-rho": "svcca", "pwcca/pwcca": "pwcca", "procrustes/angle": "angle", "procrustes/distance": "distance",
  "rsa/spearman": "spearman", "rsa/pearson": "pearson", "mutual-knn/alignment": "knn", "predictivity/r2": "r2", "predictivity/lambda": "lambda",
};

describe("the measures with onnxruntime's float64 products (productSession)", () => {
  let session: ProductSession;
  let calls = 0;
  let products: Products;
  beforeAll(async () => {
    session = await productSession({ threads: 1 });
    products = (q) => {
      calls++;
      return productOf(session, q.a, q.rows, q.b, q.cols, q.k);
    };
  });
  afterAll(async () => release(session.session));

  it("productOf is A·Bᵀ and A·Aᵀ as the JS kernel, to rounding", async () => {
    const a = Float64Array.from({ length: 7 * 5 }, (_, i) => Math.sin(i + 1)), b = Float64Array.from({ length: 3 * 5 }, (_, i) => Math.cos(i));
    for (const [got, want] of [[await productOf(session, a, 7, b, 3, 5), matmulTransB(rowSet(a, 7, 5), rowSet(b, 3, 5))], [await productOf(session, a, 7, null, 7, 5), matmulTransB(rowSet(a, 7, 5))]]) {
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-14);
    }
  });

  it("every measure's AA, BB, AB and p > m matrices match numpy with every product injected", async () => {
    const wideX = readNpy(path.join(dir, "zoo_wide.npy"));
    const bank = new SiteBank([exported("vit-tiny"), exported("resnet-tiny"), [{ name: "wide", data: wideX.data, m: wideX.shape[0], p: wideX.shape[1] }]]);
    const js = new SiteBank(bank.models);
    const asRho = (v: string, x: number) => (v === "angle" ? Math.cos(x) : v === "distance" ? 1 - (x * x) / 2 : x);
    for (const measure of MEASURES) for (const [key, a, b] of [["AA", 0, 0], ["BB", 1, 1], ["AB", 0, 1], ["AW", 0, 2]] as const) {
      const got = await bank.matrixAsync(measure, a, b, products, 0);
      const own = js.matrix(measure, a, b);
      for (const value of MEASURE_VALUES[measure]) {
        const want = (ref[key][KEYS[`${measure}/${value}`]] as number[][]).flat();
        const f = got.forward[value];
        const floor = value === "lambda" ? 0 : 1e-3;
        let e = 0, d = 0;
        for (let i = 0; i < want.length; i++) {
          e = Math.max(e, Math.abs(asRho(value, f[i]) - asRho(value, want[i])) / Math.max(floor, Math.abs(asRho(value, want[i]))));
          d = Math.max(d, Math.abs(asRho(value, f[i]) - asRho(value, own.forward[value][i])));
        }
        expect(e, `${measure} ${value} ${key} against numpy`).toBeLessThan(measure === "pwcca" ? 1e-8 : 1e-9);
        // PWCCA's weights come from eigenvectors of clustered canonical correlations (see similarity-measures.test.ts).
        expect(d, `${measure} ${value} ${key} against the JS kernel`).toBeLessThan(measure === "pwcca" ? 1e-8 : 1e-10);
      }
    }
    expect(calls).toBeGreaterThan(100);
  }, 120_000);
});
