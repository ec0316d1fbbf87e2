import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { entity } from "../../define/entity.ts";
import { workflow } from "../../define/workflow.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wallet } from "../../../examples/bank/wallet.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";

/**
 * A step's I/O does not hold the workflow's mailbox: while a step waits on a slow call, queries
 * and commands that change nothing are answered from the committed record; a command that
 * changes the workflow waits for the step (arrival order, and the step's result comes first).
 */
describe("a workflow whose step waits on a slow call", () => {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
  });

  let release!: () => void;
  const slowReady = new Promise<void>((resolve) => (release = resolve));
  const events: string[] = [];
  let stepStarted!: () => void;
  const started = new Promise<void>((resolve) => (stepStarted = resolve));

  /** Its `slow` command answers once the test releases it. */
  const slowService = entity(
    "slow-service",
    { initial: () => ({ calls: 0 }), events: { called: (s: { calls: number }) => ({ calls: s.calls + 1 }) } },
    { commands: { work: (_s, _input: {}, fx) => fx.emit("called", {}).reply((s) => s.calls) }, queries: {} },
  );
  const waiting = workflow("waiting", {
    start: () => ({ done: false, note: "" }),
    steps: {
      call: async (s, _input, ctx) => {
        stepStarted();
        await slowReady; // the slow part (a call to another system, say)
        await ctx.call(slowService, "x").work({});
        events.push("step's call returned");
        return ctx.update({ ...s, done: true }).end();
      },
    },
    queries: { done: (view, _input: {}, fx) => fx.reply({ done: view.state.done, status: view.status }) },
    commands: {
      // Changes nothing: answered at once.
      ping: (_view, _input: {}, fx) => fx.reply("pong"),
      // Changes the state: waits for the step in flight.
      annotate: (view, input: { note: string }, fx) => fx.update({ ...view.state, note: input.note }).reply("noted"),
    },
  });

  it("answers-queries-and-commands-that-change-nothing-before-the-step's-call-returns", async () => {
    const rt = new Runtime({ store: new MemoryStore(), components: [slowService, waiting], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    await rt.call("waiting", "w", "start", {});
    await started;
    const query = rt.call("waiting", "w", "done", {}).then((reply) => {
      events.push("query answered");
      return reply;
    });
    const ping = rt.call("waiting", "w", "ping", {}).then((reply) => {
      events.push("ping answered");
      return reply;
    });
    const annotate = rt.call("waiting", "w", "annotate", { note: "hi" }).then((reply) => {
      events.push("annotate answered");
      return reply;
    });
    assert.deepEqual(await query, { done: false, status: "running" });
    assert.equal(await ping, "pong");
    // Only now does the slow call go on.
    events.push("slow call released");
    release();
    assert.equal(await annotate, "noted");
    assert.deepEqual(events, ["query answered", "ping answered", "slow call released", "step's call returned", "annotate answered"]);
    const view = await rt.workflowResult("waiting", "w", 5_000);
    assert.equal(view.status, "ended");
    // The command applied after the step, on its result.
    assert.deepEqual(view.state, { done: true, note: "hi" });
  });
  it("an-operator's-terminate-does-not-wait-for-the-step:-the-attempt-stops,-its-later-calls-are-not-sent", async () => {
    let unblock!: () => void;
    const blocked = new Promise<void>((resolve) => (unblock = resolve));
    let entered!: () => void;
    const inStep = new Promise<void>((resolve) => (entered = resolve));
    const late: string[] = [];
    const hung = workflow("hung", {
      start: () => ({ done: false }),
      steps: {
        call: async (s, _input, ctx) => {
          entered();
          await blocked; // a hung call to another system, for far longer than anyone waits
          await ctx.call(slowService, "after").work({}).catch((error: { code?: string }) => late.push(error.code ?? "?"));
          return ctx.update({ ...s, done: true }).end();
        },
      },
      // The step's timeout is far away: terminate must not wait for it.
      stepOptions: { call: { timeoutMs: 600_000 } },
    });
    const rt = new Runtime({ store: new MemoryStore(), components: [slowService, hung], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    await rt.call("hung", "h1", "start", {});
    await inStep;
    // What the definition alone refuses is answered at once, not after the hung attempt.
    await assert.rejects(rt.admin.operateWorkflow("hung", "h1", "cancel"), (error: { code?: string }) => error.code === "no_cancel_step");
    assert.deepEqual(await rt.admin.operateWorkflow("hung", "h1", "terminate"), { status: "terminated", step: "call" });
    assert.equal((await rt.workflowResult("hung", "h1")).status, "terminated");
    // The attempt goes on in the background: its next call is not sent, and nothing moves the workflow.
    unblock();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(late, ["run_abandoned"]);
    assert.deepEqual(await rt.call("slow-service", "after", "work", {}), 1, "the late call never reached the entity");
    const view = await rt.workflowResult("hung", "h1");
    assert.deepEqual([view.status, view.state], ["terminated", { done: false }]);
    assert.equal((await rt.admin.operateWorkflow("hung", "h1", "terminate").catch((error: { code?: string }) => error.code)), "invalid_status");
  });

  it("answers-queries-while-the-step-holds-a-call's-write-and-waits-on-slow-work,-on-SQLite", async () => {
    // On SQLite a step's call to an entity is held to commit with the transition (held-writes.ts):
    // the step then waits on slow work. The workflow's queries and the entity's callers must not
    // wait for that work: the held write is committed on its own after a short hold.
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-step-io-"));
    let slowDone!: () => void;
    const slowWork = new Promise<void>((resolve) => (slowDone = resolve));
    let paid!: () => void;
    const hasPaid = new Promise<void>((resolve) => (paid = resolve));
    const order: string[] = [];
    const payThenWait = workflow("pay-then-wait", {
      start: (input: { to: string }) => ({ to: input.to, paid: false }),
      steps: {
        pay: async (s, _input, ctx) => {
          await ctx.call(wallet, s.to).deposit({ amount: 5 });
          paid();
          await slowWork;
          order.push("step went on");
          return ctx.update({ ...s, paid: true }).end();
        },
      },
      queries: { paid: (view, _input: {}, fx) => fx.reply({ paid: view.state.paid, status: view.status }) },
    });
    const rt = new Runtime({ store: new SqliteStore({ path: join(dir, "s.db") }), components: [wallet, payThenWait], log: () => {} });
    // The slow work is a promise of this test: something must keep the process up meanwhile, as
    // a socket or a timer of real slow work would (the hold's own timer does not).
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      await rt.start();
      await rt.call("wallet", "w1", "create", { initialBalance: 100 });
      await rt.call("pay-then-wait", "p1", "start", { to: "w1" });
      await hasPaid;
      const query = await rt.call("pay-then-wait", "p1", "paid", {});
      order.push("workflow answered");
      assert.deepEqual(query, { paid: false, status: "running" });
      // The deposit is committed on its own once held long enough; the wallet answers with it.
      const balance = await rt.call("wallet", "w1", "balance", {});
      order.push("wallet answered");
      assert.deepEqual(balance, { balance: 105 });
      slowDone();
      const view = await rt.workflowResult("pay-then-wait", "p1", 5_000);
      assert.equal(view.status, "ended");
      assert.deepEqual(order, ["workflow answered", "wallet answered", "step went on"]);
      assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 105 });
    } finally {
      slowDone();
      clearInterval(keepAlive);
      await rt.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
