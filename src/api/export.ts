/**
 * Every figure of a report as files for papers: `<figure id>.svg` (the report's own SVG, drawn
 * in Node by reports/figures.ts) and `<figure id>.png` (that SVG rasterised by sharp/librsvg at
 * 2× its size). The ids are the report's stable figure anchors (`#figure-ID`).
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import { writeFileAtomic } from "../files.js";
import { figureSVG } from "../../reports/figures.js";
import { reportSections } from "../../reports/specs.js";
import type { ReportData } from "../../reports/types.js";

/** Figure ids as file names: the report's ids are already [A-Za-z0-9_-]; anything else becomes "_". */
function fileName(id: string): string {
  return id.replace(/[^A-Za-z0-9_.-]+/g, "_");
}

/**
 * Writes every figure of `data` into `dir` as SVG and PNG; returns the files written.
 * @example await writeFigures(reportData(results), "figures/") // ["figures/cka-0-….svg", …]
 */
export async function writeFigures(data: ReportData, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const s of reportSections(data)) {
    for (const f of s.figures) {
      const svg = `<?xml version="1.0" encoding="UTF-8"?>\n${figureSVG(f)}`;
      const base = path.join(dir, fileName(f.id));
      await writeFileAtomic(`${base}.svg`, svg);
      // density 144 = 2× the SVG's 72-dpi user units, as the report's Save PNG does.
      await writeFileAtomic(`${base}.png`, await sharp(Buffer.from(svg), { density: 144 }).png().toBuffer());
      files.push(`${base}.svg`, `${base}.png`);
    }
  }
  return files;
}
