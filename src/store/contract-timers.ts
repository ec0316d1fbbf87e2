/**
 * The timer part of the store contract. `storeContract` (./contract.ts) registers it for every
 * adapter; it speaks only through the port.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { WithStore } from "./contract-support.ts";
import type { NewTimer, Store, TimerRecord } from "./port.ts";

/** Registers the timer tests; call inside the adapter's `describe`. */
export function timerContract(withStore: WithStore): void {
  describe("timers", () => {
    it("put-starts-a-timer-at-generation-1-and-a-put-of-the-same-name-replaces-it", async () => {
      await withStore(async (store) => {
        const first = newTimer("remind:o1", 5_000, { input: { order: "o1" }, createdAt: 1_000 });
        const created = await store.putTimer(first);
        assert.deepEqual(created, { ...first, generation: 1, attempts: 0, status: "pending", lastError: null });
        assert.deepEqual(await store.listTimers(undefined, 10), [created]);

        await store.retryTimer("remind:o1", 1, { dueAt: 9_000, attempts: 3, status: "parked", lastError: { code: "down", message: "m" } });
        const second = newTimer("remind:o1", 7_000, {
          component: "shipping", id: "s9", handler: "nudge", input: [1, 2], createdAt: 2_000,
        });
        const replaced = await store.putTimer(second);
        // Everything new, the firing history gone, the generation one up.
        assert.deepEqual(replaced, { ...second, generation: 2, attempts: 0, status: "pending", lastError: null });
        assert.deepEqual(await store.listTimers(undefined, 10), [replaced]);
        assert.equal((await store.putTimer(second)).generation, 3);
        // Another name is another timer.
        assert.equal((await store.putTimer(newTimer("remind:o2", 1))).generation, 1);
        assert.equal((await store.listTimers(undefined, 10)).length, 2);
      });
    });

    it("cancel-removes-a-timer-in-any-state", async () => {
      await withStore(async (store) => {
        await store.putTimer(newTimer("a", 100));
        await store.putTimer(newTimer("b", 200));
        await store.retryTimer("b", 1, { dueAt: 300, attempts: 10, status: "parked", lastError: { code: "x", message: "y" } });
        assert.equal(await store.cancelTimer("a"), true);
        assert.equal(await store.cancelTimer("a"), false);
        assert.equal(await store.cancelTimer("b"), true);
        assert.equal(await store.cancelTimer("nobody"), false);
        assert.deepEqual(await store.listTimers(undefined, 10), []);
        assert.equal(await store.nextTimerDue(), undefined);
      });
    });

    it("due-timers-are-the-pending-ones-due-by-now-earliest-first", async () => {
      await withStore(async (store) => {
        for (const [name, dueAt] of [["late", 500], ["c", 200], ["b", 100], ["a", 100], ["sick", 50], ["d", 300]] as const) {
          await store.putTimer(newTimer(name, dueAt));
        }
        await store.retryTimer("sick", 1, { dueAt: 50, attempts: 10, status: "parked", lastError: { code: "x", message: "y" } });
        const names = (list: TimerRecord[]) => list.map((t) => t.name);

        assert.deepEqual(names(await store.dueTimers(99, 10)), []);
        // Due at exactly `now` is due; equal due times in name order.
        assert.deepEqual(names(await store.dueTimers(100, 10)), ["a", "b"]);
        assert.deepEqual(names(await store.dueTimers(250, 10)), ["a", "b", "c"]);
        assert.deepEqual(names(await store.dueTimers(10_000, 2)), ["a", "b"]);
        assert.deepEqual(names(await store.dueTimers(10_000, 100)), ["a", "b", "c", "d", "late"]);
        assert.deepEqual(await store.dueTimers(10_000, 0), []);
        // A retry moves the due time.
        await store.retryTimer("a", 1, { dueAt: 400, attempts: 1, status: "pending", lastError: { code: "x", message: "y" } });
        assert.deepEqual(names(await store.dueTimers(400, 100)), ["b", "c", "d", "a"]);
        const [b] = await store.dueTimers(100, 1);
        assert.deepEqual(b, (await store.listTimers("pending", 1))[0]);
      });
    });

    it("next-timer-due-is-the-earliest-pending-and-ignores-parked", async () => {
      await withStore(async (store) => {
        assert.equal(await store.nextTimerDue(), undefined);
        await store.putTimer(newTimer("sick", 50));
        await store.putTimer(newTimer("b", 200));
        await store.putTimer(newTimer("a", 100));
        assert.equal(await store.nextTimerDue(), 50);
        await store.retryTimer("sick", 1, { dueAt: 10, attempts: 10, status: "parked", lastError: { code: "x", message: "y" } });
        assert.equal(await store.nextTimerDue(), 100);
        await store.finishTimers([{ name: "a", generation: 1 }]);
        assert.equal(await store.nextTimerDue(), 200);
        await store.cancelTimer("b");
        assert.equal(await store.nextTimerDue(), undefined);
      });
    });

    it("finish-and-retry-ignore-a-stale-generation", async () => {
      await withStore(async (store) => {
        await store.putTimer(newTimer("t", 100));
        const current = await store.putTimer(newTimer("t", 200, { input: "second" }));
        assert.equal(current.generation, 2);

        // The firing of generation 1 ends after the timer was restarted: it changes nothing.
        await store.finishTimers([{ name: "t", generation: 1 }]);
        await store.retryTimer("t", 1, { dueAt: 999, attempts: 4, status: "parked", lastError: { code: "old", message: "old" } });
        assert.deepEqual(await store.listTimers(undefined, 10), [current]);

        const change = { dueAt: 300.5, attempts: 1, status: "pending" as const, lastError: { code: "down", message: "try later" } };
        await store.retryTimer("t", 2, change);
        const retried = { ...current, ...change };
        assert.deepEqual(await store.listTimers(undefined, 10), [retried]);
        await store.finishTimers([{ name: "t", generation: 3 }]);
        assert.deepEqual(await store.listTimers(undefined, 10), [retried]);
        await store.finishTimers([{ name: "t", generation: 2 }]);
        assert.deepEqual(await store.listTimers(undefined, 10), []);

        // Unknown names are no error.
        await store.finishTimers([{ name: "nobody", generation: 1 }]);
        await store.retryTimer("nobody", 1, change);
        assert.deepEqual(await store.listTimers(undefined, 10), []);
      });
    });

    it("list-timers-by-status-ordered-by-due-time", async () => {
      await withStore(async (store) => {
        for (const [name, dueAt] of [["p3", 300], ["k2", 250], ["p1", 100], ["k1", 150], ["p2", 200]] as const) {
          await store.putTimer(newTimer(name, dueAt));
        }
        const lastError = { code: "x", message: "y" };
        await store.retryTimer("k1", 1, { dueAt: 150, attempts: 10, status: "parked", lastError });
        await store.retryTimer("k2", 1, { dueAt: 250, attempts: 10, status: "parked", lastError });
        const names = (list: TimerRecord[]) => list.map((t) => t.name);

        assert.deepEqual(names(await store.listTimers(undefined, 100)), ["p1", "k1", "p2", "k2", "p3"]);
        assert.deepEqual(names(await store.listTimers(undefined, 3)), ["p1", "k1", "p2"]);
        assert.deepEqual(names(await store.listTimers("pending", 100)), ["p1", "p2", "p3"]);
        assert.deepEqual(names(await store.listTimers("parked", 100)), ["k1", "k2"]);
        assert.deepEqual(names(await store.listTimers("parked", 1)), ["k1"]);
        assert.deepEqual(await store.listTimers(undefined, 0), []);
        const [k1] = await store.listTimers("parked", 1);
        assert.deepEqual(k1, { ...newTimer("k1", 150), generation: 1, attempts: 10, status: "parked", lastError });
      });
    });

    it("timer-values-round-trip-as-json-and-are-copies", async () => {
      await withStore(async (store) => {
        const input = { s: "zß😀", list: [1, null, { deep: [[]] }] as unknown[] };
        const given = newTimer("t", 1_000.25, { input });
        await store.putTimer(given);
        await store.putTimer(newTimer("none", 2_000, { input: undefined }));
        await store.putTimer(newTimer("null", 3_000, { input: null }));
        input.list.push("given");

        const [t, none, nul] = await store.listTimers(undefined, 10);
        assert.deepEqual(t!.input, { s: "zß😀", list: [1, null, { deep: [[]] }] });
        assert.equal(t!.dueAt, 1_000.25);
        assert.equal(none!.input, undefined);
        assert.equal(nul!.input, null);
        (t!.input as { list: unknown[] }).list.push("returned");
        t!.generation = 99;
        const again = await store.listTimers(undefined, 1);
        assert.deepEqual(again[0]!.input, { s: "zß😀", list: [1, null, { deep: [[]] }] });
        assert.equal(again[0]!.generation, 1);

        // What JSON cannot hold is refused and nothing is stored.
        await assert.rejects(store.putTimer(newTimer("bad", 1, { input: { n: 1n } })));
        assert.deepEqual((await store.listTimers(undefined, 10)).map((x) => x.name), ["t", "none", "null"]);
      });
    });
  });

  describe("timer lifecycle", () => {
    it("a-closed-store-refuses-timer-work", async () => {
      let closed: Store | undefined;
      await withStore(async (store) => {
        closed = store;
      });
      await assert.rejects(closed!.putTimer(newTimer("t", 1)));
      await assert.rejects(closed!.dueTimers(0, 10));
    });
  });
}

function newTimer(name: string, dueAt: number, over: Partial<NewTimer> = {}): NewTimer {
  return { name, dueAt, component: "order", id: "o1", handler: "remind", input: { n: 1 }, createdAt: 1_000, ...over };
}
