#!/usr/bin/env node
// `npm run docs:check`: the site's TypeScript samples compile, its links and anchors resolve, and
// every error code in src/ has its page. Prints each problem with its page and line; exits 1 on any.
import { resolve } from "node:path";
import { checkErrorPages } from "./docs/error-codes.mjs";
import { checkLinks } from "./docs/check-links.mjs";
import { checkSamples } from "./docs/check-samples.mjs";
import { siteDir } from "./docs/site.mjs";

// `--site DIR` checks another folder of pages (the tests give it broken ones).
const at = process.argv.indexOf("--site");
const site = at === -1 ? siteDir : resolve(process.argv[at + 1] ?? ".");
const started = performance.now();
const links = checkLinks(site);
const codes = checkErrorPages(site);
const samples = checkSamples(site);
const problems = [...links.problems, ...codes.problems, ...samples.problems];
for (const problem of problems) console.error(problem);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `docs:check: ${links.pages} pages, ${links.links} links, ${codes.codes} error codes, ` +
    `${samples.checked} samples type-checked (${samples.skipped} no-check), ${samples.tested} of them tests run, ${problems.length} problems, ${seconds} s`,
);
process.exit(problems.length === 0 ? 0 : 1);
