import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { applyMigrations, LATEST_SCHEMA_VERSION, migrations, schemaVersionOf } from "./migrations.ts";
import { SqliteStore } from "./sqlite-store.ts";
import { tempDatabases, withFile, workflowWrite, write } from "./sqlite-test-files.ts";

/** The SQLite schema's migrations: from an empty file or an old schema to the latest, data kept; a failing one keeps nothing. */
describe("sqlite store migrations", () => {
  const { freshPath } = tempDatabases("sagaflow-sqlite-");

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
      assert.deepEqual(a.snapshot, { seq: 1, state: "s1", stateVersion: 0 });
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
      applyMigrations(db, migrations.slice(0, 13));
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
});
