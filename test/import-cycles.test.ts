import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { promisify } from "node:util";

/**
 * No import cycles among src/'s modules (type-only imports count). The one allowed: the component
 * definitions in src/define, whose types name each other through the `Component` union.
 */
describe("module structure", () => {
  it("no-import-cycles-outside-the-definitions-types", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["scripts/check-cycles.mjs", "src", "--allow=src/define"]);
    assert.match(stdout, /no import cycles among \d+ modules/);
  });
});
