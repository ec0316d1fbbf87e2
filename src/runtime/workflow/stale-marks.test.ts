import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { wallet } from "../../../examples/bank/wallet.ts";
import { workflow } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { Runtime } from "../runtime.ts";
import { journalComponent } from "./journal.ts";

/**
 * A step's call kept on its own commits its journal mark (`{call key}:kept`) in the same write. A
 * mark already stored under that key — left by an earlier version, where a refused write could
 * leave its mark behind, or outliving its call's record under retention — used to make the call's
 * write a conflict, on every try: the step could never succeed.
 */
describe("a journal mark left from before", () => {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
  });

  it("under-a-call's-key-neither-refuses-the-call-nor-is-overwritten", async () => {
    const store = new MemoryStore();
    // The second call commits the first call's held write on its own, with its mark.
    const twoCalls = workflow("two-calls", {
      start: () => ({}),
      steps: {
        pay: async (_s, _input, ctx) => {
          await ctx.call(wallet, "a").withdraw({ amount: 10 });
          await ctx.call(wallet, "b").deposit({ amount: 10 });
          return ctx.end();
        },
      },
    });
    const rt = new Runtime({ store, components: [wallet, twoCalls], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    await rt.call("wallet", "a", "create", { initialBalance: 100 });
    await rt.call("wallet", "b", "create", { initialBalance: 0 });
    const markKey = "wf:two-calls:t1:1:0:kept";
    const left = { key: markKey, requestHash: "kept", reply: { ok: true as const, value: { step: "pay", left: "from before" } }, at: 1 };
    await store.commit([{ component: journalComponent, id: "two-calls/t1", dedup: [left] }]);

    await rt.call("two-calls", "t1", "start", {});
    const result = await rt.workflowResult("two-calls", "t1", 5_000);
    assert.equal(result.status, "ended", JSON.stringify(result));
    assert.deepEqual(await rt.call("wallet", "a", "balance", {}), { balance: 90 });
    assert.deepEqual(await rt.call("wallet", "b", "balance", {}), { balance: 10 });
    assert.deepEqual((await store.findDedup(journalComponent, "two-calls/t1", markKey))?.reply, left.reply, "the mark from before, as it was");
  });
});
