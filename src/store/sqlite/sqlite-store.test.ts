import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { InstanceWrite, WorkflowFilter, WorkflowRecord } from "../port.ts";
import { storeContract } from "../contract.ts";
import { applyMigrations, LATEST_SCHEMA_VERSION, migrations, schemaVersionOf } from "./migrations.ts";
import { feedAndTimerSql, SqliteStore, workflowListQuery } from "./sqlite-store.ts";

const contractDir = mkdtempSync(join(tmpdir(), "sagaflow-sqlite-contract-"));
let files = 0;
storeContract(
  "sqlite",
  async () => new SqliteStore({ path: join(contractDir, `store-${++files}.db`) }),
  () => rmSync(contractDir, { recursive: true, force: true }),
);

describe("sqlite store", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-sqlite-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const freshPath = () => join(dir, `test-${++n}.db`);

  function write(id: string, expectedSeq: number, payload: unknown): InstanceWrite {
    return { component: "c", id, events: { expectedSeq, append: [{ type: "x", payload }] }, dedup: [] };
  }

  function workflowWrite(id: string, expectedVersion: number, over: Partial<WorkflowRecord> = {}): InstanceWrite {
    const record: WorkflowRecord = {
      status: "running", step: "withdraw", stepInput: { amount: 5 }, state: { n: expectedVersion }, attempt: 0, execId: 1,
      dueAt: null, deadlineAt: null, lastError: null, startHash: "h", startReply: { id }, createdAt: 1000, updatedAt: 1000 + expectedVersion,
      ...over,
    };
    const transition = { at: record.updatedAt, status: record.status, step: record.step, execId: record.execId, attempt: record.attempt, detail: "t" };
    return { component: "transfer", id, workflow: { expectedVersion, record, transition }, dedup: [] };
  }

  /** Runs `fn` on a connection of its own to the file at `path`, closed afterwards. */
  function withFile<T>(path: string, options: Database.Options, fn: (db: Database.Database) => T): T {
    const db = new Database(path, options);
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  function count(path: string, table: string): number {
    return withFile(path, { readonly: true }, (db) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number);
  }

  it("uses-wal-and-synchronous-full-by-default", async () => {
    const path = freshPath();
    const store = new SqliteStore({ path });
    try {
      assert.deepEqual(store.settings(), { journalMode: "wal", synchronous: "FULL", busyTimeoutMs: 5000 });
    } finally {
      await store.close();
    }
    // WAL is a property of the file, so another connection sees it too.
    withFile(path, { readonly: true }, (db) => {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    });
  });

  it("synchronous-normal-can-be-chosen", async () => {
    const store = new SqliteStore({ path: freshPath(), synchronous: "NORMAL" });
    try {
      assert.equal(store.settings().synchronous, "NORMAL");
      assert.equal(store.settings().journalMode, "wal");
    } finally {
      await store.close();
    }
  });

  it("data-survives-close-and-reopen", async () => {
    const path = freshPath();
    const first = new SqliteStore({ path });
    await first.migrate();
    const [done] = await first.commit([
      {
        component: "c",
        id: "a",
        events: { expectedSeq: 0, append: [{ type: "x", payload: { n: 1 } }, { type: "x", payload: { n: 2 } }], snapshot: { seq: 1, state: "s1" } },
        kv: { expectedVersion: 0, state: { v: 1 }, deleted: false },
        dedup: [{ key: "k", requestHash: "h", reply: { ok: true, value: 1 }, at: 1000 }],
      },
    ]);
    await first.close();
    assert.ok(done?.ok);

    const second = new SqliteStore({ path });
    try {
      await second.migrate();
      const history = await second.loadHistory("c", "a");
      assert.deepEqual(history.snapshot, { seq: 1, state: "s1" });
      assert.deepEqual(history.events.map((e) => [e.seq, e.payload, e.position]), [[2, { n: 2 }, done.positions[1]]]);
      assert.deepEqual(await second.loadKv("c", "a"), { version: 1, state: { v: 1 }, deleted: false });
      assert.deepEqual(await second.findDedup("c", "a", "k"), { key: "k", requestHash: "h", reply: { ok: true, value: 1 }, at: 1000 });
      // Positions go on from where they were, never reused.
      const [next] = await second.commit([write("b", 0, 3)]);
      assert.ok(next?.ok);
      assert.ok(next.positions[0]! > done.positions[1]!);
    } finally {
      await second.close();
    }
  });

  it("migrations-from-an-empty-file-reach-the-latest-version-with-integrity", async () => {
    const path = freshPath();
    const store = new SqliteStore({ path });
    assert.equal(await store.schemaVersion(), 0);
    await store.migrate();
    assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
    await store.close();

    withFile(path, { readonly: true }, (db) => {
      assert.equal(db.pragma("user_version", { simple: true }), LATEST_SCHEMA_VERSION);
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      for (const t of ["dedup", "events", "kv", "offsets", "parked", "snapshots", "timers", "workflow_history", "workflows"]) {
        assert.ok(tables.includes(t), `table ${t}`);
      }
      assert.ok(!tables.includes("events_v3"));
      const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").pluck().all();
      for (const i of ["dedup_at", "events_feed", "timers_due", "workflows_status"]) assert.ok(indexes.includes(i), `index ${i}`);
    });
  });

  it("a-file-at-schema-v1-migrates-to-the-latest-and-keeps-its-data", async () => {
    const path = freshPath();
    withFile(path, {}, (v1) => {
      applyMigrations(v1, migrations.slice(0, 1));
      assert.equal(schemaVersionOf(v1), 1);
      const insert = v1.prepare("INSERT INTO events (component, id, seq, type, payload, at) VALUES (?, ?, ?, ?, ?, ?)");
      insert.run("c", "a", 1, "x", '{"n":1}', 1000);
      insert.run("c", "a", 2, "x", '{"n":2}', 1001);
      insert.run("c", "b", 1, "y", null, 1002);
      // The newest position is gone, but AUTOINCREMENT must still never hand it out again.
      insert.run("c", "gone", 1, "z", null, 1003);
      v1.prepare("DELETE FROM events WHERE component = 'c' AND id = 'gone'").run();
      v1.prepare("INSERT INTO kv (component, id, version, state, deleted, at) VALUES ('k', 'a', 3, '\"v\"', 0, 1000)").run();
      v1.prepare("INSERT INTO dedup (component, id, key, request_hash, reply, at) VALUES ('c', 'a', 'k1', 'h', '{\"ok\":true,\"value\":1}', 1000)").run();
    });

    const store = new SqliteStore({ path });
    try {
      assert.equal(await store.schemaVersion(), 1);
      await assert.rejects(store.commit([write("a", 2, 3)]), /call migrate\(\) first/);
      await store.migrate();
      assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);

      const a = await store.loadHistory("c", "a");
      assert.deepEqual(a.events.map((e) => [e.position, e.seq, e.type, e.payload, e.at]), [[1, 1, "x", { n: 1 }, 1000], [2, 2, "x", { n: 2 }, 1001]]);
      assert.deepEqual((await store.loadHistory("c", "b")).events.map((e) => [e.position, e.payload]), [[3, undefined]]);
      assert.deepEqual(await store.loadKv("k", "a"), { version: 3, state: "v", deleted: false });
      assert.deepEqual(await store.findDedup("c", "a", "k1"), { key: "k1", requestHash: "h", reply: { ok: true, value: 1 }, at: 1000 });

      // Every part of the schema works, and positions go on after the deleted one (4) and the
      // feed entry migration 3 gave the key-value entity (5).
      assert.deepEqual((await store.readFeed(4, 10)).map((e) => [e.position, e.component, e.id, e.seq, e.type, e.payload]), [
        [5, "k", "a", 3, "$state", "v"],
      ]);
      const [appended, created] = await store.commit([write("a", 2, 3), workflowWrite("t1", 0)]);
      assert.deepEqual(appended, { ok: true, positions: [6] });
      assert.deepEqual(created, { ok: true, positions: [7] });
      assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 1);
    } finally {
      await store.close();
    }

    const reopened = new SqliteStore({ path });
    try {
      await reopened.migrate();
      assert.equal(await reopened.schemaVersion(), LATEST_SCHEMA_VERSION);
      assert.equal((await reopened.loadHistory("c", "a")).events.length, 3);
      assert.deepEqual((await reopened.loadWorkflow("transfer", "t1"))?.stepInput, { amount: 5 });
      assert.equal((await reopened.workflowHistory("transfer", "t1", 10)).length, 1);
    } finally {
      await reopened.close();
    }
    withFile(path, { readonly: true }, (db) => {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    });
  });

  it("a-file-at-schema-v2-migrates-to-v3-keeps-its-data-and-feeds-its-kv-and-workflow-states", async () => {
    const path = freshPath();
    withFile(path, {}, (v2) => {
      applyMigrations(v2, migrations.slice(0, 2));
      const insert = v2.prepare("INSERT INTO events (component, id, seq, type, payload, at) VALUES (?, ?, ?, ?, ?, ?)");
      insert.run("c", "a", 1, "x", '{"n":1}', 1000);
      insert.run("c", "a", 2, "$deleted", "null", 1001);
      insert.run("c", "b", 1, "y", null, 1002);
      insert.run("c", "gone", 1, "z", null, 1003);
      v2.prepare("DELETE FROM events WHERE id = 'gone'").run();
      v2.prepare("INSERT INTO snapshots (component, id, seq, state) VALUES ('c', 'a', 1, '\"s1\"')").run();
      const kv = v2.prepare("INSERT INTO kv (component, id, version, state, deleted, at) VALUES (?, ?, ?, ?, ?, ?)");
      kv.run("k", "b", 3, '{"v":1}', 0, 2000);
      kv.run("k", "a", 2, null, 1, 1500);
      const wf = v2.prepare(
        `INSERT INTO workflows (name, id, version, status, step, step_input, state, attempt, exec_id, due_at, deadline_at,
           last_error, start_hash, start_reply, created_at, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?, 0, 1, NULL, NULL, NULL, 'h', NULL, 1, ?)`,
      );
      wf.run("transfer", "t1", 4, "running", "deposit", '{"amount":5,"note":"\\"quoted\\""}', 3000);
      wf.run("transfer", "t0", 1, "ended", null, null, 2500);
    });

    const store = new SqliteStore({ path });
    try {
      assert.equal(await store.schemaVersion(), 2);
      await assert.rejects(store.readFeed(0, 10), /call migrate\(\) first/);
      await store.migrate();
      assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);

      // Entity history as it was.
      const a = await store.loadHistory("c", "a");
      assert.deepEqual(a.snapshot, { seq: 1, state: "s1" });
      assert.deepEqual(a.events.map((e) => [e.position, e.seq, e.type, e.payload, e.at]), [[2, 2, "$deleted", null, 1001]]);
      assert.deepEqual((await store.readEvents("c", "b", 0, 10)).map((e) => [e.position, e.payload]), [[3, undefined]]);
      assert.deepEqual(await store.loadKv("k", "b"), { version: 3, state: { v: 1 }, deleted: false });
      assert.equal((await store.loadWorkflow("transfer", "t1"))?.version, 4);

      // The feed: the old events at their positions, then one entry per kv entity and workflow,
      // after the highest position ever handed out (4, deleted).
      const feed = await store.readFeed(0, 100);
      assert.deepEqual(feed.map((e) => [e.position, e.component, e.id, e.seq, e.type, e.payload, e.at]), [
        [1, "c", "a", 1, "x", { n: 1 }, 1000],
        [2, "c", "a", 2, "$deleted", null, 1001],
        [3, "c", "b", 1, "y", undefined, 1002],
        [5, "k", "a", 2, "$deleted", null, 1500],
        [6, "k", "b", 3, "$state", { v: 1 }, 2000],
        [7, "transfer", "t0", 1, "$state", { status: "ended", step: null }, 2500],
        [8, "transfer", "t1", 4, "$state", { status: "running", step: "deposit", state: { amount: 5, note: '"quoted"' } }, 3000],
      ]);
      assert.equal(await store.feedHead(), 8);
      assert.deepEqual((await store.readFeed(0, 100, ["k"])).map((e) => e.position), [5, 6]);

      // Every part of the schema works, and positions go on.
      const outcomes = await store.commit([
        write("b", 1, 2),
        { component: "k", id: "b", kv: { expectedVersion: 3, state: 4, deleted: false }, dedup: [] },
        workflowWrite("t2", 0),
      ]);
      assert.deepEqual(outcomes, [{ ok: true, positions: [9] }, { ok: true, positions: [10] }, { ok: true, positions: [11] }]);
      // A kv entity at the same (component, id) as entity events does not disturb them.
      assert.deepEqual((await store.commit([{ component: "c", id: "a", kv: { expectedVersion: 0, state: 1, deleted: false }, dedup: [] }]))[0], {
        ok: true,
        positions: [12],
      });
      assert.deepEqual((await store.commit([write("a", 2, 3)]))[0], { ok: true, positions: [13] });
      await store.commitConsumer("audit", 13, []);
      assert.equal((await store.putTimer({ name: "t", dueAt: 1, component: "c", id: "a", handler: "h", input: null, createdAt: 1 })).generation, 1);
    } finally {
      await store.close();
    }

    const reopened = new SqliteStore({ path });
    try {
      await reopened.migrate();
      assert.equal(await reopened.schemaVersion(), LATEST_SCHEMA_VERSION);
      assert.equal(await reopened.feedHead(), 13);
      assert.equal(await reopened.loadOffset("audit"), 13);
      assert.deepEqual((await reopened.loadHistory("c", "a")).events.map((e) => e.seq), [2, 3]);
    } finally {
      await reopened.close();
    }
    withFile(path, { readonly: true }, (db) => {
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      assert.deepEqual(db.prepare("SELECT name, seq FROM sqlite_sequence").all(), [{ name: "events", seq: 13 }]);
    });
  });

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

  it("migration-13-keeps-every-feed-row-its-position-and-trace-and-the-position-mark", () => {
    const path = freshPath();
    withFile(path, {}, (db) => {
      applyMigrations(db, migrations.slice(0, 12));
      const insert = db.prepare("INSERT INTO events (component, id, kind, seq, type, payload, at, trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
      insert.run("c", "a", 0, 1, "x", '{"n":1}', 10, "00-aa-01");
      insert.run("k", "a", 1, 1, "$state", "1", 11, null);
      insert.run("k", "a", 1, 2, "$state", "2", 12, "00-bb-01");
      insert.run("transfer", "t1", 2, 1, "$state", '{"status":"running"}', 13, null);
      db.prepare("DELETE FROM events WHERE position = 4").run(); // the highest position handed out is gone
      const before = db.prepare("SELECT * FROM events ORDER BY position").all();
      applyMigrations(db);
      assert.equal(schemaVersionOf(db), 13);
      assert.deepEqual(db.prepare("SELECT * FROM events ORDER BY position").all(), before);
      assert.deepEqual(db.prepare("SELECT name, seq FROM sqlite_sequence").all(), [{ name: "events", seq: 4 }]);
      assert.deepEqual(
        db.prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events' ORDER BY name").pluck().all(),
        ["events_feed", "events_key", "events_states"],
      );
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    });
  });

  it("a-storage-failure-writing-a-feed-entry-keeps-nothing-of-the-batch", async () => {
    const path = freshPath();
    const store = new SqliteStore({ path });
    await store.migrate();
    try {
      await store.commit([write("warm", 0, 0)]);
      const head = await store.feedHead();
      withFile(path, {}, (other) => other.exec("CREATE TRIGGER fail_feed BEFORE INSERT ON events WHEN NEW.type = '$state' BEGIN SELECT RAISE(ABORT, 'disk says no'); END;"));
      await assert.rejects(
        store.commit([write("a", 0, 1), { component: "k", id: "a", kv: { expectedVersion: 0, state: 1, deleted: false }, dedup: [] }]),
        /disk says no/,
      );
      await assert.rejects(store.commit([write("a", 0, 1), workflowWrite("t1", 0)]), /disk says no/);
      assert.equal(await store.loadKv("k", "a"), undefined);
      assert.equal(await store.loadWorkflow("transfer", "t1"), undefined);
      assert.deepEqual(await store.workflowHistory("transfer", "t1", 10), []);
      assert.deepEqual((await store.loadHistory("c", "a")).events, []);
      assert.equal(await store.feedHead(), head);
    } finally {
      await store.close();
    }
  });

  it("a-storage-failure-in-a-consumer-commit-keeps-nothing-of-it", async () => {
    const path = freshPath();
    const store = new SqliteStore({ path });
    await store.migrate();
    try {
      const [done] = await store.commit([write("a", 0, 1)]);
      assert.ok(done?.ok);
      const [entry] = await store.readFeed(0, 1);
      const message = { consumer: "audit", entry: entry!, error: { code: "x", message: "y" }, attempts: 1, parkedAt: 1, blockedBy: null };
      await store.commitConsumer("audit", 1, [message]);
      withFile(path, {}, (other) => other.exec("CREATE TRIGGER fail_offset BEFORE UPDATE ON offsets BEGIN SELECT RAISE(ABORT, 'disk says no'); END;"));
      await assert.rejects(store.commitConsumer("audit", 5, [{ ...message, attempts: 2 }], [entry!.position]), /disk says no/);
      assert.equal(await store.loadOffset("audit"), 1);
      assert.deepEqual(await store.listParked("audit", 10), [message]);
    } finally {
      await store.close();
    }
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

  it("a-storage-failure-writing-workflow-history-keeps-nothing-of-the-batch", async () => {
    const path = freshPath();
    const store = new SqliteStore({ path });
    await store.migrate();
    try {
      await store.commit([workflowWrite("t0", 0)]);
      withFile(path, {}, (other) => other.exec("CREATE TRIGGER fail_history BEFORE INSERT ON workflow_history BEGIN SELECT RAISE(ABORT, 'disk says no'); END;"));
      await assert.rejects(
        store.commit([write("a", 0, 1), { ...workflowWrite("t1", 0), dedup: [{ key: "k", requestHash: "h", reply: { ok: true, value: 1 }, at: 1 }] }]),
        /disk says no/,
      );
      assert.equal(await store.loadWorkflow("transfer", "t1"), undefined);
      assert.equal(await store.findDedup("transfer", "t1", "k"), undefined);
      assert.deepEqual((await store.loadHistory("c", "a")).events, []);
      assert.equal((await store.loadWorkflow("transfer", "t0"))?.version, 1);
    } finally {
      await store.close();
    }
  });

  it("migrations-are-numbered-1-to-n-in-order", () => {
    assert.ok(migrations.length > 0);
    assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
    assert.equal(LATEST_SCHEMA_VERSION, migrations.length);
  });

  it("a-failing-migration-keeps-the-previous-version-and-nothing-of-itself", () => {
    withFile(freshPath(), {}, (db) => {
      const broken = [
        ...migrations,
        { version: migrations.length + 1, description: "half good", sql: "CREATE TABLE extra (a INTEGER); SELECT * FROM no_such_table;" },
      ];
      assert.throws(() => applyMigrations(db, broken), /no_such_table/);
      assert.equal(schemaVersionOf(db), migrations.length);
      const extra = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").pluck().get();
      assert.equal(extra, 0);
    });
  });

  it("refuses-a-file-from-a-newer-schema", async () => {
    const path = freshPath();
    withFile(path, {}, (db) => db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`));
    const store = new SqliteStore({ path });
    try {
      await assert.rejects(store.migrate(), /newer than this Sagaflow knows/);
    } finally {
      await store.close();
    }
  });

  it("refuses-work-before-migrate", async () => {
    const store = new SqliteStore({ path: freshPath() });
    try {
      await assert.rejects(store.commit([write("a", 0, 1)]), /call migrate\(\) first/);
    } finally {
      await store.close();
    }
  });

  it("a-payload-json-cannot-hold-keeps-nothing-of-the-batch", async () => {
    const path = freshPath();
    const store = new SqliteStore({ path });
    await store.migrate();
    await assert.rejects(
      store.commit([write("a", 0, 1), { ...write("b", 0, 2), dedup: [{ key: "k", requestHash: "h", reply: { ok: true, value: 1 }, at: 1 }] }, write("c", 0, 10n)]),
      /BigInt/,
    );
    await store.close();
    for (const table of ["events", "dedup", "kv", "snapshots"]) assert.equal(count(path, table), 0, table);
  });

  it("a-storage-failure-mid-batch-rolls-back-the-whole-batch", async () => {
    const path = freshPath();
    const store = new SqliteStore({ path });
    await store.migrate();
    try {
      await store.commit([write("warm", 0, 0)]);
      // Stands in for an I/O error: the kv insert that follows the event inserts fails inside the transaction.
      withFile(path, {}, (other) => other.exec("CREATE TRIGGER fail_kv BEFORE INSERT ON kv BEGIN SELECT RAISE(ABORT, 'disk says no'); END;"));
      await assert.rejects(
        store.commit([write("a", 0, 1), write("b", 0, 2), { component: "k", id: "a", kv: { expectedVersion: 0, state: 1, deleted: false }, dedup: [] }]),
        /disk says no/,
      );
      assert.deepEqual((await store.loadHistory("c", "a")).events, []);
      assert.deepEqual((await store.loadHistory("c", "b")).events, []);
      assert.equal((await store.readEvents("c", "warm", 0, 10)).length, 1);
      // The store is still usable afterwards.
      const [next] = await store.commit([write("a", 0, 1)]);
      assert.ok(next?.ok);
    } finally {
      await store.close();
    }
  });
});
