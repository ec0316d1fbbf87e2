#!/usr/bin/env node
// Runs every *.test.ts under src/, test/, examples/, templates/ and console/ with Node's test runner (Node 20 has no
// --test globbing). Extra arguments narrow the run: `node scripts/run-tests.mjs store` runs the
// files whose path contains "store".
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function findTests(dir) {
  let found = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found = found.concat(findTests(path));
    else if (name.endsWith(".test.ts")) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = ["src", "test", "examples", "templates", "console"]
  .flatMap((dir) => findTests(dir))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
// Two test files at a time: most of a file's time is spent waiting (on processes it started, timers,
// the database), so two halve CI's time on a 2-core machine. Files that use a shared service keep
// to what is theirs (their own schema, application_name or server), so they may run side by side.
// SAGAFLOW_TEST_CONCURRENCY=1 runs one at a time (to tell a flaky test from a slow one).
const concurrency = process.env.SAGAFLOW_TEST_CONCURRENCY ?? "2";
const result = spawnSync(
  process.execPath,
  // A test that hangs fails after 10 minutes (the slowest whole file takes about 2) instead of
  // holding CI to its own limit; tests that need longer say so with their own `timeout`.
  ["--import", "tsx", "--test", "--test-reporter=spec", `--test-concurrency=${concurrency}`, "--test-timeout=600000", ...files],
  // "sagaflow" and the CLI resolve to src/ (package.json's "sagaflow-source" condition), in the test
  // processes and in every `sagaflow serve` they start, so tests run the sources, not dist/.
  {
    stdio: "inherit",
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --conditions=sagaflow-source`.trim(),
      // Served processes log readable lines, as on a terminal; a test that reads JSON logs asks for them.
      SAGAFLOW_LOG_FORMAT: process.env.SAGAFLOW_LOG_FORMAT ?? "pretty",
    },
  },
);
process.exit(result.status ?? 1);
