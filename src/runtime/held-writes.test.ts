import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { wallet } from "../../examples/bank/wallet.ts";
import { transferWorkflow } from "../../examples/bank/transfer-workflow.ts";
import { workflow } from "../define/workflow.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import type { InstanceWrite, Store } from "../store/port.ts";
import { VirtualClock, type Clock } from "./clock.ts";
import { StepHolds } from "./held-writes.ts";
import { journalComponent, keptMarker } from "./workflow/journal.ts";
import { Runtime } from "./runtime.ts";
import { wrapStore } from "./test-support.ts";

/** A promise and its resolve, for a step that waits for the test. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

type Gate = ReturnType<typeof gate>;

/** A workflow whose one step deposits 5 to `to`, opens `called`, then waits for `goOn` before it ends: its deposit is held meanwhile. */
function depositThenWait(called: Gate, goOn: Gate) {
  return workflow("slow-after-call", {
    start: (input: { to: string }) => input,
    steps: {
      pay: async (s, _input, ctx) => {
        await ctx.call(wallet, s.to).deposit({ amount: 5 });
        called.open();
        await goOn.wait;
        return ctx.end();
      },
    },
  });
}

/**
 * Steps' calls hold their writes until the step's transition commits them (held-writes.ts):
 * what the entity's other callers and the store see meanwhile, and after a failure.
 */
