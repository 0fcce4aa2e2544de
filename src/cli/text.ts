/** What the CLI prints: run summaries and `seelike cka` results as text, CSV or JSON. */
import path from "node:path";
import { toJSONValue } from "../output/files.js";
import { writeFileAtomic } from "../files.js";
import { encodeNpy } from "../data/npy.js";
import { csv, matrixCsv } from "../pipelines/tables.js";
import type { ArrayCKA, RunFiles } from "../api/index.js";

/** The lines a finished run prints: where its files went, and each model's accuracy. */
export function runSummary({ results, paths, files }: RunFiles): string {
  const lines = [`report: ${paths.report}`, `results: ${paths.results}`, `files: ${files.length - 2} more in ${paths.dir}`];
  for (const [label, a] of Object.entries(results.accuracy ?? {})) lines.push(`accuracy ${label}: ${(a.accuracy * 100).toFixed(2)}% (${a.correct}/${a.total})`);
  for (const e of results.ablation ?? []) {
    if (e.accuracyAblated !== undefined) lines.push(`accuracy ${e.label}: ${(e.accuracyAblated * 100).toFixed(2)}%`);
  }
  return lines.join("\n") + "\n";
}

/** `seelike cka` output: a value (or JSON) for two files; a matrix (CSV, JSON, or a file) for two folders. */
export async function ckaText(r: ArrayCKA, opts: { out?: string; json?: boolean }): Promise<string> {
  if (r.kind === "value") {
    const v = r.value;
    if (opts.json) return JSON.stringify(toJSONValue({ cka: v.cka, estimator: v.estimator, batch: v.batch, batches: v.batches, examples: v.examples, dropped: v.dropped, tokens: r.tokens, hsic: { xy: v.hsicXY, xx: v.hsicXX, yy: v.hsicYY } })) + "\n";
    return `${v.cka}\n`;
  }
  const result = r.result;
  const ab = result.matrices.AB!;
  if (opts.out) {
    const out = path.resolve(opts.out);
    if (out.endsWith(".npy")) await writeFileAtomic(out, encodeNpy(Float64Array.from(ab.data), ab.shape));
    else if (out.endsWith(".csv")) await writeFileAtomic(out, matrixCsv(ab.rows, ab.cols, ab.data));
    else await writeFileAtomic(out, JSON.stringify(toJSONValue(result), null, 1));
    return `wrote ${out}\n`;
  }
  if (opts.json) {
    const cka = Array.from({ length: ab.rows.length }, (_, i) => Array.from(ab.data.subarray(i * ab.cols.length, (i + 1) * ab.cols.length)));
    return JSON.stringify(toJSONValue({ estimator: result.estimator, batch: result.batch, examples: result.examples, dropped: r.dropped, rows: ab.rows, cols: ab.cols, cka })) + "\n";
  }
  return csv([["", ...ab.cols], ...ab.rows.map((row, i) => [row, ...ab.cols.map((_, j) => ab.data[i * ab.cols.length + j].toFixed(6))])]);
}
