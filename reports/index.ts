/** Public API of the report renderers (re-exports only). */
export { renderReport, contentSecurityPolicy, type RenderOptions } from "./render.js";
export { figureSVG, figureElement, NO_DOM, type FigureOptions } from "./figures.js";
export { draw, DRAWERS, type DrawEnv, type Tooltip } from "./client/draw.js";
export {
  reportSections,
  colourDomain,
  modelLabels,
  ckaFigure,
  attentionFigures,
  skipFigure,
  probesFigure,
  probesFigures,
  localisationFigure,
  localisationGrid,
  collapseFigures,
  posEmbedFigure,
  filtersFigure,
  collapseFigure,
  panelFigure,
  type Drawable,
  type FigureSpec,
  type FigureSpecs,
  type FigureKind,
  type SectionSpec,
} from "./specs.js";
export { findings, findingsText, farMean, ownPatchRatio, depthAt90, spearman, pearson, TIE, LOCAL, type Finding, type Verdict } from "./findings.js";
export { escapeHtml, escapeAttribute, scriptJson } from "./escape.js";
export { png, pngDataURL } from "./png.js";
export { demoReportData } from "./demo.js";
export type * from "./types.js";
