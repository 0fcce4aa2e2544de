/** The embedded default: the shipped zoo models and Fashion-MNIST probe set. */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { InputError } from "../errors.js";
import type { RunOptions } from "../plan/types.js";
import { DEFAULT_ANALYSES } from "../pipelines/index.js";
import { MEASURE_IDS } from "../pipelines/measures.js";

/** The package root (where fixtures/ lives), from this module's location in src/ or dist/src/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "fixtures"))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error("cannot find the seelike package root (fixtures/)");
}

/**
 * The embedded default: the shipped zoo and probe set.
 * @example const { models, data } = demoInputs(); await compare(models[0], models[1], { data });
 */
export function demoInputs(root = packageRoot()) {
  const zoo = path.join(root, "fixtures", "zoo");
  const data = path.join(root, "fixtures", "data");
  const models = ["vit-tiny", "resnet-tiny", "vit-tiny-10pct", "vit-tiny-gap", "vit-tiny-noskip", "mixer-tiny", "vit-tiny-init"].map((m) => path.join(zoo, `${m}.onnx`));
  return {
    models: models.filter((m, i) => i < 2 || existsSync(m)),
    data: path.join(data, "probe-images-idx3-ubyte.gz"),
    trainData: path.join(data, "train2k-images-idx3-ubyte.gz"),
  };
}

/** The demo's batch size: the zoo's models are small, and 100 divides the 2,000 probe images. */
export const DEMO_BATCH = 100;

/** The demo report's title. */
export const DEMO_TITLE = "seelike demo: vit-tiny vs resnet-tiny (Fashion-MNIST probe set)";

/**
 * The demo's models and run options (vit-tiny vs resnet-tiny and the zoo's variants, an
 * inference-ablation of block 3), with the caller's overrides.
 * @example const { models, options } = demoOptions({ limit: 200 }); await runToFiles(models, options, "demo.html");
 */
export function demoOptions(overrides: Pick<RunOptions, "limit" | "batch" | "repeats" | "threads"> = {}): { models: string[]; options: RunOptions } {
  const d = demoInputs();
  for (const f of [...d.models.slice(0, 2), d.data]) if (!existsSync(f)) throw new InputError(f, "missing from this install (the demo needs the shipped zoo and probe set)");
  return {
    models: d.models,
    options: {
      data: d.data,
      trainData: existsSync(d.trainData) ? d.trainData : undefined,
      batch: DEMO_BATCH,
      seed: 0,
      ablate: [3],
      // The default set plus the opt-in measures beyond CKA, so the demo report shows them.
      analyses: [...DEFAULT_ANALYSES, ...MEASURE_IDS],
      // Their JS finish grows with m² (RSA, kNN) over six comparisons: 500 examples keep the
      // demo near a minute (1,000 took it from 40 s to 100 s).
      measureExamples: 500,
      ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
    },
  };
}
