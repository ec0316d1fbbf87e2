#!/usr/bin/env node
// Builds the web console (console/) into dist/console/: app.js bundled by esbuild (Preact and the
// pages, minified, no source maps), app.css and index.html copied. Run by scripts/build.mjs; tests
// that need the console run it when dist/console is missing.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "console");

export async function buildConsole() {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [join(root, "console", "src", "main.tsx")],
    bundle: true,
    minify: true,
    format: "esm",
    target: ["es2020"],
    jsx: "automatic",
    jsxImportSource: "preact",
    outfile: join(out, "app.js"),
    legalComments: "none",
    logLevel: "warning",
  });
  copyFileSync(join(root, "console", "app.css"), join(out, "app.css"));
  copyFileSync(join(root, "console", "index.html"), join(out, "index.html"));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await buildConsole();