describe("a step's held write", () => {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
  });

  async function start(components: Runtime["components"] extends () => infer C ? C : never, counted?: { commits: InstanceWrite[][] }, clock?: Clock) {
    const inner = new MemoryStore();
    const store: Store = counted
      ? wrapStore(inner, {
          commit: (writes) => {
            counted.commits.push(writes);
            return inner.commit(writes);
          },
        })
      : inner;
    const rt = new Runtime({ store, components: components as never, log: () => {}, ...(clock ? { clock } : {}) });
    runtimes.push(rt);
    await rt.start();
    return { rt, store: inner };
  }

  it("is-invisible-to-the-entity's-other-callers-until-it-commits-with-the-transition", async () => {
    const stepGoesOn = gate();
    const called = gate();
    const { rt, store } = await start([wallet, depositThenWait(called, stepGoesOn)]);
    await rt.call("wallet", "w1", "create", { initialBalance: 100 });
    await rt.call("slow-after-call", "s1", "start", { to: "w1" });
    await called.wait;
    // The step has its reply; the deposit is held (not stored) while the step goes on.
    const seen: string[] = [];
    const balance = rt.call("wallet", "w1", "balance", {}).then((reply) => {
      seen.push("balance answered");
      return { reply, storedEvents: store.readEvents("wallet", "w1", 0, 100) };
    });
    stepGoesOn.open();
    const { reply, storedEvents } = await balance;
    // Answered only once the deposit was durable, and then with it.
    assert.deepEqual(reply, { balance: 105 });
    assert.deepEqual((await storedEvents).map((e) => e.type), ["created", "deposited"]);
    assert.deepEqual(seen, ["balance answered"]);
    assert.equal((await rt.workflowResult("slow-after-call", "s1", 5_000)).status, "ended");
  });

  it("is-not-stored-and-not-seen-while-the-step-waits,-and-commits-in-one-transaction-with-the-transition", async () => {
    const counted = { commits: [] as InstanceWrite[][] };
    const { rt, store } = await start([wallet, transferWorkflow], counted);
    await rt.call("wallet", "a", "create", { initialBalance: 100 });
    await rt.call("wallet", "b", "create", { initialBalance: 0 });
    counted.commits.length = 0;
    await rt.call("transfer-workflow", "t1", "start", { from: "a", to: "b", amount: 30 });
    const view = await rt.workflowResult("transfer-workflow", "t1", 5_000);
    assert.equal((view.state as { status: string }).status, "completed");
    // start; withdraw + transition; deposit + end.
    assert.equal(counted.commits.length, 3, JSON.stringify(counted.commits.map((c) => c.map((w) => `${w.component}/${w.id}`))));
    const withTransition = counted.commits.flat().filter((w) => w.workflow && w.together);
    assert.deepEqual(withTransition.map((w) => w.together!.map((t) => `${t.component}/${t.id}`)), [["wallet/a"], ["wallet/b"]]);
    assert.deepEqual(await rt.call("wallet", "a", "balance", {}), { balance: 70 });
    assert.deepEqual(await rt.call("wallet", "b", "balance", {}), { balance: 30 });
    assert.equal((await store.readEvents("wallet", "a", 0, 100)).length, 2);
  });

  it("is-dropped-when-the-step-fails:-nothing-stored,-the-entity-answers-from-what-is-committed", async () => {
    const failsAfterCall = workflow("fails-after-call", {
      start: (input: { to: string }) => input,
      steps: {
        pay: async (s, _input, ctx) => {
          await ctx.call(wallet, s.to).deposit({ amount: 5 });
          throw new Error("the step breaks after its call");
        },
      },
      stepOptions: { pay: { retry: { maxAttempts: 1 } } },
    });
    const { rt, store } = await start([wallet, failsAfterCall]);
    await rt.call("wallet", "w1", "create", { initialBalance: 100 });
    await rt.call("fails-after-call", "f1", "start", { to: "w1" });
    const view = await rt.workflowResult("fails-after-call", "f1", 5_000);
    assert.equal(view.status, "failed");
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 100 });
    assert.deepEqual((await store.readEvents("wallet", "w1", 0, 100)).map((e) => e.type), ["created"]);
    // The call's key was not stored either: a retry decides it afresh.
    assert.equal(await store.findDedup("wallet", "w1", "wf:fails-after-call:f1:1:0"), undefined);
  });

  it("keeps-no-idempotency-record-when-it-commits-with-a-move-on,-and-keeps-one-when-the-step-fails-so-a-retry-cannot-repeat-it", async () => {
    const env = { decline: true };
    const pay = workflow("pay-or-decline", {
      start: (input: { to: string }) => input,
      steps: {
        pay: async (s, _input, ctx) => {
          await ctx.call(wallet, s.to).deposit({ amount: 5 });
          return env.decline ? ctx.fail("declined", "the bank said no") : ctx.end();
        },
      },
    });
    const { rt, store } = await start([wallet, pay]);
    await rt.call("wallet", "w1", "create", { initialBalance: 100 });
    env.decline = false;
    await rt.call("pay-or-decline", "ends", "start", { to: "w1" });
    assert.equal((await rt.workflowResult("pay-or-decline", "ends", 5_000)).status, "ended");
    // Kept with the end: the call can never be sent again, so its key is not stored.
    assert.equal(await store.findDedup("wallet", "w1", "wf:pay-or-decline:ends:1:0"), undefined);
    env.decline = true;
    await rt.call("pay-or-decline", "fails", "start", { to: "w1" });
    assert.equal((await rt.workflowResult("pay-or-decline", "fails", 5_000)).status, "failed");
    // Kept with a failure: an operator's retry runs the same step execution, so the key stays...
    assert.ok(await store.findDedup("wallet", "w1", "wf:pay-or-decline:fails:1:0"));
    env.decline = false;
    await rt.admin.operateWorkflow("pay-or-decline", "fails", "retry");
    assert.equal((await rt.workflowResult("pay-or-decline", "fails", 5_000)).status, "ended");
    // ...and the retried call is answered from it: 100 + 5 (ends) + 5 (fails, once).
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 110 });
  });

  it("commits-alone-once-held-for-50-ms-on-the-runtime's-clock,-so-other-callers-wait-no-longer", { timeout: 10_000 }, async () => {
    const stepGoesOn = gate();
    const called = gate();
    const clock = new VirtualClock();
    const { rt, store } = await start([wallet, depositThenWait(called, stepGoesOn)], undefined, clock);
    await rt.call("wallet", "w1", "create", { initialBalance: 100 });
    await rt.call("slow-after-call", "s1", "start", { to: "w1" });
    await called.wait;
    let answered: unknown;
    const balance = rt.call("wallet", "w1", "balance", {}).then((reply) => (answered = reply));
    try {
      // Real time passes, the runtime's does not: the write stays held, the other caller waits.
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(answered, undefined);
      assert.equal((await store.readEvents("wallet", "w1", 0, 100)).length, 1);
      await clock.advance(50);
      await balance;
      assert.deepEqual(answered, { balance: 105 }, "the held deposit committed on its own, then the caller was answered");
      assert.equal((await store.readEvents("wallet", "w1", 0, 100)).length, 2);
    } finally {
      stepGoesOn.open();
    }
    assert.equal((await rt.workflowResult("slow-after-call", "s1", 5_000)).status, "ended");
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 105 }, "the deposit took effect once");
  });

  it("of-a-first-call-commits-before-the-step's-second-call-to-the-same-entity", async () => {
    const twice = workflow("twice", {
      start: (input: { to: string }) => input,
      steps: {
        pay: async (s, _input, ctx) => {
          await ctx.call(wallet, s.to).deposit({ amount: 1 });
          await ctx.call(wallet, s.to).deposit({ amount: 2 });
          return ctx.end();
        },
      },
    });
    const { rt } = await start([wallet, twice]);
    await rt.call("wallet", "w1", "create", { initialBalance: 0 });
    await rt.call("twice", "x", "start", { to: "w1" });
    assert.equal((await rt.workflowResult("twice", "x", 5_000)).status, "ended");
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 3 });
  });

  it("is-not-used-with-stepCommits-separate:-each-call-commits-before-its-reply", async () => {
    const counted = { commits: [] as InstanceWrite[][] };
    const inner = new MemoryStore();
    const store = wrapStore(inner, {
      commit: (writes) => {
        counted.commits.push(writes);
        return inner.commit(writes);
      },
    });
    const rt = new Runtime({ store, components: [wallet, transferWorkflow], log: () => {}, stepCommits: "separate" });
    runtimes.push(rt);
    await rt.start();
    await rt.call("wallet", "a", "create", { initialBalance: 100 });
    await rt.call("wallet", "b", "create", { initialBalance: 0 });
    counted.commits.length = 0;
    await rt.call("transfer-workflow", "t1", "start", { from: "a", to: "b", amount: 30 });
    await rt.workflowResult("transfer-workflow", "t1", 5_000);
    // Each step's call commits before its reply, so never with its step's transition, and with a
    // mark in the workflow's journal (a re-run after a crash then knows the step took effect in part).
    const writes = counted.commits.flat();
    const wallets = writes.filter((w) => w.component === "wallet");
    assert.equal(wallets.length, 2);
    for (const w of wallets) assert.deepEqual(w.together?.map((t) => t.component), ["$journal"]);
    assert.equal(writes.filter((w) => w.component === "$journal").length, 0, "and no second mark after it");
    assert.ok(!counted.commits.some((commit) => commit.some((w) => w.component === "wallet") && commit.some((w) => w.component === "transfer-workflow")));
    assert.ok(writes.every((w) => w.component === "wallet" || w.together === undefined));
  });
});

