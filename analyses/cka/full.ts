/**
 * The full estimators (`full-biased`, `full-debiased`): each site's whole m×m Gram, filled
 * block by block, then one product of the centred (or U-centred) Grams. Sufficient statistics
 * like XᵀX are p×p, hopeless for p ≫ m, so the Grams themselves are kept: L·m² float64.
 */
import type { FloatArray } from "../../src/tensor.js";
import { centre, gramSide, uCentre } from "../../src/numeric/hsic.js";
import { matmulTransB, rowsOf } from "../../src/numeric/matmul.js";
import { diagonal, labelled, ratio, type CKAGrams, type CKAResult, type CKAState } from "./state.js";

/** The full-estimator part of a CKA state (m = 0 and no Grams for the minibatch estimator). */
export interface FullGrams {
  /** Full estimators: m and each site's m×m Gram (NaN where no block has arrived yet). */
  m: number;
  fullA: Float64Array[];
  fullB: Float64Array[];
  /** Where the next implicit diagonal block goes (examples placed so far). */
  offset: number;
}

/** Unfilled (NaN) m×m Grams of every site; nothing when `used` is false. */
export function fullGrams(used: boolean, m: number, la: number, lb: number): FullGrams {
  const nanGram = () => new Float64Array(m * m).fill(NaN);
  return {
    m,
    fullA: used ? Array.from({ length: la }, nanGram) : [],
    fullB: used ? Array.from({ length: lb }, nanGram) : [],
    offset: 0,
  };
}

/**
 * Places one block of every site's Gram (and its mirror); without `block`, the batch's Gram
 * goes on the diagonal at the running offset.
 */
export function fullUpdate(state: CKAState, ga: FloatArray[], gb: FloatArray[], block?: CKAGrams["block"]): CKAState {
  const m = state.m;
  let row: number, col: number, rows: number, cols: number;
  if (block) {
    ({ row, col, rows, cols } = block);
  } else {
    rows = cols = gramSide(ga[0]);
    row = col = state.offset;
  }
  if (![row, col, rows, cols].every((v) => Number.isInteger(v) && v >= 0) || row + rows > m || col + cols > m) {
    throw new RangeError(`invalid block: rows ${row}+${rows}, cols ${col}+${cols} in a ${m}×${m} Gram`);
  }
  for (const g of [...ga, ...gb]) {
    if (g.length !== rows * cols) throw new RangeError(`invalid Gram block length: ${g.length}, expected ${rows}×${cols}`);
  }
  const place = (full: Float64Array, g: FloatArray) => {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const v = g[i * cols + j];
        full[(row + i) * m + col + j] = v;
        full[(col + j) * m + row + i] = v;
      }
    }
  };
  ga.forEach((g, s) => place(state.fullA[s], g));
  gb.forEach((g, s) => place(state.fullB[s], g));
  if (row === col) {
    // A diagonal block (implicit or explicit) moves the running offset past it.
    state.offset = Math.max(state.offset, row + rows);
    state.batches[0] += 1;
    state.examples[0] += rows;
  }
  return state;
}

/** Fills a's missing Gram entries from b's. */
export function fullMerge(a: FullGrams, b: FullGrams): void {
  const fill = (x: Float64Array, y: Float64Array) => {
    for (let i = 0; i < x.length; i++) if (Number.isNaN(x[i])) x[i] = y[i];
  };
  a.fullA.forEach((g, s) => fill(g, b.fullA[s]));
  a.fullB.forEach((g, s) => fill(g, b.fullB[s]));
  // Diagonal blocks of a full Gram arrive in order of the running offset; shards must place
  // theirs with explicit blocks, so only the larger offset is meaningful here.
  a.offset = Math.max(a.offset, b.offset);
}

/** CKA from complete m×m Grams; throws while any entry is missing. */
export function fullFinalize(state: CKAState): CKAResult {
  const m = state.m;
  for (const [s, g] of [...state.fullA, ...state.fullB].entries()) {
    const missing = g.reduce((c, v) => c + (Number.isNaN(v) ? 1 : 0), 0);
    if (missing) throw new Error(`cannot finalize CKA (${state.estimator}): site ${s} misses ${missing} of ${m * m} Gram entries`);
  }
  // Biased: HSIC = ⟨HKH, HLH⟩/(m−1)²; debiased: ⟨U(K), U(L)⟩/(m(m−3)) — one product either way.
  const biased = state.estimator === "full-biased";
  if (!biased && m < 4) throw new RangeError(`invalid examples: ${m} (full-debiased needs m ≥ 4)`);
  const prep = biased ? centre : uCentre;
  const scale = biased ? 1 / ((m - 1) * (m - 1)) : 1 / (m * (m - 3));
  const ca = state.fullA.map(prep);
  const cb = state.fullB.map(prep);
  const la = ca.length, lb = cb.length;
  const sAA = matmulTransB(rowsOf(ca)).map((v) => v * scale);
  const da = diagonal(sAA, 0, la);
  const A = state.sitesA, B = state.sitesB ?? [];
  const result: CKAResult = {
    analysis: "cka", estimator: state.estimator, tokens: state.tokens, batch: state.batch,
    examples: m, batches: state.batches[0], repeats: 1, seed: state.seed, droppedExamples: state.droppedExamples,
    matrices: { AA: labelled(ratio(sAA, 0, la, la, da, da), A, A) },
    hsicDiag: { A: da },
    warnings: [...state.warnings],
  };
  if (lb) {
    const sBB = matmulTransB(rowsOf(cb)).map((v) => v * scale);
    const sAB = matmulTransB(rowsOf(ca), rowsOf(cb)).map((v) => v * scale);
    const db = diagonal(sBB, 0, lb);
    result.matrices.BB = labelled(ratio(sBB, 0, lb, lb, db, db), B, B);
    result.matrices.AB = labelled(ratio(sAB, 0, la, lb, da, db), A, B);
    result.hsicDiag.B = db;
  }
  return result;
}
