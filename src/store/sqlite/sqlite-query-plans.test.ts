import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { WorkflowFilter } from "../port.ts";
import { applyMigrations } from "./migrations.ts";
import { feedAndTimerSql, SqliteStore, workflowListQuery } from "./sqlite-store.ts";
import { tempDatabases, withFile, workflowWrite, write } from "./sqlite-test-files.ts";

/** The SQLite store's hot reads go through an index (EXPLAIN QUERY PLAN), and a key-value write touches no index keyed by instance. */
describe("sqlite store query plans", () => {
  const { freshPath } = tempDatabases("sagaflow-sqlite-");

  it("feed-and-timer-reads-go-through-an-index-not-the-whole-table", () => {
    withFile(freshPath(), {}, (db) => {
      applyMigrations(db);
      // The whole plan is matched (^…$): one index range, and no "USE TEMP B-TREE FOR ORDER BY" after it.
      const plan = (sql: string, ...params: unknown[]): string =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map((row) => row.detail).join("; ");
      assert.match(plan(feedAndTimerSql.ofComponent, "wallet", 0, 100), /^SEARCH events USING INDEX events_feed \(component=\? AND position>\?\)$/);
      assert.match(plan(feedAndTimerSql.all, 0, 100), /^SEARCH events USING INTEGER PRIMARY KEY \(rowid>\?\)$/);
      // The held buckets only filter (a SQLite store's one node holds them all): the index is read in order.
      const buckets = "; LIST SUBQUERY 1; SCAN json_each VIRTUAL TABLE INDEX 1:(; CREATE BLOOM FILTER)?";
      const timersDue = (range: string) => new RegExp(`^SEARCH timers USING INDEX timers_due \\(${range}\\)${buckets}$`);
      assert.match(plan(feedAndTimerSql.dueTimers, { now: 0, limit: 100, buckets: "[1, 2]" }), timersDue("status=\\? AND due_at<\\?"));
      assert.match(plan(feedAndTimerSql.timersOfStatus, "parked", -Infinity, "", 100), /^SEARCH timers USING INDEX timers_due \(status=\? AND \(due_at,name\)>\(\?,\?\)\)$/);
      assert.match(plan(feedAndTimerSql.nextTimerDue, { buckets: "[1, 2]" }), timersDue("status=\\?"));
      // An entity's reads and its concurrency check stay on the unique key, kv and workflow rows apart;
      // so do a workflow's states and retention's removal of them (the key is a partial index: each
      // query names its kind literally).
      const onKey = (range: string) => new RegExp(`^SEARCH events USING (COVERING )?INDEX events_key \\(${range}\\)$`);
      assert.match(plan("SELECT seq FROM events WHERE component = ? AND id = ? AND kind = 0 AND seq > ? ORDER BY seq", "c", "a", 0), onKey("component=\\? AND id=\\? AND kind=\\? AND seq>\\?"));
      assert.match(plan("SELECT max(seq) FROM events WHERE component = ? AND id = ? AND kind = 0", "c", "a"), onKey("component=\\? AND id=\\? AND kind=\\?"));
      assert.match(plan("SELECT seq FROM events WHERE component = ? AND id = ? AND kind = 2 AND seq > ? ORDER BY seq LIMIT 10", "t", "a", 0), onKey("component=\\? AND id=\\? AND kind=\\? AND seq>\\?"));
      assert.match(plan("DELETE FROM events WHERE component = ? AND id = ? AND kind = 2 RETURNING position", "t", "a"), onKey("component=\\? AND id=\\? AND kind=\\?"));
    });
  });

  it("a-key-value-write-adds-no-entry-to-an-index-keyed-by-instance", async () => {
    // Over many ids each such entry is a page written at a random place: only the kv table's own
    // row is (its feed row goes to the end of the position-ordered indexes).
    const path = freshPath();
    const store = new SqliteStore({ path });
    await store.migrate();
    try {
      for (let i = 0; i < 50; i++) await store.commit([{ component: "k", id: `id-${i}`, kv: { expectedVersion: 0, state: { i }, deleted: false }, dedup: [] }]);
      await store.commit([write("a", 0, 1), workflowWrite("t1", 0)]);
    } finally {
      await store.close();
    }
    withFile(path, { readonly: true }, (db) => {
      const byInstance = (db.prepare("SELECT name FROM pragma_index_list('events')").pluck().all() as string[]).filter((index) => {
        const columns = db.prepare("SELECT name FROM pragma_index_info(?) ORDER BY seqno").pluck().all(index) as string[];
        return columns[0] === "component" && columns[1] === "id";
      });
      assert.ok(byInstance.length > 0);
      for (const index of byInstance) {
        // Entries of an index b-tree: cells of all its pages (interior cells hold entries too).
        const entries = db.prepare("SELECT sum(ncell) FROM dbstat WHERE name = ?").pluck().get(index) as number;
        assert.equal(entries, 2, `${index}: the entity event and the workflow state only`);
      }
      // Still unique where it is a key: a second entity event or workflow state with the same seq is refused.
      const insert = "INSERT INTO events (component, id, kind, seq, type, payload, at) VALUES (?, ?, ?, 1, 'x', NULL, 0)";
      withFile(path, {}, (rw) => {
        assert.throws(() => rw.prepare(insert).run("c", "a", 0), /UNIQUE constraint failed/);
        assert.throws(() => rw.prepare(insert).run("transfer", "t1", 2), /UNIQUE constraint failed/);
      });
    });
  });

  it("workflow-listing-reads-through-an-index-not-the-whole-table", () => {
    withFile(freshPath(), {}, (db) => {
      applyMigrations(db);
      const plan = (filter: WorkflowFilter): string => {
        const query = workflowListQuery(filter);
        assert.ok(query);
        return (db.prepare(`EXPLAIN QUERY PLAN ${query.sql}`).all(...query.params) as { detail: string }[])
          .map((row) => row.detail)
          .join("; ");
      };
      // The start-up scan for workflows to resume, and listing one workflow's instances by status.
      for (const filter of [
        { statuses: ["running", "paused"], limit: 100 },
        { name: "transfer", statuses: ["running", "paused"], limit: 100 },
        { name: "transfer", statuses: ["failed"], afterId: "t9", limit: 100 },
      ] satisfies WorkflowFilter[]) {
        assert.match(plan(filter), /SEARCH workflows USING INDEX workflows_status \(status=\?/, JSON.stringify(filter));
      }
      // One status within one name comes out in id order from the index: no sort, however many there are.
      assert.doesNotMatch(plan({ name: "transfer", statuses: ["failed"], afterId: "t9", limit: 100 }), /TEMP B-TREE/);
      assert.match(plan({ name: "transfer", afterId: "t9", limit: 100 }), /SEARCH workflows USING PRIMARY KEY \(name=\? AND id>\?\)/);
      assert.equal(workflowListQuery({ statuses: [], limit: 100 }), undefined);
      assert.equal(workflowListQuery({ name: "transfer", limit: 0 }), undefined);
    });
  });
});
