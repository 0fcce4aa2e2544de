/**
 * The self-contained HTML research report: one file with d3, the drawing code and all data
 * inlined, a Content-Security-Policy that forbids every network request, and figures drawn
 * at load time. It opens from disk (file://) with no server.
 */
import { createHash } from "node:crypto";
import { clientBundle, d3Source } from "./assets.js";
import { escapeAttribute, escapeHtml, scriptJson } from "./escape.js";
import { reportSections, type FigureSpec, type SectionSpec } from "./specs.js";
import type { ReportData } from "./types.js";

/** Options of renderReport. */
export interface RenderOptions {
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

/** HTML attributes of an element; values are escaped when written. */
type Attrs = Record<string, string>;

function attrs(a: Attrs = {}): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${escapeAttribute(v)}"`)
    .join("");
}

/** An element with escaped text content (or trusted inner markup built by these helpers). */
function el(tag: string, a: Attrs | undefined, inner: { text: string | number } | { html: string }): string {
  const body = "text" in inner ? escapeHtml(String(inner.text)) : inner.html;
  return `<${tag}${attrs(a)}>${body}</${tag}>`;
}

const text = (tag: string, t: string | number, a?: Attrs) => el(tag, a, { text: t });
const html = (tag: string, inner: string, a?: Attrs) => el(tag, a, { html: inner });
/** A void element (no content, no end tag). */
const voidEl = (tag: string, a: Attrs) => `<${tag}${attrs(a)}>`;

/** A table cell's content: plain text, or a <span> with a class (hashes, badges). */
type Cell = string | number | { span: string; class: string };

function table(head: string[], rows: Cell[][], numeric: number[] = []): string {
  const thead = html("thead", html("tr", head.map((h) => text("th", h)).join("")));
  const tbody = html(
    "tbody",
    rows
      .map((row) =>
        html(
          "tr",
          row
            .map((cell, i) => {
              const inner = typeof cell === "object" ? text("span", cell.span, { class: cell.class }) : escapeHtml(String(cell));
              return html("td", inner, numeric.includes(i) ? { class: "num" } : {});
            })
            .join(""),
        ),
      )
      .join(""),
  );
  return html("table", thead + tbody);
}

function seconds(v: number): string {
  return Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(2)) : String(v);
}

function runSection(data: ReportData): string {
  const run = data.run;
  const parts: string[] = [text("h2", "Run")];
  if (run.warnings.length > 0) {
    parts.push(
      html("div", text("strong", `Warnings (${run.warnings.length})`) + html("ul", run.warnings.map((w) => text("li", w)).join("")), {
        class: "warnings",
        role: "note",
      }),
    );
  }
  parts.push(text("h3", "Models"));
  parts.push(
    table(
      ["label", "id", "family", "file", "sha256", "sites"],
      run.models.map((m) => [m.label, m.id, m.family, m.file, { span: m.sha256, class: "hash" }, m.sites]),
      [5],
    ),
  );
  parts.push(text("h3", "Data"));
  parts.push(table(["path", "images", "sample digest"], [[run.data.path, run.data.images, run.data.sampleDigest]], [1]));
  const settings = Object.entries(run.settings);
  if (settings.length > 0) {
    parts.push(text("h3", "Settings"));
    parts.push(table(["setting", "value"], settings.map(([k, v]) => [k, String(v)])));
  }
  const timings = Object.entries(run.timings);
  if (timings.length > 0) {
    parts.push(text("h3", "Timings"));
    const total = timings.reduce((a, [, v]) => a + (Number.isFinite(v) ? v : 0), 0);
    parts.push(table(["phase", "seconds"], [...timings.map(([k, v]) => [k, seconds(v)]), ["total", seconds(total)]], [1]));
  }
  parts.push(text("h3", "Sanity checks"));
  if (run.sanity.length === 0) {
    parts.push(text("p", "No sanity checks were recorded.", { class: "note" }));
  } else {
    const failed = run.sanity.filter((c) => !c.passed).length;
    parts.push(
      text("p", failed === 0 ? `All ${run.sanity.length} checks passed.` : `${failed} of ${run.sanity.length} checks failed.`, {
        class: failed === 0 ? "meta" : "warnings",
      }),
    );
    parts.push(
      table(
        ["check", "result", "value", "detail"],
        run.sanity.map((c) => [
          c.id,
          { span: c.passed ? "pass" : "FAIL", class: `badge ${c.passed ? "pass" : "fail"}` },
          c.value === undefined ? "" : String(c.value),
          c.detail ?? "",
        ]),
      ),
    );
  }
  return html("section", parts.join(""), { id: "run" });
}

function figureBlock(f: FigureSpec): string {
  return html(
    "figure",
    html("div", "", { class: "plot" }) + text("noscript", "This figure is drawn by JavaScript at load time.") + text("figcaption", f.caption),
    { "data-figure": f.id, id: `figure-${f.id}` },
  );
}

function section(s: SectionSpec): string {
  const inner = [text("h2", s.title), text("p", s.intro, { class: "intro" }), ...s.notes.map((n) => text("p", n, { class: "note" })), ...s.figures.map(figureBlock)];
  return html("section", inner.join(""), { id: s.id });
}

/**
 * One self-contained HTML report, written as a string: text from models and data sets goes
 * through escapeHtml here and d3 .text()/.attr() in the browser; the figure data is inlined as
 * JSON with `<`, `>`, `&`, U+2028 and U+2029 escaped. No DOM is needed.
 * @example writeFileSync("report.html", renderReport(data))
 */
export function renderReport(data: ReportData, options: RenderOptions = {}): string {
  if (!data || typeof data !== "object" || !data.run) throw new TypeError("invalid report data: missing run");
  const run = data.run;
  const sections = reportSections(data);
  const figures = sections.flatMap((s) => s.figures.map((f) => ({ id: f.id, kind: f.kind, spec: f.spec })));
  const scripts = [scriptText(options.d3 ?? d3Source(), "d3.min.js"), scriptText(clientBundle(), "report.js")];

  const head = [
    voidEl("meta", { charset: "utf-8" }),
    // First in <head> after the charset, before any script or style, so it governs the whole document.
    voidEl("meta", { "http-equiv": "Content-Security-Policy", content: contentSecurityPolicy(scripts) }),
    voidEl("meta", { name: "viewport", content: "width=device-width, initial-scale=1" }),
    voidEl("meta", { name: "referrer", content: "no-referrer" }),
    voidEl("meta", { name: "generator", content: `seelike ${run.toolVersion}` }),
    text("title", run.title),
    // Raw-text elements: the constant stylesheet, the escaped JSON and the checked scripts go in as they are.
    html("style", STYLE),
  ];
  const meta =
    `seelike ${run.toolVersion} · ${run.created} · ${run.models.map((m) => m.label).join(" vs ")} · ` + `${run.data.images} images from ${run.data.path}`;
  const contents = [{ id: "run", title: "Run" }, ...sections].map((s) => html("li", text("a", s.title, { href: `#${s.id}` }))).join("");
  const body = [
    html("header", text("h1", run.title) + text("p", meta, { class: "meta" })),
    html("nav", html("ol", contents), { "aria-label": "Contents" }),
    runSection(data),
    ...sections.map(section),
    html("div", "", { id: "seelike-tooltip", role: "tooltip", hidden: "" }),
    html("script", scriptJson({ version: 1, run, omitted: data.omitted ?? {}, figures }), { type: "application/json", id: "seelike-data" }),
    ...scripts.map((t) => html("script", t)),
  ];
  return `<!DOCTYPE html>\n<html><head>${head.join("")}</head><body>${body.join("")}</body></html>\n`;
}
