import { describe, expect, it } from "vitest";
import { ckaFinalize, ckaInit, ckaUpdateFeatures, type CKAResult } from "../analyses/cka.js";
import { ckaSanity, shuffledPairingCKA } from "../analyses/sanity.js";
import { gram } from "../src/numeric/gram.js";
import type { Tensor } from "../src/tensor.js";
import { gaussian } from "./helpers/gaussian.js";

const n = 32;
const batches = 16;
/** Model A sites and model B sites that depend on A's (Y = f(X) + noise), over the same images. */
function batch(b: number): { a: Tensor[]; b: Tensor[] } {
  const x0 = gaussian([n, 20], 1000 + b), x1 = gaussian([n, 30], 2000 + b);
  const noise = gaussian([n, 20], 3000 + b);
  const y0 = { data: x0.data.map((v, i) => v + 0.5 * noise.data[i]), shape: [n, 20] };
  return { a: [x0, x1], b: [y0, x1] };
}

function result(sitesB = true, transform?: (t: { a: Tensor[]; b: Tensor[] }) => { a: Tensor[]; b: Tensor[] }): CKAResult {
  const s = ckaInit({ sitesA: ["a0", "a1"], sitesB: sitesB ? ["b0", "b1"] : undefined, batch: n, seed: 5 });
  for (let b = 0; b < batches; b++) {
    const t = transform ? transform(batch(b)) : batch(b);
    ckaUpdateFeatures(s, { featuresA: t.a, featuresB: sitesB ? t.b : undefined });
  }
  return ckaFinalize(s);
}

describe("ckaSanity", () => {
  it("ckaSanity passes every check on a healthy cross-model result", () => {
    const r = result();
    const rep = ckaSanity(r);
    expect(rep.checks.map((c) => c.id)).toEqual([
      "self-cka-A", "symmetry-A", "degenerate-sites-A", "self-cka-B", "symmetry-B", "degenerate-sites-B", "shuffled-pairing", "distinct-models",
    ]);
    for (const c of rep.checks) expect(c.passed, `${c.id}: ${c.value}`).toBe(true);
    expect(rep.warnings).toEqual([]);
    // the control is near 0 although the paired CKA is high
    expect(r.matrices.AB!.data[0]).toBeGreaterThan(0.7);
    expect(Math.abs(r.shuffled!.data[0])).toBeLessThan(0.05);
  });

  it("ckaSanity flags a zero-variance site", () => {
    const r = result(true, (t) => ({ a: [t.a[0], { data: new Float64Array(n * 30).fill(2), shape: [n, 30] }], b: t.b }));
    const rep = ckaSanity(r);
    expect(rep.checks.find((c) => c.id === "degenerate-sites-A")!.passed).toBe(false);
    expect(rep.warnings.some((w) => /site a1 \(model A\): self-HSIC 0/.test(w))).toBe(true);
    expect(rep.warnings.some((w) => /NaN or Inf entries/.test(w))).toBe(true);
  });

  it("ckaSanity warns when two models come out identical", () => {
    const rep = ckaSanity(result(true, (t) => ({ a: t.a, b: t.a })));
    expect(rep.checks.find((c) => c.id === "distinct-models")!.passed).toBe(false);
    expect(rep.warnings.some((w) => /identical CKA matrices/.test(w))).toBe(true);
  });

  it("ckaSanity fails self-CKA and symmetry on a tampered matrix", () => {
    const r = result(false);
    r.matrices.AA.data[0] = 0.99;
    r.matrices.AA.data[1] += 1e-3;
    const rep = ckaSanity(r);
    expect(rep.checks.find((c) => c.id === "self-cka-A")!.passed).toBe(false);
    expect(rep.checks.find((c) => c.id === "symmetry-A")!.passed).toBe(false);
  });

  it("ckaSanity fails the shuffled-pairing check when the control is far from 0", () => {
    const r = result();
    r.shuffled!.data[0] = 0.5;
    expect(ckaSanity(r).checks.find((c) => c.id === "shuffled-pairing")!.passed).toBe(false);
  });

  it("shuffledPairingCKA of dependent Grams is ≈ 0 while the paired CKA is high", () => {
    const ks: Float64Array[] = [], ls: Float64Array[] = [];
    for (let b = 0; b < batches; b++) {
      const t = batch(b);
      ks.push(gram(t.a[0]));
      ls.push(gram(t.b[0]));
    }
    expect(Math.abs(shuffledPairingCKA(ks, ls, 1))).toBeLessThan(0.05);
    expect(shuffledPairingCKA(ks, ks, 1)).toBeLessThan(0.05);
  });
});
