import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { wallet } from "../../../examples/bank/wallet.ts";
import { workflow } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import type { Store } from "../../store/port.ts";
import { Runtime } from "../runtime.ts";
import { wrapStore } from "../test-support.ts";
import { journalComponent } from "./journal.ts";
import { openPayerAndPayee, payerAndPayeeBalances } from "./wallets-test-support.ts";

/** Withdraws 4 from the payer and deposits it to the payee; attempt 1 fails after both calls, attempt 2 before them. */
const flaky = workflow("flaky-reads", {
  start: () => ({}),
  defaults: { retry: { maxAttempts: 3, initialBackoffMs: 1 } },
  steps: {
    pay: async (_s, _input, ctx) => {
      if (ctx.attempt === 2) throw new Error("attempt 2 fails before its calls");
      await ctx.call(wallet, "payer").withdraw({ amount: 4 });
      await ctx.call(wallet, "payee").deposit({ amount: 4 });
      if (ctx.attempt === 1) throw new Error("attempt 1 fails after both calls");
      return ctx.end();
    },
  },
});

/** Withdraws more than the payer has: the wallet refuses, the refusal fails the step, and a refusal is not retried. */
const overdraw = workflow("overdraw", {
  start: () => ({}),
  steps: {
    take: async (_s, _input, ctx) => {
      await ctx.call(wallet, "payer").withdraw({ amount: 100 });
      return ctx.end();
    },
  },
});

/** The store reads that this file counts, each as `what component/id key`. */
function countingReads(inner: MemoryStore, reads: string[]): Store {
  return wrapStore(inner, {
    findDedup: (component, id, key) => {
      reads.push(`record ${component}/${id} ${key}`);
      return inner.findDedup(component, id, key);
    },
    listDedup: (component, id, afterKey, limit) => {
      if (component === journalComponent) reads.push(`journal ${id} ${afterKey}`);
      return inner.listDedup(component, id, afterKey, limit);
    },
    readEvents: (component, id, afterSeq, limit) => {
      reads.push(`events ${component}/${id}`);
      return inner.readEvents(component, id, afterSeq, limit);
    },
    loadHistory: (component, id) => {
      reads.push(`history ${component}/${id}`);
      return inner.loadHistory(component, id);
    },
  });
}

/**
 * A step execution's first run, on the node that decided it, reads nothing an earlier run could
 * have left: no run before it sent its calls' keys or journaled anything. Its retries read both,
 * since the first may have kept part.
 */
describe("a step execution's first run", () => {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
  });

  async function started(reads: string[]): Promise<Runtime> {
    const rt = new Runtime({ store: countingReads(new MemoryStore(), reads), components: [wallet, flaky, overdraw], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    await openPayerAndPayee(rt);
    reads.length = 0;
    return rt;
  }

  it("reads-no-call's-record-nor-its-journal-and-its-retries-read-both-and-withdraw-once", async () => {
    const reads: string[] = [];
    const rt = await started(reads);
    await rt.call(flaky.name, "t1", "start", {});
    assert.equal((await rt.workflowResult(flaky.name, "t1", 5_000)).status, "ended");
    const withdrawal = "record wallet/payer wf:flaky-reads:t1:1:0";
    const deposit = "record wallet/payee wf:flaky-reads:t1:1:1";
    assert.deepEqual(
      reads.filter((read) => !read.startsWith("events ")),
      ["journal flaky-reads/t1 wf:flaky-reads:t1:1:", withdrawal, deposit],
      "attempt 1 reads nothing; attempt 2, failing with nothing kept of its own, reads the journal; attempt 3 looks both calls up",
    );
    assert.deepEqual(
      reads.filter((read) => read.startsWith("events ")),
      ["events wallet/payee"],
      "the payee's copy, behind since attempt 1 dropped its deposit, is brought up to date",
    );
    // Attempt 1 kept the withdrawal (it committed alone when the deposit was called); its retries found it.
    assert.deepEqual(await payerAndPayeeBalances(rt), [6, 4]);
  });

  it("refused-by-its-entity-leaves-that-entity's-copy-current:-its-next-call-reads-nothing", async () => {
    const reads: string[] = [];
    const rt = await started(reads);
    await rt.call(overdraw.name, "o1", "start", {});
    assert.equal((await rt.workflowResult(overdraw.name, "o1", 5_000)).status, "failed");
    assert.deepEqual(await payerAndPayeeBalances(rt), [10, 0]);
    assert.deepEqual(reads, [], "the refusal's write, dropped with its step, changed nothing the wallet's copy holds");
  });
});
