/**
 * The report's Findings: for each claim of Raghu et al. 2021 (arXiv 2108.08810) and of the ViT
 * paper (Dosovitskiy et al. 2020, arXiv 2010.11929) listed in FINDINGS.md, whether this run's
 * models answer it, the statistic behind the verdict, and the figure it is read from.
 *
 * Computed from the report's view model only (reports/types.ts), so it works for any set of
 * models and analyses and needs no Node API. Each statistic is documented in
 * docs/methods.md ("Findings"); a claim the run cannot answer is "not judged" with what it
 * would need, and a claim that fails says so with its number.
 */
import { reportSections, type SectionSpec } from "./specs.js";
import type { AttentionDistance, Heatmap, Localisation, Numbers, ReportData, ReportModel } from "./types.js";

/** holds / does not hold / not judged (the run cannot answer it, with the reason). */
export type Verdict = "holds" | "does not hold" | "not judged";

/** One finding: the paper's claim, this run's answer in one sentence, and where to look. */
export interface Finding {
  /** Stable id, e.g. "uniformity". */
  id: string;
  /** The claim as the paper states it, with its figure. */
  claim: string;
  verdict: Verdict;
  /** What this run shows: the number, what it was compared against (or why it cannot be judged). */
  text: string;
  /** Id of the figure it is read from (the report's `figure-ID` anchor), when there is one. */
  figure?: string;
}

/** Differences of CKA-like means below this are reported as a tie, not as a verdict. */
export const TIE = 0.01;

const VIT = /vit|deit|beit|swin|transformer/i;
const CNN = /resnet|cnn|conv|vgg|efficientnet|mobilenet|regnet|densenet/i;
const MIXER = /mixer/i;

function f2(v: number): string {
  return Number.isFinite(v) ? v.toFixed(2) : "n/a";
}
function f3(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : "n/a";
}

function num(v: number | null | undefined): number {
  return v === null || v === undefined ? NaN : v;
}

function mean(xs: number[]): number {
  const ok = xs.filter(Number.isFinite);
  return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : NaN;
}

/** Means of the first and the last ⌊n/2⌋ values (the middle one of an odd count left out). */
function halves(xs: number[]): [lo: number, hi: number] {
  const half = Math.floor(xs.length / 2);
  return [mean(xs.slice(0, half)), mean(xs.slice(xs.length - half))];
}

function median(xs: number[]): number {
  const ok = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!ok.length) return NaN;
  const m = ok.length >> 1;
  return ok.length % 2 ? ok[m] : (ok[m - 1] + ok[m]) / 2;
}

