import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { customer } from "../../examples/bank/customer.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { entity } from "../define/entity.ts";
import type { ServiceComponent } from "../define/service.ts";
import { isCode, notes, wrapStore } from "./test-support.ts";

/** `notes` whose fold changed (it shouts what it notes), with the stateVersion it was given, if any. */
const shouting = (stateVersion?: number) =>
  entity(
    "notes",
    {
      initial: () => ({ items: [] as string[] }),
      events: { noted: (s: { items: string[] }, e: { text: string }) => ({ items: [...s.items, e.text.toUpperCase()] }) },
      ...(stateVersion === undefined ? {} : { stateVersion }),
    },
    { commands: {}, queries: { items: (s, _: {}, fx) => fx.reply(s.items) } },
  );

describe("runtime: snapshots, recovery, cache and deletion", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-recovery-"));
  let n = 0;
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const freshPath = () => join(dir, `r-${++n}.db`);

  async function open(path: string, options: { snapshotEvery?: number; cacheSize?: number } = {}, components: ServiceComponent[] = [notes, customer]) {
    const inner = new SqliteStore({ path });
    const loads: string[] = [];
    const store = wrapStore(inner, {
      loadHistory(component, id) {
        loads.push(id);
        return inner.loadHistory(component, id);
      },
      loadKv(component, id) {
        loads.push(id);
        return inner.loadKv(component, id);
      },
    });
    const rt = new Runtime({ store, components, log: () => {}, ...options });
    runtimes.push(rt);
    await rt.start();
    return { rt, store: inner, loads };
  }

  it("recovers-from-snapshot-20-plus-5-events-after-restart", async () => {
    const path = freshPath();
    const first = await open(path, { snapshotEvery: 10 });
    const texts = Array.from({ length: 25 }, (_, i) => `t${i + 1}`);
    for (const text of texts) await first.rt.call("notes", "n1", "note", { text });
    await first.rt.stop();

    const second = await open(path, { snapshotEvery: 10 });
    const history = await second.store.loadHistory("notes", "n1");
    assert.equal(history.snapshot?.seq, 20);
    assert.deepEqual(history.snapshot?.state, { items: texts.slice(0, 20) });
    assert.deepEqual(
      history.events.map((e) => e.seq),
      [21, 22, 23, 24, 25],
    );
    assert.deepEqual(await second.rt.call("notes", "n1", "items", {}), texts);
    // Appends continue at the right seq after recovery.
    assert.equal(await second.rt.call("notes", "n1", "note", { text: "t26" }), 26);
    const all = await second.store.readEvents("notes", "n1", 0, 100);
    assert.deepEqual(
      all.map((e) => e.seq),
      Array.from({ length: 26 }, (_, i) => i + 1),
    );
  });

  it("recovery-starts-from-the-snapshot-not-a-replay-from-seq-1", async () => {
    const path = freshPath();
    const first = await open(path, { snapshotEvery: 10 });
    for (let i = 1; i <= 12; i++) await first.rt.call("notes", "n2", "note", { text: `t${i}` });
    await first.rt.stop();
    // Mark the snapshot: a state only the snapshot holds must show up after recovery.
    const db = new Database(path);
    try {
      const row = db.prepare("SELECT seq, state FROM snapshots WHERE component = 'notes' AND id = 'n2'").get() as
        | { seq: number; state: string }
        | undefined;
      assert.equal(row?.seq, 10);
      assert.equal(JSON.parse(row.state).items.length, 10);
      db.prepare("UPDATE snapshots SET state = ? WHERE component = 'notes' AND id = 'n2'").run(
        JSON.stringify({ items: ["from-snapshot"] }),
      );
    } finally {
      db.close();
    }
    const second = await open(path, { snapshotEvery: 10 });
    assert.deepEqual(await second.rt.call("notes", "n2", "items", {}), ["from-snapshot", "t11", "t12"]);
  });

  it("a-changed-fold-with-a-new-state-version-folds-every-event-again-and-snapshots-under-it", async () => {
    const path = freshPath();
    const first = await open(path, { snapshotEvery: 10 });
    const texts = Array.from({ length: 12 }, (_, i) => `t${i + 1}`);
    for (const text of texts) await first.rt.call("notes", "n3", "note", { text });
    await first.rt.stop();

    // The fold changed but its version did not: the snapshot taken by the old fold is used as it is.
    const unbumped = await open(path, { snapshotEvery: 10 }, [shouting()]);
    assert.deepEqual(await unbumped.rt.call("notes", "n3", "items", {}), [...texts.slice(0, 10), "T11", "T12"]);
    await unbumped.rt.stop();

    // Bumped: the old snapshot is ignored, every event folded by the new code.
    const bumped = await open(path, { snapshotEvery: 10 }, [shouting(1)]);
    assert.deepEqual(await bumped.rt.call("notes", "n3", "items", {}), texts.map((t) => t.toUpperCase()));
    await bumped.rt.stop();

    // The next snapshot is taken under the new version, and used from then on.
    const writer = await open(path, { snapshotEvery: 10 }, [{ ...shouting(1), commands: notes.commands }]);
    for (let i = 13; i <= 20; i++) await writer.rt.call("notes", "n3", "note", { text: `t${i}` });
    const snapshot = (await writer.store.loadHistory("notes", "n3")).snapshot;
    assert.deepEqual([snapshot?.seq, snapshot?.stateVersion, (snapshot?.state as { items: string[] }).items.at(-1)], [20, 1, "T20"]);
  });

  it("the-admin-state-after-any-event-is-the-fold-of-the-events-up-to-it-around-a-snapshot-and-the-summary-reads-the-history-once", async () => {
    const { rt, loads } = await open(freshPath(), { snapshotEvery: 10 });
    const texts = Array.from({ length: 13 }, (_, i) => `t${i + 1}`);
    for (const text of texts) await rt.call("notes", "n4", "note", { text });
    for (const seq of [1, 9, 10, 11, 13]) {
      assert.deepEqual((await rt.admin.entityStateAt("notes", "n4", seq)).state, { items: texts.slice(0, seq) }, `after event ${seq}`);
    }
    loads.length = 0;
    const summary = await rt.admin.entity("notes", "n4");
    assert.deepEqual(["seq" in summary && summary.seq, "state" in summary && summary.state], [13, { items: texts }]);
    assert.deepEqual(loads, ["n4"], "one read of the history for the summary and its current state");
  });

  it("a-state-version-and-a-snapshot-interval-are-whole-numbers", () => {
    assert.throws(() => shouting(-1), /stateVersion must be a whole number from 0/);
    assert.throws(() => shouting(1.5), /stateVersion must be a whole number from 0/);
    const every = (snapshotEvery: number) => entity("every", { initial: () => ({}), events: {}, snapshotEvery }, { commands: {} });
    for (const bad of [0, -1, 2.5]) assert.throws(() => every(bad), /snapshotEvery must be a whole number of events from 1/);
    assert.throws(() => new Runtime({ store: new SqliteStore({ path: freshPath() }), components: [], snapshotEvery: 0 }), /snapshotEvery must be a whole number/);
  });

  it("cache-of-2-evicts-and-reloads-the-least-recently-used-instance", async () => {
    const { rt, loads } = await open(freshPath(), { cacheSize: 2 });
    const ids = ["a", "b", "c", "d", "e"];
    for (const id of ids) {
      await rt.call("notes", id, "note", { text: `${id}1` });
      await rt.call("notes", id, "note", { text: `${id}2` });
    }
    // Each instance was loaded once while it stayed cached between its two commands.
    assert.deepEqual(loads, ids);
    assert.equal(await rt.call("notes", "a", "note", { text: "a3" }), 3);
    assert.deepEqual(await rt.call("notes", "a", "items", {}), ["a1", "a2", "a3"]);
    assert.deepEqual(loads, [...ids, "a"], "the evicted instance was loaded again from the store");
    // The most recently used instance is still cached.
    assert.deepEqual(await rt.call("notes", "e", "items", {}), ["e1", "e2"]);
    assert.deepEqual(loads, [...ids, "a"]);
  });

  it("key-value-close-then-any-command-is-deleted-and-survives-restart", async () => {
    const path = freshPath();
    const first = await open(path);
    await first.rt.call("customer", "c1", "register", { name: "Ann", email: "ann@example.com" });
    assert.deepEqual(await first.rt.call("customer", "c1", "close", {}), { closed: true });
    for (const [handler, input] of [
      ["get", {}],
      ["addWallet", { walletId: "w1" }],
      ["register", { name: "Ann", email: "ann@example.com" }],
      ["close", {}],
    ] as const) {
      await assert.rejects(first.rt.call("customer", "c1", handler, input), isCode("deleted", 410), handler);
    }
    await first.rt.stop();

    const second = await open(path);
    await assert.rejects(second.rt.call("customer", "c1", "get", {}), isCode("deleted", 410));
    await assert.rejects(
      second.rt.call("customer", "c1", "register", { name: "Ann", email: "ann@example.com" }),
      isCode("deleted", 410),
    );
    assert.equal((await second.store.loadKv("customer", "c1"))?.deleted, true);
    // Other instances are not affected.
    assert.deepEqual(await second.rt.call("customer", "c2", "register", { name: "Bo", email: "bo@example.com" }), {
      name: "Bo",
      email: "bo@example.com",
      wallets: [],
    });
  });

  it("event-sourced-delete-refuses-later-commands-and-survives-restart", async () => {
    const path = freshPath();
    const first = await open(path, { snapshotEvery: 2 });
    await first.rt.call("notes", "n1", "note", { text: "hello" });
    // close emits an event and deletes in one command: the reply is computed after both.
    assert.deepEqual(await first.rt.call("notes", "n1", "close", {}), { closed: 2 });
    await assert.rejects(first.rt.call("notes", "n1", "note", { text: "x" }), isCode("deleted", 410));
    await assert.rejects(first.rt.call("notes", "n1", "items", {}), isCode("deleted", 410));
    await first.rt.stop();

    const second = await open(path, { snapshotEvery: 2 });
    await assert.rejects(second.rt.call("notes", "n1", "note", { text: "x" }), isCode("deleted", 410));
    await assert.rejects(second.rt.call("notes", "n1", "close", {}), isCode("deleted", 410));
    const events = await second.store.readEvents("notes", "n1", 0, 100);
    assert.deepEqual(
      events.map((e) => e.payload && (e.payload as { text: string }).text),
      ["hello", "bye", null],
      "the refused commands after deletion stored nothing",
    );
  });

  it("commands-queued-behind-a-delete-in-the-same-turn-are-refused", async () => {
    const { rt, store } = await open(freshPath());
    await rt.call("notes", "n3", "note", { text: "a" });
    const results = await Promise.allSettled([
      rt.call("notes", "n3", "note", { text: "b" }),
      rt.call("notes", "n3", "close", {}),
      rt.call("notes", "n3", "note", { text: "c" }),
    ]);
    assert.deepEqual(results[0], { status: "fulfilled", value: 2 });
    assert.deepEqual(results[1], { status: "fulfilled", value: { closed: 3 } });
    assert.equal(results[2].status, "rejected");
    isCode("deleted", 410)((results[2]).reason);
    assert.equal((await store.readEvents("notes", "n3", 0, 100)).length, 4);
  });
});
