import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { wallet } from "../../../examples/bank/wallet.ts";
import { workflow } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/** A promise and its resolve, for a step that waits for the test. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/**
 * A retried step's call that an earlier attempt kept is answered from its record. On a busy
 * instance that answer need not wait for the queue: a compensation whose refund was kept, then
 * timed out on a hot wallet, used to time out again on every retry, waiting behind the wallet's
 * other commands for an answer already stored, until its saga stopped for an operator.
 */
describe("a retried step's call its earlier attempt kept", () => {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
  });

  it("is-answered-from-its-record-without-waiting-behind-a-busy-wallet's-queue", { timeout: 10_000 }, async () => {
    const holderMayEnd = gate();
    let attempts = 0;
    // Withdraws from a, deposits to b, then fails once: the withdrawal was kept (the deposit's call
    // committed it on its own), the deposit, held, was not.
    const flaky = workflow("flaky", {
      start: () => ({}),
      defaults: { retry: { maxAttempts: 2, initialBackoffMs: 1_000 } },
      steps: {
        pay: async (_s, _input, ctx) => {
          attempts++;
          await ctx.call(wallet, "a").withdraw({ amount: 10 });
          await ctx.call(wallet, "b").deposit({ amount: 10 });
          if (ctx.attempt === 1) throw new Error("fails once, after both calls");
          return ctx.end();
        },
      },
    });
    // Keeps wallet a busy: its call's write is held until its step ends.
    const holder = workflow("holder", {
      start: () => ({}),
      steps: {
        hold: async (_s, _input, ctx) => {
          await ctx.call(wallet, "a").deposit({ amount: 1 });
          await holderMayEnd.wait;
          return ctx.end();
        },
      },
    });
    // A clock that moves only when told: the retry waits for the test.
    const clock = new VirtualClock();
    const store = new MemoryStore();
    const rt = new Runtime({ store, components: [wallet, flaky, holder], clock, log: () => {} });
    runtimes.push(rt);
    await rt.start();
    await rt.call("wallet", "a", "create", { initialBalance: 100 });
    await rt.call("wallet", "b", "create", { initialBalance: 0 });

    await rt.call("flaky", "f1", "start", {});
    await until("the first attempt's failure", async () => (await store.loadWorkflow("flaky", "f1"))?.attempt === 1);
    // The holder's write is let go 50 ms after its call: it is made 10 ms before the retry is due.
    await clock.advance(990);
    await rt.call("holder", "h1", "start", {});
    await sleep(20); // the holder's step holds wallet a

    await clock.advance(10); // the retry
    const ended = await Promise.race([rt.workflowResult("flaky", "f1", 2_000).then((view) => view.status), sleep(2_000, "still waiting")]);
    assert.equal(ended, "ended", "the retry's withdrawal was answered from its record while wallet a was held");
    assert.equal(attempts, 2);

    holderMayEnd.open();
    assert.equal((await rt.workflowResult("holder", "h1", 5_000)).status, "ended");
    assert.deepEqual(await rt.call("wallet", "a", "balance", {}), { balance: 91 }, "withdrawn once");
    assert.deepEqual(await rt.call("wallet", "b", "balance", {}), { balance: 10 }, "deposited once");
  });
});
