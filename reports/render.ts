/**
 * The self-contained HTML research report: one file with d3, the drawing code and all data
 * inlined, a Content-Security-Policy that forbids every network request, and figures drawn
 * at load time. It opens from disk (file://) with no server.
 */
import { createHash } from "node:crypto";
import { clientBundle, d3Source } from "./assets.js";
import { escapeAttribute, escapeHtml, scriptJson } from "./escape.js";
import { reportSections, type FigureSpec, type SectionSpec } from "./specs.js";
import { findings, type Finding } from "./findings.js";
import type { ReportData } from "./types.js";

/** Options of renderReport. */
export interface RenderOptions {
  /** d3 source to inline (default: node_modules/d3/dist/d3.min.js). */
  d3?: string;
}

const STYLE = `
:root { color-scheme: light; --fg: #1b1b1b; --muted: #5a5a5a; --line: #d6d6d6; --pass: #1a7f37; --fail: #c0262d; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1440px; padding: 24px 28px 64px; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #fff; }
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
figure { margin: 10px 0 18px; min-width: 0; }
.multiples { display: grid; grid-template-columns: minmax(0, 1fr); gap: 8px 28px; align-items: start; }
@media (min-width: 1000px) { .multiples { grid-template-columns: repeat(2, minmax(0, 1fr)); } .multiples figure.wide { grid-column: 1 / -1; } }
.findings { list-style: none; padding: 0; margin: 8px 0 0; display: grid; gap: 6px; }
.findings li { border-left: 4px solid var(--line); padding: 2px 10px; }
.findings li.holds { border-color: var(--pass); } .findings li.fails { border-color: var(--fail); }
.findings .claim { font-weight: 600; } .findings .verdict { font-weight: 700; margin-right: 4px; }
.findings li.holds .verdict { color: var(--pass); } .findings li.fails .verdict { color: var(--fail); } .findings li.open .verdict { color: var(--muted); }
details { margin: 6px 0 12px; } summary { cursor: pointer; color: var(--muted); }
a.anchor { color: var(--muted); text-decoration: none; margin-left: 4px; }
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
  figure, table, .findings li { break-inside: avoid; }
  .multiples { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  details > summary { display: none; }
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

/** Warning boxes (text shown as given, escaped). */
function warningBox(list: string[], title = "Warnings"): string {
  if (!list.length) return "";
  return html("div", text("strong", `${title} (${list.length})`) + html("ul", list.map((w) => text("li", w)).join("")), { class: "warnings", role: "note" });
}

/** Words of a warning that tie it to a section (the analysis it comes from). */
const WARNING_SECTIONS: [RegExp, string][] = [
  [/\bcka\b/i, "cka"],
  [/attention distance|\battention\b/i, "attentionDistance"],
  [/\bskip\b/i, "skipRatio"],
  [/\bprobe/i, "probes"],
  [/locali[sz]ation/i, "localisation"],
  [/embedding/i, "posEmbed"],
  [/collapse/i, "collapse"],
  [/ablat/i, "ablation"],
];

/** Each warning goes next to the section it concerns; the rest stay with the findings. */
function placeWarnings(warnings: string[], sections: SectionSpec[]): { bySection: Map<string, string[]>; general: string[] } {
  const bySection = new Map<string, string[]>();
  const general: string[] = [];
  for (const w of warnings) {
    const hit = WARNING_SECTIONS.find(([re, id]) => re.test(w) && sections.some((s) => s.id === id));
    if (hit) bySection.set(hit[1], [...(bySection.get(hit[1]) ?? []), w]);
    else general.push(w);
  }
  return { bySection, general };
}

function findingsSection(list: Finding[], figureIds: Set<string>, general: string[]): string {
  const holds = list.filter((f) => f.verdict === "holds").length;
  const fails = list.filter((f) => f.verdict === "does not hold").length;
  const open = list.length - holds - fails;
  const items = list.map((f) => {
    const cls = f.verdict === "holds" ? "holds" : f.verdict === "does not hold" ? "fails" : "open";
    const verdict = f.verdict === "holds" ? "Holds." : f.verdict === "does not hold" ? "Does not hold." : "Not judged.";
    const link = f.figure && figureIds.has(f.figure) ? " " + text("a", "→ figure", { href: `#figure-${f.figure}` }) : "";
    const rest = f.text.startsWith("Not judged: ") ? f.text.slice("Not judged: ".length) : f.text;
    const body = rest.charAt(0).toUpperCase() + rest.slice(1);
    return html("li", text("span", verdict, { class: "verdict" }) + text("span", f.claim, { class: "claim" }) + " " + text("span", body) + link, { class: cls, "data-finding": f.id });
  });
  return html(
    "section",
    text("h2", "Findings") +
      text("p", `What this run shows for the claims of Raghu et al. 2021 and the ViT paper: ${holds} hold, ${fails} do not hold, ${open} cannot be judged with these models. Each line gives the statistic behind the verdict (docs/methods.md, Findings).`, { class: "intro" }) +
      warningBox(general) +
      html("ul", items.join(""), { class: "findings" }),
    { id: "findings" },
  );
}

