/**
 * The self-contained HTML research report: one file with d3, the drawing code and all data
 * inlined, a Content-Security-Policy that forbids every network request, and figures drawn
 * at load time. It opens from disk (file://) with no server.
 */
import { createHash } from "node:crypto";
import { JSDOM } from "jsdom";
import { clientSource, d3Source } from "./assets.js";
import { scriptJson } from "./escape.js";
import { reportSections, type FigureSpec, type SectionSpec } from "./specs.js";
import type { ReportData } from "./types.js";

/** Options of renderReport. */
export interface RenderOptions {
  /** Any document; the page is built in a fresh HTML document from its implementation (default: jsdom). */
  document?: Document;
  /** d3 source to inline (default: node_modules/d3/dist/d3.min.js). */
  d3?: string;
}

const STYLE = `
:root { color-scheme: light; --fg: #1b1b1b; --muted: #5a5a5a; --line: #d6d6d6; --pass: #1a7f37; --fail: #c0262d; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px 28px 64px; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #fff; }
h1 { font-size: 1.7em; margin: 0 0 4px; } h2 { margin: 40px 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { margin: 22px 0 6px; font-size: 1.05em; }
.meta, .intro { color: var(--muted); margin: 0 0 12px; }
nav ol { columns: 3; margin: 8px 0 0; padding-left: 1.2em; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 0.9em; }
th, td { text-align: left; padding: 3px 10px 3px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .hash { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.86em; }
.hash { word-break: break-all; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-weight: 600; font-size: 0.85em; color: #fff; }
.pass { background: var(--pass); } .fail { background: var(--fail); }
.warnings { border-left: 4px solid #d08700; background: #fff8e6; padding: 6px 12px; margin: 12px 0; }
.note { border-left: 4px solid var(--line); padding: 2px 10px; color: var(--muted); }
figure { margin: 18px 0 28px; }
figure .plot { overflow-x: auto; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: 0.9em; max-width: 75ch; margin-top: 6px; }
.buttons { display: flex; gap: 6px; margin-bottom: 4px; }
.buttons button { font: inherit; font-size: 0.8em; padding: 1px 8px; border: 1px solid var(--line); background: #f6f6f6; border-radius: 3px; cursor: pointer; }
.buttons button:hover { background: #eaeaea; }
.error, .status { color: var(--fail); font-size: 0.9em; }
#seelike-tooltip { position: fixed; z-index: 10; pointer-events: none; background: rgba(20, 20, 20, 0.92); color: #fff; padding: 5px 8px; border-radius: 4px; font-size: 12px; line-height: 1.4; max-width: 420px; word-break: break-all; }
#seelike-tooltip[hidden] { display: none; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav, .buttons, .status, #seelike-tooltip { display: none !important; }
  h2 { break-after: avoid; }
  figure, table { break-inside: avoid; }
  figure .plot { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
`;

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

/** Browsers hash script text after the parser has normalised newlines; do it first. */
function scriptText(source: string, name: string): string {
  const text = source.replace(/\r\n?/g, "\n");
  if (/<\/script|<!--/i.test(text)) throw new Error(`client script ${name} contains "</script" or "<!--"; it cannot be inlined`);
  return text;
}

/**
 * The Content-Security-Policy of a report: nothing may load or connect; only the given inline
 * scripts run; inline styles and data:/blob: images (rasters, exports) are allowed.
 * @example contentSecurityPolicy(["var a = 1;"]) // "default-src 'none'; script-src 'sha256-…'; …"
 */
