/**
 * The contract every store adapter must pass. It speaks only through the port, so that the
 * memory, SQLite and (later) PostgreSQL adapters run the very same checks.
 *
 * @example
 * storeContract("memory", async () => new MemoryStore());
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { DedupRecord, InstanceWrite, Snapshot, Store, StoredReply } from "./port.ts";
import { feedContract } from "./contract-feed.ts";
import { commitOk, conflictOutcome, dedup, ev, eventsWrite, kvWrite } from "./contract-support.ts";
import { timerContract } from "./contract-timers.ts";
import { togetherContract } from "./contract-together.ts";
import { traceContract } from "./contract-traces.ts";
import { workflowContract } from "./contract-workflows.ts";
import { bucketContract } from "./contract-buckets.ts";

/**
 * Registers the contract tests, the workflow part (./contract-workflows.ts), the change feed and
 * consumer part (./contract-feed.ts), the timer part (./contract-timers.ts) and the together part
 * (./contract-together.ts) included. `makeStore`
 * must return a fresh, empty, not yet migrated store each time; the suite migrates and closes it.
 * `cleanup` runs once after all the tests.
 */
export function storeContract(
  name: string,
  makeStore: () => Promise<Store>,
  cleanup?: () => Promise<void> | void,
): void {
  describe(`store contract: ${name}`, () => {
    if (cleanup) after(cleanup);

    async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
      const store = await makeStore();
      try {
        await store.migrate();
        await fn(store);
      } finally {
        await store.close();
      }
    }

    describe("schema", () => {
      it("migrate-brings-an-empty-store-to-a-version-above-0", async () => {
        const store = await makeStore();
        try {
          assert.equal(await store.schemaVersion(), 0);
          await store.migrate();
          assert.ok((await store.schemaVersion()) > 0);
        } finally {
          await store.close();
        }
      });

      it("migrate-twice-keeps-version-and-data", async () => {
        await withStore(async (store) => {
          const version = await store.schemaVersion();
          await commitOk(store, [eventsWrite("c", "a", 0, ev("x", 1))]);
          await store.migrate();
          assert.equal(await store.schemaVersion(), version);
          assert.equal((await store.loadHistory("c", "a")).events.length, 1);
        });
      });
    });

    describe("events", () => {
      it("appended-events-read-back-in-order-with-seq-from-1", async () => {
        await withStore(async (store) => {
          const before = Date.now();
          await commitOk(store, [eventsWrite("wallet", "w1", 0, ev("opened", { n: 1 }), ev("deposited", { n: 2 }))]);
          await commitOk(store, [eventsWrite("wallet", "w1", 2, ev("withdrawn", { n: 3 }))]);
          const after = Date.now();
          const { snapshot, events } = await store.loadHistory("wallet", "w1");
          assert.equal(snapshot, undefined);
          assert.deepEqual(
            events.map((e) => [e.seq, e.type, e.payload]),
            [[1, "opened", { n: 1 }], [2, "deposited", { n: 2 }], [3, "withdrawn", { n: 3 }]],
          );
          for (const e of events) assert.ok(e.at >= before && e.at <= after, "at is the commit time");
          assert.deepEqual(await store.readEvents("wallet", "w1", 0, 100), events);
        });
      });

      it("positions-increase-strictly-across-instances-and-commits", async () => {
        await withStore(async (store) => {
          const first = await commitOk(store, [
            eventsWrite("c", "a", 0, ev("x", 1), ev("x", 2)),
            eventsWrite("c", "b", 0, ev("x", 3)),
            eventsWrite("other", "a", 0, ev("x", 4)),
          ]);
          const second = await commitOk(store, [eventsWrite("c", "b", 1, ev("x", 5)), eventsWrite("c", "a", 2, ev("x", 6))]);
          const positions = [...first, ...second].flatMap((o) => o.positions);
          assert.equal(positions.length, 6);
          assert.ok(positions.every((p) => Number.isInteger(p) && p > 0));
          for (let i = 1; i < positions.length; i++) assert.ok(positions[i]! > positions[i - 1]!, `${positions}`);
          // Stored events carry the positions the commit reported.
          const a = await store.loadHistory("c", "a");
          assert.deepEqual(
            a.events.map((e) => e.position),
            [...first[0]!.positions, ...second[1]!.positions],
          );
        });
      });

      it("read-events-honours-after-seq-and-limit", async () => {
        await withStore(async (store) => {
          await commitOk(store, [eventsWrite("c", "a", 0, ...[1, 2, 3, 4, 5].map((n) => ev("x", n)))]);
          await commitOk(store, [eventsWrite("c", "b", 0, ev("x", 99))]);
          const seqs = async (afterSeq: number, limit: number) =>
            (await store.readEvents("c", "a", afterSeq, limit)).map((e) => e.seq);
          assert.deepEqual(await seqs(2, 2), [3, 4]);
          assert.deepEqual(await seqs(3, 100), [4, 5]);
          assert.deepEqual(await seqs(0, 1), [1]);
          assert.deepEqual(await seqs(5, 10), []);
          assert.deepEqual(await seqs(0, 0), []);
          assert.deepEqual(await store.readEvents("c", "nobody", 0, 10), []);
        });
      });

      it("history-of-an-unknown-instance-is-empty", async () => {
        await withStore(async (store) => {
          assert.deepEqual(await store.loadHistory("c", "nobody"), { snapshot: undefined, events: [] });
        });
      });
    });

    describe("optimistic concurrency", () => {
      it("stale-expected-seq-is-a-conflict-and-keeps-nothing-of-that-write", async () => {
        await withStore(async (store) => {
          await commitOk(store, [eventsWrite("c", "a", 0, ev("x", 1), ev("x", 2))]);
          const stale: InstanceWrite = {
            component: "c",
            id: "a",
            events: { expectedSeq: 1, append: [ev("late", 3)], snapshot: { seq: 2, state: { stale: true }, stateVersion: 0 } },
            dedup: [dedup("k-stale", 1000)],
          };
          const outcomes = await store.commit([
            eventsWrite("c", "b", 0, ev("y", 1)),
            stale,
            eventsWrite("c", "d", 0, ev("z", 1)),
          ]);
          assert.equal(outcomes.length, 3);
          assert.equal(outcomes[0]!.ok, true);
          assert.deepEqual(outcomes[1], { ok: false, reason: "conflict" });
          assert.equal(outcomes[2]!.ok, true);

          const a = await store.loadHistory("c", "a");
          assert.equal(a.snapshot, undefined);
          assert.deepEqual(a.events.map((e) => e.type), ["x", "x"]);
          assert.equal(await store.findDedup("c", "a", "k-stale"), undefined);
          assert.equal((await store.loadHistory("c", "b")).events.length, 1);
          assert.equal((await store.loadHistory("c", "d")).events.length, 1);
        });
      });

      it("expected-seq-ahead-of-the-store-is-a-conflict", async () => {
        await withStore(async (store) => {
          assert.deepEqual(await store.commit([eventsWrite("c", "a", 3, ev("x", 1))]), [conflictOutcome]);
          assert.deepEqual((await store.loadHistory("c", "a")).events, []);
        });
      });

      it("later-writes-of-a-batch-see-the-earlier-ones", async () => {
        await withStore(async (store) => {
          const outcomes = await store.commit([
            eventsWrite("c", "a", 0, ev("x", 1)),
            eventsWrite("c", "a", 1, ev("x", 2), ev("x", 3)),
            eventsWrite("c", "a", 1, ev("stale", 0)),
            kvWrite("k", "a", 0, { v: 1 }),
            kvWrite("k", "a", 1, { v: 2 }),
            kvWrite("k", "a", 1, { v: "stale" }),
          ]);
          assert.deepEqual(
            outcomes.map((o) => o.ok),
            [true, true, false, true, true, false],
          );
          assert.deepEqual((await store.loadHistory("c", "a")).events.map((e) => e.seq), [1, 2, 3]);
          assert.deepEqual(await store.loadKv("k", "a"), { version: 2, state: { v: 2 }, deleted: false });
        });
      });

      it("events-and-kv-of-one-write-stand-or-fall-together", async () => {
        await withStore(async (store) => {
          const outcomes = await store.commit([
            {
              component: "c",
              id: "a",
              events: { expectedSeq: 0, append: [ev("x", 1)] },
              kv: { expectedVersion: 7, state: "nope", deleted: false },
              dedup: [],
            },
          ]);
          assert.deepEqual(outcomes, [conflictOutcome]);
          assert.deepEqual((await store.loadHistory("c", "a")).events, []);
          assert.equal(await store.loadKv("c", "a"), undefined);
        });
      });

      it("an-empty-batch-has-no-outcomes", async () => {
        await withStore(async (store) => {
          assert.deepEqual(await store.commit([]), []);
        });
      });
    });

    describe("key-value", () => {
      it("kv-create-update-conflict-and-delete", async () => {
        await withStore(async (store) => {
          assert.equal(await store.loadKv("cart", "c1"), undefined);
          // The write's one feed entry (see ./contract-feed.ts) has a position.
          const [created] = await commitOk(store, [kvWrite("cart", "c1", 0, { items: ["a"] })]);
          assert.equal(created!.positions.length, 1);
          assert.deepEqual(await store.loadKv("cart", "c1"), { version: 1, state: { items: ["a"] }, deleted: false });

          await commitOk(store, [kvWrite("cart", "c1", 1, { items: ["a", "b"] })]);
          assert.deepEqual(await store.loadKv("cart", "c1"), { version: 2, state: { items: ["a", "b"] }, deleted: false });

          assert.deepEqual(await store.commit([kvWrite("cart", "c1", 1, { items: [] })]), [conflictOutcome]);
          assert.deepEqual(await store.commit([kvWrite("cart", "c1", 0, { items: [] })]), [conflictOutcome]);
          assert.deepEqual((await store.loadKv("cart", "c1"))?.state, { items: ["a", "b"] });

          await commitOk(store, [kvWrite("cart", "c1", 2, undefined, true)]);
          assert.deepEqual(await store.loadKv("cart", "c1"), { version: 3, state: undefined, deleted: true });

          // A deleted instance keeps counting versions, so a stale writer cannot revive it unseen.
          assert.deepEqual(await store.commit([kvWrite("cart", "c1", 0, { items: [] })]), [conflictOutcome]);
          await commitOk(store, [kvWrite("cart", "c1", 3, { items: ["c"] })]);
          assert.deepEqual(await store.loadKv("cart", "c1"), { version: 4, state: { items: ["c"] }, deleted: false });
        });
      });
    });

    describe("key-value listing", () => {
      it("list-kv-pages-through-one-components-current-records-by-id-deleted-ones-included", async () => {
        await withStore(async (store) => {
          const ids = ["b", "a", "Z", "é", "a-x", "😀", "aa"];
          await commitOk(store, ids.map((id, i) => kvWrite("cart", id, 0, { n: i })));
          await commitOk(store, [kvWrite("cart", "b", 1, { n: 10 }), kvWrite("cart", "aa", 1, undefined, true), kvWrite("other", "a", 0, 1)]);
          await commitOk(store, [eventsWrite("cart", "events-only", 0, ev("x", 1))]);
          const pages: Array<Array<{ id: string; version: number; state: unknown; deleted: boolean }>> = [];
          for (let after = ""; ;) {
            const page = await store.listKv("cart", after, 3);
            if (page.length === 0) break;
            pages.push(page);
            after = page.at(-1)!.id;
          }
          // Code-point order: "Z" < "a" < "a-x" < "aa" < "b" < "é" < "😀".
          assert.deepEqual(pages.map((p) => p.map((r) => r.id)), [["Z", "a", "a-x"], ["aa", "b", "é"], ["😀"]]);
          const all = pages.flat();
          assert.deepEqual(all.find((r) => r.id === "b"), { id: "b", version: 2, state: { n: 10 }, deleted: false });
          assert.deepEqual(all.find((r) => r.id === "aa"), { id: "aa", version: 2, state: undefined, deleted: true });
          assert.deepEqual(await store.listKv("cart", "", 0), []);
          assert.deepEqual(await store.listKv("nobody", "", 10), []);
        });
      });
    });

    describe("snapshots", () => {
      it("history-is-the-snapshot-and-only-the-events-after-it", async () => {
        await withStore(async (store) => {
          await commitOk(store, [
            {
              component: "c",
              id: "a",
              events: { expectedSeq: 0, append: [ev("x", 1), ev("x", 2), ev("x", 3)], snapshot: snap(3, { total: 6 }) },
              dedup: [],
            },
          ]);
          await commitOk(store, [eventsWrite("c", "a", 3, ev("x", 4), ev("x", 5))]);
          const history = await store.loadHistory("c", "a");
          assert.deepEqual(history.snapshot, { seq: 3, state: { total: 6 }, stateVersion: 0 });
          assert.deepEqual(history.events.map((e) => [e.seq, e.payload]), [[4, 4], [5, 5]]);
          // The events under the snapshot are still there for readers of the whole history.
          assert.equal((await store.readEvents("c", "a", 0, 100)).length, 5);
        });
      });

      it("a-later-snapshot-replaces-the-earlier", async () => {
        await withStore(async (store) => {
          await commitOk(store, [
            { component: "c", id: "a", events: { expectedSeq: 0, append: [ev("x", 1), ev("x", 2)], snapshot: snap(2, "two") }, dedup: [] },
          ]);
          await commitOk(store, [
            { component: "c", id: "a", events: { expectedSeq: 2, append: [ev("x", 3), ev("x", 4)], snapshot: snap(4, "four", 3) }, dedup: [] },
          ]);
          await commitOk(store, [eventsWrite("c", "a", 4, ev("x", 5))]);
          const history = await store.loadHistory("c", "a");
          // With the stateVersion it was taken under (the entity's fold then).
          assert.deepEqual(history.snapshot, { seq: 4, state: "four", stateVersion: 3 });
          assert.deepEqual(history.events.map((e) => e.seq), [5]);
        });
      });
    });

    describe("idempotency records", () => {
      it("dedup-records-are-stored-with-the-write-and-found", async () => {
        await withStore(async (store) => {
          const okReply: DedupRecord = dedup("k1", 1000, { ok: true, value: { balance: 5 } });
          const errReply: DedupRecord = dedup("k2", 1001, { ok: false, code: "insufficient_funds", message: "no" });
          await commitOk(store, [{ ...eventsWrite("wallet", "w1", 0, ev("x", 1)), dedup: [okReply, errReply] }]);
          assert.deepEqual(await store.findDedup("wallet", "w1", "k1"), okReply);
          assert.deepEqual(await store.findDedup("wallet", "w1", "k2"), errReply);
          assert.equal(await store.findDedup("wallet", "w1", "k3"), undefined);
          assert.equal(await store.findDedup("wallet", "w2", "k1"), undefined);

          // A write may carry only an idempotency record (a command that changed nothing).
          assert.deepEqual(await store.commit([{ component: "wallet", id: "w3", dedup: [dedup("k9", 1)] }]), [
            { ok: true, positions: [] },
          ]);
          assert.ok(await store.findDedup("wallet", "w3", "k9"));
        });
      });

      it("an-instances-dedup-records-are-listed-by-key-a-page-at-a-time", async () => {
        await withStore(async (store) => {
          // Keys compare by code point: "B" < "a" < "é" whatever the locale.
          const records = [dedup("a", 3), dedup("B", 1), dedup("é", 2, { ok: false, code: "refused", message: "no", status: 409 })];
          await commitOk(store, [{ ...eventsWrite("wallet", "w1", 0, ev("x", 1)), dedup: records }]);
          await commitOk(store, [{ component: "wallet", id: "w2", dedup: [dedup("a0", 4)] }, { component: "other", id: "w1", dedup: [dedup("a1", 4)] }]);
          assert.deepEqual(await store.listDedup("wallet", "w1", "", 10), [records[1], records[0], records[2]]);
          assert.deepEqual(await store.listDedup("wallet", "w1", "", 2), [records[1], records[0]]);
          assert.deepEqual(await store.listDedup("wallet", "w1", "a", 10), [records[2]]);
          assert.deepEqual(await store.listDedup("wallet", "w1", "é", 10), []);
          assert.deepEqual(await store.listDedup("wallet", "w1", "", 0), []);
          assert.deepEqual(await store.listDedup("wallet", "nobody", "", 10), []);
        });
      });

      it("a-known-dedup-key-makes-the-write-a-conflict-and-is-never-overwritten", async () => {
        await withStore(async (store) => {
          const original = dedup("k1", 1000, { ok: true, value: "first" });
          await commitOk(store, [{ ...eventsWrite("c", "a", 0, ev("x", 1)), dedup: [original] }]);

          const outcomes = await store.commit([
            { ...eventsWrite("c", "a", 1, ev("again", 2)), dedup: [dedup("k1", 2000, { ok: true, value: "second" })] },
            // The same key on another instance is another record.
            { ...eventsWrite("c", "b", 0, ev("x", 1)), dedup: [dedup("k1", 2000)] },
            // The same key twice in one batch: the second write conflicts with the first.
            { ...eventsWrite("c", "z", 0, ev("x", 1)), dedup: [dedup("k5", 2000)] },
            { ...eventsWrite("c", "z", 1, ev("x", 2)), dedup: [dedup("k5", 2001)] },
            // The same key twice in one write.
            { ...eventsWrite("c", "y", 0, ev("x", 1)), dedup: [dedup("k6", 2000), dedup("k6", 2001)] },
          ]);
          assert.deepEqual(
            outcomes.map((o) => o.ok),
            [false, true, true, false, false],
          );
          assert.deepEqual(await store.findDedup("c", "a", "k1"), original);
          assert.deepEqual((await store.loadHistory("c", "a")).events.map((e) => e.type), ["x"]);
          assert.equal((await store.findDedup("c", "z", "k5"))?.at, 2000);
          assert.equal((await store.loadHistory("c", "z")).events.length, 1);
          assert.equal(await store.findDedup("c", "y", "k6"), undefined);
          assert.equal((await store.loadHistory("c", "y")).events.length, 0);
        });
      });

      it("prune-dedup-removes-only-records-written-before-the-cutoff", async () => {
        await withStore(async (store) => {
          await commitOk(store, [
            { component: "c", id: "a", dedup: [dedup("old", 1000), dedup("edge", 2000)] },
            { component: "c", id: "b", dedup: [dedup("old", 1500), dedup("new", 3000)] },
          ]);
          assert.equal(await store.pruneDedup(2000), 2);
          assert.equal(await store.findDedup("c", "a", "old"), undefined);
          assert.equal(await store.findDedup("c", "b", "old"), undefined);
          assert.ok(await store.findDedup("c", "a", "edge"));
          assert.ok(await store.findDedup("c", "b", "new"));
          assert.equal(await store.pruneDedup(2000), 0);
          // A pruned key may be used again.
          await commitOk(store, [{ component: "c", id: "a", dedup: [dedup("old", 4000)] }]);
        });
      });
    });

    describe("values", () => {
      it("a-value-json-cannot-hold-rejects-the-whole-batch-and-keeps-nothing", async () => {
        await withStore(async (store) => {
          await assert.rejects(
            store.commit([
              { ...eventsWrite("c", "a", 0, ev("x", 1)), dedup: [dedup("k1", 1000)] },
              kvWrite("k", "a", 0, { fine: true }),
              eventsWrite("c", "b", 0, ev("bad", { amount: 10n })),
            ]),
          );
          assert.deepEqual(await store.loadHistory("c", "a"), { snapshot: undefined, events: [] });
          assert.equal(await store.findDedup("c", "a", "k1"), undefined);
          assert.equal(await store.loadKv("k", "a"), undefined);
          assert.deepEqual((await store.loadHistory("c", "b")).events, []);
          // The store is still usable and the instances still start from zero.
          await commitOk(store, [eventsWrite("c", "a", 0, ev("x", 1)), kvWrite("k", "a", 0, 1)]);
        });
      });

      it("values-round-trip-as-json", async () => {
        await withStore(async (store) => {
          const payload = { s: "zß😀\n\"", n: -1.5, big: Number.MAX_SAFE_INTEGER, t: true, nil: null, list: [1, "a", null, { deep: [[]] }] };
          await commitOk(store, [
            eventsWrite("c", "a", 0, ev("full", payload), ev("null", null), ev("none", undefined), ev("text", "plain")),
            kvWrite("k", "a", 0, null),
          ]);
          const events = (await store.loadHistory("c", "a")).events;
          assert.deepEqual(events[0]!.payload, payload);
          assert.equal(events[1]!.payload, null);
          assert.equal(events[2]!.payload, undefined);
          assert.equal(events[3]!.payload, "plain");
          assert.deepEqual(await store.loadKv("k", "a"), { version: 1, state: null, deleted: false });
        });
      });

      it("returned-and-given-values-are-copies", async () => {
        await withStore(async (store) => {
          const payload = { items: ["a"] };
          const state = { total: 1 };
          const reply: StoredReply = { ok: true, value: { items: ["a"] } };
          const record: DedupRecord = { key: "k1", requestHash: "h", reply, at: 1000 };
          const write: InstanceWrite = {
            component: "c",
            id: "a",
            events: { expectedSeq: 0, append: [ev("x", payload), ev("y", payload)], snapshot: snap(1, state) },
            kv: { expectedVersion: 0, state, deleted: false },
            dedup: [record],
          };
          await commitOk(store, [write]);
          // Mutating what was given after the commit changes nothing stored.
          payload.items.push("given");
          state.total = 99;
          (reply.value as { items: string[] }).items.push("given");

          const history = await store.loadHistory("c", "a");
          (history.events[0]!.payload as { items: string[] }).items.push("returned");
          (history.snapshot!.state as { total: number }).total = -1;
          const kv = await store.loadKv("c", "a");
          (kv!.state as { total: number }).total = -1;
          const found = await store.findDedup("c", "a", "k1");
          ((found!.reply as { value: { items: string[] } }).value.items).push("returned");
          const read = await store.readEvents("c", "a", 0, 10);
          (read[0]!.payload as { items: string[] }).items.push("returned");

          const again = await store.loadHistory("c", "a");
          assert.deepEqual(again.events[0]!.payload, { items: ["a"] });
          assert.deepEqual(again.snapshot!.state, { total: 1 });
          assert.deepEqual((await store.loadKv("c", "a"))!.state, { total: 1 });
          assert.deepEqual((await store.findDedup("c", "a", "k1"))!.reply, { ok: true, value: { items: ["a"] } });
          assert.deepEqual((await store.readEvents("c", "a", 0, 10))[0]!.payload, { items: ["a"] });
        });
      });
    });

    describe("lifecycle", () => {
      it("close-twice-is-harmless-and-a-closed-store-refuses-work", async () => {
        const store = await makeStore();
        await store.migrate();
        await store.close();
        await store.close();
        await assert.rejects(store.commit([eventsWrite("c", "a", 0, ev("x", 1))]));
        await assert.rejects(store.loadHistory("c", "a"));
        await assert.rejects(store.loadWorkflow("w", "a"));
        await assert.rejects(store.listWorkflows({ limit: 10 }));
      });
    });

    workflowContract(withStore);
    bucketContract(withStore);
    feedContract(withStore);
    timerContract(withStore);
    traceContract(withStore);
    togetherContract(withStore);
  });
}

function snap(seq: number, state: unknown, stateVersion = 0): Snapshot {
  return { seq, state, stateVersion };
}
