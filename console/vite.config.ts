// Two builds of one app (console/README.md): `--mode stack` for the local stack (reads
// /config.json at run time, has the test-user sign-in) into dist-stack/, and production
// (configured at build time by VITE_* variables, no test sign-in) into dist/.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

export default defineConfig(({ mode }) => ({
  root: fileURLToPath(new URL(".", import.meta.url)),
  plugins: [react()],
  define: { __STACK__: JSON.stringify(mode === "stack") },
  build: {
    outDir: mode === "stack" ? "dist-stack" : "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
  },
}));