/** Ranks with ties averaged (for Spearman's ρ). */
function ranks(xs: number[]): number[] {
  const idx = xs.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

/** Pearson correlation; NaN when either side is constant. */
export function pearson(a: number[], b: number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/** Spearman's rank correlation. */
export function spearman(a: number[], b: number[]): number {
  return pearson(ranks(a), ranks(b));
}

/**
 * Mean CKA over site pairs at least half the depth apart (|i − j| ≥ n/2) of an intra-model
 * matrix: high means the representation is uniform across depth (Raghu Fig. 1).
 */
export function farMean(h: Pick<Heatmap, "rows" | "data">): number {
  const n = h.rows.length;
  const xs: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (Math.abs(i - j) >= n / 2) xs.push(num(h.data[i * n + j]));
  return mean(xs);
}

/** Mean of all cells. */
function cellMean(d: Numbers): number {
  const xs: number[] = [];
  for (let i = 0; i < d.length; i++) xs.push(num(d[i]));
  return mean(xs);
}

/** Block index of a canonical site name (`blocks.N.…`, `stages.S.units.U…` counts units in order). */
function blockOf(site: string): number | undefined {
  const m = /(?:^|\.)blocks\.(\d+)(?:\.|$)/.exec(site);
  return m ? Number(m[1]) : undefined;
}

/** Verdict of "a is larger than b" with the tie margin. */
function larger(a: number, b: number, tie = TIE): Verdict {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return "not judged";
  if (Math.abs(a - b) < tie) return "not judged";
  return a > b ? "holds" : "does not hold";
}

interface Ctx {
  data: ReportData;
  sections: SectionSpec[];
  models: ReportModel[];
  label: (id: string) => string;
}

/** Models whose results speak for their architecture: not an inference-ablation, not untrained. */
function trained(ctx: Ctx): ReportModel[] {
  return ctx.models.filter((m) => m.ablatedBlock === undefined && !m.training?.untrained);
}

const isVit = (m: ReportModel) => VIT.test(m.family) && !MIXER.test(m.family);
const isCnn = (m: ReportModel) => CNN.test(m.family);
const isMixer = (m: ReportModel) => MIXER.test(m.family);

/** The figure drawn from a heatmap or panel id, or the first figure of a section showing a model. */
function figureOf(ctx: Ctx, section: string, match: { source?: string; model?: string } = {}): string | undefined {
  const s = ctx.sections.find((x) => x.id === section);
  if (!s) return undefined;
  const f = s.figures.find((x) => (match.source === undefined || x.source === match.source) && (match.model === undefined || x.models.includes(match.model)));
  return f?.id;
}

function intra(ctx: Ctx, model: string): Heatmap | undefined {
  return ctx.data.cka?.find((h) => h.rowModel === model && h.colModel === model);
}

function cross(ctx: Ctx, a: string, b: string): { h: Heatmap; transposed: boolean } | undefined {
  for (const h of ctx.data.cka ?? []) {
    if (h.rowModel === a && h.colModel === b) return { h, transposed: false };
    if (h.rowModel === b && h.colModel === a) return { h, transposed: true };
  }
  return undefined;
}

function notJudged(id: string, claim: string, why: string): Finding {
  return { id, claim, verdict: "not judged", text: `Not judged: ${why}.` };
}

function uniformity(ctx: Ctx): Finding {
  const claim = "ViT representations are more uniform across depth than a CNN's (Raghu Fig. 1).";
  const vit = trained(ctx).filter(isVit).find((m) => intra(ctx, m.id));
  const cnn = trained(ctx).filter(isCnn).find((m) => intra(ctx, m.id));
  if (!vit || !cnn) return notJudged("uniformity", claim, `needs the intra-model CKA of a ViT and of a CNN; this run has ${[vit && "a ViT", cnn && "a CNN"].filter(Boolean).join(" and ") || "neither"}`);
  const v = farMean(intra(ctx, vit.id)!);
  const c = farMean(intra(ctx, cnn.id)!);
  const verdict = larger(v, c);
  return {
    id: "uniformity",
    claim,
    verdict,
    text:
      `Mean CKA between sites at least half the depth apart is ${f2(v)} in ${vit.label} against ${f2(c)} in ${cnn.label}` +
      (verdict === "not judged" ? ` (a difference below ${TIE}: a tie).` : verdict === "holds" ? "." : `: the CNN is the more uniform here.`),
    figure: figureOf(ctx, "cka", { source: intra(ctx, vit.id)!.id }),
  };
}

function correspondence(ctx: Ctx): Finding {
  const claim = "Lower CNN layers correspond to the lowest quarter of ViT layers; the upper halves differ (Raghu Fig. 2).";
  const vits = trained(ctx).filter(isVit);
  const cnns = trained(ctx).filter(isCnn);
  for (const v of vits)
    for (const c of cnns) {
      const x = cross(ctx, v.id, c.id);
      if (!x) continue;
      const { h, transposed } = x;
      const nv = transposed ? h.cols.length : h.rows.length;
      const nc = transposed ? h.rows.length : h.cols.length;
      const at = (i: number, j: number) => num(transposed ? h.data[j * h.cols.length + i] : h.data[i * h.cols.length + j]);
      if (nv < 4 || nc < 2) continue;
      // For each CNN site, the ViT site of highest CKA.
      const best = Array.from({ length: nc }, (_, j) => {
        let bi = 0;
        for (let i = 1; i < nv; i++) if (at(i, j) > at(bi, j)) bi = i;
        return bi;
      });
      const rho = spearman(best.map((_, j) => j), best);
      const lowerHalf = best.slice(0, Math.ceil(nc / 2));
      const share = lowerHalf.filter((i) => i < nv / 4).length / lowerHalf.length;
      const verdict: Verdict = !Number.isFinite(rho) ? "not judged" : rho >= 0.5 && share >= 0.5 ? "holds" : "does not hold";
      return {
        id: "correspondence",
        claim,
        verdict,
        text:
          `${Math.round(share * 100)}% of the lower half of ${c.label}'s sites match best a site in the lowest quarter of ${v.label} ` +
          `(Raghu: most of them), and the best-match map has Spearman ρ = ${f2(rho)} with depth (1 = monotone)` +
          (verdict === "not judged" ? ": every CNN site matches the same ViT site, so the order cannot be judged." : "."),
        figure: figureOf(ctx, "cka", { source: h.id }),
      };
    }
  return notJudged("correspondence", claim, "needs the cross-model CKA matrix of a ViT and a CNN");
}

function attentionOf(ctx: Ctx, filter: (m: ReportModel) => boolean): { m: ReportModel; a: AttentionDistance } | undefined {
  for (const m of trained(ctx).filter(filter)) {
    const a = ctx.data.attentionDistance?.find((x) => x.model === m.id);
    if (a && a.layers.length >= 2) return { m, a };
  }
  return undefined;
}

/** A head is local when its mean distance is below this fraction of the uniform-attention value. */
export const LOCAL = 0.8;

function localGlobal(ctx: Ctx): Finding {
  const claim = "Lower ViT layers mix local and global heads, upper layers are all global, given enough pre-training data (Raghu Figs. 3, 4; ViT Fig. 7).";
  const got = attentionOf(ctx, isVit) ?? attentionOf(ctx, () => true);
  if (!got) return notJudged("local-global", claim, "needs attention distance of a model with attention");
  const { m, a } = got;
  const half = Math.floor(a.layers.length / 2);
  // A windowed layer is judged against its own window's uniform value.
  const ceil = (l: AttentionDistance["layers"][number]) => l.ceiling ?? a.ceiling;
  const local = (ls: AttentionDistance["layers"]) => ls.flatMap((l) => l.heads.filter((d) => Number.isFinite(d) && d < LOCAL * ceil(l))).length;
  const global = (ls: AttentionDistance["layers"]) => ls.flatMap((l) => l.heads.filter((d) => Number.isFinite(d) && d >= LOCAL * ceil(l))).length;
  const lower = a.layers.slice(0, half);
  const upper = a.layers.slice(half);
  const all = a.layers.flatMap((l) => l.heads).filter(Number.isFinite);
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const figure = figureOf(ctx, "attentionDistance", { model: m.id });
  const grid = `${a.grid[0]}×${a.grid[1]} grid`;
  if (local(a.layers) === 0) {
    return {
      id: "local-global",
      claim,
      verdict: "does not hold",
      figure,
      text:
        `Every head of ${m.label} lies between ${f2(lo)} and ${f2(hi)} px, within ${Math.round((1 - lo / a.ceiling) * 100)}% of the uniform-attention value ` +
        `${f2(a.ceiling)} px of its ${grid}: no local heads in any layer, which matches Raghu's small-data case (a ViT trained without large-scale pre-training), not a failure of the measurement.`,
    };
  }
  const verdict: Verdict = local(lower) > 0 && global(lower) > 0 && local(upper) < local(lower) ? "holds" : "does not hold";
  return {
    id: "local-global",
    claim,
    verdict,
    figure,
    text:
      `${m.label} has ${local(lower)} local heads (below ${LOCAL} × the uniform ${f2(a.ceiling)} px of its ${grid}) and ${global(lower)} global ones in its lower ${half} layers, ` +
      `against ${local(upper)} local heads in the upper ${a.layers.length - half}.`,
  };
}

function distanceGrows(ctx: Ctx): Finding {
  const claim = "Mean attention distance grows with depth (ViT Fig. 7).";
  const got = attentionOf(ctx, isVit) ?? attentionOf(ctx, () => true);
  if (!got) return notJudged("distance-depth", claim, "needs attention distance of a model with attention");
  const { m, a } = got;
  const means = a.layers.map((l) => mean(l.heads));
  const rho = spearman(a.layers.map((l) => l.layer), means);
  const spread = (Math.max(...means) - Math.min(...means)) / a.ceiling;
  const figure = figureOf(ctx, "attentionDistance", { model: m.id });
  if (spread < 0.05) {
    return {
      id: "distance-depth",
      claim,
      verdict: "not judged",
      figure,
      text: `The layer means of ${m.label} span only ${f2(Math.min(...means))}–${f2(Math.max(...means))} px (${Math.round(spread * 100)}% of the uniform ${f2(a.ceiling)} px): every layer attends almost uniformly, so there is no trend to judge (Spearman ρ = ${f2(rho)}).`,
    };
  }
  return {
    id: "distance-depth",
    claim,
    verdict: rho >= 0.5 ? "holds" : "does not hold",
    figure,
    text: `Spearman ρ between layer index and ${m.label}'s mean head distance is ${f2(rho)} (layer means ${f2(means[0])} → ${f2(means[means.length - 1])} px; ≥ 0.5 counts as growing).`,
  };
}

function skipRows(ctx: Ctx, m: ReportModel) {
  return ctx.data.skipRatio?.find((s) => s.model === m.id)?.rows;
}

function skipViTvsCNN(ctx: Ctx): Finding {
  const claim = "Skip connections carry more in ViT than in a CNN (Raghu Fig. 7).";
  const v = trained(ctx).filter(isVit).find((m) => skipRows(ctx, m));
  const c = trained(ctx).filter(isCnn).find((m) => skipRows(ctx, m));
  if (!v || !c) return notJudged("skip-vit-cnn", claim, "needs skip ratios of a ViT and of a CNN");
  const vr = median(skipRows(ctx, v)!.map((r) => r.spatial));
  const cr = median(skipRows(ctx, c)!.map((r) => r.spatial));
  const verdict = larger(vr, cr, 0);
  return {
    id: "skip-vit-cnn",
    claim,
    verdict,
    figure: figureOf(ctx, "skipRatio", { model: v.id }),
    text: `The median norm ratio ‖z‖/‖f(z)‖ is ${f2(vr)} over ${v.label}'s spatial tokens against ${f2(cr)} over ${c.label}'s residual units${verdict === "holds" ? ` (×${f2(vr / cr)})` : ""}.`,
  };
}

function skipClsSpatial(ctx: Ctx): Finding {
  const claim = "In ViT the CLS token's skip ratio is high in the first half of the blocks, the spatial tokens' in the second (Raghu Fig. 7).";
  const v = trained(ctx).filter(isVit).find((m) => skipRows(ctx, m)?.some((r) => Number.isFinite(num(r.cls))));
  if (!v) return notJudged("skip-cls-spatial", claim, "needs skip ratios of a ViT with a CLS token");
  const rows = skipRows(ctx, v)!.filter((r) => r.sublayer !== "unit");
  const blocks = [...new Set(rows.map((r) => r.block))].sort((a, b) => a - b);
  const half = blocks[Math.floor(blocks.length / 2)];
  const part = (key: "cls" | "spatial", first: boolean) => mean(rows.filter((r) => (r.block < half) === first).map((r) => num(r[key])));
  const [c1, c2, s1, s2] = [part("cls", true), part("cls", false), part("spatial", true), part("spatial", false)];
  const verdict: Verdict = c1 > c2 && s2 > s1 ? "holds" : "does not hold";
  return {
    id: "skip-cls-spatial",
    claim,
    verdict,
    figure: figureOf(ctx, "skipRatio", { model: v.id }),
    text: `${v.label}'s mean CLS-token ratio is ${f2(c1)} in the first half and ${f2(c2)} in the second; its spatial tokens' ${f2(s1)} and ${f2(s2)}${verdict === "holds" ? "." : ` (the claim needs CLS higher first, spatial higher second).`}`,
  };
}

function removingSkips(ctx: Ctx): Finding {
  const claim = "Removing a block's skip connections splits the representation there and costs accuracy (Raghu Fig. 8).";
  const variant = ctx.models.find((m) => m.ablatedBlock !== undefined);
  const h = (ctx.data.ablation ?? []).find((p) => p.kind === "heatmap" && variant && p.colModel === variant.id);
  if (!variant || !h || h.kind !== "heatmap") return notJudged("removing-skips", claim, "needs a model without the skips of one block (retrained, or `--ablate N` at inference)");
  const b = variant.ablatedBlock!;
  const before: number[] = [];
  const after: number[] = [];
  h.rows.forEach((r, i) => {
    const j = h.cols.indexOf(r);
    const k = blockOf(r);
    if (j < 0 || k === undefined) return;
    (k < b ? before : after).push(num(h.data[i * h.cols.length + j]));
  });
  const acc = (ctx.data.ablation ?? []).find((p) => p.kind === "line" && p.id === "ablation-accuracy");
  const pts = acc && acc.kind === "line" ? acc.series.flatMap((s) => s.points) : [];
  const intact = pts.find((p) => p.label === "intact")?.y;
  const ablated = pts.find((p) => p.label === variant.label)?.y;
  const mb = mean(before);
  const ma = mean(after);
  const split = mb - ma >= 0.05;
  const drop = intact !== undefined && ablated !== undefined ? intact - ablated : NaN;
  const verdict: Verdict = !Number.isFinite(mb) || !Number.isFinite(ma) ? "not judged" : split && (!Number.isFinite(drop) || drop > 0) ? "holds" : "does not hold";
  return {
    id: "removing-skips",
    claim,
    verdict,
    figure: figureOf(ctx, "ablation", { source: h.id }),
    text:
      `Inference-ablation of block ${b} (residuals removed from the frozen graph, not Raghu's retrained model): CKA of each site with the same site of the intact model is ${f2(mb)} before block ${b} and ${f2(ma)} from it on` +
      (Number.isFinite(drop) ? `, and accuracy falls from ${f3(intact!)} to ${f3(ablated!)}.` : " (no labels, so no accuracy)."),
  };
}

/** Own-patch CKA over the mean of the other patches, averaged over the maps of a model's deepest site. */
export function ownPatchRatio(loc: Localisation): number {
  const [gr, gc] = loc.grid;
  const ratios = loc.maps.map((m) => {
    const k = m.position[0] * gc + m.position[1];
    const own = num(m.data[k]);
    const rest: number[] = [];
    for (let i = 0; i < gr * gc; i++) if (i !== k) rest.push(num(m.data[i]));
    return own / mean(rest);
  });
  return mean(ratios);
}

function deepest(ctx: Ctx, m: ReportModel): Localisation | undefined {
  const all = (ctx.data.localisation ?? []).filter((l) => l.model === m.id);
  return all[all.length - 1];
}

function localisationFinding(ctx: Ctx): Finding {
  const claim = "A ViT with a CLS token keeps spatial information to the top; with global average pooling it does not; a CNN's last stage less (Raghu Figs. 9, 10).";
  const withLoc = trained(ctx).filter((m) => deepest(ctx, m));
  const cls = withLoc.find((m) => isVit(m) && (m.prefixTokens ?? 0) > 0);
  const gap = withLoc.find((m) => isVit(m) && m.prefixTokens === 0);
  const cnn = withLoc.find(isCnn);
  if (!cls || !gap) return notJudged("localisation", claim, `needs localisation of a ViT with a CLS token and one with global average pooling (this run has ${[cls && "a CLS ViT", gap && "a GAP ViT"].filter(Boolean).join(" and ") || "neither"})`);
  const rc = ownPatchRatio(deepest(ctx, cls)!);
  const rg = ownPatchRatio(deepest(ctx, gap)!);
  const rn = cnn ? ownPatchRatio(deepest(ctx, cnn)!) : NaN;
  const verdict: Verdict = rc > rg && (!cnn || rc > rn) ? "holds" : "does not hold";
  const site = (m: ReportModel) => deepest(ctx, m)!.site ?? "last site";
  return {
    id: "localisation",
    claim,
    verdict,
    figure: figureOf(ctx, "localisation"),
    text:
      `At the deepest mapped site, a token's CKA with its own input patch is ×${f2(rc)} the mean over the other patches in ${cls.label} (${site(cls)}) against ×${f2(rg)} in ${gap.label}` +
      (cnn ? ` and ×${f2(rn)} in ${cnn.label}.` : "."),
  };
}

function dataScale(ctx: Ctx): Finding {
  const claim = "Lower layers need less data than higher ones: with less training data the upper layers drift most (Raghu Fig. 12).";
  const ms = trained(ctx).filter((m) => m.training && m.training.images > 0);
  for (const ref of [...ms].sort((a, b) => b.training!.images - a.training!.images)) {
    const ckpts = ms.filter((m) => m !== ref && m.training!.recipe === ref.training!.recipe && m.training!.images < ref.training!.images);
    for (const c of ckpts.sort((a, b) => a.training!.images - b.training!.images)) {
      const x = cross(ctx, ref.id, c.id);
      if (!x) continue;
      const { h, transposed } = x;
      const diag: number[] = [];
      const rows = transposed ? h.cols : h.rows;
      const cols = transposed ? h.rows : h.cols;
      rows.forEach((r, i) => {
        const j = cols.indexOf(r);
        if (j >= 0) diag.push(num(transposed ? h.data[j * h.cols.length + i] : h.data[i * h.cols.length + j]));
      });
      if (diag.length < 2) continue;
      const [lo, hi] = halves(diag);
      const verdict = larger(lo, hi);
      return {
        id: "data-scale",
        claim,
        verdict,
        figure: figureOf(ctx, "dataScale") ?? figureOf(ctx, "cka", { source: h.id }),
        text:
          `${c.label} (${c.training!.images.toLocaleString("en")} training images) against ${ref.label} (${ref.training!.images.toLocaleString("en")}): same-site CKA is ${f2(lo)} in the lower half of the sites and ${f2(hi)} in the upper half` +
          (verdict === "not judged" ? ` (a difference below ${TIE}: a tie).` : "."),
      };
    }
  }
  return notJudged("data-scale", claim, "needs checkpoints of one recipe trained on different amounts of data, declared in their model cards (train_images, recipe)");
}

/** Normalised depth at which a series first reaches 90% of its best accuracy. */
export function depthAt90(points: { depth: number; accuracy: number }[]): number {
  const ok = points.filter((p) => Number.isFinite(p.accuracy));
  if (!ok.length) return NaN;
  const best = Math.max(...ok.map((p) => p.accuracy));
  return ok.find((p) => p.accuracy >= 0.9 * best)!.depth;
}

function probesFinding(ctx: Ctx): Finding {
  const claim = "Linear probes: the CLS token becomes decodable late, spatial-mean features earlier (Raghu Figs. 11, 13).";
  const pick = (p: { series: { name: string; points: { depth: number; accuracy: number }[] }[] }, rep: RegExp) => {
    const s = p.series.filter((x) => rep.test(x.name));
    return s.find((x) => /full/.test(x.name)) ?? s[s.length - 1];
  };
  for (const m of trained(ctx).filter(isVit)) {
    const p = ctx.data.probes?.find((x) => x.model === m.id);
    if (!p) continue;
    const cls = pick(p, /^cls\b/i);
    const gap = pick(p, /^(gap|mean)\b/i);
    if (!cls || !gap) continue;
    const dc = depthAt90(cls.points);
    const dg = depthAt90(gap.points);
    const cnn = trained(ctx).filter(isCnn).map((c) => ({ c, p: ctx.data.probes?.find((x) => x.model === c.id) })).find((x) => x.p);
    const dn = cnn ? depthAt90(pick(cnn.p!, /./)?.points ?? []) : NaN;
    return {
      id: "probes",
      claim,
      verdict: larger(dc, dg, 1e-9),
      figure: figureOf(ctx, "probes"),
      text:
        `${m.label} reaches 90% of its best probe accuracy at normalised depth ${f2(dc)} from the CLS token and ${f2(dg)} from the mean of the spatial tokens` +
        (cnn ? ` (${cnn.c.label}: ${f2(dn)}).` : ".") +
        (dc === dg ? " Equal depths: no difference to judge." : ""),
    };
  }
  return notJudged("probes", claim, "needs linear probes (labels and --train-data) on a ViT with a CLS token");
}

function mixerFinding(ctx: Ctx): Finding {
  const claim = "MLP-Mixer behaves more like a ViT than like a CNN (Raghu Sec. 6).";
  const mixer = trained(ctx).find(isMixer);
  const vit = trained(ctx).find(isVit);
  const cnn = trained(ctx).find(isCnn);
  if (!mixer || !vit || !cnn) return notJudged("mixer", claim, "needs a Mixer, a ViT and a CNN");
  const mv = cross(ctx, mixer.id, vit.id);
  const mc = cross(ctx, mixer.id, cnn.id);
  if (mv && mc) {
    const a = cellMean(mv.h.data);
    const b = cellMean(mc.h.data);
    return {
      id: "mixer",
      claim,
      verdict: larger(a, b),
      figure: figureOf(ctx, "cka", { source: mv.h.id }),
      text: `Mean cross-model CKA is ${f2(a)} for ${mixer.label} × ${vit.label} against ${f2(b)} for ${mixer.label} × ${cnn.label}.`,
    };
  }
  // Without the Mixer × CNN matrix: compare depth-uniformity (the statistic of Raghu Fig. 1).
  const [hm, hv, hc] = [intra(ctx, mixer.id), intra(ctx, vit.id), intra(ctx, cnn.id)];
  if (!hm || !hv || !hc) return notJudged("mixer", claim, `needs the Mixer × ViT and Mixer × CNN CKA matrices, or the intra-model CKA of all three`);
  const [u, uv, uc] = [farMean(hm), farMean(hv), farMean(hc)];
  const verdict = larger(Math.abs(u - uc), Math.abs(u - uv));
  return {
    id: "mixer",
    claim,
    verdict,
    figure: figureOf(ctx, "cka", { source: hm.id }),
    text:
      `This run has no ${mixer.label} × ${cnn.label} matrix, so the uniformity statistic stands in: mean CKA of sites ≥ half the depth apart is ${f2(u)} in ${mixer.label}, ` +
      `${f2(uv)} in ${vit.label} and ${f2(uc)} in ${cnn.label}` +
      (verdict === "holds" ? `: closer to the ViT.` : verdict === "not judged" ? ` (equally close to both).` : `: closer to the CNN.`),
  };
}

function posEmbedFinding(ctx: Ctx): Finding {
  const claim = "Learned position embeddings encode 2-D structure: nearby patches, rows and columns are similar (ViT Fig. 7).";
  const m = trained(ctx).find((x) => ctx.data.posEmbed?.some((p) => p.model === x.id));
  if (!m) return notJudged("position-embedding", claim, "needs a model with a learned position embedding");
  const pe = ctx.data.posEmbed!.find((p) => p.model === m.id)!;
  const [gr, gc] = pe.grid;
  const n = gr * gc;
  const sim: number[] = [];
  const negDist: number[] = [];
  const line: number[] = [];
  const other: number[] = [];
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) {
      if (a === b) continue;
      const [ra, ca, rb, cb] = [Math.floor(a / gc), a % gc, Math.floor(b / gc), b % gc];
      const v = num(pe.data[a * n + b]);
      if (!Number.isFinite(v)) continue;
      sim.push(v);
      negDist.push(-Math.hypot(ra - rb, ca - cb));
      (ra === rb || ca === cb ? line : other).push(v);
    }
  const r = pearson(sim, negDist);
  const [ml, mo] = [mean(line), mean(other)];
  return {
    id: "position-embedding",
    claim,
    verdict: r >= 0.3 && ml > mo ? "holds" : "does not hold",
    figure: figureOf(ctx, "posEmbed", { model: m.id }),
    text: `In ${m.label}, embedding cosine similarity correlates with −(grid distance) at r = ${f2(r)} (≥ 0.3 counts), and averages ${f2(ml)} for patches in the same row or column against ${f2(mo)} for the others.`,
  };
}

function collapseFinding(ctx: Ctx): Finding {
  const claim = "Attention collapse in deep ViTs: later layers repeat earlier attention maps (DeepViT, arXiv 2103.11886).";
  const m = trained(ctx).find((x) => ctx.data.collapse?.some((c) => c.model === x.id && c.rows.length >= 4));
  if (!m) return notJudged("collapse", claim, "needs attention collapse of a model with at least 4 attention layers");
  const c = ctx.data.collapse!.find((x) => x.model === m.id)!;
  const n = c.rows.length;
  const adj = Array.from({ length: n - 1 }, (_, i) => num(c.data[i * n + i + 1]));
  const [lo, hi] = halves(adj);
  const verdict = larger(hi, lo);
  return {
    id: "collapse",
    claim,
    verdict,
    figure: figureOf(ctx, "collapse", { model: m.id }),
    text: `Cosine similarity of adjacent layers' attention maps in ${m.label} averages ${f2(hi)} in the upper half against ${f2(lo)} in the lower half (${n} layers; DeepViT saw collapse beyond 12)` + (verdict === "not judged" ? ", a tie." : "."),
  };
}

/**
 * The findings of a report, in FINDINGS.md's order: one per claim, each with a verdict and the
 * number behind it.
 * @example findings(reportData(results)).map((f) => `${f.verdict}: ${f.text}`)
 */
export function findings(data: ReportData, sections: SectionSpec[] = reportSections(data)): Finding[] {
  const label = (id: string) => data.run.models.find((m) => m.id === id)?.label ?? id;
  const ctx: Ctx = { data, sections, models: data.run.models, label };
  return [
    uniformity(ctx),
    correspondence(ctx),
    localGlobal(ctx),
    distanceGrows(ctx),
    skipViTvsCNN(ctx),
    skipClsSpatial(ctx),
    removingSkips(ctx),
    localisationFinding(ctx),
    dataScale(ctx),
    probesFinding(ctx),
    mixerFinding(ctx),
    posEmbedFinding(ctx),
    collapseFinding(ctx),
  ];
}

/**
 * Plain-text lines of findings (the example script and the CLI print them).
 * @example findingsText(findings(data)) // " ok  ViT representations are …"
 */
export function findingsText(list: Finding[]): string {
  const mark = (v: Verdict) => (v === "holds" ? "holds" : v === "does not hold" ? "does not hold" : "not judged");
  return list.map((f) => `[${mark(f.verdict)}] ${f.claim}\n    ${f.text.replace(/^Not judged: /, "")}`).join("\n") + "\n";
}
