import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { entity } from "../define/entity.ts";
import { saga } from "../define/saga.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { Runtime } from "./runtime.ts";

/**
 * A rolling deploy: a node running newer code writes an event type the older node has no handler
 * for. The older node cannot load that entity — which is not the fault of the step or query that
 * met it: a query gets 503 `unknown_event_type` (not 500), a saga step tries again without using
 * an attempt, and no saga is refunded or rejected for it.
 */

type Account = { balance: number };
const events = {
  opened: (_s: Account, e: { balance: number }) => ({ balance: e.balance }),
  withdrawn: (s: Account, e: { amount: number }) => ({ balance: s.balance - e.amount }),
};
const commands = {
  open: (_s: Account, c: { balance: number }, fx: any) => fx.emit("opened", c).reply(true),
  withdraw: (_s: Account, c: { amount: number }, fx: any) => fx.emit("withdrawn", c).reply(true),
};
const older = entity("account", { initial: (): Account => ({ balance: 0 }), events }, { commands, queries: { balance: (s, _q: {}, fx) => fx.reply(s.balance) } });
const newer = entity(
  "account",
  { initial: (): Account => ({ balance: 0 }), events: { ...events, noted: (s: Account, _e: { note: string }) => s } },
  { commands: { ...commands, note: (_s: Account, c: { note: string }, fx: any) => fx.emit("noted", c).reply(true) }, queries: {} },
);
const pay = saga("pay", {
  start: (input: { from: string }) => input,
  steps: [{ name: "withdraw", run: (s, ctx) => ctx.call(older, s.from).withdraw({ amount: 1 }) }],
  retry: { maxAttempts: 2, initialBackoffMs: 10 },
});

describe("an event type this node's code has no handler for", () => {
  it("is-a-503-for-a-query-and-no-failure-of-a-saga-step-which-tries-again-using-no-attempt", { timeout: 30_000 }, async () => {
    const store = new MemoryStore();
    const oldNode = new Runtime({ store, components: [older, pay], log: () => {} });
    const newNode = new Runtime({ store, components: [newer], log: () => {} });
    await oldNode.start();
    await newNode.start();
    try {
      await newNode.call("account", "a", "open", { balance: 10 });
      await newNode.call("account", "a", "note", { note: "from the newer code" });
      await assert.rejects(oldNode.call("account", "a", "balance", {}), (error: { code?: string; status?: number }) => {
        assert.deepEqual([error.code, error.status], ["unknown_event_type", 503]);
        return true;
      });
      await oldNode.call("pay", "p1", "start", { from: "a" });
      const deadline = Date.now() + 10_000;
      while ((await store.loadWorkflow("pay", "p1"))?.lastError?.code !== "unknown_event_type") {
        if (Date.now() > deadline) throw new Error(`p1 never met the unknown event: ${JSON.stringify(await store.loadWorkflow("pay", "p1"))}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const record = (await store.loadWorkflow("pay", "p1"))!;
      assert.deepEqual([record.status, record.step, record.attempt], ["running", "withdraw", 0], "no attempt used, nothing compensated");
      assert.ok(record.dueAt !== null && record.dueAt >= Date.now() + 3_000, "tried again in a few seconds, not at once");
    } finally {
      await oldNode.stop();
      await newNode.stop();
    }
  });
});
