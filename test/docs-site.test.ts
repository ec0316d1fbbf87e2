// The documentation site cannot rot: `npm run docs:check` (samples compile and the tests among
// them pass, links and anchors resolve, every error code in src/ has its page) passes, and
// `npm run docs:build` writes the site with its API reference. Both run here, so that `npm test`,
// and with it CI, runs them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
    const counts = /(\d+) pages, (\d+) links, (\d+) error codes, (\d+) samples type-checked \(\d+ no-check\), (\d+) of them tests run/.exec(output);
    assert.ok(counts, output);
    assert.ok(Number(counts[3]) >= 50, `error codes found in src/: ${counts[3]}`);
    assert.ok(Number(counts[4]) >= 3, `samples type-checked: ${counts[4]}`);
    assert.ok(Number(counts[5]) >= 1, `getting started's tests ran: ${counts[5]}`);
  });

  it("docs:check names each problem of a broken site with its page and line", () => {
    const site = mkdtempSync(join(tmpdir(), "sagaflow-docs-broken-"));
    try {
      mkdirSync(join(site, "errors"));
      writeFileSync(join(site, "nav.json"), JSON.stringify({ title: "T", sections: [{ title: "S", items: ["index.md", "gone.md"] }] }));
      writeFileSync(join(site, "errors/not_found.md"), "# `not_found`\n");
      writeFileSync(join(site, "errors/no_such_code.md"), "# `no_such_code`\n");
      writeFileSync(join(site, "orphan.md"), "# Orphan\n");
      writeFileSync(
        join(site, "index.md"),
        [
          "# Index", "", "## A heading", "",
          "[ok](#a-heading) [bad anchor](#nowhere) [missing](missing.md) [code](errors/not_found.md)",
          "[web](https://example.com/x)", "",
          "```ts", 'import { entity } from "sagaflow";', "export const n: number = entity;", "```", "",
          "```ts no-check", "export const skipped: number = \"not a number\";", "```", "",
        ].join("\n"),
      );
      const { status, output } = run("scripts/docs-check.mjs", "--site", site);
      assert.equal(status, 1, output);
      const page = join(site, "index.md");
      assert.match(output, new RegExp(`nav\\.json: lists gone\\.md, which does not exist`));
      assert.ok(output.includes(`${page}:5: #nowhere: no heading with that anchor on this page`), output);
      assert.ok(output.includes(`${page}:5: missing.md:`), output);
      assert.ok(!output.includes("#a-heading:"), output);
      assert.ok(output.includes(`${join(site, "orphan.md")}: not in nav.json and no page links to it`), output);
      // The sample's error points at its line in the page (line 10: the block starts at 9).
      assert.match(output, new RegExp(`${page.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:10:\\d+: error TS2322`));
      assert.ok(!output.includes("skipped"), "a no-check block is not compiled");
      assert.match(output, /error code store_unavailable \(src\/define\/errors\.ts\) has no page/);
      assert.match(output, /no_such_code\.md: no code no_such_code in src\//);
      assert.match(output, /1 samples type-checked \(1 no-check\)/);
    } finally {
      rmSync(site, { recursive: true, force: true });
    }
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
