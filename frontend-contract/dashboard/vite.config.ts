/// <reference types="vitest/config" />
// Builds the dashboard into the Python package (server/dashboard/), where the API process
// serves it at / (server/spa.py). The output is committed: `make run` needs no Node.js, and
// CI rebuilds it and fails when it differs (make dashboard-check).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The generated client is compiled from its sources (no build of it needed first); its one
// runtime dependency (graphql-ws) is the dashboard's own copy.
const client = fileURLToPath(new URL("../typescript/src/index.ts", import.meta.url));

export default defineConfig({
  base: "/",
  resolve: { alias: { "@workflow-engine/client": client }, dedupe: ["graphql-ws"] },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "../../server/dashboard",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: { proxy: { "/graphql": { target: "http://127.0.0.1:8080", ws: true } } },
  test: { environment: "node", include: ["tests/**/*.test.ts"] },
});