/**
 * A call of a step attempt that was dropped (timed out, stopped) and reaches its instance only
 * afterwards — sent before a freeze, handled after it — is refused and keeps nothing. Committed on
 * its own, it applied a withdraw twice on PostgreSQL: the node that took the workflow over had run
 * the step again and committed the same call with its transition, keeping no idempotency record.
 */
describe("a call of a dropped step attempt", () => {
  it("is-refused-with-run-abandoned-and-nothing-of-it-is-kept", async () => {
    const store = new MemoryStore();
    const runtime = new Runtime({ store, components: [wallet], log: () => {} });
    await runtime.start();
    try {
      await runtime.call("wallet", "a", "create", { initialBalance: 100 });
      const holds = new StepHolds(async () => ({ ok: false, reason: "conflict" }), 50, new VirtualClock());
      holds.drop();
      const key = "wf:transfer:t1:1:0";
      await assert.rejects(runtime.dispatcher.keyedCall("wallet", "a", "withdraw", { amount: 10 }, key, { hold: holds }), (error: Error & { code?: string }) => error.code === "run_abandoned");
      assert.deepEqual(await runtime.call("wallet", "a", "balance", {}), { balance: 100 });
      assert.equal(await store.findDedup("wallet", "a", key), undefined, "no idempotency record either");
    } finally {
      await runtime.stop();
    }
  });
});

