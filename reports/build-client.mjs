/**
 * Bundles the report client (reports/client/boot.ts and the figure modules it imports) into one
 * IIFE, dist/reports/client/report.js, which reports/render.ts inlines into every report.
 * d3 is not bundled: the report inlines d3's own UMD build before it, so `import * as d3 from
 * "d3"` resolves to that global here while Node's imports of the same modules load the package.
 * Run by `npm run build` after tsc.
 */
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

const d3Global = {
  name: "d3-global",
  setup(b) {
    b.onResolve({ filter: /^d3$/ }, () => ({ path: "d3", namespace: "d3-global" }));
    b.onLoad({ filter: /.*/, namespace: "d3-global" }, () => ({ contents: "module.exports = globalThis.d3;", loader: "js" }));
  },
};

const result = await build({
  absWorkingDir: root,
  entryPoints: ["reports/client/boot.ts"],
  outfile: "dist/reports/client/report.js",
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2020"],
  minify: true,
  legalComments: "none",
  charset: "ascii",
  plugins: [d3Global],
  metafile: true,
  logLevel: "warning",
});
const bytes = Object.values(result.metafile.outputs).reduce((s, o) => s + o.bytes, 0);
console.log(`report client: dist/reports/client/report.js (${bytes} bytes)`);
