#!/usr/bin/env node
// Summarises a demo run's results.json into the qualitative findings of Raghu et al. 2021 that
// can be checked on the Fashion-MNIST zoo, with the numbers behind each.
//
//   npx seelike demo && node examples/zoo-findings.mjs reports/demo/results.json
//
// Each line says what the paper reports, what we measure here, and whether it holds.
import { readFileSync } from "node:fs";

const file = process.argv[2] ?? "reports/demo/results.json";
const r = JSON.parse(readFileSync(file, "utf8"));
const fmt = (x) => (x === null || x === undefined ? "n/a" : Number(x).toFixed(3));
const out = [];
const say = (claim, measured, holds) => out.push(`${holds === null ? "  ?" : holds ? " ok" : " no"}  ${claim}\n     ${measured}`);

const pairWith = (label) => (r.cka ?? []).find((c) => c.a === r.models[0].label && c.b === label)?.result;

/** Mean CKA between sites at least half the depth apart (low = the matrix is not uniform). */
function farMean(m) {
  const n = m.rows.length;
  let s = 0, c = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (Math.abs(i - j) >= n / 2) { s += m.data[i * n + j]; c++; }
  return s / c;
}

// 1. ViT representations are more uniform across depth than ResNet's (Fig. 1).
const main = pairWith(r.models[1]?.label);
if (main) {
  const v = farMean(main.matrices.AA), res = farMean(main.matrices.BB);
  say("ViT's CKA matrix is more uniform across depth than the ResNet's (Raghu Fig. 1)",
    `mean CKA of sites ≥ half the depth apart: ${r.models[0].label} ${fmt(v)}, ${r.models[1].label} ${fmt(res)}`, v > res);
}

// 2. Lower layers have local and global heads; higher layers only global (Fig. 3).
const att = r.attention["vit-tiny"];
if (att) {
  const [L, H] = att.distance.shape;
  const row = (l) => att.distance.data.slice(l * H, (l + 1) * H);
  const spread = (l) => Math.max(...row(l)) - Math.min(...row(l));
  const lowSpread = (spread(0) + spread(1)) / 2, highSpread = (spread(L - 1) + spread(L - 2)) / 2;
  say("lower-layer heads span local and global distances, higher layers are global (Raghu Fig. 3)",
    `vit-tiny head distances (px, uniform ceiling ${fmt(att.uniform.includingSelf)}): layer 0 [${row(0).map(fmt).join(", ")}], layer ${L - 1} [${row(L - 1).map(fmt).join(", ")}]; spread low ${fmt(lowSpread)} vs high ${fmt(highSpread)} px`,
    lowSpread > highSpread && Math.min(...row(0)) < 0.8 * att.uniform.includingSelf);
}

// 3. ViT with CLS localises better than ViT with GAP (Figs. 9, 10).
function localisation(label) {
  const l = r.localisation[label];
  if (!l) return null;
  const s = l.sites[l.sites.length - 1];
  const [P, gh, gw] = s.shape;
  let own = 0, rest = 0;
  for (let p = 0; p < P; p++) {
    const [pr, pc] = s.positions[p];
    const map = s.maps.slice(p * gh * gw, (p + 1) * gh * gw);
    const at = map[pr * gw + pc];
    const others = map.filter((_, k) => k !== pr * gw + pc);
    own += at;
    rest += others.reduce((a, b) => a + b, 0) / others.length;
  }
  return { site: s.site, own: own / P, rest: rest / P };
}
const lc = localisation("vit-tiny"), lg = localisation("vit-tiny-gap");
if (lc && lg) {
  say("ViT with CLS localises (token t is most similar to input patch t) better than ViT with GAP (Raghu Figs. 9–10)",
    `last-block CKA with its own input patch vs mean of other patches: vit-tiny ${fmt(lc.own)} vs ${fmt(lc.rest)} (×${fmt(lc.own / lc.rest)}), vit-tiny-gap ${fmt(lg.own)} vs ${fmt(lg.rest)} (×${fmt(lg.own / lg.rest)})`,
    lc.own / lc.rest > lg.own / lg.rest);
}

