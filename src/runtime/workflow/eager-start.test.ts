import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { wallet } from "../../../examples/bank/wallet.ts";
import { workflow, type WorkflowDefinition } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import type { InstanceWrite, Store } from "../../store/port.ts";
import { Runtime } from "../runtime.ts";
import { VirtualClock } from "../clock.ts";
import { wrapStore } from "../test-support.ts";

/** A promise and its resolve, for a step that waits for the test. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** What one commit wrote: `wallet/a+transfer/t1` for a write committed together with another. */
function describeCommit(writes: InstanceWrite[]): string {
  return writes.map((w) => [w, ...(w.together ?? [])].map((x) => `${x.component}/${x.id}`).join("+")).join(",");
}

/** Withdraws 30 from `from` and deposits it to `to`, or back to `from` when that deposit is refused. */
const pay = (eagerStart: boolean) =>
  workflow(eagerStart ? "pay-eager" : "pay", {
    eagerStart,
    start: (input: { from: string; to: string }) => input,
    steps: {
      withdraw: async (s, _input, ctx) => {
        await ctx.call(wallet, s.from).withdraw({ amount: 30 });
        return ctx.transitionTo("deposit");
      },
      deposit: async (s, _input, ctx) => {
        try {
          await ctx.call(wallet, s.to).deposit({ amount: 30 });
          return ctx.end();
        } catch {
          return ctx.transitionTo("refund");
        }
      },
      refund: async (s, _input, ctx) => {
        await ctx.call(wallet, s.from).deposit({ amount: 30 });
        return ctx.end();
      },
    },
  });

