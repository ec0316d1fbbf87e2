/**
 * The trace part of the store contract: span contexts (W3C traceparent text) kept with feed
 * entries, workflow records and timers, so that work done after a restart or on another node joins
 * or links to the trace of the command that caused it. `storeContract` (./contract.ts) registers it.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { commitOk, ev, eventsWrite, kvWrite, workflowWrite, type WithStore } from "./contract-support.ts";
import { allBuckets } from "./buckets.ts";
import type { WorkflowRecord } from "./port.ts";

const traceA = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const traceB = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const traceC = "00-4bf92f3577b34da6a3ce929d0e0e4736-53995c3f42cd8ad8-00";

const record = (over: Partial<WorkflowRecord> = {}): WorkflowRecord => ({
  status: "running", step: "withdraw", stepInput: null, state: { n: 1 }, attempt: 0, execId: 1, dueAt: null, deadlineAt: null,
  lastError: null, startHash: "h", startReply: null, createdAt: 1_000, updatedAt: 1_000, ...over,
});

/** Registers the trace tests; call inside the adapter's `describe`. */
export function traceContract(withStore: WithStore): void {
  describe("trace contexts", () => {
    it("feed-entries-keep-the-trace-of-their-event-or-else-of-their-write-and-untraced-ones-have-none", async () => {
      await withStore(async (store) => {
        const events = eventsWrite("c", "a", 0, { ...ev("one", 1), trace: traceA }, ev("two", 2));
        await commitOk(store, [{ ...events, trace: traceB }, { ...kvWrite("k", "x", 0, { v: 1 }), trace: traceC }, eventsWrite("c", "b", 0, ev("plain", 3))]);
        const feed = await store.readFeed(0, 10);
        assert.deepEqual(feed.map((e) => [e.type, e.trace]), [["one", traceA], ["two", traceB], ["$state", traceC], ["plain", undefined]]);
        assert.ok(!("trace" in feed[3]!), "an untraced entry has no trace field");
        assert.deepEqual((await store.readFeed(0, 10, ["k"])).map((e) => e.trace), [traceC]);
      });
    });

    it("a-workflow-keeps-the-trace-of-its-start-through-later-writes-and-its-feed-entries-carry-it", async () => {
      await withStore(async (store) => {
        await commitOk(store, [workflowWrite("transfer", "t1", 0, record({ trace: traceA }))]);
        // A later record that names no trace (written by code that dropped it) keeps the stored one.
        await commitOk(store, [workflowWrite("transfer", "t1", 1, record({ step: "deposit", updatedAt: 2_000 }))]);
        await commitOk(store, [{ ...workflowWrite("transfer", "t1", 2, record({ step: "done", updatedAt: 3_000, trace: traceA })), trace: traceB }]);
        assert.equal((await store.loadWorkflow("transfer", "t1"))?.trace, traceA);
        assert.equal((await store.listWorkflows({ name: "transfer", limit: 10 }))[0]?.trace, traceA);
        // Step writes link to the workflow's trace; a command's write to the command's.
        assert.deepEqual((await store.readFeed(0, 10)).map((e) => e.trace), [traceA, undefined, traceB]);
        await commitOk(store, [workflowWrite("transfer", "t2", 0, record())]);
        assert.ok(!("trace" in (await store.loadWorkflow("transfer", "t2"))!), "an untraced workflow has no trace field");
      });
    });

    it("a-timer-keeps-the-trace-of-the-work-that-started-it-and-a-restart-of-the-name-replaces-it", async () => {
      await withStore(async (store) => {
        const timer = { name: "remind", dueAt: 100, component: "c", id: "a", handler: "nudge", input: null, createdAt: 1 };
        assert.equal((await store.putTimer({ ...timer, trace: traceA })).trace, traceA);
        assert.equal((await store.dueTimers(100, 10, allBuckets))[0]?.trace, traceA);
        const replaced = await store.putTimer(timer);
        assert.ok(!("trace" in replaced), "the new generation was started untraced");
        assert.equal((await store.listTimers("pending", 10))[0]?.trace, undefined);
      });
    });
  });
}
