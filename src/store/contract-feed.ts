/**
 * The change feed and consumer part of the store contract. `storeContract` (./contract.ts)
 * registers it for every adapter; it speaks only through the port.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { commitOk, conflictOutcome, dedup, ev, eventsWrite, kvWrite, transitionOf, workflowWrite, type WithStore } from "./contract-support.ts";
import type { FeedEntry, ParkedMessage, Store, WorkflowRecord } from "./port.ts";

/** Registers the feed and consumer tests; call inside the adapter's `describe`. */
export function feedContract(withStore: WithStore): void {
  describe("change feed", () => {
    it("kv-and-workflow-writes-add-feed-entries-in-commit-order", async () => {
      await withStore(async (store) => {
        const before = Date.now();
        const first = await commitOk(store, [
          kvWrite("cart", "c1", 0, { items: ["a"] }),
          eventsWrite("wallet", "w1", 0, ev("opened", { balance: 5 }), ev("deposited", { amount: 2 })),
          workflowWrite("transfer", "t1", 0, record({ step: "withdraw", state: { n: 1 } })),
        ]);
        const second = await commitOk(store, [
          workflowWrite("transfer", "t1", 1, record({ status: "ended", step: "deposit", state: { n: 2 } })),
          kvWrite("cart", "c1", 1, { items: ["a", "b"] }),
          kvWrite("cart", "c1", 2, { items: "ignored" }, true),
          // An entity's deletion marker is an event like any other.
          eventsWrite("wallet", "w1", 2, ev("$deleted", null)),
        ]);
        const after = Date.now();

        const feed = await store.readFeed(0, 100);
        assert.deepEqual(feed.map(withoutPositionAndAt), [
          { component: "cart", id: "c1", seq: 1, type: "$state", payload: { items: ["a"] } },
          { component: "wallet", id: "w1", seq: 1, type: "opened", payload: { balance: 5 } },
          { component: "wallet", id: "w1", seq: 2, type: "deposited", payload: { amount: 2 } },
          { component: "transfer", id: "t1", seq: 1, type: "$state", payload: { status: "running", step: "withdraw", state: { n: 1 } } },
          { component: "transfer", id: "t1", seq: 2, type: "$state", payload: { status: "ended", step: "deposit", state: { n: 2 } } },
          { component: "cart", id: "c1", seq: 2, type: "$state", payload: { items: ["a", "b"] } },
          { component: "cart", id: "c1", seq: 3, type: "$deleted", payload: null },
          { component: "wallet", id: "w1", seq: 3, type: "$deleted", payload: null },
        ]);
        // Every write reports the positions of its entries, and they are the feed's order.
        assert.deepEqual(first.map((o) => o.positions.length), [1, 2, 1]);
        assert.deepEqual(second.map((o) => o.positions.length), [1, 1, 1, 1]);
        assert.deepEqual(feed.map((e) => e.position), [...first, ...second].flatMap((o) => o.positions));
        assertAscending(feed.map((e) => e.position));
        for (const e of feed) assert.ok(e.at >= before && e.at <= after, "at is the commit time");

        // An entity's entries are its stored events, as they are.
        const history = await store.loadHistory("wallet", "w1");
        assert.deepEqual(
          history.events,
          feed.filter((e) => e.component === "wallet").map(({ component: _c, id: _i, ...event }) => event),
        );
      });
    });

    it("a-write-with-events-kv-and-workflow-adds-the-events-then-the-kv-state-then-the-workflow-state", async () => {
      await withStore(async (store) => {
        const [outcome] = await commitOk(store, [
          {
            component: "order",
            id: "o1",
            events: { expectedSeq: 0, append: [ev("placed", 1), ev("paid", 2)] },
            kv: { expectedVersion: 0, state: "kv", deleted: false },
            workflow: { expectedVersion: 0, record: record({ state: "wf" }), transition: transitionOf(record(), "started") },
            dedup: [],
          },
        ]);
        const feed = await store.readFeed(0, 100);
        assert.deepEqual(feed.map((e) => e.position), outcome!.positions);
        assert.deepEqual(feed.map((e) => [e.seq, e.type, e.payload]), [
          [1, "placed", 1],
          [2, "paid", 2],
          [1, "$state", "kv"],
          [1, "$state", { status: "running", step: "withdraw", state: "wf" }],
        ]);
      });
    });

    it("feed-payloads-round-trip-as-json", async () => {
      await withStore(async (store) => {
        await commitOk(store, [
          kvWrite("k", "null", 0, null),
          kvWrite("k", "none", 0, undefined),
          // Deleted: the payload is null whatever the state given.
          kvWrite("k", "gone", 0, undefined, true),
          workflowWrite("w", "bare", 0, record({ status: "paused", step: null, state: undefined })),
        ]);
        const feed = await store.readFeed(0, 100);
        assert.deepEqual(feed.map((e) => [e.id, e.type, e.payload]), [
          ["null", "$state", null],
          ["none", "$state", undefined],
          ["gone", "$deleted", null],
          // A state of undefined is left out, as JSON leaves it out.
          ["bare", "$state", { status: "paused", step: null }],
        ]);
      });
    });

    it("conflicting-and-refused-writes-add-no-feed-entries", async () => {
      await withStore(async (store) => {
        await commitOk(store, [
          { ...eventsWrite("wallet", "w1", 0, ev("x", 1)), dedup: [dedup("k1", 1000)] },
          kvWrite("cart", "c1", 0, 1),
          workflowWrite("transfer", "t1", 0, record()),
        ]);
        const head = await store.feedHead();
        const outcomes = await store.commit([
          eventsWrite("wallet", "w1", 0, ev("stale", 1)),
          kvWrite("cart", "c1", 0, "stale"),
          workflowWrite("transfer", "t1", 0, record({ status: "failed" })),
          { ...eventsWrite("wallet", "w1", 1, ev("repeat", 1)), dedup: [dedup("k1", 1000)] },
          // A write of events, kv and workflow where only the kv part is stale: none of it.
          { ...workflowWrite("transfer", "t2", 0, record()), kv: { expectedVersion: 4, state: 1, deleted: false } },
          // Accepted, but with nothing to feed: a dedup record alone.
          { component: "wallet", id: "w1", dedup: [dedup("k2", 1000)] },
          kvWrite("cart", "c1", 1, "fresh"),
        ]);
        assert.deepEqual(outcomes.map((o) => o.ok), [false, false, false, false, false, true, true]);
        assert.deepEqual(outcomes[5], { ok: true, positions: [] });
        const added = await store.readFeed(head, 100);
        assert.deepEqual(added.map((e) => [e.component, e.id, e.seq, e.payload]), [["cart", "c1", 2, "fresh"]]);
        const fresh = outcomes[6]!;
        assert.deepEqual(added.map((e) => e.position), fresh.ok ? fresh.positions : []);

        // A batch rejected as a whole adds nothing either.
        const headBefore = await store.feedHead();
        await assert.rejects(store.commit([kvWrite("cart", "c1", 2, "fine"), kvWrite("cart", "c2", 0, { n: 1n })]));
        assert.equal(await store.feedHead(), headBefore);
        assert.deepEqual(await store.readFeed(headBefore, 100), []);
      });
    });

    it("read-feed-honours-after-limit-and-components", async () => {
      await withStore(async (store) => {
        // wallet, cart, transfer, wallet, cart, wallet, transfer, cart
        await commitOk(store, [
          eventsWrite("wallet", "w1", 0, ev("x", 1)),
          kvWrite("cart", "c1", 0, 2),
          workflowWrite("transfer", "t1", 0, record()),
        ]);
        await commitOk(store, [eventsWrite("wallet", "w2", 0, ev("x", 4)), kvWrite("cart", "c1", 1, 5)]);
        await commitOk(store, [
          eventsWrite("wallet", "w1", 1, ev("x", 6)),
          workflowWrite("transfer", "t1", 1, record()),
          kvWrite("cart", "c2", 0, 8),
        ]);
        const all = await store.readFeed(0, 100);
        assert.equal(all.length, 8);
        assertAscending(all.map((e) => e.position));
        const p = all.map((e) => e.position);
        const positions = (entries: FeedEntry[]) => entries.map((e) => e.position);

        assert.deepEqual(positions(await store.readFeed(p[2]!, 2)), [p[3], p[4]]);
        assert.deepEqual(positions(await store.readFeed(p[7]!, 10)), []);
        assert.deepEqual(positions(await store.readFeed(p[6]!, 10)), [p[7]]);
        assert.deepEqual(await store.readFeed(0, 0), []);
        assert.deepEqual(await store.readFeed(0, -1), []);
        assert.deepEqual(await store.readFeed(p[0]!, 3), all.slice(1, 4));

        // By component: only theirs, still in position order, the limit over all of them.
        assert.deepEqual(positions(await store.readFeed(0, 100, ["wallet"])), [p[0], p[3], p[5]]);
        assert.deepEqual(positions(await store.readFeed(p[0]!, 100, ["wallet"])), [p[3], p[5]]);
        assert.deepEqual(positions(await store.readFeed(0, 2, ["cart"])), [p[1], p[4]]);
        assert.deepEqual(positions(await store.readFeed(0, 100, ["cart", "wallet"])), [p[0], p[1], p[3], p[4], p[5], p[7]]);
        assert.deepEqual(positions(await store.readFeed(0, 3, ["transfer", "cart"])), [p[1], p[2], p[4]]);
        assert.deepEqual(positions(await store.readFeed(p[1]!, 3, ["transfer", "cart"])), [p[2], p[4], p[6]]);
        assert.deepEqual(positions(await store.readFeed(0, 100, ["cart", "cart"])), [p[1], p[4], p[7]]);
        assert.deepEqual(await store.readFeed(0, 100, ["nobody"]), []);
        // An empty list of components matches nothing.
        assert.deepEqual(await store.readFeed(0, 100, []), []);
        assert.deepEqual(await store.readFeed(0, 0, ["cart"]), []);
        // The entries come whole, as the unfiltered read gives them.
        assert.deepEqual(await store.readFeed(0, 100, ["transfer"]), [all[2], all[6]]);
      });
    });

    it("feed-head-is-the-highest-position-or-0", async () => {
      await withStore(async (store) => {
        assert.equal(await store.feedHead(), 0);
        const [a] = await commitOk(store, [eventsWrite("c", "a", 0, ev("x", 1), ev("x", 2))]);
        assert.equal(await store.feedHead(), a!.positions[1]);
        const [k] = await commitOk(store, [kvWrite("k", "a", 0, 1)]);
        assert.equal(await store.feedHead(), k!.positions[0]);
        await store.commit([kvWrite("k", "a", 0, 2)]);
        assert.equal(await store.feedHead(), k!.positions[0]);
      });
    });

    it("entity-history-stays-right-when-kv-and-workflow-writes-interleave", async () => {
      await withStore(async (store) => {
        // Writes of all kinds interleaved, some on the very same (component, id) as the entity.
        await commitOk(store, [
          eventsWrite("wallet", "w1", 0, ev("opened", 10)),
          kvWrite("cart", "w1", 0, "cart-1"),
          kvWrite("wallet", "w1", 0, "kv-1"),
          workflowWrite("wallet", "w1", 0, record({ state: "wf-1" })),
        ]);
        await commitOk(store, [
          workflowWrite("transfer", "w1", 0, record()),
          kvWrite("wallet", "w1", 1, "kv-2"),
          eventsWrite("wallet", "w1", 1, ev("deposited", 5), ev("deposited", 6)),
          workflowWrite("wallet", "w1", 1, record({ state: "wf-2" })),
        ]);
        // The entity's own count of events decides its conflicts: kv and workflow versions do not count.
        assert.deepEqual(await store.commit([eventsWrite("wallet", "w1", 5, ev("late", 0))]), [conflictOutcome]);
        await commitOk(store, [
          {
            component: "wallet",
            id: "w1",
            events: { expectedSeq: 3, append: [ev("withdrawn", 1)], snapshot: { seq: 4, state: { balance: 20 }, stateVersion: 0 } },
            kv: { expectedVersion: 2, state: "kv-3", deleted: false },
            dedup: [],
          },
        ]);
        await commitOk(store, [kvWrite("wallet", "w1", 3, undefined, true), eventsWrite("wallet", "w1", 4, ev("withdrawn", 2))]);

        const read = await store.readEvents("wallet", "w1", 0, 100);
        assert.deepEqual(read.map((e) => [e.seq, e.type, e.payload]), [
          [1, "opened", 10],
          [2, "deposited", 5],
          [3, "deposited", 6],
          [4, "withdrawn", 1],
          [5, "withdrawn", 2],
        ]);
        assert.deepEqual((await store.readEvents("wallet", "w1", 3, 1)).map((e) => e.seq), [4]);
        const history = await store.loadHistory("wallet", "w1");
        assert.deepEqual(history.snapshot, { seq: 4, state: { balance: 20 }, stateVersion: 0 });
        assert.deepEqual(history.events, read.slice(4));
        // The events are the wallet's entity events in the feed, as they are.
        const feed = await store.readFeed(0, 100, ["wallet"]);
        const eventPositions = new Set(read.map((e) => e.position));
        assert.deepEqual(
          feed.filter((e) => eventPositions.has(e.position)).map(({ component: _c, id: _i, ...e }) => e),
          read,
        );
        assert.equal(feed.length, 5 + 4 + 2); // events, kv states, workflow states

        // And the other kinds on the same (component, id) are what they were written as.
        assert.deepEqual(await store.loadKv("wallet", "w1"), { version: 4, state: undefined, deleted: true });
        assert.equal((await store.loadWorkflow("wallet", "w1"))?.state, "wf-2");
        assert.deepEqual(await store.readEvents("cart", "w1", 0, 10), []);
        assert.deepEqual(await store.loadHistory("transfer", "w1"), { snapshot: undefined, events: [] });
      });
    });

    it("returned-feed-entries-are-copies", async () => {
      await withStore(async (store) => {
        const state = { items: ["a"] };
        await commitOk(store, [kvWrite("cart", "c1", 0, state), eventsWrite("c", "a", 0, ev("x", state))]);
        state.items.push("given");
        const feed = await store.readFeed(0, 10);
        for (const e of feed) (e.payload as { items: string[] }).items.push("returned");
        feed[0]!.seq = 99;
        const again = await store.readFeed(0, 10, ["cart", "c"]);
        assert.deepEqual(again.map((e) => [e.seq, e.payload]), [[1, { items: ["a"] }], [1, { items: ["a"] }]]);
      });
    });
  });

  describe("consumers", () => {
    it("an-offset-starts-at-0-and-never-goes-down", async () => {
      await withStore(async (store) => {
        assert.equal(await store.loadOffset("audit"), 0);
        assert.deepEqual(await store.listOffsets(), []);
        await store.commitConsumer("audit", 5, []);
        assert.equal(await store.loadOffset("audit"), 5);
        await store.commitConsumer("audit", 3, []);
        assert.equal(await store.loadOffset("audit"), 5);
        await store.commitConsumer("audit", 9, []);
        assert.equal(await store.loadOffset("audit"), 9);
        await store.commitConsumer("billing", 2, []);
        assert.equal(await store.loadOffset("nobody"), 0);
        assert.deepEqual(await store.listOffsets(), [
          { consumer: "audit", position: 9 },
          { consumer: "billing", position: 2 },
        ]);
      });
    });

    it("parked-messages-are-stored-with-the-offset", async () => {
      await withStore(async (store) => {
        const entries = await seedFeed(store);
        const failed = parked("audit", entries[0]!, null, { attempts: 5 });
        const held = parked("audit", entries[2]!, entries[0]!.position);
        await store.commitConsumer("audit", entries[3]!.position, [failed, held]);
        assert.equal(await store.loadOffset("audit"), entries[3]!.position);
        assert.deepEqual(await store.listParked("audit", 10), [failed, held]);

        // Parked with an offset below the stored one: the messages are kept, the offset stays.
        const late = parked("audit", entries[1]!, null);
        await store.commitConsumer("audit", entries[1]!.position, [late]);
        assert.equal(await store.loadOffset("audit"), entries[3]!.position);
        assert.deepEqual(await store.listParked("audit", 10), [failed, late, held]);
        // In pages: after a position, at most `limit`.
        assert.deepEqual(await store.listParked("audit", 1, failed.entry.position), [late]);
        assert.deepEqual(await store.listParked("audit", 10, late.entry.position), [held]);
        assert.deepEqual(await store.listParked("audit", 10, held.entry.position), []);
      });
    });

    it("a-consumer-commit-that-fails-keeps-neither-messages-nor-offset", async () => {
      await withStore(async (store) => {
        const entries = await seedFeed(store);
        await store.commitConsumer("audit", 1, [parked("audit", entries[0]!, null)]);
        const before = await store.listParked(undefined, 10);

        const unstorable = parked("audit", { ...entries[2]!, payload: { n: 1n } }, null);
        await assert.rejects(
          store.commitConsumer("audit", entries[3]!.position, [parked("audit", entries[1]!, null), unstorable], [entries[0]!.position]),
        );
        // A message of another consumer is refused, not filed under either.
        await assert.rejects(
          store.commitConsumer("audit", entries[3]!.position, [parked("audit", entries[1]!, null), parked("billing", entries[2]!, null)]),
          /billing/,
        );
        assert.equal(await store.loadOffset("audit"), 1);
        assert.deepEqual(await store.listParked(undefined, 10), before);
        assert.deepEqual(await store.listOffsets(), [{ consumer: "audit", position: 1 }]);
      });
    });

    it("a-consumer-commit-removes-then-parks-in-one-go", async () => {
      await withStore(async (store) => {
        const entries = await seedFeed(store);
        const head = parked("audit", entries[0]!, null, { attempts: 5 });
        const held = [parked("audit", entries[1]!, entries[0]!.position), parked("audit", entries[2]!, entries[0]!.position)];
        await store.commitConsumer("audit", entries[3]!.position, [head, ...held]);

        // A retry of the head: it went through, the first held one failed and is the new head.
        const newHead = parked("audit", entries[1]!, null, { attempts: 5, code: "again" });
        const stillHeld = parked("audit", entries[2]!, entries[1]!.position);
        await store.commitConsumer("audit", entries[3]!.position, [newHead, stillHeld], [
          entries[0]!.position,
          entries[1]!.position,
          entries[2]!.position,
        ]);
        assert.deepEqual(await store.listParked("audit", 10), [newHead, stillHeld]);

        // Parking a position parked before replaces it.
        const again = parked("audit", entries[1]!, null, { attempts: 7, code: "third" });
        await store.commitConsumer("audit", 0, [again]);
        assert.deepEqual(await store.listParked("audit", 10), [again, stillHeld]);
        assert.equal(await store.loadOffset("audit"), entries[3]!.position);
      });
    });

    it("parked-messages-list-by-consumer-then-position-and-remove-only-those-named", async () => {
      await withStore(async (store) => {
        const entries = await seedFeed(store);
        const [e0, e1, e2, e3] = entries as [FeedEntry, FeedEntry, FeedEntry, FeedEntry];
        await store.commitConsumer("b", 0, [parked("b", e3, null), parked("b", e0, null)]);
        await store.commitConsumer("a", 0, [parked("a", e2, null), parked("a", e1, null)]);
        await store.commitConsumer("ab", 0, [parked("ab", e0, null)]);
        const key = (list: ParkedMessage[]) => list.map((p) => `${p.consumer}@${p.entry.position}`);
        const at = (c: string, e: FeedEntry) => `${c}@${e.position}`;

        assert.deepEqual(key(await store.listParked(undefined, 100)), [at("a", e1), at("a", e2), at("ab", e0), at("b", e0), at("b", e3)]);
        assert.deepEqual(key(await store.listParked(undefined, 3)), [at("a", e1), at("a", e2), at("ab", e0)]);
        assert.deepEqual(key(await store.listParked("b", 100)), [at("b", e0), at("b", e3)]);
        assert.deepEqual(key(await store.listParked("a", 1)), [at("a", e1)]);
        assert.deepEqual(await store.listParked("nobody", 100), []);
        assert.deepEqual(await store.listParked(undefined, 0), []);

        await store.removeParked("b", [e0.position, 999_999]);
        await store.removeParked("a", []);
        await store.removeParked("nobody", [e0.position]);
        assert.deepEqual(key(await store.listParked(undefined, 100)), [at("a", e1), at("a", e2), at("ab", e0), at("b", e3)]);
        await store.removeParked("a", [e1.position, e2.position]);
        assert.deepEqual(key(await store.listParked(undefined, 100)), [at("ab", e0), at("b", e3)]);
        // Removing parked messages leaves the offsets be.
        assert.deepEqual(await store.listOffsets(), [
          { consumer: "a", position: 0 },
          { consumer: "ab", position: 0 },
          { consumer: "b", position: 0 },
        ]);
      });
    });

    it("parked-messages-given-and-returned-are-copies", async () => {
      await withStore(async (store) => {
        const [entry] = await seedFeed(store);
        const message = parked("audit", entry!, null);
        const expected = structuredClone(message);
        await store.commitConsumer("audit", 1, [message]);
        (message.entry.payload as { n: number }).n = 99;
        message.error.code = "given";
        message.attempts = 42;
        const [listed] = await store.listParked("audit", 1);
        (listed!.entry.payload as { n: number }).n = -1;
        listed!.error.message = "returned";
        assert.deepEqual(await store.listParked("audit", 1), [expected]);
      });
    });
  });

  describe("feed and consumer lifecycle", () => {
    it("a-closed-store-refuses-feed-and-consumer-work", async () => {
      let closed: Store | undefined;
      await withStore(async (store) => {
        closed = store;
      });
      await assert.rejects(closed!.readFeed(0, 10));
      await assert.rejects(closed!.feedHead());
      await assert.rejects(closed!.commitConsumer("c", 1, []));
      await assert.rejects(closed!.listParked(undefined, 10));
    });
  });
}