/** WorkflowOptions.eagerStart: the first step runs before the start commits, and commits with it. */
describe("an eager start", () => {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
  });

  async function start(components: WorkflowDefinition[], store: Store = new MemoryStore(), clock?: VirtualClock) {
    const commits: string[] = [];
    const lookups: string[] = [];
    const counted = wrapStore(store, {
      commit: (writes) => {
        commits.push(describeCommit(writes));
        return store.commit(writes);
      },
      findDedup: (component, id, key) => {
        lookups.push(key);
        return store.findDedup(component, id, key);
      },
    });
    const rt = new Runtime({ store: counted, components: [wallet, ...components], log: () => {}, ...(clock ? { clock } : {}) });
    runtimes.push(rt);
    await rt.start();
    await rt.call("wallet", "a", "create", { initialBalance: 100 });
    await rt.call("wallet", "b", "create", { initialBalance: 0 });
    commits.length = 0;
    lookups.length = 0;
    return { rt, commits, lookups };
  }

  async function balances(rt: Runtime) {
    return [await rt.call("wallet", "a", "balance", {}), await rt.call("wallet", "b", "balance", {})];
  }

  it("commits-the-start-with-its-steps'-calls-and-transitions-as-one-write", async () => {
    const eager = await start([pay(true)]);
    await eager.rt.call("pay-eager", "t1", "start", { from: "a", to: "b" });
    assert.equal((await eager.rt.workflowResult("pay-eager", "t1", 5_000)).status, "ended");
    assert.deepEqual(eager.commits, ["pay-eager/t1+pay-eager/t1+wallet/a+pay-eager/t1+wallet/b"], "the start, then each step's call and transition");
    assert.deepEqual(eager.lookups, [], "a start presumed new: its calls' keys were never sent");
    assert.deepEqual(await balances(eager.rt), [{ balance: 70 }, { balance: 30 }]);

    // Without the option the start commits on its own first: one commit more.
    const plain = await start([pay(false)]);
    await plain.rt.call("pay", "t1", "start", { from: "a", to: "b" });
    assert.equal((await plain.rt.workflowResult("pay", "t1", 5_000)).status, "ended");
    assert.deepEqual(plain.commits, ["pay/t1", "pay/t1+wallet/a", "pay/t1+wallet/b"]);
    assert.deepEqual(plain.lookups, [], "each step's first run on the node that decided it: its calls' keys were never sent");
  });

  it("keeps-nothing-when-its-one-commit-fails-and-a-retried-start-withdraws-once", async () => {
    const inner = new MemoryStore();
    let failNext = true;
    const store = wrapStore(inner, {
      commit: (writes) => {
        if (failNext && writes.some((w) => w.component === "pay-eager")) {
          failNext = false;
          return Promise.reject(new Error("disk full"));
        }
        return inner.commit(writes);
      },
    });
    const { rt } = await start([pay(true)], store);
    await assert.rejects(rt.call("pay-eager", "t1", "start", { from: "a", to: "b" }), /disk full/);
    assert.equal(await inner.loadWorkflow("pay-eager", "t1"), undefined, "no workflow was kept");
    assert.deepEqual(await balances(rt), [{ balance: 100 }, { balance: 0 }], "nor the withdrawal");

    assert.deepEqual(await rt.call("pay-eager", "t1", "start", { from: "a", to: "b" }), { status: "started" });
    assert.equal((await rt.workflowResult("pay-eager", "t1", 5_000)).status, "ended");
    assert.deepEqual(await balances(rt), [{ balance: 70 }, { balance: 30 }]);
  });

  it("repeated-on-a-stored-instance-with-nothing-cached-keeps-nothing-of-its-step", async () => {
    const store = new MemoryStore();
    const first = await start([pay(true)], wrapStore(store, { close: async () => {} }));
    await first.rt.call("pay-eager", "t1", "start", { from: "a", to: "b" });
    assert.equal((await first.rt.workflowResult("pay-eager", "t1", 5_000)).status, "ended");
    await first.rt.stop();
    const stored = await store.loadWorkflow("pay-eager", "t1");

    // A new runtime presumes the instance new and runs the step: its commit meets the stored one.
    const rt = new Runtime({ store, components: [wallet, pay(true)], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    assert.deepEqual(await rt.call("pay-eager", "t1", "start", { from: "a", to: "b" }), { status: "started" });
    assert.deepEqual(await store.loadWorkflow("pay-eager", "t1"), stored);
    assert.deepEqual(await balances(rt), [{ balance: 70 }, { balance: 30 }], "withdrawn once");
  });

  it("commits-the-start-alone-before-the-step-makes-anything-durable-on-its-own", async () => {
    const inner = new MemoryStore();
    const seenByRun: Array<string | undefined> = [];
    const twoCallsAndRun = workflow("busy", {
      eagerStart: true,
      start: (input: { from: string; to: string }) => input,
      steps: {
        first: async (s, _input, ctx) => {
          await ctx.call(wallet, s.from).withdraw({ amount: 30 });
          // The second call commits the first one's write alone: the start must be durable by then.
          await ctx.call(wallet, s.to).deposit({ amount: 30 });
          await ctx.run("look", async () => seenByRun.push((await inner.loadWorkflow("busy", "t1"))?.step ?? undefined));
          return ctx.end();
        },
      },
    });
    const { rt, commits } = await start([twoCallsAndRun], inner);
    await rt.call("busy", "t1", "start", { from: "a", to: "b" });
    assert.equal((await rt.workflowResult("busy", "t1", 5_000)).status, "ended");
    assert.equal(commits[0], "busy/t1", "the start first, alone");
    assert.equal(commits[1], "wallet/a+$journal/busy/t1", "then the call it held, with the journal's mark that it was kept on its own (one write, all or none)");
    assert.deepEqual(seenByRun, ["first"], "ctx.run ran with the start stored");
    assert.deepEqual(await balances(rt), [{ balance: 70 }, { balance: 30 }]);
  });

  // On a clock that never moves, the budget never commits the start: a step that waited for an
  // instance its own start holds, or two starts each waiting for what the other holds, would hang.
  it("commits-what-it-holds-before-a-call-waits-for-an-instance-it-holds-itself", { timeout: 10_000 }, async () => {
    const { rt, commits } = await start([pay(true)], new MemoryStore(), new VirtualClock());
    await rt.call("pay-eager", "t1", "start", { from: "a", to: "nobody" });
    assert.equal((await rt.workflowResult("pay-eager", "t1", 5_000)).status, "ended");
    assert.deepEqual(commits, ["pay-eager/t1+pay-eager/t1+wallet/a+pay-eager/t1+wallet/nobody", "pay-eager/t1+wallet/a"], "the refund's call to the wallet the start holds commits the start first");
    assert.deepEqual(await balances(rt), [{ balance: 100 }, { balance: 0 }]);
  });

  it("two-starts-each-calling-next-what-the-other-holds-both-end", { timeout: 10_000 }, async () => {
    const { rt } = await start([pay(true)], new MemoryStore(), new VirtualClock());
    await rt.call("wallet", "b", "deposit", { amount: 100 });
    await Promise.all([rt.call("pay-eager", "ab", "start", { from: "a", to: "b" }), rt.call("pay-eager", "ba", "start", { from: "b", to: "a" })]);
    for (const id of ["ab", "ba"]) {
      const result = await rt.workflowResult("pay-eager", id, 5_000);
      assert.equal(result.status, "ended", JSON.stringify(result));
    }
    assert.deepEqual(await balances(rt), [{ balance: 100 }, { balance: 100 }]);
  });

  // The call must wait for its start to be durable; the commands queued with it need not. It used
  // to wait inside the wallet's turn: the turn decided only once the start was durable, and
  // committed in the group commit after the start's, not in the same one.
  it("whose-call-finds-its-wallet-busy-waits-for-the-start's-commit-without-holding-up-the-wallet's-other-commands", { timeout: 10_000 }, async () => {
    const inner = new MemoryStore();
    const walletA = gate();
    const walletACommitting = gate();
    let holdWalletA = false;
    const gated = wrapStore(inner, {
      commit: async (writes) => {
        if (holdWalletA && writes.some((w) => w.component === "wallet" && w.id === "a")) {
          walletACommitting.open();
          await walletA.wait;
        }
        return inner.commit(writes);
      },
    });
    // A clock that never moves: the start's 50 ms budget never commits it.
    const { rt, commits } = await start([pay(true)], gated, new VirtualClock());
    holdWalletA = true;
    const first = rt.call("wallet", "a", "deposit", { amount: 1 }); // wallet a busy: its commit waits
    await walletACommitting.wait;
    const started = rt.call("pay-eager", "t1", "start", { from: "a", to: "b" }); // its withdrawal queues behind
    await new Promise((resolve) => setTimeout(resolve, 30));
    const behind = rt.call("wallet", "a", "deposit", { amount: 1 }); // queued after the withdrawal
    holdWalletA = false;
    walletA.open();
    await Promise.all([first, started, behind]);
    assert.equal((await rt.workflowResult("pay-eager", "t1", 5_000)).status, "ended");
    assert.deepEqual(
      commits,
      ["wallet/a", "pay-eager/t1,wallet/a", "pay-eager/t1+wallet/a", "pay-eager/t1+wallet/b"],
      "the command behind the withdrawal commits in the start's group commit (not in a turn that waited for it), then the withdrawal, held alone, with its step",
    );
    assert.deepEqual(await balances(rt), [{ balance: 72 }, { balance: 30 }]);
  });

  it("whose-prefix-meets-a-moved-bucket-commits-the-start-alone-and-answers-it", async () => {
    const inner = new MemoryStore();
    let fenced = 0;
    // The first commit of the start with a step is refused as fenced: the bucket moved meanwhile.
    const store = wrapStore(inner, {
      commit: (writes) => {
        if (fenced === 0 && writes.some((w) => w.component === "then-run" && (w.together?.length ?? 0) > 0)) {
          fenced++;
          return Promise.resolve(writes.map(() => ({ ok: false as const, reason: "fenced" as const })));
        }
        return inner.commit(writes);
      },
    });
    const thenRun = workflow("then-run", {
      eagerStart: true,
      start: (input: { from: string }) => input,
      steps: {
        withdraw: async (s, _input, ctx) => {
          await ctx.call(wallet, s.from).withdraw({ amount: 30 });
          return ctx.transitionTo("note");
        },
        // ctx.run commits what came before it first: the start and the withdrawal.
        note: async (_s, _input, ctx) => {
          await ctx.run("note", () => "noted");
          return ctx.end();
        },
      },
    });
    const { rt } = await start([thenRun], store);
    assert.deepEqual(await rt.call("then-run", "t1", "start", { from: "a" }), { status: "started" });
    assert.equal(fenced, 1);
    assert.equal((await rt.workflowResult("then-run", "t1", 5_000)).status, "ended");
    assert.deepEqual(await rt.call("wallet", "a", "balance", {}), { balance: 70 }, "withdrawn once: the fenced commit kept nothing");
  });

  it("started-by-another-eager-start's-first-step-commits-after-that-start", async () => {
    const child = workflow("child", {
      eagerStart: true,
      start: () => ({}),
      steps: {
        take: async (_s, _input, ctx) => {
          await ctx.call(wallet, "a").withdraw({ amount: 30 });
          return ctx.end();
        },
      },
    });
    const parent = workflow("parent", {
      eagerStart: true,
      start: () => ({}),
      steps: {
        spawn: async (_s, _input, ctx) => {
          await ctx.call(child, "c1").start({});
          return ctx.end();
        },
      },
    });
    const { rt, commits } = await start([child, parent]);
    await rt.call("parent", "p1", "start", {});
    assert.equal((await rt.workflowResult("parent", "p1", 5_000)).status, "ended");
    assert.equal((await rt.workflowResult("child", "c1", 5_000)).status, "ended");
    assert.deepEqual(commits.slice(0, 2), ["parent/p1", "child/c1+child/c1+wallet/a+$journal/parent/p1"], "the parent's start is durable before its step's effect, which commits with its mark in the parent's journal");
  });

  it("answers-the-start-and-then-queries-while-a-slow-first-step-runs", async () => {
    const stepGoesOn = gate();
    const slow = workflow("slow", {
      eagerStart: true,
      start: () => ({ done: false }),
      queries: { done: (view, _input: {}, fx) => fx.reply({ done: view.state.done, status: view.status }) },
      steps: {
        first: async (s, _input, ctx) => {
          await stepGoesOn.wait;
          return ctx.update({ done: true }).end();
        },
      },
    });
    const { rt, commits } = await start([slow]);
    const order: string[] = [];
    const started = rt.call("slow", "s1", "start", {}).then(() => order.push("start"));
    // Sent while the start is not committed yet: answered once it is, never before.
    const queried = rt.call("slow", "s1", "done", {}).then((reply) => {
      order.push("query");
      return reply;
    });
    await started;
    assert.deepEqual(await queried, { done: false, status: "running" });
    assert.deepEqual(order, ["start", "query"]);
    assert.deepEqual(commits, ["slow/s1"], "the start committed alone once the step outlasted its budget");
    stepGoesOn.open();
    assert.deepEqual((await rt.workflowResult("slow", "s1", 5_000)).state, { done: true });
  });

  // A plain workflow commits its start before the step's clock starts; an eager step waits for it
  // when it first makes something durable on its own (here ctx.run). That wait is not the step's.
  it("gives-its-step-back-the-time-it-waited-for-the-start's-commit,-and-no-more", { timeout: 10_000 }, async () => {
    async function run(stepOwnMs: number): Promise<{ status: string; error: string | undefined }> {
      const inner = new MemoryStore();
      const startCommit = gate();
      const startCommitting = gate();
      let holdStart = true;
      const store = wrapStore(inner, {
        commit: async (writes) => {
          if (holdStart && writes.some((w) => w.component === "timed")) {
            holdStart = false;
            startCommitting.open();
            await startCommit.wait;
          }
          return inner.commit(writes);
        },
      });
      const stepGoesOn = gate();
      const timed = workflow("timed", {
        eagerStart: true,
        start: () => ({}),
        defaults: { timeoutMs: 300, retry: { maxAttempts: 1 } },
        steps: {
          only: async (_s, _input, ctx) => {
            await ctx.run("note", () => "noted");
            await stepGoesOn.wait;
            return ctx.end();
          },
        },
      });
      const clock = new VirtualClock();
      const { rt } = await start([timed], store, clock);
      const started = rt.call("timed", "t1", "start", {});
      await startCommitting.wait;
      await clock.advance(400); // the start's commit takes 400 ms: past the step's 300
      startCommit.open();
      await started;
      await clock.advance(stepOwnMs);
      stepGoesOn.open();
      let view = await rt.workflowResult("timed", "t1", 0);
      for (let i = 0; i < 100 && view.status === "running"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        view = await rt.workflowResult("timed", "t1", 0);
      }
      return { status: view.status, error: (await inner.loadWorkflow("timed", "t1"))?.lastError?.code };
    }
    // 400 ms waiting for the start, then 250 of its own: within its 300.
    assert.deepEqual(await run(250), { status: "ended", error: undefined });
    // 400 ms waiting for the start, then 350 of its own: past its 300.
    assert.deepEqual(await run(350), { status: "failed", error: "step_timeout" });
  });

  it("is-refused-at-definition-when-not-a-boolean", () => {
    assert.throws(
      () => workflow("bad", { eagerStart: "yes" as unknown as boolean, start: () => ({}), steps: { only: async (_s, _i, ctx) => ctx.end() } }),
      /eagerStart must be true or false/,
    );
  });
});
