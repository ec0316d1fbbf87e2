import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { InstanceWrite } from "../port.ts";
import { storeContract } from "../contract.ts";
import { applyMigrations, LATEST_SCHEMA_VERSION, migrations, schemaVersionOf } from "./migrations.ts";
import { SqliteStore } from "./sqlite-store.ts";

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

  function count(path: string, table: string): number {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    } finally {
      db.close();
    }
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
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    } finally {
      db.close();
    }
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

    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma("user_version", { simple: true }), LATEST_SCHEMA_VERSION);
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      for (const t of ["dedup", "events", "kv", "snapshots"]) assert.ok(tables.includes(t), `table ${t}`);
    } finally {
      db.close();
    }
  });

  it("migrations-are-numbered-1-to-n-in-order", () => {
    assert.ok(migrations.length > 0);
    assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
    assert.equal(LATEST_SCHEMA_VERSION, migrations.length);
  });

  it("a-failing-migration-keeps-the-previous-version-and-nothing-of-itself", () => {
    const db = new Database(freshPath());
    try {
      const broken = [
        ...migrations,
        { version: migrations.length + 1, description: "half good", sql: "CREATE TABLE extra (a INTEGER); SELECT * FROM no_such_table;" },
      ];
      assert.throws(() => applyMigrations(db, broken), /no_such_table/);
      assert.equal(schemaVersionOf(db), migrations.length);
      const extra = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").pluck().get();
      assert.equal(extra, 0);
    } finally {
      db.close();
    }
  });

  it("refuses-a-file-from-a-newer-schema", async () => {
    const path = freshPath();
    const db = new Database(path);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
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
      const other = new Database(path);
      other.exec("CREATE TRIGGER fail_kv BEFORE INSERT ON kv BEGIN SELECT RAISE(ABORT, 'disk says no'); END;");
      other.close();
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
