import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { wallet } from "../../../examples/bank/wallet.ts";
import { saga, type SagaStep } from "../../define/saga.ts";
import { workflow, type StepFailure } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import type { InstanceWrite } from "../../store/port.ts";
import { Runtime } from "../runtime.ts";
import { until, wrapStore } from "../test-support.ts";
import { journalComponent } from "./journal.ts";
import { openPayerAndPayee, payerAndPayeeBalances } from "./wallets-test-support.ts";

/**
 * A step call whose write is not held commits on its own, before its reply: every call with
 * `stepCommits: "separate"`, and a call to a kind whose writes are never held (a workflow's start).
 * A step that times out while such a call is still on its way must neither lose track of it nor
 * let it land unnoticed: a call being committed is waited for (the step is then `partial`, and its
 * saga undoes it), and a call its instance reaches only afterwards is refused. Before, either one
 * landed after the failure was recorded as taking no effect: a deposit nobody undid.
 */

type Transfer = { payer: string; payee: string };

const transfer = saga("separate-transfer", {
  start: (input: Transfer) => input,
  stepTimeoutMs: 200,
  retry: { maxAttempts: 1 },
  steps: [
    {
      name: "withdraw",
      run: (s, ctx) => ctx.call(wallet, s.payer).withdraw({ amount: 1 }),
      compensate: (s, ctx) => ctx.call(wallet, s.payer).deposit({ amount: 1 }),
    },
    {
      name: "deposit",
      run: (s, ctx) => ctx.call(wallet, s.payee).deposit({ amount: 1 }),
      compensate: (s, ctx) => ctx.call(wallet, s.payee).withdraw({ amount: 1 }),
    } satisfies SagaStep<Transfer>,
  ],
});

/** A workflow that starts another in its one step; its failover step keeps how that step failed. */
const child = workflow("child", { start: () => ({}), steps: { idle: (_s, _input, ctx) => ctx.end() } });
const spawner = workflow("spawner", {
  start: () => ({ failure: null as StepFailure | null }),
  steps: {
    spawn: async (_s, _input, ctx) => {
      await ctx.call(child, ctx.workflowId).start({});
      return ctx.end();
    },
    recover: (s, input, ctx) => ctx.update({ ...s, failure: (input as { failure: StepFailure }).failure }).end(),
  },
  defaults: { failoverTo: "recover", timeoutMs: 200, retry: { maxAttempts: 1 } },
});

/**
 * A runtime over wallets "payer" (10) and "payee" (0), made by an earlier runtime, whose payee is
 * slow (past the step timeout): to commit a deposit, or to load (it is not cached yet). A child
 * workflow's start is slow to commit too.
 */
async function slowPayee(slow: "commit" | "load", stepCommits: "together" | "separate" = "separate") {
  const inner = new MemoryStore();
  const earlier = new Runtime({ store: wrapStore(inner, { close: async () => {} }), components: [wallet], log: () => {} });
  await earlier.start();
  await openPayerAndPayee(earlier);
  await earlier.stop();
  const isPayeeDeposit = (w: InstanceWrite) => w.component === "wallet" && w.id === "payee" && (w.events?.append ?? []).some((e) => e.type === "deposited");
  const store = wrapStore(inner, {
    commit: async (writes) => {
      if (writes.some((w) => w.component === child.name) || (slow === "commit" && writes.some(isPayeeDeposit))) await sleep(600);
      return inner.commit(writes);
    },
    loadHistory: async (component, id) => {
      if (slow === "load" && id === "payee") await sleep(600);
      return inner.loadHistory(component, id);
    },
  });
  const rt = new Runtime({ store, components: [wallet, transfer, child, spawner], stepCommits, log: () => {} });
  await rt.start();
  return rt;
}

async function ended(rt: Runtime, id: string, name = transfer.name) {
  const result = await until(`${id} to end`, async () => {
    const shown = await rt.workflowResult(name, id);
    return shown.status === "ended" && shown;
  }, 10_000);
  return result.state as { status: string; compensated: string[]; failure?: StepFailure };
}

