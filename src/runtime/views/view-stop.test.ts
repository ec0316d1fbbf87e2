import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { keyValue } from "../../define/key-value.ts";
import { table, view } from "../../define/view.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";

/**
 * Stopping the runtime stops its views for good: the membership's stop, after the views', gives up
 * their leases, and a lost lease used to start the view following the store again — which then
 * read a closed database ("The database connection is not open", logged after the stop).
 */
const box = keyValue("box", {
  initial: () => ({ v: 0 }),
  commands: { set: (_s, c: { v: number }, fx) => fx.update(c).reply((s) => s) },
});
const boxes = view("boxes", {
  version: 1,
  tables: { boxes: table<typeof box, { id: string; v: number }>(box, { state: (_row, state, { id }) => ({ id, v: state?.v ?? 0 }) }) },
  queries: { all: "SELECT * FROM boxes ORDER BY id" },
});

describe("a view when the runtime stops", () => {
  it("does-not-start-again-when-its-lease-is-given-up-after-the-stop", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-view-stop-"));
    const lines: string[] = [];
    try {
      const runtime = new Runtime({ store: new SqliteStore({ path: join(dir, "sagaflow.db") }), components: [box, boxes], log: (line) => lines.push(line) });
      await runtime.start();
      await runtime.call("box", "b1", "set", { v: 1 });
      await runtime.stop();
      // A follow loop's first read comes at once, its next within a second.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      assert.deepEqual(lines.filter((line) => line.includes("view boxes")), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
