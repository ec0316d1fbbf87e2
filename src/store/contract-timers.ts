/**
 * The timer part of the store contract. `storeContract` (./contract.ts) registers it for every
 * adapter; it speaks only through the port.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { allBuckets, timerBucket } from "./buckets.ts";
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

    it("timers-list-in-pages-by-due-time-then-name-each-page-after-the-last-one-of-the-page-before", async () => {
      await withStore(async (store) => {
        for (const [name, dueAt] of [["c", 200], ["b", 100], ["a:1", 100], ["a", 100], ["sick", 150], ["d", 300]] as const) {
          await store.putTimer(newTimer(name, dueAt));
        }
        await store.retryTimer("sick", 1, { dueAt: 150, attempts: 10, status: "parked", lastError: { code: "x", message: "y" } });
        const names = (list: TimerRecord[]) => list.map((t) => t.name);
        const all: string[] = [];
        for (let after: TimerRecord | undefined; ; ) {
          const page = await store.listTimers(undefined, 2, after && { dueAt: after.dueAt, name: after.name });
          all.push(...names(page));
          if (page.length < 2) break;
          after = page.at(-1);
        }
        assert.deepEqual(all, ["a", "a:1", "b", "sick", "c", "d"]);
        assert.deepEqual(names(await store.listTimers("pending", 10, { dueAt: 100, name: "a:1" })), ["b", "c", "d"]);
        assert.deepEqual(names(await store.listTimers("parked", 10, { dueAt: 150, name: "sick" })), []);
        assert.deepEqual(names(await store.listTimers("parked", 10, { dueAt: 150, name: "sic" })), ["sick"]);
      });
    });

    it("a-timer-keeps-the-call-key-it-was-started-with-and-a-restart-without-one-drops-it", async () => {
      await withStore(async (store) => {
        const keyed = await store.putTimer(newTimer("k", 100, { callKey: "timer:wf:order:o1:1:timer:k" }));
        assert.equal(keyed.callKey, "timer:wf:order:o1:1:timer:k");
        assert.equal((await store.dueTimers(100, 10, allBuckets))[0]?.callKey, "timer:wf:order:o1:1:timer:k");
        const plain = await store.putTimer(newTimer("k", 200));
        assert.equal(plain.callKey, undefined);
        assert.equal((await store.listTimers(undefined, 10))[0]?.callKey, undefined);
      });
    });

    it("unpark-makes-only-a-parked-timer-pending-again", async () => {
      await withStore(async (store) => {
        await store.putTimer(newTimer("sick", 100));
        await store.putTimer(newTimer("well", 200));
        const lastError = { code: "invalid_input", message: "refused" };
        await store.retryTimer("sick", 1, { dueAt: 300, attempts: 10, status: "parked", lastError });
        assert.equal(await store.unparkTimer("well", 50), undefined, "a pending timer is not parked");
        assert.equal(await store.unparkTimer("nobody", 50), undefined);
        const again = await store.unparkTimer("sick", 50);
        assert.deepEqual(again && [again.status, again.dueAt, again.attempts, again.generation, again.lastError], ["pending", 50, 0, 1, lastError]);
        assert.deepEqual((await store.dueTimers(60, 10, allBuckets)).map((t) => t.name), ["sick"]);
        assert.equal(await store.unparkTimer("sick", 70), undefined, "pending now");
        assert.equal((await store.listTimers(undefined, 10)).find((t) => t.name === "well")?.dueAt, 200);
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
        assert.equal(await store.nextTimerDue(allBuckets), undefined);
      });
    });

    it("due-timers-are-the-pending-ones-due-by-now-earliest-first", async () => {
      await withStore(async (store) => {
        for (const [name, dueAt] of [["late", 500], ["c", 200], ["b", 100], ["a", 100], ["sick", 50], ["d", 300]] as const) {
          await store.putTimer(newTimer(name, dueAt));
        }
        await store.retryTimer("sick", 1, { dueAt: 50, attempts: 10, status: "parked", lastError: { code: "x", message: "y" } });
        const names = (list: TimerRecord[]) => list.map((t) => t.name);

        assert.deepEqual(names(await store.dueTimers(99, 10, allBuckets)), []);
        // Due at exactly `now` is due; equal due times in name order.
        assert.deepEqual(names(await store.dueTimers(100, 10, allBuckets)), ["a", "b"]);
        assert.deepEqual(names(await store.dueTimers(250, 10, allBuckets)), ["a", "b", "c"]);
        assert.deepEqual(names(await store.dueTimers(10_000, 2, allBuckets)), ["a", "b"]);
        assert.deepEqual(names(await store.dueTimers(10_000, 100, allBuckets)), ["a", "b", "c", "d", "late"]);
        assert.deepEqual(await store.dueTimers(10_000, 0, allBuckets), []);
        // A retry moves the due time.
        await store.retryTimer("a", 1, { dueAt: 400, attempts: 1, status: "pending", lastError: { code: "x", message: "y" } });
        assert.deepEqual(names(await store.dueTimers(400, 100, allBuckets)), ["b", "c", "d", "a"]);
        const [b] = await store.dueTimers(100, 1, allBuckets);
        assert.deepEqual(b, (await store.listTimers("pending", 1))[0]);
      });
    });

    it("next-timer-due-is-the-earliest-pending-and-ignores-parked", async () => {
      await withStore(async (store) => {
        assert.equal(await store.nextTimerDue(allBuckets), undefined);
        await store.putTimer(newTimer("sick", 50));
        await store.putTimer(newTimer("b", 200));
        await store.putTimer(newTimer("a", 100));
        assert.equal(await store.nextTimerDue(allBuckets), 50);
        await store.retryTimer("sick", 1, { dueAt: 10, attempts: 10, status: "parked", lastError: { code: "x", message: "y" } });
        assert.equal(await store.nextTimerDue(allBuckets), 100);
        await store.finishTimers([{ name: "a", generation: 1 }]);
        assert.equal(await store.nextTimerDue(allBuckets), 200);
        await store.cancelTimer("b");
        assert.equal(await store.nextTimerDue(allBuckets), undefined);
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

  describe("timers by bucket", () => {
    /** 200 timers over every bucket, due at 1..200; every tenth parked. */
    async function fill(store: Store): Promise<Array<{ name: string; bucket: number; dueAt: number; parked: boolean }>> {
      const made = [];
      for (let n = 1; n <= 200; n++) {
        const name = `remind:order-${n}`;
        await store.putTimer(newTimer(name, n));
        const parked = n % 10 === 0;
        if (parked) await store.retryTimer(name, 1, { dueAt: n, attempts: 10, status: "parked", lastError: { code: "x", message: "y" } });
        made.push({ name, bucket: timerBucket(name), dueAt: n, parked });
      }
      assert.equal(new Set(made.map((t) => t.bucket)).size, allBuckets.length, "the names spread over every bucket");
      return made;
    }

    it("due-timers-of-some-buckets-are-exactly-theirs-earliest-first", async () => {
      await withStore(async (store) => {
        const made = await fill(store);
        for (const buckets of [[0], [7], [3, 11], [15, 0, 4]]) {
          const want = made.filter((t) => buckets.includes(t.bucket) && !t.parked && t.dueAt <= 150).map((t) => t.name);
          assert.deepEqual((await store.dueTimers(150, 1_000, buckets)).map((t) => t.name), want, `buckets ${buckets.join(",")}`);
          assert.deepEqual((await store.dueTimers(150, 3, buckets)).map((t) => t.name), want.slice(0, 3), `buckets ${buckets.join(",")}, 3`);
        }
        assert.deepEqual(await store.dueTimers(1_000, 10, []), []);
      });
    });

    it("the-next-timer-due-is-the-earliest-pending-of-the-buckets", async () => {
      await withStore(async (store) => {
        const made = await fill(store);
        for (const bucket of allBuckets) {
          const first = made.find((t) => t.bucket === bucket && !t.parked);
          assert.equal(await store.nextTimerDue([bucket]), first?.dueAt, `bucket ${bucket}`);
        }
        assert.equal(await store.nextTimerDue(allBuckets), 1);
        assert.equal(await store.nextTimerDue([]), undefined);
      });
    });

    it("a-timer-keeps-its-bucket-when-started-again", async () => {
      await withStore(async (store) => {
        const name = "remind:order-7";
        const bucket = timerBucket(name);
        await store.putTimer(newTimer(name, 5));
        await store.putTimer(newTimer(name, 9));
        assert.deepEqual((await store.dueTimers(10, 10, [bucket])).map((t) => [t.name, t.generation]), [[name, 2]]);
        assert.deepEqual(await store.dueTimers(10, 10, allBuckets.filter((b) => b !== bucket)), []);
      });
    });

    it("finishing-without-fences-removes-every-fired-timer-and-reports-no-bucket-lost", async () => {
      await withStore(async (store) => {
        const made = await fill(store);
        const fired = made.filter((t) => !t.parked).slice(0, 30).map((t) => ({ name: t.name, generation: 1 }));
        assert.deepEqual(await store.finishTimers(fired), []);
        assert.equal((await store.listTimers(undefined, 1_000)).length, 170);
      });
    });

    it("a-bucket-out-of-range-is-refused", async () => {
      await withStore(async (store) => {
        await assert.rejects(store.dueTimers(0, 10, [16]), RangeError);
        await assert.rejects(store.nextTimerDue([-1]), RangeError);
        await assert.rejects(store.dueTimers(0, 10, [1.5]), RangeError);
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
      await assert.rejects(closed!.dueTimers(0, 10, allBuckets));
    });
  });
}

function newTimer(name: string, dueAt: number, over: Partial<NewTimer> = {}): NewTimer {
  return { name, dueAt, component: "order", id: "o1", handler: "remind", input: { n: 1 }, createdAt: 1_000, ...over };
}