function record(over: Partial<WorkflowRecord> = {}): WorkflowRecord {
  return {
    status: "running",
    step: "withdraw",
    stepInput: { amount: 10 },
    state: { amount: 10 },
    attempt: 0,
    execId: 1,
    dueAt: null,
    deadlineAt: null,
    lastError: null,
    startHash: "hash-of-start",
    startReply: null,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    ...over,
  };
}

function parked(
  consumer: string,
  entry: FeedEntry,
  blockedBy: number | null,
  over: { attempts?: number; code?: string } = {},
): ParkedMessage {
  return {
    consumer,
    entry,
    error: { code: over.code ?? (blockedBy === null ? "unavailable" : "held"), message: "it failed" },
    attempts: over.attempts ?? (blockedBy === null ? 5 : 0),
    parkedAt: 1_700_000_000_000,
    blockedBy,
  };
}

/** Four feed entries to park: events of wallet/w1, a cart state, a workflow state. */
async function seedFeed(store: Store): Promise<FeedEntry[]> {
  await commitOk(store, [
    eventsWrite("wallet", "w1", 0, ev("opened", { n: 1 }), ev("deposited", { n: 2 })),
    kvWrite("cart", "c1", 0, { n: 3 }),
    workflowWrite("transfer", "t1", 0, record()),
  ]);
  const entries = await store.readFeed(0, 100);
  assert.equal(entries.length, 4);
  return entries;
}

function withoutPositionAndAt({ position: _p, at: _a, ...rest }: FeedEntry): Omit<FeedEntry, "position" | "at"> {
  return rest;
}

function assertAscending(positions: number[]): void {
  assert.ok(positions.every((p) => Number.isInteger(p) && p > 0), `${positions}`);
  for (let i = 1; i < positions.length; i++) assert.ok(positions[i]! > positions[i - 1]!, `${positions}`);
}