export function contentSecurityPolicy(scripts: string[]): string {
  return [
    "default-src 'none'",
    `script-src ${scripts.map(sha256).join(" ")}`,
    "style-src 'unsafe-inline'",
    "img-src data: blob:",
    "font-src 'none'",
    "connect-src 'none'",
    "media-src 'none'",
    "object-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "manifest-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

type Builder = <K extends keyof HTMLElementTagNameMap>(
  parent: Node,
  tag: K,
  text?: string | number,
  attrs?: Record<string, string>,
) => HTMLElementTagNameMap[K];

function builder(doc: Document): Builder {
  return (parent, tag, text, attrs) => {
    const el = doc.createElement(tag);
    // textContent and setAttribute escape on serialisation: model text never becomes markup.
    if (text !== undefined) el.textContent = String(text);
    for (const [k, v] of Object.entries(attrs ?? {})) el.setAttribute(k, v);
    parent.appendChild(el);
    return el;
  };
}

function table(el: Builder, parent: Node, head: string[], rows: (string | number | Node)[][], numeric: number[] = []): void {
  const t = el(parent, "table");
  const tr = el(el(t, "thead"), "tr");
  for (const h of head) el(tr, "th", h);
  const body = el(t, "tbody");
  for (const row of rows) {
    const r = el(body, "tr");
    row.forEach((cell, i) => {
      const td = el(r, "td", undefined, numeric.includes(i) ? { class: "num" } : {});
      if (typeof cell === "object") td.appendChild(cell);
      else td.textContent = String(cell);
    });
  }
}

function seconds(v: number): string {
  return Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(2)) : String(v);
}

function runSection(el: Builder, doc: Document, body: HTMLElement, data: ReportData): void {
  const run = data.run;
  const s = el(body, "section", undefined, { id: "run" });
  el(s, "h2", "Run");
  if (run.warnings.length > 0) {
    const w = el(s, "div", undefined, { class: "warnings", role: "note" });
    el(w, "strong", `Warnings (${run.warnings.length})`);
    const ul = el(w, "ul");
    for (const text of run.warnings) el(ul, "li", text);
  }
  el(s, "h3", "Models");
  table(
    el,
    s,
    ["label", "id", "family", "file", "sha256", "sites"],
    run.models.map((m) => {
      const hash = doc.createElement("span");
      hash.className = "hash";
      hash.textContent = m.sha256;
      return [m.label, m.id, m.family, m.file, hash, m.sites];
    }),
    [5],
  );
  el(s, "h3", "Data");
  table(el, s, ["path", "images", "sample digest"], [[run.data.path, run.data.images, run.data.sampleDigest]], [1]);
  const settings = Object.entries(run.settings);
  if (settings.length > 0) {
    el(s, "h3", "Settings");
    table(el, s, ["setting", "value"], settings.map(([k, v]) => [k, String(v)]));
  }
  const timings = Object.entries(run.timings);
  if (timings.length > 0) {
    el(s, "h3", "Timings");
    const total = timings.reduce((a, [, v]) => a + (Number.isFinite(v) ? v : 0), 0);
    table(el, s, ["phase", "seconds"], [...timings.map(([k, v]) => [k, seconds(v)]), ["total", seconds(total)]], [1]);
  }
  el(s, "h3", "Sanity checks");
  if (run.sanity.length === 0) {
    el(s, "p", "No sanity checks were recorded.", { class: "note" });
  } else {
    const failed = run.sanity.filter((c) => !c.passed).length;
    el(s, "p", failed === 0 ? `All ${run.sanity.length} checks passed.` : `${failed} of ${run.sanity.length} checks failed.`, {
      class: failed === 0 ? "meta" : "warnings",
    });
    table(
      el,
      s,
      ["check", "result", "value", "detail"],
      run.sanity.map((c) => {
        const badge = doc.createElement("span");
        badge.className = `badge ${c.passed ? "pass" : "fail"}`;
        badge.textContent = c.passed ? "pass" : "FAIL";
        return [c.id, badge, c.value === undefined ? "" : String(c.value), c.detail ?? ""];
      }),
    );
  }
}

function figureBlock(el: Builder, parent: Node, f: FigureSpec): void {
  const fig = el(parent, "figure", undefined, { "data-figure": f.id, id: `figure-${f.id}` });
  el(fig, "div", undefined, { class: "plot" });
  el(fig, "noscript", "This figure is drawn by JavaScript at load time.");
  el(fig, "figcaption", f.caption);
}

function section(el: Builder, body: HTMLElement, s: SectionSpec): void {
  const node = el(body, "section", undefined, { id: s.id });
  el(node, "h2", s.title);
  el(node, "p", s.intro, { class: "intro" });
  for (const n of s.notes) el(node, "p", n, { class: "note" });
  for (const f of s.figures) figureBlock(el, node, f);
}

/**
 * One self-contained HTML report. Text from models and data sets is escaped (DOM text nodes
 * here, d3 .text() in the browser); the figure data is inlined as JSON with `<`, `>`, `&`,
 * U+2028 and U+2029 escaped.
 * @example writeFileSync("report.html", renderReport(data))
 */
export function renderReport(data: ReportData, options: RenderOptions = {}): string {
  if (!data || typeof data !== "object" || !data.run) throw new TypeError("invalid report data: missing run");
  const base = options.document ?? new JSDOM("").window.document;
  const doc = base.implementation.createHTMLDocument(data.run.title);
  const el = builder(doc);
  const sections = reportSections(data);
  const figures = sections.flatMap((s) => s.figures.map((f) => ({ id: f.id, kind: f.kind, spec: f.spec })));
  const scripts = [
    scriptText(options.d3 ?? d3Source(), "d3.min.js"),
    scriptText(clientSource("figures.js"), "figures.js"),
    scriptText(clientSource("app.js"), "app.js"),
  ];

  const head = doc.head;
  head.textContent = "";
  el(head, "meta", undefined, { charset: "utf-8" });
  // First in <head>, before any script or style, so it governs the whole document.
  el(head, "meta", undefined, { "http-equiv": "Content-Security-Policy", content: contentSecurityPolicy(scripts) });
  el(head, "meta", undefined, { name: "viewport", content: "width=device-width, initial-scale=1" });
  el(head, "meta", undefined, { name: "referrer", content: "no-referrer" });
  el(head, "meta", undefined, { name: "generator", content: `seelike ${data.run.toolVersion}` });
  el(head, "title", data.run.title);
  el(head, "style", STYLE);

  const body = doc.body;
  const header = el(body, "header");
  el(header, "h1", data.run.title);
  el(
    header,
    "p",
    `seelike ${data.run.toolVersion} · ${data.run.created} · ${data.run.models.map((m) => m.label).join(" vs ")} · ` +
      `${data.run.data.images} images from ${data.run.data.path}`,
    { class: "meta" },
  );
  const nav = el(body, "nav", undefined, { "aria-label": "Contents" });
  const ol = el(nav, "ol");
  for (const s of [{ id: "run", title: "Run" }, ...sections]) el(el(ol, "li"), "a", s.title, { href: `#${s.id}` });

  runSection(el, doc, body, data);
  for (const s of sections) section(el, body, s);

  el(body, "div", undefined, { id: "seelike-tooltip", role: "tooltip", hidden: "" });
  const json = el(body, "script", undefined, { type: "application/json", id: "seelike-data" });
  json.textContent = scriptJson({ version: 1, run: data.run, omitted: data.omitted ?? {}, figures });
  for (const text of scripts) el(body, "script").textContent = text;

  return `<!DOCTYPE html>\n${doc.documentElement.outerHTML}\n`;
}