describe("a held write committed alone (before the step's next call, or 50 ms after its answer)", () => {
  it("keeps its journal mark only if it is kept itself: a write refused leaves no mark", async () => {
    const store = new MemoryStore();
    await store.migrate();
    const holds = new StepHolds(async (write) => (await store.commit([write]))[0]!, 50, new VirtualClock());
    holds.keptMarker = (call) => keptMarker("w", "x", "pay", call, 0);
    // Decided on a copy another node has since written past: the commit is a conflict.
    const write: InstanceWrite = {
      component: "wallet",
      id: "a",
      events: { expectedSeq: 3, append: [{ type: "deposited", payload: { amount: 1 } }] },
      dedup: [{ key: "wf:w:x:1:0", requestHash: "h", reply: { ok: true, value: {} }, at: 0 }],
    };
    assert.ok(holds.offer({ write, command: "deposit", input: { amount: 1 }, key: "wf:w:x:1:0", settle: () => {} }));
    await assert.rejects(holds.flush(), /refused \(conflict\)/);
    // A mark would have a failure of the step undo (compensate) a deposit that never took effect.
    assert.deepEqual(await store.listDedup(journalComponent, "w/x", "", 10), []);
  });
});

/**
 * A runtime with a wallet "hot" at 0, every commit recorded (and first passed to `beforeCommit`),
 * and step holds on a clock that never moves: a held write stays held until the test drops it.
 */
async function hotWallet(beforeCommit: (writes: InstanceWrite[]) => Promise<void> | void = () => {}) {
  const commits: InstanceWrite[][] = [];
  const inner = new MemoryStore();
  const store = wrapStore(inner, {
    commit: async (writes) => {
      commits.push(writes);
      await beforeCommit(writes);
      return inner.commit(writes);
    },
  });
  const runtime = new Runtime({ store, components: [wallet], log: () => {} });
  await runtime.start();
  await runtime.call("wallet", "hot", "create", { initialBalance: 0 });
  const stepHolds = () => new StepHolds(async () => ({ ok: false, reason: "conflict" }), 50, new VirtualClock());
  const deposit = (key: string, hold: StepHolds, kept?: (marked: boolean) => void) =>
    runtime.dispatcher.keyedCall("wallet", "hot", "deposit", { amount: 5 }, key, { hold, ...(kept ? { kept } : {}) });
  const walletCommits = () => commits.filter((writes) => writes.some((w) => w.component === "wallet"));
  return { runtime, inner, commits, stepHolds, deposit, walletCommits };
}

