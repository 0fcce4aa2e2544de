/** The flat site list: canonical kinds of site names, and the user's extra or overriding sites. */
import type { OnnxModel } from "../model.js";
import type { BlockSites, SiteRef } from "./types.js";

export function siteKind(name: string): string {
  const last = name.split(".").slice(-1)[0];
  if (name.endsWith("attn.probs")) return "attention";
  if (last === "ln1" || last === "ln2") return "norm";
  if (last === "out" && /^(blocks\.\d+|stages\.\d+\.units\.\d+)\.out$/.test(name)) return "block";
  if (name.endsWith("resid_mid")) return "residual";
  if (last === "hidden") return "hidden";
  if (last === "branch" || last === "shortcut") return last;
  return "sublayer";
}

function blockOfName(name: string): string | null {
  const m = /^(blocks\.\d+|stages\.\d+\.units\.\d+)\./.exec(name);
  return m ? m[1] : null;
}

function resolveTensor(model: OnnxModel, spec: string | RegExp): string | null {
  const all: string[] = [];
  for (const i of model.graph.order) for (const o of model.nodes[i].outputs) if (o) all.push(o);
  if (typeof spec === "string") {
    if (all.includes(spec)) return spec;
    const m = /^\/(.+)\/([dgimsuy]*)$/.exec(spec);
    if (!m) return null;
    try {
      spec = new RegExp(m[1], m[2]);
    } catch {
      throw new RangeError(`invalid site pattern: ${spec}`);
    }
  }
  const re = spec;
  return all.find((t) => re.test(t)) ?? null;
}

/** Adds or overrides sites: canonical name → exporter tensor name or /regex/ (first match in graph order). */
export function applyOverrides(
  model: OnnxModel, extraSites: Record<string, string | RegExp>, sites: SiteRef[], blocks: BlockSites[], shapeOf: (t: string) => SiteRef["shape"],
): void {
  for (const [name, spec] of Object.entries(extraSites)) {
    const tensor = resolveTensor(model, spec);
    if (!tensor) throw new RangeError(`invalid site ${name}: no tensor matches ${String(spec)}`);
    const existing = sites.find((s) => s.name === name);
    if (existing) existing.tensor = tensor;
    else sites.push({ name, tensor, kind: "user", block: blockOfName(name), shape: shapeOf(tensor) });
    const blk = blocks.find((x) => name.startsWith(`${x.name}.`));
    if (blk) blk.sites[name] = tensor;
  }
}
