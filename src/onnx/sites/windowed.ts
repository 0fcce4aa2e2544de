/**
 * Blocks and stages of windowed transformers (Swin) and conv+attention hybrids (MaxViT), once
 * their attention maps carry a traced window geometry (./windows.ts): blocks in depth order
 * (the topological order of the graph), stages where the token grid changes, and a hybrid's
 * conv unit and the attention blocks that follow it merged into one block, named by part.
 */
import type { BlockSites, Ctx, Family, ModelSites, Residual } from "./types.js";
import type { WindowGeometry } from "./windows.js";

export interface WindowedLayout {
  family: Family;
  blocks: BlockSites[];
  residuals: Residual[];
  stages: ModelSites["stages"];
  /** Swin: the patch embedding's token output (after its LayerNorm), the first block's input. */
  patchEmbed?: string;
  /** Grid and stride of the first stage (the model-level geometry inspect prints). */
  grid: [number, number];
  patchSize: number;
}

const MOVE = new Set(["Reshape", "Transpose", "Identity", "Squeeze", "Unsqueeze", "Flatten"]);

/** Names of a hybrid block's attention parts in depth order: MaxViT's block (local windows) then grid attention. */
function partNames(windows: WindowGeometry[]): string[] {
  if (windows.length === 2) return ["block_attn", "grid_attn"];
  return windows.map((_, i) => `attn${i}`);
}

/**
 * Reorders and regroups the blocks of a model with windowed attention; null for any other
 * model. `blocks`/`residuals` are those of the residual walk (units first, then token blocks).
 */
