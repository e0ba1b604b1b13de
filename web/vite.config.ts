// The console's build: one static app in dist/, served by `make run` (dev/console.py)
// and, in AWS, from S3 behind CloudFront. No inline script or style is emitted, so the
// strict Content-Security-Policy (script-src 'self'; style-src 'self') holds.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // the polyfill would be a module of its own; every browser the console supports has modulepreload
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