// 4. Removing the skips of a middle block splits the CKA matrix there (Fig. 8).
const ns = pairWith("vit-tiny-noskip");
const noskipIntra = r.cka.find((c) => c.b === "vit-tiny-noskip");
if (ns && noskipIntra) {
  // Intra-model matrix of the no-skip model = BB of its pair with vit-tiny.
  const m = ns.matrices.BB, a = ns.matrices.AA;
  const idx = (mat, name) => mat.rows.indexOf(name);
  const across = (mat) => {
    const before = mat.rows.filter((s) => /^blocks\.[0-2]\./.test(s));
    const after = mat.rows.filter((s) => /^blocks\.[4-5]\./.test(s));
    let s = 0, c = 0;
    for (const x of before) for (const y of after) { s += mat.data[idx(mat, x) * mat.rows.length + idx(mat, y)]; c++; }
    return s / c;
  };
  say("a ViT retrained without the skips of block 3 has a CKA matrix split at that block (Raghu Fig. 8)",
    `mean CKA between blocks 0–2 and blocks 4–5: vit-tiny ${fmt(across(a))}, vit-tiny-noskip ${fmt(across(m))}`, across(m) < across(a));
}

// 5. With less data, lower layers stay close to the full-data model, higher layers drift (Fig. 12).
if (r.dataScale) {
  const s = r.dataScale.series.find((x) => x.name === "vit-tiny-10pct");
  if (s) {
    const n = s.values.length, half = Math.floor(n / 2);
    const low = s.values.slice(0, half).reduce((a, b) => a + b, 0) / half;
    const high = s.values.slice(n - half).reduce((a, b) => a + b, 0) / half;
    say("vit-tiny-10pct is closer to vit-tiny in lower blocks than in higher ones (Raghu Fig. 12)",
      `per-block CKA with vit-tiny: ${s.values.map(fmt).join(", ")} (lower half ${fmt(low)}, upper half ${fmt(high)})`, low > high);
  }
}

// 6. Skip connections carry more in ViT than in ResNet; CLS high early, spatial high late (Fig. 7).
const sv = r.skip["vit-tiny"], sr = r.skip["resnet-tiny"];
if (sv && sr) {
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const vit = mean(sv.residuals.map((e) => e["mean-of-ratios"].spatial));
  const res = mean(sr.residuals.map((e) => e["mean-of-ratios"].whole));
  say("skip-connection norm ratios are larger in the ViT than in the ResNet (Raghu Fig. 7)",
    `mean ‖z‖/‖f(z)‖: vit-tiny spatial tokens ${fmt(vit)}, resnet-tiny ${fmt(res)}`, vit > res);
  const n = sv.residuals.length, half = Math.floor(n / 2);
  const cls1 = mean(sv.residuals.slice(0, half).map((e) => e["mean-of-ratios"].cls)), cls2 = mean(sv.residuals.slice(half).map((e) => e["mean-of-ratios"].cls));
  const sp1 = mean(sv.residuals.slice(0, half).map((e) => e["mean-of-ratios"].spatial)), sp2 = mean(sv.residuals.slice(half).map((e) => e["mean-of-ratios"].spatial));
  say("the CLS token's ratio is high in the first half, spatial tokens' in the second (Raghu Fig. 7)",
    `vit-tiny CLS first/second half ${fmt(cls1)}/${fmt(cls2)}; spatial ${fmt(sp1)}/${fmt(sp2)}`, cls1 > cls2 && sp2 > sp1);
}

// 7. Inference-time ablation (not the paper's experiment): accuracy drop.
for (const a of r.ablation ?? []) {
  say(`inference-ablation of block ${a.block} (both residuals removed from the frozen graph; labelled, not Raghu's retrained models)`,
    `accuracy ${fmt(a.accuracyIntact)} → ${fmt(a.accuracyAblated)}`, null);
}
for (const [k, a] of Object.entries(r.accuracy)) out.push(`     accuracy ${k}: ${fmt(a.accuracy)} (${a.correct}/${a.total})`);
console.log(`findings from ${file} (${r.settings.data.images} images, batch ${r.settings.batch}, ${r.settings.estimator}):\n${out.join("\n")}`);
