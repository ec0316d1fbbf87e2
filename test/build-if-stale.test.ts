import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { distIsStale } from "../scripts/build-if-stale.mjs";

/** `npm pack` builds dist/ again when a source changed since it was built, and only then. */
describe("the prepack's staleness check", () => {
  const root = mkdtempSync(join(tmpdir(), "sagaflow-stale-"));
  after(() => rmSync(root, { recursive: true, force: true }));
  const at = (path: string, seconds: number) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), "x");
    utimesSync(join(root, path), seconds, seconds);
  };

  it("a-missing-dist-or-a-source-newer-than-it-is-stale-a-newer-test-file-is-not", () => {
    at("src/index.ts", 1_000);
    assert.equal(distIsStale(root), true, "no dist/ yet");
    at("dist/index.js", 2_000);
    assert.equal(distIsStale(root), false);
    at("src/runtime/engine.test.ts", 3_000);
    assert.equal(distIsStale(root), false, "tests are not packed");
    at("src/runtime/engine.ts", 3_000);
    assert.equal(distIsStale(root), true, "an edit after the build");
    at("dist/index.js", 4_000);
    at("console/src/pages/timers.tsx", 5_000);
    assert.equal(distIsStale(root), true, "the console is built into dist/ too");
  });
});
