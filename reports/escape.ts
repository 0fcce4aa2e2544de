/**
 * Escaping for text that came from a model or data set (site names, labels, file names).
 */

const HTML: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * Text safe inside HTML element content and quoted attribute values.
 * @example escapeHtml("<img src=x>") // "&lt;img src=x&gt;"
 */
export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => HTML[c]);
}

/**
 * JSON safe inside a `<script type="application/json">` element: `<`, `>`, `&` and the JS line
 * separators U+2028/U+2029 become \u escapes, so no string in the data can close the element
 * (`</script>`) or open a comment (`<!--`). JSON.parse restores the exact text.
 * @example scriptJson({ a: "</script>" }) // '{"a":"\\u003c/script\\u003e"}'
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const ATTRIBUTE: Record<string, string> = { "&": "&amp;", '"': "&quot;", "<": "&lt;", ">": "&gt;" };

/**
 * Text safe inside a double-quoted attribute value, escaped as an HTML serialiser does (quotes
 * other than `"` stay as they are, so a CSP reads `'none'`, not `&#39;none&#39;`).
 * @example escapeAttribute(`"'><svg onload=x>`) // "&quot;'&gt;&lt;svg onload=x&gt;"
 */
export function escapeAttribute(s: string): string {
  return String(s).replace(/[&"<>]/g, (c) => ATTRIBUTE[c]);
}
