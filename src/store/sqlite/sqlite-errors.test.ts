/**
 * A project whose install skipped better-sqlite3's install script (npm 12 does, unless
 * package.json approves it) has no native binding: the error says what to run, not only the
 * thirteen paths the loader tried.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bindingUnusable, namingFile } from "./sqlite-errors.ts";

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

describe("a database file that cannot be opened or written, at start", () => {
  const fsError = (code: string, message: string) => Object.assign(new Error(message), { code });

  it("a full disk names the folder and says to free space; a folder it may not write names both", () => {
    const full = namingFile(fsError("ENOSPC", "ENOSPC: no space left on device, write"), "/srv/data/sagaflow.db") as Error;
    assert.equal(full.message, "the disk holding /srv/data is full (ENOSPC: no space left on device, write): free some space, then start again");
    const denied = namingFile(fsError("EACCES", "EACCES: permission denied, open '/srv/data/sagaflow.db.lock.7.tmp'"), "/srv/data/sagaflow.db") as Error;
    assert.match(denied.message, /^cannot write the database file \/srv\/data\/sagaflow\.db \(EACCES: .*\): check that it and its folder \/srv\/data are writable$/);
    const other = fsError("EIO", "EIO: i/o error");
    assert.equal(namingFile(other, "/srv/data/sagaflow.db"), other, "anything else is passed on as it is");
  });
});
