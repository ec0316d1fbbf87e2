import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { wallet } from "../../../examples/bank/wallet.ts";
import type { SagaflowError } from "../../define/errors.ts";
import { saga, type SagaStep } from "../../define/saga.ts";
import { workflow, type Cancellation } from "../../define/workflow.ts";
import type { Store } from "../../store/port.ts";
import { testbed, whenPostgresAsked } from "../../store/postgres/postgres-test-support.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";
import { openPayerAndPayee, payerAndPayeeBalances } from "./wallets-test-support.ts";

/**
 * An operator's cancel does not wait for a step attempt in progress (a step waiting a minute on
 * another system would hold it that long): it stops the attempt, as a timeout would, and the
 * workflow goes to its cancel step told whether part of the step took effect. Not a saga step
 * that nothing undoes: stopped done in part, the saga could only go forward, so the cancel waits
 * for that attempt, which may still finish the step.
 */

type Transfer = { payer: string; payee: string };

/** Opened by the test, one per workflow id: the steps below wait on theirs, as on a slow outside system. */
const gates = new Map<string, { opened: Promise<void>; open: () => void }>();
function gate(id: string) {
  let found = gates.get(id);
  if (!found) {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    gates.set(id, (found = { opened, open }));
  }
  return found;
}
after(() => gates.forEach((g) => g.open()));

const withdraw: SagaStep<Transfer> = {
  name: "withdraw",
  run: (s, ctx) => ctx.call(wallet, s.payer).withdraw({ amount: 1 }),
  compensate: (s, ctx) => ctx.call(wallet, s.payer).deposit({ amount: 1 }),
};

/** Withdraws, then its step `step` deposits (kept on its own 50 ms on) and waits for the gate; `undo`: that step's compensation, if any. */
const gated = (name: string, step: string, undo?: SagaStep<Transfer>["compensate"]) =>
  saga(name, {
    start: (input: Transfer) => input,
    stepTimeoutMs: 120_000,
    steps: [
      withdraw,
      {
        name: step,
        run: async (s, ctx) => {
          await ctx.call(wallet, s.payee).deposit({ amount: 1 });
          await gate(ctx.workflowId).opened;
        },
        ...(undo ? { compensate: undo } : {}),
      },
    ],
  });

/** Its compensation takes the deposit back. */
const escrow = gated("escrow", "hold", (s, ctx) => ctx.call(wallet, s.payee).withdraw({ amount: 1 }));
/** Nothing undoes its deposit. */
const pivotal = gated("pivotal", "pay");

/** A plain workflow whose step waits on a ctx.run (which stops when the attempt does); its cancel step records what it was told. */
const polling = workflow("polling", {
  start: () => ({ told: null as Cancellation | null }),
  steps: {
    poll: async (s, _input, ctx) => {
      await ctx.run("poll", ({ signal }) => new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(new Error("the attempt ended")))));
      return ctx.update(s).end();
    },
    cancelled: async (s, input, ctx) => ctx.update({ told: (input as { cancelled: Cancellation }).cancelled }).end(),
  },
  defaults: { timeoutMs: 120_000 },
  onCancel: "cancelled",
});

function cancelSuite(suite: string, newStore: (name: string) => Store, cleanup: () => Promise<void>) {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
    await cleanup();
  });

  async function open(name: string) {
    const rt = new Runtime({ store: newStore(name), components: [wallet, escrow, pivotal, polling], stopGraceMs: 100, log: () => {} });
    runtimes.push(rt);
    await rt.start();
    await openPayerAndPayee(rt);
    return rt;
  }
  const balances = payerAndPayeeBalances;
  const atStep = (rt: Runtime, name: string, id: string, step: string) =>
    until(`${name} ${id} to wait in step ${step}, its call kept`, async () => {
      const { workflow: w, journal } = await rt.admin.showWorkflow(name, id);
      return w.step === step && journal.some((entry) => entry.step === step);
    }, 10_000);
  const ended = (rt: Runtime, name: string, id: string) =>
    until(`${name} ${id} to end`, async () => {
      const result = await rt.workflowResult(name, id);
      return result.status === "ended" && result;
    }, 10_000);

  it("a-cancel-stops-a-saga-step-waiting-on-something-slow-and-its-compensations-undo-what-it-kept", async () => {
    const rt = await open("escrow");
    const e1 = `${suite}-e1`;
    await rt.call("escrow", e1, "start", { payer: "payer", payee: "payee" });
    await atStep(rt, "escrow", e1, "hold");
    // Answered while the step still waits on the gate (it would wait 120 s for its timeout).
    assert.deepEqual(await rt.admin.operateWorkflow("escrow", e1, "cancel"), { status: "running", step: "compensate" });
    const done = await ended(rt, "escrow", e1);
    const state = done.state as { status: string; compensated: string[]; failure: { step: string; code: string; partial?: boolean } };
    assert.deepEqual([state.status, state.compensated, state.failure.step, state.failure.partial], ["compensated", ["hold", "withdraw"], "hold", true]);
    assert.deepEqual(await balances(rt), [10, 0], "the deposit the stopped step kept was taken back, and the withdrawal refunded");
    const { history } = await rt.admin.showWorkflow("escrow", e1);
    assert.ok(history.some((h) => /cancelled by operator; to step compensate/.test(h.detail)), "the history says the operator cancelled it");
  });

  it("a-cancel-waits-for-a-saga-step-that-nothing-undoes-which-then-finishes", async () => {
    const rt = await open("pivotal");
    const p1 = `${suite}-p1`;
    await rt.call("pivotal", p1, "start", { payer: "payer", payee: "payee" });
    await atStep(rt, "pivotal", p1, "pay");
    const cancel = rt.admin.operateWorkflow("pivotal", p1, "cancel").then(
      () => "accepted",
      (error: SagaflowError) => error.code,
    );
    const early = await Promise.race([cancel, new Promise((resolve) => setTimeout(() => resolve("waiting"), 300))]);
    assert.equal(early, "waiting", "the attempt is not stopped: stopped done in part, the saga could only go forward");
    gate(p1).open();
    assert.equal(await cancel, "invalid_status", "the step finished, the saga ended: nothing left to cancel");
    assert.equal(((await ended(rt, "pivotal", p1)).state as { status: string }).status, "completed");
    assert.deepEqual(await balances(rt), [9, 1]);
  });

  it("a-plain-workflow's-cancel-step-is-told-the-stopped-step-may-have-taken-effect-when-a-ctx-run-was-under-way", async () => {
    const rt = await open("polling");
    await rt.call("polling", "q1", "start", {});
    // The poll starts with the step, at once.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await rt.admin.operateWorkflow("polling", "q1", "cancel"), { status: "running", step: "cancelled" });
    const done = await ended(rt, "polling", "q1");
    assert.deepEqual((done.state as { told: Cancellation }).told, { step: "poll", reason: "cancelled by operator", partial: true });
  });
}

describe("a cancel during a step attempt (SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-cancel-during-step-"));
  cancelSuite("sqlite", (name) => new SqliteStore({ path: join(dir, `${name}.db`) }), async () => rmSync(dir, { recursive: true, force: true }));
});

whenPostgresAsked((url) => {
  describe("a cancel during a step attempt (PostgreSQL)", () => {
    const bed = testbed(url);
    cancelSuite("postgres", () => bed.newStore(), () => bed.dropSchemas());
  });
});
