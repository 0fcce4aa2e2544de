/**
 * `seelike inspect MODEL [--json]`: what the model is and which sites it offers.
 */
import { type LoadOptions, loadModel } from "./model.js";
import { type ModelSites, type SiteOptions, discoverSites } from "./sites.js";

/** The inspect report: file facts plus the discovered sites. */
export interface InspectResult extends ModelSites {
  file: string;
  sha256: string;
  bytes: number;
  irVersion: number;
  opset: number;
  producer: { name: string; version: string };
  nodes: number;
  initializers: number;
  parameters: number;
  outputs: { name: string; shape: (number | string | null)[] | null }[];
}

/**
 * Loads, validates and inspects a model.
 *
 * @example
 * const info = await inspectModel("vit_b_16.onnx");
 * info.family; // "vit"; a ResNet-50: "cnn", info.blockType "bottleneck"
 */
export async function inspectModel(file: string, options: SiteOptions & LoadOptions = {}): Promise<InspectResult> {
  const model = await loadModel(file, options);
  const sites = discoverSites(model, options);
  let parameters = 0;
  for (const init of model.initializers.values()) if (init.dataType === 1 || init.dataType === 10 || init.dataType === 16) parameters += init.dims.reduce((a, b) => a * b, 1);
  return {
    file,
    sha256: model.sha256,
    bytes: model.bytes.length,
    irVersion: model.irVersion,
    opset: model.opset,
    producer: model.producer,
    nodes: model.nodes.length,
    initializers: model.initializers.size,
    parameters,
    outputs: model.outputs.map((o) => ({ name: o.name, shape: o.shape })),
    ...sites,
  };
}

const dims = (s: readonly (number | string | null)[] | null) => (s ? `[${s.map((d) => d ?? "?").join(", ")}]` : "[?]");

/**
 * Human-readable text of an inspect result.
 *
 * @example
 * console.log(formatInspect(await inspectModel("resnet50.onnx")));
 */
export function formatInspect(r: InspectResult): string {
  const lines: string[] = [];
  const mb = (r.bytes / 1e6).toFixed(1);
  lines.push(`${r.file}  (${mb} MB, sha256 ${r.sha256.slice(0, 12)}…)`);
  lines.push(`producer ${r.producer.name || "?"} ${r.producer.version}, ir ${r.irVersion}, opset ${r.opset}, ${r.nodes} nodes, ${(r.parameters / 1e6).toFixed(2)}M parameters`);
  lines.push(`input  ${r.input.name} ${dims(r.input.shape)}`);
  for (const o of r.outputs) lines.push(`output ${o.name} ${dims(o.shape)}`);
  const units = r.blocks.filter((b) => b.unit);
  const skips = units.filter((b) => b.unit!.residual).length;
  lines.push(`family ${r.family}${r.blockType ? ` (${r.blockType} units: ${units.length}, ${skips} with a skip)` : ""}`);
  if (r.family === "vit" || r.family === "mixer" || r.family === "hybrid" || r.family === "swin") {
    const geo = [`tokens ${r.tokens ?? "?"}`, `grid ${r.grid ? `${r.grid[0]}×${r.grid[1]}` : "?"}`, `patch ${r.patchSize ?? "?"}`, `prefix tokens ${r.prefixTokens}`, `pooling ${r.pooling ?? "?"}`];
    lines.push(geo.join(", "));
  }
  if (r.patchEmbed) lines.push(`patch embedding ${r.patchEmbed.weight} ${dims(r.patchEmbed.shape)}`);
  if (r.posEmbed) lines.push(`position embedding ${r.posEmbed.initializer} ${dims(r.posEmbed.shape)}`);
  const proj = r.residuals.filter((x) => x.shortcut === "projection").length;
  lines.push(`${r.blocks.length} blocks, ${r.residuals.length} residual sums (${proj} projection shortcuts)`);
  for (const s of r.stages) {
    // Windowed stages: token grid and stride, window, (largest) cyclic shift, heads.
    const win = s.window ? `, grid ${s.grid![0]}×${s.grid![1]} at ${s.stride} px, window ${s.window[0]}×${s.window[1]}, shift ${s.shift![0]}×${s.shift![1]}, ${s.heads} heads` : "";
    lines.push(`  stage ${s.index}: ${s.units.length} ${s.window ? "blocks" : "units"}, ${dims(s.shape)}${win}`);
  }
  if (r.prefix?.length) lines.push(`prefix tokens: ${r.prefix.map((p) => `${p.index} ${p.name}`).join(", ")}`);
  const maps = r.blocks.flatMap((b) => b.attentions ?? (b.attention ? [b.attention] : []));
  if (maps.length) {
    const heads = [...new Set(maps.map((a) => a.heads ?? "?"))].join("/");
    const kinds = [...new Set(maps.map((a) => a.window?.kind ?? "global"))].join(", ");
    lines.push(`${maps.length} attention sites, ${heads} heads, layout ${maps[0].layout ?? "?"} (${kinds})`);
  }
  lines.push("");
  lines.push("sites:");
  const width = Math.max(...r.sites.map((s) => s.name.length));
  for (const s of r.sites) lines.push(`  ${s.name.padEnd(width)}  ${dims(s.shape).padEnd(18)}  ${s.tensor}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}
