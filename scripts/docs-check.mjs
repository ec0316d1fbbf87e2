#!/usr/bin/env node
// `npm run docs:check`: the site's TypeScript samples compile, its links and anchors resolve, and
// every error code in src/ has its page. Prints each problem with its page and line; exits 1 on any.
import { checkErrorPages } from "./docs/error-codes.mjs";
import { checkLinks } from "./docs/check-links.mjs";
import { checkSamples } from "./docs/check-samples.mjs";

const started = performance.now();
const links = checkLinks();
const codes = checkErrorPages();
const samples = checkSamples();
const problems = [...links.problems, ...codes.problems, ...samples.problems];
for (const problem of problems) console.error(problem);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `docs:check: ${links.pages} pages, ${links.links} links, ${codes.codes} error codes, ` +
    `${samples.checked} samples type-checked (${samples.skipped} no-check), ${problems.length} problems, ${seconds} s`,
);
process.exit(problems.length === 0 ? 0 : 1);
