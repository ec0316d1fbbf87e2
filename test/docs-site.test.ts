// The documentation site cannot rot: `npm run docs:check` (samples compile, links and anchors
// resolve, every error code in src/ has its page) passes, and `npm run docs:build` writes the site
// with its API reference. Both run here so that `npm test`, and with it CI, runs them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function run(script: string, ...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [join(repoRoot, script), ...args], { cwd: repoRoot, encoding: "utf8" });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("documentation site", () => {
  it("docs:check finds no problem: samples compile, links resolve, every error code has its page", () => {
    const { status, output } = run("scripts/docs-check.mjs");
    assert.equal(status, 0, output);
    // Zero samples or zero codes would pass vacuously: the scan must have found them.
    const counts = /(\d+) pages, (\d+) links, (\d+) error codes, (\d+) samples type-checked/.exec(output);
    assert.ok(counts, output);
    assert.ok(Number(counts[3]) >= 50, `error codes found in src/: ${counts[3]}`);
    assert.ok(Number(counts[4]) >= 3, `samples type-checked: ${counts[4]}`);
  });

  it("docs:build writes every page, the navigation and the API reference", () => {
    const out = mkdtempSync(join(tmpdir(), "sagaflow-docs-build-"));
    try {
      const { status, output } = run("scripts/docs-build.mjs", out);
      assert.equal(status, 0, output);
      const index = readFileSync(join(out, "index.html"), "utf8");
      assert.match(index, /<a href="getting-started\.html">/);
      assert.match(index, /<a href="api\/index\.html">API reference<\/a>/);
      assert.ok(existsSync(join(out, "errors/store_unavailable.html")));
      // TypeDoc documented the three entry points under their package names.
      const api = readFileSync(join(out, "api/index.html"), "utf8");
      for (const name of ["sagaflow", "sagaflow/testkit", "sagaflow/client"]) assert.ok(api.includes(`>${name}<`), `API index lists ${name}`);
      const entity = readFileSync(join(out, "api/functions/sagaflow.entity.html"), "utf8");
      assert.match(entity, /entity/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
