import type { Matrix } from "../../src/numeric/linalg.js";

/** Stored rows (features, labels, sample indices) in chunks, so updates never copy. */
export interface StoredRows {
  features: Float64Array[];
  labels: Float64Array[];
  indices: Float64Array[];
}

export function emptyRows(): StoredRows {
  return { features: [], labels: [], indices: [] };
}

function rowsCount(r: StoredRows): number {
  return r.labels.reduce((a, l) => a + l.length, 0);
}

/** The chunks of `r` as one matrix [n, dim] with its labels and sample indices. */
export function flatRows(r: StoredRows, dim: number): { x: Matrix; labels: Float64Array; indices: Float64Array } {
  const n = rowsCount(r);
  const x = new Float64Array(n * dim);
  const labels = new Float64Array(n);
  const indices = new Float64Array(n);
  let o = 0;
  for (let k = 0; k < r.labels.length; k++) {
    x.set(r.features[k], o * dim);
    labels.set(r.labels[k], o);
    indices.set(r.indices[k], o);
    o += r.labels[k].length;
  }
  return { x: { data: x, shape: [n, dim] }, labels, indices };
}

/** Appends the given rows of a batch [·, D] as one new chunk. */
export function pushRows(dst: StoredRows, X: ArrayLike<number>, D: number, rows: number[], labels: ArrayLike<number>, indices: ArrayLike<number>): void {
  if (rows.length === 0) return;
  const f = new Float64Array(rows.length * D);
  const l = new Float64Array(rows.length);
  const ix = new Float64Array(rows.length);
  rows.forEach((r, k) => {
    for (let j = 0; j < D; j++) f[k * D + j] = X[r * D + j];
    l[k] = labels[r];
    ix[k] = indices[r];
  });
  dst.features.push(f);
  dst.labels.push(l);
  dst.indices.push(ix);
}

/** Appends copies of b's chunks to a's (merging shards). */
export function appendRows(a: StoredRows, b: StoredRows): void {
  a.features.push(...b.features.map((f) => f.slice()));
  a.labels.push(...b.labels.map((f) => f.slice()));
  a.indices.push(...b.indices.map((f) => f.slice()));
}
