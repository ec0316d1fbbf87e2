// Type-checks every ```ts block of the site's pages as a module of its own, against the package's
// sources, with the strictness `tsc --init` gives a new project. A block fenced ```ts no-check is
// skipped; one fenced ```ts file=src/service.ts is written under that name, so the page's other
// blocks can import it ("./service.ts").
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { listPages, repoRoot, shown, siteDir, tsBlocks } from "./site.mjs";

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

/**
 * Returns `{ checked, tested, skipped, problems }`; each problem names the page and line. Blocks
 * named `file=….test.ts` are also run (node --test, through tsx), once all samples compile: a
 * page that teaches testing shows tests that pass.
 */
export function checkSamples(site = siteDir) {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-docs-samples-"));
  try {
    const origin = new Map(); // sample file (relative to dir) → { page, line }
    const problems = [];
    let skipped = 0;
    for (const page of listPages(site)) {
      const pageDir = join("pages", page.replace(/\.md$/, ""));
      tsBlocks(readFileSync(join(site, page), "utf8")).forEach((block, i) => {
        if (!block.checked) {
          skipped++;
          return;
        }
        const file = join(pageDir, block.file ?? `block-${i + 1}-line-${block.line}.ts`);
        if (origin.has(file)) {
          problems.push(`${shown(join(site, page))}:${block.line}: a second block named file=${block.file}`);
          return;
        }
        origin.set(file, { page: shown(join(site, page)), line: block.line });
        mkdirSync(dirname(join(dir, file)), { recursive: true });
        writeFileSync(join(dir, file), block.code);
      });
    }
    if (origin.size === 0) return { checked: 0, tested: 0, skipped, problems };
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    // Samples may import what the repository has installed (zod, say), as a user's project would.
    symlinkSync(join(repoRoot, "node_modules"), join(dir, "node_modules"), "dir");
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig([...origin.keys()]), null, 2));
    const result = spawnSync(process.execPath, [tsc, "-p", ".", "--pretty", "false"], { cwd: dir, encoding: "utf8" });
    if (result.status !== 0) problems.push(...tscProblems(`${result.stdout}${result.stderr}`, origin));
    const tests = [...origin.keys()].filter((file) => file.endsWith(".test.ts"));
    if (result.status === 0 && tests.length > 0) problems.push(...runTests(dir, tests, origin));
    return { checked: origin.size, tested: tests.length, skipped, problems };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the samples that are tests; tsx maps "sagaflow" to the sources by the tsconfig's paths. */
function runTests(dir, tests, origin) {
  const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...tests], {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --conditions=sagaflow-source`.trim() },
  });
  if (result.status === 0) return [];
  const where = tests.map((file) => `${origin.get(file).page}:${origin.get(file).line}`).join(", ");
  return [`the tests shown in ${where} do not pass:\n${result.stdout}${result.stderr}`];
}

/** The samples' tsconfig: ./samples.tsconfig.json (shared with test/readme-samples.test.ts) and these files. */
function tsconfig(files) {
  return { extends: join(repoRoot, "scripts/docs/samples.tsconfig.json"), compilerOptions: { outDir: "out" }, files };
}

/** tsc's `file(line,col): error …` lines, pointed back at the page and line the code came from. */
function tscProblems(output, origin) {
  const lines = output.split("\n").filter((line) => line.trim() !== "");
  return lines.map((line) => {
    const match = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line);
    const from = match && origin.get(match[1]);
    if (!from) return line;
    return `${from.page}:${from.line + Number(match[2]) - 1}:${match[3]}: ${match[4]}`;
  });
}
