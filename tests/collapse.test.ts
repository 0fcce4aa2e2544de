import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { collapseFinalize, collapseInit, collapseMerge, collapseUpdate } from "../analyses/collapse.js";
import type { Tensor } from "../src/tensor.js";
import { relErr } from "./helpers/gaussian.js";
import { readNpy } from "./helpers/npy.js";

const dir = "fixtures/reference/cka";
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8"));
const layers = [0, 1, 2].map((i) => readNpy(`${dir}/collapse_l${i}.npy`));
const sites = ["blocks.0.attn.probs", "blocks.1.attn.probs", "blocks.2.attn.probs"];

function images(x: Tensor, from: number, to: number): Tensor {
  const p = x.data.length / x.shape[0];
  return { data: x.data.subarray(from * p, to * p), shape: [to - from, ...x.shape.slice(1)] };
}

describe("attention-collapse reducer", () => {
  it("collapse matrix of [B, H, T, T] maps matches numpy", () => {
    const s = collapseUpdate(collapseInit({ sites }), { attention: layers });
    const r = collapseFinalize(s);
    expect(relErr(r.matrix.data, expected.collapse.matrix)).toBeLessThan(1e-9);
    expect([r.heads, r.tokens, r.images]).toEqual([2, 5, 6]);
  });

  it("collapse of [B·H, T, T] maps with the heads option equals the 4-D form", () => {
    const merged = layers.map((x) => ({ data: x.data, shape: [12, 5, 5] }));
    const r = collapseFinalize(collapseUpdate(collapseInit({ sites, heads: 2 }), { attention: merged }));
    expect(relErr(r.matrix.data, expected.collapse.matrix)).toBeLessThan(1e-12);
  });

  it("collapseMerge of two shards equals one pass", () => {
    const a = collapseUpdate(collapseInit({ sites }), { attention: layers.map((x) => images(x, 0, 2)) });
    const b = collapseUpdate(collapseInit({ sites }), { attention: layers.map((x) => images(x, 2, 6)) });
    expect(relErr(collapseFinalize(collapseMerge(a, b)).matrix.data, expected.collapse.matrix)).toBeLessThan(1e-12);
  });

  it("collapseUpdate rejects 3-D maps without heads and mismatched layers", () => {
    const s = collapseInit({ sites });
    expect(() => collapseUpdate(s, { attention: layers.map((x) => ({ data: x.data, shape: [12, 5, 5] })) })).toThrow(/needs the heads option/);
    expect(() => collapseUpdate(s, { attention: [layers[0], layers[1], images(layers[2], 0, 3)] })).toThrow(/differs/);
  });
});
