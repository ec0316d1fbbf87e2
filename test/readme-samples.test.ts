// Every ```ts block of the README that imports from "sagaflow" must compile as it stands, with the
// strictness of `tsc --init` (exactOptionalPropertyTypes, noUncheckedIndexedAccess,
// verbatimModuleSyntax, declaration emit) against the package's sources.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

/** The README's TypeScript samples that use the package, with the line each starts on. */
export function readmeSamples(markdown: string): Array<{ line: number; code: string }> {
  const samples: Array<{ line: number; code: string }> = [];
  for (const match of markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const code = match[1]!;
    if (!/from "sagaflow(\/[a-z]+)?"/.test(code)) continue;
    samples.push({ line: markdown.slice(0, match.index).split("\n").length, code });
  }
  return samples;
}

describe("README samples", () => {
  const samples = readmeSamples(readFileSync(join(repoRoot, "README.md"), "utf8"));

  it("finds the samples (Writing a service among them)", () => {
    assert.ok(samples.some((s) => s.code.includes('service("bank"')), "the Writing a service sample");
  });

  it("each compiles as it stands, with tsc --init's strictness and declaration emit", () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-readme-"));
    try {
      const files = samples.map((sample, i) => {
        const name = `sample-${i + 1}-line-${sample.line}.ts`;
        writeFileSync(join(dir, name), sample.code);
        return name;
      });
      // Later samples import "./service.ts": the service the "Writing a service" sample defines.
      const service = samples.find((s) => s.code.includes('service("bank"'));
      if (service) writeFileSync(join(dir, "service.ts"), service.code);
      writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
      writeFileSync(
        join(dir, "tsconfig.json"),
        // The docs' samples settings (scripts/docs/samples.tsconfig.json): tsc --init's strictness, declaration emit.
        JSON.stringify({ extends: join(repoRoot, "scripts/docs/samples.tsconfig.json"), compilerOptions: { outDir: "out" }, files }),
      );
      const result = spawnSync(process.execPath, [tsc, "-p", dir], { encoding: "utf8" });
      assert.equal(result.status, 0, `README samples do not compile:\n${result.stdout}${result.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
