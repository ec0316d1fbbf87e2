// `npm pack` / `npm publish` around the packing: the repository builds its dist/ on `npm install`
// (`prepare`), but a package that carries a `prepare` script makes npm 11 warn every user who
// installs it ("install scripts not yet covered by allowScripts"), though npm never runs it for
// a registry or tarball install. So the packed package.json leaves it out: `prepack` takes it
// out (after the build), `postpack` puts it back.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const path = fileURLToPath(new URL("../package.json", import.meta.url));
const text = readFileSync(path, "utf8");
const manifest = JSON.parse(text);
const buildScript = "node scripts/build.mjs";
const action = process.argv[2];
if (action === "strip") {
  // Already out: a pack that failed after its prepack (a --pack-destination that does not exist)
  // never ran postpack. This pack goes on, and its postpack puts it back.
  if (manifest.scripts.prepare !== undefined && manifest.scripts.prepare !== buildScript) {
    throw new Error(`pack-manifest: expected "prepare": "${buildScript}" in package.json`);
  }
  delete manifest.scripts.prepare;
} else if (action === "restore") {
  if (manifest.scripts.prepare === undefined) {
    // Back where it was: after "build", as it is written in the repository.
    const scripts = {};
    for (const [name, command] of Object.entries(manifest.scripts)) {
      scripts[name] = command;
      if (name === "build") scripts.prepare = buildScript;
    }
    manifest.scripts = scripts;
  }
} else {
  throw new Error("usage: node scripts/pack-manifest.mjs strip|restore");
}
// Written aside, then renamed over it: a process reading package.json meanwhile (a test's server
// starting while another test packs) sees the old file or the new one, never a half-written one.
const aside = `${path}.${process.pid}.tmp`;
writeFileSync(aside, `${JSON.stringify(manifest, null, 2)}\n`);
renameSync(aside, path);