export function windowedLayout(ctx: Ctx, blocks: BlockSites[], residuals: Residual[], notes: string[]): WindowedLayout | null {
  if (!blocks.some((b) => b.attention?.window)) return null;
  const g = ctx.model.graph;
  const pos = (t: string) => {
    const p = g.producer.get(t);
    return p === undefined ? -1 : g.position[p];
  };
  const first = (b: BlockSites) => Math.min(...Object.values(b.sites).map(pos).filter((p) => p >= 0));
  const ordered = [...blocks].sort((a, b) => first(a) - first(b));
  const units = ordered.filter((b) => b.kind === "unit");
  const shapeOf = (t: string | undefined) => (t ? ctx.sym.get(t) ?? null : null);
  if (units.length === 0) {
    // Swin: token blocks in depth order, a stage per token grid.
    const stages: ModelSites["stages"] = [];
    let prev = "";
    for (const b of ordered) {
      const w = b.attention?.window;
      const key = w ? w.grid.join("x") : prev;
      if (key !== prev || stages.length === 0) {
        const index = stages.length;
        stages.push({ index, units: [], shape: shapeOf(b.sites[`${b.name}.out`]), ...(w ? { grid: w.grid, stride: w.stride, window: w.window, shift: [0, 0] as [number, number], heads: w.heads } : {}) });
        // The stream entering a later stage: the patch merging's output (the block's residual source).
        if (index > 0) {
          const r = residuals.find((x) => x.block === b.name);
          if (r) b.sites[`stages.${index}.patch_merge`] = r.source;
        }
        prev = key;
      }
      const st = stages[stages.length - 1];
      st.units.push(b.name);
      b.stage = st.index;
      if (w && st.shift && (w.shift[0] || w.shift[1])) st.shift = [Math.max(st.shift[0], w.shift[0]), Math.max(st.shift[1], w.shift[1])];
    }
    const w0 = ordered.find((b) => b.attention?.window)!.attention!.window!;
    const r0 = residuals.find((x) => x.block === ordered[0].name);
    return { family: "swin", blocks: ordered, residuals, stages, grid: w0.grid, patchSize: w0.stride, ...(r0 ? { patchEmbed: r0.source } : {}) };
  }
  // Hybrid: merge when every conv unit is followed by attention blocks (MaxViT: MBConv, block
  // attention, grid attention); otherwise keep the parts as they are, in depth order.
  const groups: BlockSites[][] = [];
  for (const b of ordered) {
    if (b.kind === "unit") groups.push([b]);
    else if (groups.length) groups[groups.length - 1].push(b);
    else groups.push([b]);
  }
  const mergeable = groups.every((gr) => gr[0].kind === "unit" && gr.length > 1 && gr.slice(1).every((b) => b.attention?.window));
  if (!mergeable) {
    notes.push("conv units and attention blocks do not alternate; they are listed in depth order under their own names");
    const w0 = ordered.find((b) => b.attention?.window)!.attention!.window!;
    return { family: "hybrid", blocks: ordered, residuals, stages: [], grid: w0.grid, patchSize: w0.stride };
  }
  const out: BlockSites[] = [];
  const res: Residual[] = [];
  const stages: ModelSites["stages"] = [];
  let prev = "";
  groups.forEach((gr, n) => {
    const name = `blocks.${n}`;
    const [unit, ...attn] = gr;
    const parts = partNames(attn.map((b) => b.attention!.window!));
    const sites: Record<string, string> = {};
    const rename = (b: BlockSites, part: string) => {
      for (const [k, t] of Object.entries(b.sites)) sites[`${name}.${part}${k.slice(b.name.length)}`] = t;
      for (const r of residuals) if (r.block === b.name) res.push({ ...r, block: name, sublayer: r.sublayer === "unit" ? part : `${part}.${r.sublayer}` });
    };
    rename(unit, "mbconv");
    attn.forEach((b, i) => rename(b, parts[i]));
    // The block output in the conv layout: the last part's output departitioned by data movement.
    const unitOut = unit.sites[`${unit.name}.out`];
    // The end of the movement chain, not its first tensor of that shape: a partitioned
    // [B, G, P, C] can have the shape of [B, C, H, W] when G = P = C = H = W.
    const want = JSON.stringify(ctx.one.get(unitOut)?.shape);
    let t: string | undefined = attn[attn.length - 1].sites[`${attn[attn.length - 1].name}.out`];
    let o: string | undefined;
    for (let k = 0; k < 8 && t; k++) {
      if (JSON.stringify(ctx.one.get(t)?.shape) === want) o = t;
      const c: { outputs: string[] } | undefined = (g.consumers.get(t) ?? []).map((i) => ctx.nodes[i]).find((x) => MOVE.has(x.opType));
      t = c?.outputs[0];
    }
    if (o) sites[`${name}.out`] = o;
    else {
      notes.push(`${name}: no departitioned output found; its output site is the last attention part's`);
      sites[`${name}.out`] = attn[attn.length - 1].sites[`${attn[attn.length - 1].name}.out`];
    }
    const attentions = attn.map((b, i) => ({ ...b.attention!, part: parts[i] }));
    const w = attentions[0].window!;
    const key = w.grid.join("x");
    if (key !== prev) {
      stages.push({ index: stages.length, units: [], shape: shapeOf(sites[`${name}.out`]), grid: w.grid, stride: w.stride, window: w.window, shift: [0, 0], heads: w.heads });
      prev = key;
    }
    const st = stages[stages.length - 1];
    st.units.push(name);
    out.push({ name, kind: "hybrid", stage: st.index, sites, attention: attentions[0], attentions });
  });
  const w0 = out[0].attention!.window!;
  return { family: "hybrid", blocks: out, residuals: res, stages, grid: w0.grid, patchSize: w0.stride };
}

/** Mean pooling of a windowed model's head: a GlobalAveragePool or ReduceMean shortly before the classifier input. */
export function windowedPooling(ctx: Ctx, headPre: string | null): "mean" | null {
  let t = headPre;
  for (let k = 0; k < 10 && t; k++) {
    const p = ctx.model.graph.producer.get(t);
    if (p === undefined) return null;
    const n = ctx.nodes[p];
    if (n.opType === "GlobalAveragePool" || n.opType === "ReduceMean") return "mean";
    t = n.inputs.find((x) => ctx.data.has(x)) ?? null;
  }
  return null;
}
