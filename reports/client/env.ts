/**
 * What a drawing needs from its host. The browser report gives the page's document, a canvas
 * raster and a tooltip; Node (reports/figures.ts) gives any DOM document, a PNG encoder and no
 * tooltip. The drawing modules use nothing else from their surroundings, so the very same code
 * runs in both.
 */

/** The shared tooltip of the page: lines of plain text, set through d3 .text(). */
export interface Tooltip {
  show(event: MouseEvent, lines: string[]): void;
  hide(): void;
}

/** Host of a drawing. */
export interface DrawEnv {
  /** Document the SVG elements are created in. */
  document: Document;
  /** width × height RGBA pixels → an image href (a data: URL). */
  raster(width: number, height: number, rgba: Uint8ClampedArray<ArrayBuffer>): string;
  /** Present in the browser only: figures wire hover handlers when there is one. */
  tooltip?: Tooltip;
  /** A document-unique element id (gradients are referenced by id). */
  uid(prefix: string): string;
}
