import assert from "node:assert/strict";
import { existsSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { serve } from "../src/cli/serve.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import broken from "./fixtures/views-bad-query/index.ts";
import { describeExit, SagaflowProcess, tempDir } from "./support/server-process.ts";

/**
 * A view query with a syntax error is a bug in the service's definition: the service must refuse
 * to start, with a message that names the view and the query and shows where the error is (line,
 * column, and the query with a caret under the spot), instead of starting and failing each request.
 *
 * The fixture's query `byUser` reads, on its second line, `   WHERE userId = :userId ORDR BY cartId`:
 * the error is at "ORDR", line 2, column 27.
 */

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Checks the message: view, query, reason, line and column, and the caret under "ORDR". */
function assertNamesTheSpot(message: string): void {
  assert.match(message, /view "broken-carts"/);
  assert.match(message, /query "byUser"/);
  assert.match(message, /found "ORDR"/);
  assert.match(message, /at line 2, column 27/);
  const lines = message.split("\n");
  const bad = lines.findIndex((l) => l.includes("ORDR BY cartId"));
  assert.ok(bad > 0, `the query text is not in the message:\n${message}`);
  const caret = lines[bad + 1] ?? "";
  assert.match(caret, /^\s*\^$/, `no caret line right below the line with the error:\n${message}`);
  assert.equal(caret.indexOf("^"), lines[bad]!.indexOf("ORDR"), `the caret is not under "ORDR":\n${message}`);
  assert.ok(lines[bad - 1]!.includes("SELECT * AS carts FROM carts"), `the query's first line is not above its second:\n${message}`);
}

/** File descriptors of this process open on `path` (Linux), to see that a failed start closes the store. */
function openHandles(path: string): number {
  if (!existsSync("/proc/self/fd")) return 0;
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(path)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

describe("a view query with a syntax error stops start-up", () => {
  it("in process: the runtime refuses the definition, naming view, query and position", async () => {
    const dir = tempDir("sagaflow-views-bad-query-");
    dirs.push(dir);
    const store = new SqliteStore({ path: join(dir, "sagaflow.db") });
    try {
      assert.throws(
        () => new Runtime({ store, components: broken.components, log: () => {} }),
        (error: Error) => {
          assertNamesTheSpot(error.message);
          return true;
        },
      );
    } finally {
      await store.close();
    }
  });

  it("serve() rejects with the same message and leaves no database handle open", async () => {
    const dir = tempDir("sagaflow-views-bad-query-");
    dirs.push(dir);
    await assert.rejects(serve({ service: broken, port: 0, adminPort: -1, dataDir: dir, log: () => {} }), (error: Error) => {
      assertNamesTheSpot(error.message);
      return true;
    });
    assert.equal(openHandles(join(dir, "sagaflow.db")), 0, "the SQLite file is still open after the failed start");
  });

  it("`sagaflow serve` exits with code 1 and prints the message", async () => {
    const server = SagaflowProcess.create({ target: "test/fixtures/views-bad-query" });
    try {
      await assert.rejects(server.start(), /did not start/);
      const exit = await server.exited;
      assert.equal(exit.code, 1, `exit: ${describeExit(exit)}`);
      const output = server.output();
      assert.doesNotMatch(output, /serving/);
      assertNamesTheSpot(output.slice(output.indexOf("view \"broken-carts\"")));
      assert.doesNotMatch(output, /\n\s+at /, `a stack trace was printed:\n${output}`);
    } finally {
      await server.cleanup();
    }
  });
});
