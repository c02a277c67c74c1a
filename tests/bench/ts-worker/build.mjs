// Bundles the TypeScript comparison Worker the way wrangler would (esbuild, ESM, browser
// and worker conditions, minified) into dist/index.js. supabase-js has a dynamic
// `import()` that workerd refuses in a bundle: it is lowered (dynamic-import=false).
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
await build({
  entryPoints: [join(here, "src/index.ts")],
  outfile: join(here, "dist/index.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["browser", "module", "main"],
  supported: { "dynamic-import": false },
  minify: true,
  logLevel: "warning",
});
