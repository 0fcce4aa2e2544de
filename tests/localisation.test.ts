import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  localisationFinalize, localisationInit, localisationMerge, localisationUpdate, type LocalisationConfig,
} from "../analyses/localisation.js";
import type { Tensor } from "../src/tensor.js";
import { relErr } from "./helpers/gaussian.js";
import { readNpy } from "./helpers/npy.js";

const dir = "fixtures/reference/cka";
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8"));

/** Examples [from, to) of a tensor whose first axis is the example axis. */
function part(x: Tensor, from: number, to: number): Tensor {
  const p = x.data.length / x.shape[0];
  return { data: x.data.subarray(from * p, to * p), shape: [to - from, ...x.shape.slice(1)] };
}

function run(config: LocalisationConfig, act: Tensor, img: Tensor, batches: [number, number][]) {
  const s = localisationInit(config);
  for (const [a, b] of batches) localisationUpdate(s, { activations: [part(act, a, b)], images: part(img, a, b) });
  return s;
}

describe("localisation reducer", () => {
  it("localisation of ViT tokens [B, T, D] with a CLS token matches numpy", () => {
    const act = readNpy(`${dir}/loc_vit_act.npy`), img = readNpy(`${dir}/loc_vit_img.npy`);
    const r = localisationFinalize(run({ sites: ["blocks.0.out"], layout: { layout: "BTD", prefixTokens: 1 }, batch: 8 }, act, img, [[0, 8], [8, 16]]));
    const site = r.sites[0];
    expect(site.positions).toEqual(expected.localisationViT.positions);
    expect(site.shape).toEqual([3, 3, 3]);
    expect(relErr(site.maps, expected.localisationViT.maps)).toBeLessThan(1e-9);
    // the planted dependence: token (0,0) peaks at its own cell
    expect(site.maps.subarray(0, 9).indexOf(Math.max(...site.maps.subarray(0, 9)))).toBe(0);
  });

  it("localisation of ResNet positions [B, C, H, W] with stride-sized cells matches numpy", () => {
    const act = readNpy(`${dir}/loc_cnn_act.npy`), img = readNpy(`${dir}/loc_cnn_img.npy`);
    const r = localisationFinalize(run({ sites: ["stages.3.units.2.out"], layout: { layout: "BCHW" }, batch: 8 }, act, img, [[0, 8], [8, 16]]));
    expect(relErr(r.sites[0].maps, expected.localisationCNN.maps)).toBeLessThan(1e-9);
    expect(r.sites[0].grid).toEqual([3, 3]);
  });

  it("localisation of several sites in one update equals separate runs (shared and distinct grids)", () => {
    const act = readNpy(`${dir}/loc_cnn_act.npy`), img = readNpy(`${dir}/loc_cnn_img.npy`);
    // a second, finer 6×6 site: the 3×3 map upsampled, so the grids differ
    const fine = new Float64Array(16 * 4 * 36);
    for (let i = 0; i < fine.length; i++) {
      const x = i % 6, y = Math.floor(i / 6) % 6, bc = Math.floor(i / 36);
      fine[i] = act.data[bc * 9 + Math.floor(y / 2) * 3 + Math.floor(x / 2)] + 0.01 * (i % 7);
    }
    const fineT = { data: fine, shape: [16, 4, 6, 6] };
    const s = localisationInit({ sites: ["a", "b", "c"], layout: { layout: "BCHW" }, batch: 8 });
    for (const [a, b] of [[0, 8], [8, 16]] as const) {
      localisationUpdate(s, { activations: { a: part(act, a, b), b: part(fineT, a, b), c: part(act, a, b) }, images: part(img, a, b) });
    }
    const r = localisationFinalize(s);
    const alone = localisationFinalize(run({ sites: ["b"], layout: { layout: "BCHW" }, batch: 8 }, fineT, img, [[0, 8], [8, 16]]));
    expect(relErr(r.sites[0].maps, expected.localisationCNN.maps)).toBeLessThan(1e-9);
    expect(relErr(r.sites[2].maps, expected.localisationCNN.maps)).toBeLessThan(1e-9);
    expect(relErr(r.sites[1].maps, alone.sites[0].maps)).toBeLessThan(1e-14);
    expect(r.sites[1].shape).toEqual([3, 6, 6]);
  });

  it("localisationMerge of two shards equals one pass", () => {
    const act = readNpy(`${dir}/loc_vit_act.npy`), img = readNpy(`${dir}/loc_vit_img.npy`);
    const config: LocalisationConfig = { sites: ["t"], layout: { layout: "BTD", prefixTokens: 1 }, batch: 8 };
    const whole = localisationFinalize(run(config, act, img, [[0, 8], [8, 16]]));
    const merged = localisationFinalize(localisationMerge(run(config, act, img, [[0, 8]]), run(config, act, img, [[8, 16]])));
    expect(relErr(merged.sites[0].maps, whole.sites[0].maps)).toBeLessThan(1e-12);
    expect(merged.examples).toBe(16);
  });

  it("localisationUpdate rejects a non-square token count and a position off the grid", () => {
    const bad = { data: new Float64Array(8 * 11 * 2), shape: [8, 11, 2] };
    const img = { data: new Float64Array(8 * 9 * 9), shape: [8, 1, 9, 9] };
    const s = localisationInit({ sites: ["t"], layout: { layout: "BTD", prefixTokens: 1 }, batch: 8 });
    expect(() => localisationUpdate(s, { activations: [bad], images: img })).toThrow(/invalid token count: 11/);
    const s2 = localisationInit({ sites: ["t"], layout: { layout: "BTD", prefixTokens: 1 }, batch: 8, positions: [[3, 0]] });
    const ok = { data: new Float64Array(8 * 10 * 2), shape: [8, 10, 2] };
    expect(() => localisationUpdate(s2, { activations: [ok], images: img })).toThrow(/invalid position: \[3, 0\] in a 3×3 grid/);
  });
});

describe("localisation input checks", () => {
  it("localisationUpdate rejects a grid that does not divide the input and leaves the state unchanged", () => {
    const s = localisationInit({ sites: ["t"], layout: { layout: "BCHW" }, batch: 8 });
    const act = { data: new Float64Array(8 * 2 * 4 * 4).map((_, i) => Math.sin(i)), shape: [8, 2, 4, 4] };
    const img = { data: new Float64Array(8 * 1 * 10 * 10), shape: [8, 1, 10, 10] };
    expect(() => localisationUpdate(s, { activations: [act], images: img })).toThrow(/invalid grid: 4×4 does not divide the 10×10 input/);
    expect([s.batches, s.perSite[0].grid]).toEqual([0, [0, 0]]);
  });
});
