#!/usr/bin/env node
// Before `npm pack`: builds dist/ again when a source is newer than it. npm 11 does not run
// `prepare` for a pack here (the prepack takes it out of package.json), and dist/ is built once
// at `npm install`: without this, a pack after an edit would carry the dist/ of before the edit.
// A fresh install (CI) packs its dist/ as it is, without a rebuild.
import { existsSync, readdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The newest modification time (ms) of the files under `path` that `keep` accepts; 0 for none. */
function newest(path, keep) {
  if (!existsSync(path)) return 0;
  const stats = statSync(path);
  if (!stats.isDirectory()) return keep(path) ? stats.mtimeMs : 0;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name), keep)));
}

/** Whether dist/ under `root` is missing or older than a source it is built from. */
export function distIsStale(root) {
  const built = join(root, "dist", "index.js");
  if (!existsSync(built)) return true;
  const source = (file) => !file.endsWith(".test.ts");
  const inputs = Math.max(
    newest(join(root, "src"), source),
    newest(join(root, "console"), source),
    newest(join(root, "tsconfig.build.json"), source),
    newest(join(root, "scripts", "build.mjs"), source),
    newest(join(root, "scripts", "build-console.mjs"), source),
  );
  return inputs > statSync(built).mtimeMs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  if (distIsStale(root)) {
    console.error("prepack: dist/ is older than the sources: building it again");
    const built = spawnSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit" });
    if (built.status !== 0) process.exit(built.status ?? 1);
  }
}
