import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storeContract } from "../contract.ts";
import { SqliteStore } from "./sqlite-store.ts";
import { count, tempDatabases, withFile, workflowWrite, write } from "./sqlite-test-files.ts";

const contractDir = mkdtempSync(join(tmpdir(), "sagaflow-sqlite-contract-"));
let files = 0;
storeContract(
  "sqlite",
  async () => new SqliteStore({ path: join(contractDir, `store-${++files}.db`) }),
  () => rmSync(contractDir, { recursive: true, force: true }),
);

/** The SQLite store's own promises beyond the contract: its settings, durability, and that a failed batch keeps nothing. */
describe("sqlite store", () => {
  const { freshPath } = tempDatabases("sagaflow-sqlite-");

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
        events: { expectedSeq: 0, append: [{ type: "x", payload: { n: 1 } }, { type: "x", payload: { n: 2 } }], snapshot: { seq: 1, state: "s1", stateVersion: 0 } },
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
      assert.deepEqual(history.snapshot, { seq: 1, state: "s1", stateVersion: 0 });
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