describe("a step whose calls commit on their own (stepCommits: separate), stopped with a call on its way", () => {
  it("waits for a call being committed, is partial, and its saga undoes the call", { timeout: 15_000 }, async () => {
    const rt = await slowPayee("commit");
    try {
      await rt.call(transfer.name, "t1", "start", { payer: "payer", payee: "payee" });
      const saga = await ended(rt, "t1");
      assert.deepEqual([saga.status, saga.failure?.code, saga.failure?.partial], ["compensated", "step_timeout", true]);
      assert.deepEqual(saga.compensated, ["deposit", "withdraw"]);
      assert.deepEqual(await payerAndPayeeBalances(rt), [10, 0], "the deposit that landed after the timeout was taken back");
    } finally {
      await rt.stop();
    }
  });

  it("refuses a call its instance reaches only after its step stopped: nothing of it lands later", { timeout: 15_000 }, async () => {
    const rt = await slowPayee("load");
    try {
      await rt.call(transfer.name, "t2", "start", { payer: "payer", payee: "payee" });
      const saga = await ended(rt, "t2");
      assert.deepEqual([saga.status, saga.failure?.code, saga.failure?.partial], ["compensated", "step_timeout", undefined]);
      assert.deepEqual(saga.compensated, ["withdraw"]);
      // Given time to land, had it not been refused.
      await sleep(800);
      assert.deepEqual(await payerAndPayeeBalances(rt), [10, 0], "the timed-out step's deposit never landed");
    } finally {
      await rt.stop();
    }
  });
});

describe("a step that starts a workflow (a write never held), stopped while the start commits", () => {
  it("waits for the start, and its failure says the step took effect in part", { timeout: 15_000 }, async () => {
    const rt = await slowPayee("commit", "together");
    try {
      await rt.call(spawner.name, "s1", "start", {});
      const { failure } = await ended(rt, "s1", spawner.name);
      assert.deepEqual([failure?.step, failure?.code, failure?.partial], ["spawn", "step_timeout", true]);
      assert.equal((await rt.workflowResult(child.name, "s1", 5_000)).status, "ended", "the child was started, and ran");
    } finally {
      await rt.stop();
    }
  });
});

describe("a step's call kept on its own", () => {
  it("is in its workflow's journal even when no mark written after it lands (a workflow started, plain or eager)", { timeout: 15_000 }, async () => {
    const eagerChild = workflow("eager-child", { eagerStart: true, start: () => ({}), steps: { idle: (_s, _input, ctx) => ctx.end() } });
    const starter = workflow("starter", {
      start: () => ({}),
      steps: {
        spawn: async (_s, _input, ctx) => {
          await ctx.call(child, ctx.workflowId).start({});
          await ctx.call(eagerChild, ctx.workflowId).start({});
          return ctx.end();
        },
      },
    });
    // A mark written on its own is lost (refused), as it would be were the process killed just after the call's commit.
    const inner = new MemoryStore();
    const store = wrapStore(inner, {
      commit: async (writes) => {
        const kept = await inner.commit(writes.filter((w) => w.component !== journalComponent));
        return writes.map((w) => (w.component === journalComponent ? { ok: false as const, reason: "conflict" as const } : kept.shift()!));
      },
    });
    const rt = new Runtime({ store, components: [child, eagerChild, starter], log: () => {} });
    await rt.start();
    try {
      await rt.call(starter.name, "s1", "start", {});
      assert.equal((await rt.workflowResult(starter.name, "s1", 5_000)).status, "ended");
      const { journal } = await rt.admin.showWorkflow(starter.name, "s1");
      const calls = journal.flatMap((entry) => ("call" in entry ? [`${entry.step}: ${entry.call.component} ${entry.call.command}`] : []));
      assert.deepEqual(calls, ["spawn: child start", "spawn: eager-child start"]);
    } finally {
      await rt.stop();
    }
  });
});
