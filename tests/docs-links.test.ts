/**
 * The documentation's links resolve inside the repository: every relative link (inline,
 * image or reference definition) of README.md, ARCHITECTURE.md and docs/*.md names an existing
 * file or folder, and a `#anchor` names a heading of its target (GitHub's slugs). The methods
 * reference is docs/methods.md: a bare "METHODS.md" points at a file the repository does not have.
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const root = path.resolve(__dirname, "..");
const docs = ["README.md", "ARCHITECTURE.md", ...readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

/** Fenced code blocks and inline code spans blanked (links there are code, not links); lines keep their numbers. */
function prose(markdown: string): string {
  const blank = (code: string) => code.replace(/[^\n]/g, " ");
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, blank).replace(/(`+)[^`\n]*?\1/g, blank);
}

interface Link {
  target: string;
  line: number;
}

/** Inline links and images `[text](target "title")`, and reference definitions `[id]: target`. */
function links(markdown: string): Link[] {
  const text = prose(markdown);
  const lineOf = (index: number) => text.slice(0, index).split("\n").length;
  const out: Link[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1], line: lineOf(m.index!) });
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) out.push({ target: m[1], line: lineOf(m.index!) });
  return out;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  for (const m of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = m[1].replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*]/g, "");
    const base = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const external = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i;

describe("documentation links", () => {
  it("finds the documents and their links (spot check of what the checks run on)", () => {
    expect(docs).toEqual(expect.arrayContaining(["README.md", "ARCHITECTURE.md", "docs/methods.md", "docs/notebooks.md"]));
    const readme = links(readFileSync(path.join(root, "README.md"), "utf8")).map((l) => l.target);
    expect(readme).toContain("docs/methods.md");
    expect(readme).toContain("ARCHITECTURE.md");
    // A link inside a code block is code: the parser must not report it.
    expect(links("```\n[a](missing.md)\n```\nand `[b](missing.md)`")).toEqual([]);
    expect(anchors("## 1. Layer similarity: linear CKA\n## Options\n## Options")).toEqual(new Set(["1-layer-similarity-linear-cka", "options", "options-1"]));
  });

  for (const doc of docs) {
    it(`${doc}: every relative link names a file of the repository, and every #anchor a heading`, () => {
      const source = readFileSync(path.join(root, doc), "utf8");
      const broken: string[] = [];
      for (const { target, line } of links(source)) {
        if (external.test(target)) continue;
        const [file, anchor] = target.split("#") as [string, string | undefined];
        const resolved = file === "" ? path.join(root, doc) : path.resolve(path.dirname(path.join(root, doc)), decodeURIComponent(file));
        if (!resolved.startsWith(root + path.sep)) {
          broken.push(`${doc}:${line}: ${target} points outside the repository`);
          continue;
        }
        if (!existsSync(resolved)) {
          broken.push(`${doc}:${line}: ${target} does not exist`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith(".md") && statSync(resolved).isFile()) {
          if (!anchors(readFileSync(resolved, "utf8")).has(decodeURIComponent(anchor).toLowerCase())) broken.push(`${doc}:${line}: ${target} names no heading of ${path.relative(root, resolved)}`);
        }
      }
      expect(broken).toEqual([]);
    });

    it(`${doc}: mentions the methods reference only as docs/methods.md`, () => {
      const source = readFileSync(path.join(root, doc), "utf8");
      // A link target is checked by resolution above (docs/notebooks.md links `methods.md`); the
      // text around it must still say docs/methods.md.
      const text = source.replace(/\]\(\s*<?[^)\s>]+>?(?:\s+"[^"]*")?\s*\)/g, "]()");
      const stray = [...text.matchAll(/[\w./-]*methods\.md/gi)].map((m) => m[0]).filter((m) => !/(^|\/)docs\/methods\.md$/.test(m));
      expect(stray).toEqual([]);
    });
  }
});
