/** The op table: op type → shape rule. An op missing here gives unknown outputs, never an error. */
import { computeRules, reduce } from "./compute.js";
import { elementwiseRules } from "./elementwise.js";
import { movementRules } from "./movement.js";
import type { Inferred, OpRule } from "./types.js";

function table(...groups: [string, OpRule][][]): ReadonlyMap<string, OpRule> {
  const rules = new Map<string, OpRule>();
  for (const [op, rule] of groups.flat()) {
    // An op in two groups would make the outcome depend on the order of the groups.
    if (rules.has(op)) throw new Error(`shape rules: ${op} is declared twice`);
    rules.set(op, rule);
  }
  return rules;
}

/** Shape rule of every op type inference knows; any other `Reduce*` op uses the reduction rule. */
export const shapeRules = table(elementwiseRules, movementRules, computeRules);

/** Shape/value transfer for one node; exported for tests of single ops. */
export function inferNode(op: string, attrs: Record<string, unknown>, ins: (Inferred | undefined)[], nOut: number, opset: number): Inferred[] {
  const rule = shapeRules.get(op) ?? (op.startsWith("Reduce") ? reduce : undefined);
  if (!rule) return new Array(nOut).fill(0).map(() => ({ shape: null, dtype: 0 }));
  const x = ins[0];
  return rule({ op, attrs, ins, nOut, opset, x, xs: x?.shape ?? null, dt: x?.dtype ?? 0 });
}
