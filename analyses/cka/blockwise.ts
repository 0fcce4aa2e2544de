import type { CKAResult } from "./state.js";

/** Per-block CKA of checkpoints against a reference (Raghu Fig. 12). */
export interface BlockwiseCKA {
  reference: string;
  blocks: string[];
  series: { name: string; values: Float64Array }[];
}

/**
 * Per-block CKA of several checkpoints against a reference (data-scale comparison, Raghu
 * Fig. 12): from each cross result (A = reference, B = checkpoint) takes AB[i, j] where the row
 * and column carry the same block name; blocks are those present in every result.
 * @example blockwiseCKA("ref", {"10%": r10, "100%": r100}).series[0].values
 */
export function blockwiseCKA(reference: string, others: Readonly<Record<string, CKAResult>>): BlockwiseCKA {
  const names = Object.keys(others);
  if (names.length === 0) throw new RangeError("invalid others: no results");
  const lookups = names.map((name) => {
    const ab = others[name].matrices.AB;
    if (!ab) throw new RangeError(`invalid result ${name}: no cross-model matrix AB`);
    const col = new Map(ab.cols.map((c, j) => [c, j] as const));
    return { name, ab, col };
  });
  const blocks = lookups[0].ab.rows.filter((b) => lookups.every((l) => l.col.has(b) && l.ab.rows.includes(b)));
  if (blocks.length === 0) throw new RangeError("invalid others: no block name common to rows and columns");
  const series = lookups.map(({ name, ab, col }) => {
    const values = new Float64Array(blocks.length);
    blocks.forEach((b, k) => {
      values[k] = ab.data[ab.rows.indexOf(b) * ab.shape[1] + (col.get(b) as number)];
    });
    return { name, values };
  });
  return { reference, blocks, series };
}
