/**
 * Sanity checks of a finalized CKA result (METHODS.md §1 properties): self-CKA on the diagonal,
 * symmetry, the shuffled-pairing control, degenerate sites, and two "different" models that
 * come out identical.
 */
import type { FloatArray } from "../src/tensor.js";
import { gramSide, hsic1, uCentre } from "../src/numeric/hsic.js";
import { derangement } from "../src/numeric/random.js";
import type { CKAMatrix, CKAResult } from "./cka.js";

/** One check: an id, whether it passed, the measured value and what it measures. */
export interface SanityCheck {
  id: string;
  passed: boolean;
  /** The measured quantity (a maximum deviation, or a count). */
  value: number;
  detail: string;
}

/** Checks and de-duplicated warnings. */
export interface SanityReport {
  checks: SanityCheck[];
  warnings: string[];
}

/** Tolerances of {@link ckaSanity}. */
export interface SanityOptions {
  /** Allowed |CKA(X, X) − 1| (default 1e-6). */
  selfTolerance?: number;
  /** Allowed asymmetry of the intra-model matrices (default 1e-9). */
  symmetryTolerance?: number;
  /** Allowed |CKA| of the shuffled-pairing control (default max(0.05, 4/√examples)). */
  shuffledTolerance?: number;
}

function maxAbs(values: Iterable<number>): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

/** Indices of sites whose self-HSIC is ≤ 0 or not finite. */
function degenerate(diag: Float64Array): number[] {
  const out: number[] = [];
  diag.forEach((v, i) => {
    if (!(v > 0) || !Number.isFinite(v)) out.push(i);
  });
  return out;
}

/**
 * Runs every check on a CKA result.
 * @example ckaSanity(ckaFinalize(state)).checks.every((c) => c.passed)
 */
export function ckaSanity(result: CKAResult, options: SanityOptions = {}): SanityReport {
  const selfTol = options.selfTolerance ?? 1e-6;
  const symTol = options.symmetryTolerance ?? 1e-9;
  const shufTol = options.shuffledTolerance ?? Math.max(0.05, 4 / Math.sqrt(Math.max(1, result.examples)));
  const checks: SanityCheck[] = [];
  const warnings: string[] = [];
  const intra: [string, CKAMatrix, Float64Array][] = [["A", result.matrices.AA, result.hsicDiag.A]];
  if (result.matrices.BB && result.hsicDiag.B) intra.push(["B", result.matrices.BB, result.hsicDiag.B]);

  for (const [label, m, diag] of intra) {
    const bad = new Set(degenerate(diag));
    for (const i of bad) warnings.push(`site ${m.rows[i]} (model ${label}): self-HSIC ${diag[i]} ≤ 0 or not finite (zero variance, NaN or Inf)`);
    const l = m.shape[0];
    const selfDev: number[] = [];
    for (let i = 0; i < l; i++) if (!bad.has(i)) selfDev.push(m.data[i * l + i] - 1);
    const dev = selfDev.length ? maxAbs(selfDev) : NaN;
    checks.push({ id: `self-cka-${label}`, passed: dev <= selfTol, value: dev, detail: `max |CKA(X, X) − 1| over ${selfDev.length} non-degenerate sites of model ${label} (tolerance ${selfTol})` });
    const asym: number[] = [];
    for (let i = 0; i < l; i++) for (let j = i + 1; j < l; j++) if (!bad.has(i) && !bad.has(j)) asym.push(m.data[i * l + j] - m.data[j * l + i]);
    const a = maxAbs(asym);
    checks.push({ id: `symmetry-${label}`, passed: a <= symTol, value: a, detail: `max |CKA[i,j] − CKA[j,i]| of model ${label} (tolerance ${symTol})` });
    checks.push({ id: `degenerate-sites-${label}`, passed: bad.size === 0, value: bad.size, detail: `sites of model ${label} with self-HSIC ≤ 0, NaN or Inf` });
  }

  for (const [name, m] of Object.entries(result.matrices) as [string, CKAMatrix][]) {
    const nonFinite = m.data.reduce((c, v) => c + (Number.isFinite(v) ? 0 : 1), 0);
    if (nonFinite) warnings.push(`matrix ${name}: ${nonFinite} NaN or Inf entries`);
  }

  if (result.shuffled) {
    const v = maxAbs([...result.shuffled.data].filter(Number.isFinite));
    checks.push({ id: "shuffled-pairing", passed: v <= shufTol, value: v, detail: `max |CKA| with one side's examples permuted within each batch (tolerance ${shufTol.toPrecision(3)})` });
  }

  const { AA, BB, AB } = result.matrices;
  if (AB && BB && AA.shape[0] === AB.shape[0] && AB.shape[0] === AB.shape[1]) {
    const d = maxAbs(AB.data.map((v, i) => v - AA.data[i]));
    const same = d <= 1e-12 && maxAbs(BB.data.map((v, i) => v - AA.data[i])) <= 1e-12;
    if (same) warnings.push("models A and B give identical CKA matrices (cross = intra): the same model compared with itself?");
    checks.push({ id: "distinct-models", passed: !same, value: d, detail: "max |AB − AA|; 0 means the two models are indistinguishable" });
  }
  return { checks, warnings };
}

/**
 * Shuffled-pairing control on per-batch Grams: minibatch-unbiased CKA between K_b and L_b with
 * L's examples permuted within each batch (rows and columns of L permuted, no fixed point).
 * ≈ 0 when the pipeline pairs examples by position only.
 * @example shuffledPairingCKA([k0, k1], [l0, l1], 7) // ≈ 0
 */
export function shuffledPairingCKA(gramsK: readonly FloatArray[], gramsL: readonly FloatArray[], seed: number): number {
  if (gramsK.length !== gramsL.length || gramsK.length === 0) throw new RangeError(`invalid Grams: ${gramsK.length} and ${gramsL.length} batches`);
  let xy = 0, xx = 0, yy = 0;
  gramsK.forEach((k, b) => {
    const n = gramSide(k);
    const perm = derangement(n, seed + b);
    const l = gramsL[b];
    if (l.length !== n * n) throw new RangeError(`invalid Gram ${b}: ${l.length} entries, expected ${n}×${n}`);
    const lp = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) lp[i * n + j] = l[perm[i] * n + perm[j]];
    const uk = uCentre(k), ul = uCentre(lp);
    xy += hsic1(uk, ul); xx += hsic1(uk, uk); yy += hsic1(ul, ul);
  });
  return xy / Math.sqrt(xx * yy);
}
