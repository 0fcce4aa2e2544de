/** Top-1 accuracy of each model's logits on the labelled evaluation data. */
import type { Driver } from "../engine/stream.js";
import type { TapSpec } from "../engine/taps.js";
import { accuracyReducer, type AccuracyResult, type AccuracyState } from "../../analyses/accuracy.js";
import { defineAnalysis, perModel } from "./contract.js";
import { csv } from "./tables.js";

/** Top-1 accuracy of model `m`'s logits against the batch labels. */
export function accuracyDriver(m: number, logits: string): Omit<Driver<AccuracyState>, "id"> {
  const tap: TapSpec = { kind: "raw", tensor: logits };
  return {
    taps: (pass, mm) => (pass === "main" && mm === m ? [tap] : []),
    init: () => accuracyReducer.init({}),
    update(state, view) {
      if (view.pass !== "main" || !view.batch.labels) return state;
      return accuracyReducer.update(state, { logits: view.tap(m, tap), labels: view.batch.labels });
    },
    merge: accuracyReducer.merge,
  };
}

export const accuracy = defineAnalysis({
  id: "accuracy",
  summary: "top-1 accuracy of each model on the labelled evaluation data",
  options: [] as const,
  default: true,
  plan(ctx) {
    if (!ctx.main.labels) {
      if (ctx.explicit) ctx.warn(`accuracy skipped: ${ctx.main.path} has no labels (--labels)`);
      return;
    }
    for (const m of ctx.userModels) ctx.add({ models: [m.index] }, accuracyDriver(m.index, m.sites.logits), accuracyReducer);
  },
  finish: (ctx) => perModel<AccuracyResult>(ctx),
  *files(section) {
    yield ["accuracy.csv", csv([["model", "accuracy", "correct", "total"], ...Object.entries(section).map(([k, a]) => [k, a.accuracy, a.correct, a.total])])];
  },
});