function runSection(data: ReportData): string {
  const run = data.run;
  const parts: string[] = [text("h2", "Run details")];
  parts.push(text("h3", "Models"));
  parts.push(
    table(
      ["label", "id", "family", "file", "sha256", "sites", "training images"],
      run.models.map((m) => [m.label, m.id, m.family, m.file, { span: m.sha256, class: "hash" }, m.sites, m.training ? (m.training.untrained ? "untrained" : m.training.images.toLocaleString("en")) : ""]),
      [5, 6],
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
    const total = timings.reduce((a, [, v]) => a + (Number.isFinite(v) ? v : 0), 0);
    parts.push(text("h3", "Timings"));
    parts.push(
      html("details", text("summary", `${timings.length} phases, ${seconds(total)} s in total`) + table(["phase", "seconds"], [...timings.map(([k, v]) => [k, seconds(v)]), ["total", seconds(total)]], [1]), { class: "timings" }),
    );
  }
  parts.push(text("h3", "Sanity checks"));
  if (run.sanity.length === 0) {
    parts.push(text("p", "No sanity checks were recorded.", { class: "note" }));
  } else {
    const passed = run.sanity.filter((c) => c.passed).length;
    const failed = run.sanity.length - passed;
    const summary = `${passed} of ${run.sanity.length} passed` + (failed ? ` (${failed} failed: ${run.sanity.filter((c) => !c.passed).map((c) => c.id).join(", ")})` : "");
    const rows = table(
      ["check", "result", "value", "detail"],
      run.sanity.map((c) => [c.id, { span: c.passed ? "pass" : "FAIL", class: `badge ${c.passed ? "pass" : "fail"}` }, c.value === undefined ? "" : String(c.value), c.detail ?? ""]),
    );
    parts.push(html("details", text("summary", summary, { class: failed ? "sanity-summary fail-text" : "sanity-summary" }) + rows, failed ? { class: "sanity", open: "" } : { class: "sanity" }));
  }
  if (run.warnings.length > 0) parts.push(warningBox(run.warnings, "All warnings"));
  return html("section", parts.join(""), { id: "run" });
}

/** Figures that need the full width: grids of maps (heatmaps shrink to their column). */
function wide(f: FigureSpec): boolean {
  if (f.kind === "tiles" || f.kind === "tile-grid") return true;
  if (f.kind === "sorted-heads") return f.spec.panels.length > 4;
  return false;
}

function figureBlock(f: FigureSpec): string {
  return html(
    "figure",
    html("div", "", { class: "plot" }) +
      text("noscript", "This figure is drawn by JavaScript at load time.") +
      html("figcaption", escapeHtml(f.caption) + text("a", "#", { class: "anchor", href: `#figure-${f.id}`, title: "link to this figure" })),
    { "data-figure": f.id, id: `figure-${f.id}`, ...(wide(f) ? { class: "wide" } : {}) },
  );
}

function section(s: SectionSpec, warnings: string[] = []): string {
  const inner = [
    text("h2", s.title),
    text("p", s.intro, { class: "intro" }),
    warningBox(warnings),
    ...s.notes.map((n) => text("p", n, { class: "note" })),
    s.figures.length ? html("div", s.figures.map(figureBlock).join(""), { class: "multiples" }) : "",
  ];
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
  const contents = [{ id: "findings", title: "Findings" }, ...sections, { id: "run", title: "Run details" }].map((s) => html("li", text("a", s.title, { href: `#${s.id}` }))).join("");
  const { bySection, general } = placeWarnings(run.warnings, sections);
  const figureIds = new Set(figures.map((f) => f.id));
  const body = [
    html("header", text("h1", run.title) + text("p", meta, { class: "meta" })),
    findingsSection(findings(data, sections), figureIds, general),
    html("nav", html("ol", contents), { "aria-label": "Contents" }),
    ...sections.map((s) => section(s, bySection.get(s.id))),
    runSection(data),
    html("div", "", { id: "seelike-tooltip", role: "tooltip", hidden: "" }),
    html("script", scriptJson({ version: 1, run, omitted: data.omitted ?? {}, figures }), { type: "application/json", id: "seelike-data" }),
    ...scripts.map((t) => html("script", t)),
  ];
  return `<!DOCTYPE html>\n<html><head>${head.join("")}</head><body>${body.join("")}</body></html>\n`;
}
