// The error codes a user can meet, read from the sources, and the check that each has its page
// (docs/site/errors/<code>.md) and each page a code. Codes are found where the sources make them:
// an error class constructed with a code literal, a `refuse(…, "code", …)`, a `code: "…"` property
// (HTTP answers, stored step and parking errors), a `fail("code", …)`, a `super("code", …)`, and
// the list AUTH_ERROR_CODES. Tests and store contract suites are left out: their codes are made up.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { repoRoot, shown, siteDir } from "./site.mjs";

const PATTERNS = [
  /\b(?:SagaflowError|RefusalError|RetryLaterError|AuthenticationError|KeyLookupError)\(\s*"([a-z_]+)"/g,
  /\brefuse\((?:[A-Za-z.]+,\s*)?(?:\d{3},\s*)?"([a-z_]+)"/g,
  /\bcode: "([a-z_]+)"/g,
  /\bsuper\(\s*"([a-z_]+)"/g,
  /\bfail\(\s*"([a-z_]+)"/g,
];

function sourceFiles(dir) {
  const files = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(name) && !/\.(test|type-test)\.ts$/.test(name) && !/^(contract|test-)/.test(name) && !/-contract\.ts$/.test(name)) files.push(path);
  }
  return files;
}

/** code → the source files that make it. */
export function errorCodesInSource() {
  const codes = new Map();
  const add = (code, file) => (codes.get(code) ?? codes.set(code, new Set()).get(code)).add(relative(repoRoot, file));
  for (const file of sourceFiles(join(repoRoot, "src"))) {
    const text = readFileSync(file, "utf8");
    for (const pattern of PATTERNS) for (const match of text.matchAll(pattern)) add(match[1], file);
    const auth = /AUTH_ERROR_CODES = \[([\s\S]*?)\]/.exec(text);
    if (auth) for (const match of auth[1].matchAll(/"([a-z_]+)"/g)) add(match[1], file);
  }
  return codes;
}

/** Returns `{ codes, problems }`: codes without a page, pages without a code. */
export function checkErrorPages(site = siteDir) {
  const codes = errorCodesInSource();
  const dir = join(site, "errors");
  const pages = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".md") && n !== "index.md").map((n) => n.slice(0, -3)) : [];
  const problems = [];
  for (const [code, files] of [...codes].sort()) {
    if (!pages.includes(code)) problems.push(`error code ${code} (${[...files].join(", ")}) has no page ${shown(join(dir, `${code}.md`))}`);
  }
  for (const page of pages) {
    if (!codes.has(page)) problems.push(`${shown(join(dir, `${page}.md`))}: no code ${page} in src/ any more; remove the page or fix its name`);
  }
  return { codes: codes.size, problems };
}
