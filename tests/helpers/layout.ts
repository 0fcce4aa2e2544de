/**
 * Layout checks of a report page in a real browser, as a reader would notice them: the depth
 * of the first figure, text drawn outside its SVG (clipped in the page), labels shortened with
 * "…", captions repeated word for word, and more save buttons than figures.
 */
import type { Page } from "playwright-core";

/** What the layout checks found on one page. */
export interface Layout {
  /** Document y of the top of the first figure, px. */
  firstFigureY: number;
  figures: number;
  saveButtons: number;
  /** Text elements of a figure's SVG that lie (partly) outside that SVG, with their text. */
  outside: string[];
  /** Text elements ending in or containing "…" (a label that was cut). */
  truncated: string[];
  /** Captions that appear more than once. */
  repeatedCaptions: string[];
  /** Figures whose SVG is wider than its column (a horizontal scroll bar). */
  overflowing: string[];
}

/** Runs the checks on the page as it is (call after html[data-ready=true]). */
export async function measureLayout(page: Page): Promise<Layout> {
  return page.evaluate(() => {
    const figures = [...document.querySelectorAll<HTMLElement>("figure[data-figure]")];
    const first = figures[0]?.getBoundingClientRect();
    const outside: string[] = [];
    const truncated: string[] = [];
    const overflowing: string[] = [];
    for (const svg of document.querySelectorAll<SVGSVGElement>("svg.seelike-figure")) {
      const box = svg.getBoundingClientRect();
      const id = svg.closest("figure")?.getAttribute("data-figure") ?? "?";
      for (const t of svg.querySelectorAll("text")) {
        const r = t.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        const out = r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1;
        if (out) outside.push(`${id}: ${t.textContent}`);
        if ((t.textContent ?? "").includes("\u2026")) truncated.push(`${id}: ${t.textContent}`);
      }
      const plot = svg.parentElement!;
      if (plot.scrollWidth > plot.clientWidth + 1) overflowing.push(id);
    }
    const counts = new Map<string, number>();
    for (const c of document.querySelectorAll("figcaption")) {
      const t = (c.textContent ?? "").trim();
      if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    return {
      firstFigureY: first ? Math.round(first.top + window.scrollY) : Infinity,
      figures: figures.length,
      saveButtons: document.querySelectorAll("button.save-svg").length,
      outside,
      truncated,
      repeatedCaptions: [...counts].filter(([, n]) => n > 1).map(([t]) => t),
      overflowing,
    };
  });
}

/** The bar: a first figure within 1,800 px of the top at 1400×900. */
export const FIRST_FIGURE_MAX_Y = 1800;

/** Problems of a layout, one line each (empty when it passes every check). */
export function layoutProblems(l: Layout): string[] {
  const out: string[] = [];
  if (!(l.firstFigureY < FIRST_FIGURE_MAX_Y)) out.push(`first figure at y = ${l.firstFigureY} px (limit ${FIRST_FIGURE_MAX_Y})`);
  if (l.figures === 0) out.push("no figure");
  if (l.saveButtons > l.figures) out.push(`${l.saveButtons} Save SVG buttons for ${l.figures} figures`);
  for (const t of l.outside) out.push(`text outside its SVG: ${t}`);
  for (const t of l.truncated) out.push(`truncated label: ${t}`);
  for (const t of l.repeatedCaptions) out.push(`repeated caption: ${t.slice(0, 80)}`);
  for (const t of l.overflowing) out.push(`figure wider than its column: ${t}`);
  return out;
}

/** Number of distinct figure columns (distinct left edges of the figures in one section). */
export async function figureColumns(page: Page, section: string): Promise<number> {
  return page.$$eval(`section#${section} figure[data-figure]`, (figs) => new Set(figs.map((f) => Math.round(f.getBoundingClientRect().left))).size);
}
