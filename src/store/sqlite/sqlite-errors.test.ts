/**
 * A project whose install skipped better-sqlite3's install script (npm 12 does, unless
 * package.json approves it) has no native binding: the error says what to run, not only the
 * thirteen paths the loader tried.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bindingUnusable } from "./sqlite-errors.ts";

describe("an unusable SQLite binding", () => {
  it("a-missing-binding-says-to-approve-and-rebuild-better-sqlite3", () => {
    // What `bindings` throws when build/Release/better_sqlite3.node is absent (seen with the file removed).
    const thrown = new Error("Could not locate the bindings file. Tried:\n → /p/node_modules/better-sqlite3/build/better_sqlite3.node\n → /p/node_modules/better-sqlite3/build/Release/better_sqlite3.node");
    const explained = bindingUnusable(thrown);
    assert.ok(explained);
    assert.match(explained.message, /^SQLite's native binding \(better-sqlite3\) cannot be loaded: Could not locate the bindings file\. Its install script did not run /);
    assert.match(explained.message, /run `npm approve-scripts better-sqlite3 && npm rebuild better-sqlite3`$/);
    assert.doesNotMatch(explained.message, /build\/Release|Tried/);
    assert.equal(explained.cause, thrown);
  });

  it("a-binding-built-for-another-node-says-the-same", () => {
    const thrown = new Error("The module '/p/better_sqlite3.node' was compiled against a different Node.js version using NODE_MODULE_VERSION 127. This version of Node.js requires NODE_MODULE_VERSION 115.");
    assert.match(bindingUnusable(thrown)?.message ?? "", /npm rebuild better-sqlite3/);
  });

  it("any-other-error-is-left-to-the-file-checks", () => {
    assert.equal(bindingUnusable(Object.assign(new Error("unable to open database file"), { code: "SQLITE_CANTOPEN" })), undefined);
  });
});
