#!/usr/bin/env node
// Builds the package into dist/: JavaScript and .d.ts from src/ (tsc -p tsconfig.build.json).
// tsc rewrites the relative ".ts" imports of the JavaScript it emits but not those of the .d.ts
// (microsoft/TypeScript#61037), so this rewrites them, then checks that no emitted file still
// names a ".ts" module: a user's tsc must resolve every import without allowImportingTsExtensions.
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { buildConsole } from "./build-console.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(dist, { recursive: true, force: true });
const built = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
if (built.status !== 0) process.exit(built.status ?? 1);

/** A relative specifier ending in .ts / .mts / .cts, in `from "…"`, `import("…")` or `import "…"`. */
const tsSpecifier = /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']*?)\.([mc]?)ts(["'])/g;

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const leftovers = [];
for (const file of files(dist)) {
  if (!file.endsWith(".js") && !file.endsWith(".d.ts")) continue;
  const text = readFileSync(file, "utf8");
  const rewritten = file.endsWith(".d.ts") ? text.replace(tsSpecifier, "$1$2.$3js$4") : text;
  if (rewritten !== text) writeFileSync(file, rewritten);
  // Doc comments may show a user's own imports ("./wallet.ts"): only code lines count.
  const code = rewritten.split("\n").filter((line) => !/^\s*(\*|\/\/)/.test(line)).join("\n");
  if (tsSpecifier.test(code)) leftovers.push(file);
  tsSpecifier.lastIndex = 0;
}
if (leftovers.length > 0) {
  console.error(`build: these files still import .ts modules:\n  ${leftovers.join("\n  ")}`);
  process.exit(1);
}

// The web console the admin server serves (dist/console/), after the check above: its bundle is not a module of the package.
await buildConsole();
