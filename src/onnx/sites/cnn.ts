/** ResNet units and stages from the conv residuals. */
import type { BlockSites, Ctx, ModelSites, Residual } from "./types.js";

/** Units in graph order; a new stage starts where the unit output's shape changes. */
export function cnnUnits(ctx: Ctx, conv: Residual[]): { blocks: BlockSites[]; outRes: Residual[]; stages: ModelSites["stages"] } {
  const blocks: BlockSites[] = [];
  const outRes: Residual[] = [];
  const stages: ModelSites["stages"] = [];
  let stage = -1;
  let unit = 0;
  let prevShape = "";
  for (const r of conv) {
    const shape = JSON.stringify(ctx.one.get(r.out)?.shape ?? null);
    if (shape !== prevShape) {
      stage++;
      unit = 0;
      stages.push({ index: stage, units: [], shape: ctx.sym.get(r.out) ?? null });
      prevShape = shape;
    }
    const name = `stages.${stage}.units.${unit++}`;
    stages[stage].units.push(name);
    const out = postActivation(ctx, r.out);
    blocks.push({ name, kind: "unit", stage, sites: { [`${name}.branch`]: r.fz, [`${name}.shortcut`]: r.z, [`${name}.out`]: out } });
    outRes.push({ ...r, block: name, sublayer: "unit" });
  }
  return { blocks, outRes, stages };
}

/** The activation applied right after a residual sum (ResNet: ReLU), or the sum itself. */
function postActivation(ctx: Ctx, t: string): string {
  const cs = ctx.model.graph.consumers.get(t) ?? [];
  if (cs.length === 1) {
    const n = ctx.nodes[cs[0]];
    if (["Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "Gelu", "Elu"].includes(n.opType)) return n.outputs[0];
  }
  return t;
}