describe("step calls that find their instance busy", () => {
  it("commit together in its next turn, not held, and one whose attempt was stopped meanwhile commits nothing", { timeout: 10_000 }, async () => {
    const { runtime, inner, commits, stepHolds, deposit, walletCommits } = await hotWallet();
    try {
      const [a, b, c, d] = [stepHolds(), stepHolds(), stepHolds(), stepHolds()];
      await deposit("wf:w:a:1:0", a);
      const [byB, byC, byD] = [deposit("wf:w:b:1:0", b), deposit("wf:w:c:1:0", c), deposit("wf:w:d:1:0", d)];
      b.drop(); // B's attempt stops while its call waits
      commits.length = 0;
      a.drop();
      await assert.rejects(byB, (error: Error & { code?: string }) => error.code === "run_abandoned");
      assert.deepEqual([(await byC).ok, (await byD).ok], [true, true]);
      // C and D were not held (the test never commits a held write): one commit kept both, with their keys.
      assert.equal(walletCommits().length, 1);
      assert.deepEqual(walletCommits()[0]!.flatMap((w) => w.dedup.map((r) => r.key)).sort(), ["wf:w:c:1:0", "wf:w:d:1:0"]);
      assert.deepEqual(await runtime.call("wallet", "hot", "balance", {}), { balance: 10 });
      for (const key of ["wf:w:a:1:0", "wf:w:b:1:0"]) assert.equal(await inner.findDedup("wallet", "hot", key), undefined, key);
    } finally {
      await runtime.stop();
    }
  });

  it("commit their journal marks with them: none is left to a later write a crash could lose", { timeout: 10_000 }, async () => {
    // Every write of marks alone fails, as it would in a crash just after the calls' commit.
    const { runtime, inner, commits, stepHolds, deposit, walletCommits } = await hotWallet((writes) => {
      if (writes.every((w) => w.component === journalComponent)) throw new Error("crashed");
    });
    try {
      const [a, c, d] = [stepHolds(), stepHolds(), stepHolds()];
      for (const [holds, id] of [[c, "c"], [d, "d"]] as const) holds.keptMarker = (call) => keptMarker("w", id, "pay", call, 0);
      const told: boolean[] = [];
      await deposit("wf:w:a:1:0", a);
      const [byC, byD] = [deposit("wf:w:c:1:0", c, (marked) => told.push(marked)), deposit("wf:w:d:1:0", d)];
      commits.length = 0;
      a.drop();
      assert.deepEqual([(await byC).ok, (await byD).ok], [true, true]);
      assert.equal(walletCommits().length, 1);
      assert.deepEqual(told, [true], "the step hears its mark is committed, and writes none after");
      for (const id of ["c", "d"]) {
        const [mark] = await inner.listDedup(journalComponent, `w/${id}`, "", 10);
        assert.equal(mark?.key, `wf:w:${id}:1:0:kept`, id);
      }
    } finally {
      await runtime.stop();
    }
  });

  it("are waited for by an attempt stopped while they commit, which then knows they were kept", { timeout: 10_000 }, async () => {
    const batchCommitting = gate();
    const goOn = gate();
    const { runtime, stepHolds, deposit } = await hotWallet(async (writes) => {
      if (writes.some((w) => w.dedup.some((r) => r.key === "wf:w:c:1:0"))) {
        batchCommitting.open();
        await goOn.wait;
      }
    });
    try {
      const [a, c, d] = [stepHolds(), stepHolds(), stepHolds()];
      let kept = false;
      await deposit("wf:w:a:1:0", a);
      const [byC, byD] = [deposit("wf:w:c:1:0", c, () => (kept = true)), deposit("wf:w:d:1:0", d)];
      a.drop();
      await batchCommitting.wait;
      // C's attempt is stopped while its call commits: too late to take it back, so the stop waits to learn it was kept.
      c.drop();
      let settled = false;
      const stopped = c.flushSettled().then(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(settled, false);
      goOn.open();
      await stopped;
      assert.equal(kept, true);
      assert.deepEqual([(await byC).ok, (await byD).ok], [true, true]);
      assert.deepEqual(await runtime.call("wallet", "hot", "balance", {}), { balance: 10 });
    } finally {
      goOn.open();
      await runtime.stop();
    }
  });

  it("stay held, alone in their turn, where the step may not commit a call unheld (its node's lease of the workflow lapsed)", { timeout: 10_000 }, async () => {
    const { runtime, inner, commits, stepHolds, deposit, walletCommits } = await hotWallet();
    try {
      const [a, c, d] = [stepHolds(), stepHolds(), stepHolds()];
      let lapsed = false;
      c.mayCommitUnheld = () => !lapsed;
      await deposit("wf:w:a:1:0", a);
      const [byC, byD] = [deposit("wf:w:c:1:0", c), deposit("wf:w:d:1:0", d)];
      lapsed = true;
      commits.length = 0;
      a.drop();
      // C is answered from a held write: nothing of it is committed, and D waits behind it.
      assert.equal((await byC).ok, true);
      assert.equal(walletCommits().length, 0);
      c.drop();
      assert.equal((await byD).ok, true);
      d.drop();
      assert.deepEqual(await runtime.call("wallet", "hot", "balance", {}), { balance: 0 });
      for (const key of ["wf:w:c:1:0", "wf:w:d:1:0"]) assert.equal(await inner.findDedup("wallet", "hot", key), undefined, key);
    } finally {
      await runtime.stop();
    }
  });
});
