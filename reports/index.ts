/** Public API of the report renderers (re-exports only). */
export { renderReport, contentSecurityPolicy, type RenderOptions } from "./render.js";
export {
  figureSVG,
  figureElement,
  ckaHeatmapSVG,
  attentionDistanceSVG,
  sortedHeadsSVG,
  skipRatioSVG,
  probesSVG,
  localisationSVG,
  posEmbedSVG,
  filtersSVG,
  collapseSVG,
  panelSVG,
  type FigureOptions,
} from "./figures.js";
export { reportSections, colourDomain, type FigureSpec, type FigureKind, type SectionSpec } from "./specs.js";
export { escapeHtml, scriptJson } from "./escape.js";
export { png, pngDataURL } from "./png.js";
export { demoReportData } from "./demo.js";
export type * from "./types.js";
