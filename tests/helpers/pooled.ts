/** The zoo's pooled features per site, as fixtures/reference/similarity/export_zoo_pooled.mjs exported them for the numpy references. */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { SiteFeatures } from "../../analyses/similarity/pooled.js";
import { readNpy } from "./npy.js";

const dir = path.resolve(__dirname, "../../fixtures/reference/similarity");
const meta = JSON.parse(readFileSync(path.join(dir, "zoo_pooled.json"), "utf8"));

export function exported(label: string): SiteFeatures[] {
  const x = readNpy(path.join(dir, `zoo_pooled_${label}.npy`));
  const model = meta.models.find((m: { label: string }) => m.label === label);
  const [m, total] = x.shape;
  let off = 0;
  return model.sites.map((name: string, si: number) => {
    const p = model.dims[si];
    const data = new Float64Array(m * p);
    for (let i = 0; i < m; i++) for (let j = 0; j < p; j++) data[i * p + j] = x.data[i * total + off + j];
    off += p;
    return { name, data, m, p };
  });
}
