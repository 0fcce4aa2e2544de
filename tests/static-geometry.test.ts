/**
 * Planning takes the site tensors' shapes from static shape inference when it knows them all
 * (src/plan/models.ts staticShapes) instead of a probe session: on every model the repository
 * ships and the full-size exports, the inferred shapes must equal the shapes onnxruntime returns
 * when the model runs with the sites exposed.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { batchShape, loadRunModel, probeGeometry } from "../src/plan/models.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const dirs = ["fixtures/zoo", "fixtures/models", "fixtures/models/arch"].map((d) => path.join(ROOT, d));
const shipped = dirs.flatMap((d) => readdirSync(d).filter((f) => f.endsWith(".onnx")).map((f) => path.join(d, f)));
const FULL = path.join(ROOT, ".cache/fullsize");
const fullsize = existsSync(FULL) ? readdirSync(FULL).filter((f) => f.endsWith(".onnx")).map((f) => path.join(FULL, f)) : [];

async function both(file: string) {
  const m = await loadRunModel(file, path.basename(file), {});
  const fixed = m.model.imageInput.shape?.[0];
  const batch = typeof fixed === "number" && fixed > 0 ? fixed : undefined;
  const inferred = await probeGeometry(m.model, m.sites, m.bytes, m.preprocess, 2, batch);
  const probed = await probeGeometry(m.model, m.sites, m.bytes, m.preprocess, 2, batch, { run: true });
  return { inferred, probed };
}

describe("site shapes from static inference equal the probe run's", () => {
  it.each(shipped.map((f) => [path.relative(ROOT, f), f]))("%s", async (_, file) => {
    const { inferred, probed } = await both(file);
    expect(inferred.probeBatch).toBe(probed.probeBatch);
    expect(Object.fromEntries(inferred.shapes)).toEqual(Object.fromEntries(probed.shapes));
  }, 120_000);

  it("static inference knows every site of the shipped ViT, ResNet, Swin and Mixer exports (no probe session)", async () => {
    const { staticShapes } = await import("../src/plan/models.js");
    for (const rel of ["fixtures/zoo/vit-tiny.onnx", "fixtures/zoo/resnet-tiny.onnx", "fixtures/models/tv_vit_b16_op14.onnx", "fixtures/models/tv_resnet50_op14.onnx", "fixtures/models/tv_swin_op14.onnx", "fixtures/models/mixer_op14.onnx"]) {
      const m = await loadRunModel(path.join(ROOT, rel), rel, {});
      const names = [...new Set(m.sites.blocks.flatMap((b) => [...Object.values(b.sites), ...(b.attention ? [b.attention.tensor] : [])]))];
      expect(staticShapes(m.model, names, batchShape(m.model, m.preprocess, 2)!)?.size, rel).toBe(names.length);
    }
  }, 120_000);
});

describe.skipIf(!fullsize.length)("full-size exports (.cache/fullsize)", () => {
  it.each(fullsize.map((f) => [path.basename(f), f]))("%s", async (_, file) => {
    const { inferred, probed } = await both(file);
    expect(Object.fromEntries(inferred.shapes)).toEqual(Object.fromEntries(probed.shapes));
  }, 300_000);
});

it.skipIf(fullsize.length > 0)("full-size exports: skipped, make them with /usr/bin/python3 fixtures/models/make_fullsize.py (writes .cache/fullsize/)", () => {});
