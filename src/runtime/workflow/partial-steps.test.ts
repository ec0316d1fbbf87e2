import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { wallet } from "../../../examples/bank/wallet.ts";
import { SagaflowError } from "../../define/errors.ts";
import { saga, type SagaStep } from "../../define/saga.ts";
import { workflow, type StepFailure } from "../../define/workflow.ts";
import { deferred } from "../../define/deferred.ts";
import { keyValue } from "../../define/key-value.ts";
import type { Store } from "../../store/port.ts";
import { testbed, whenPostgresAsked } from "../../store/postgres/postgres-test-support.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";
import { openPayerAndPayee, payerAndPayeeBalances } from "./wallets-test-support.ts";

/**
 * A step that fails after part of it took effect (a call committed on its own, then the step timed
 * out) is `partial`: a saga undoes it too, or stops for an operator when nothing can undo it, and
 * refuses a cancel that would undo only the steps before it. Before, the part stayed while the
 * steps before it were undone: a transfer's deposit kept and its withdrawal refunded (money made).
 */

type Transfer = { payer: string; payee: string };

const withdraw: SagaStep<Transfer> = {
  name: "withdraw",
  run: (s, ctx) => ctx.call(wallet, s.payer).withdraw({ amount: 1 }),
  compensate: (s, ctx) => ctx.call(wallet, s.payer).deposit({ amount: 1 }),
};

/** Deposits, then outlasts the step's timeout on the attempts `slow` names: the deposit commits on its own meanwhile (50 ms). */
const slowDeposit =
  (slow: (attempt: number) => boolean): SagaStep<Transfer>["run"] =>
  async (s, ctx) => {
    await ctx.call(wallet, s.payee).deposit({ amount: 1 });
    if (slow(ctx.attempt)) await new Promise((resolve) => setTimeout(resolve, 2_000));
  };

const start = (input: Transfer) => input;
const stepTimeoutMs = 600;

/** Its deposit times out once after committing; retried 3 s later, it finishes. */
const retried = saga("retried", {
  start,
  stepTimeoutMs,
  retry: { maxAttempts: 3, initialBackoffMs: 3_000 },
  steps: [withdraw, { name: "deposit", run: slowDeposit((attempt) => attempt === 1) }],
});

/** Its deposit, which nothing undoes, times out after committing: no retry. */
const pivot = saga("pivot", { start, stepTimeoutMs, retry: { maxAttempts: 1 }, steps: [withdraw, { name: "deposit", run: slowDeposit(() => true) }] });

/**
 * As `pivot`, with a step after the deposit that takes the unit on from the payee (the payee ends
 * at 0 only if it runs, once, and the deposit was kept once). Its deposit hangs while `depositHangs`.
 */
let depositHangs = true;
const forward = saga("forward", {
  start,
  stepTimeoutMs,
  retry: { maxAttempts: 1 },
  steps: [withdraw, { name: "deposit", run: slowDeposit(() => depositHangs) }, { name: "pass-on", run: (s, ctx) => ctx.call(wallet, s.payee).withdraw({ amount: 1 }) }],
});

/** As `pivot`, with a compensation for the deposit. */
const undoable = saga("undoable", {
  start,
  stepTimeoutMs,
  retry: { maxAttempts: 1 },
  steps: [withdraw, { name: "deposit", run: slowDeposit(() => true), compensate: (s, ctx) => ctx.call(wallet, s.payee).withdraw({ amount: 1 }) }],
});

/** Its deposit fails at once: the write it held is dropped, nothing of it kept (its compensation would be refused: nothing to take back). */
const dropped = saga("dropped", {
  start,
  retry: { maxAttempts: 1 },
  steps: [
    withdraw,
    {
      name: "deposit",
      run: async (s, ctx) => {
        await ctx.call(wallet, s.payee).deposit({ amount: 1 });
        throw new SagaflowError("broken", "failed after its call", { status: 400 });
      },
      compensate: (s, ctx) => ctx.call(wallet, s.payee).withdraw({ amount: 1 }),
    },
  ],
});

/** Its deposit is refused (no such wallet), and the compensation of its withdrawal hangs past the step timeout. */
const stuck = saga("stuck", {
  start,
  stepTimeoutMs: 200,
  compensationRetry: { maxAttempts: 1 },
  steps: [
    { name: "withdraw", run: withdraw.run, compensate: () => new Promise((resolve) => setTimeout(resolve, 1_000)) },
    { name: "deposit", run: (s, ctx) => ctx.call(wallet, "nobody").deposit({ amount: 1 }) },
  ],
});

/** Its withdrawal's compensation refunds, then outlasts the step timeout the first time it runs: the refund is kept. */
let refundHangs = true;
const refundKept = saga("refund-kept", {
  start,
  stepTimeoutMs: 200,
  compensationRetry: { maxAttempts: 1 },
  steps: [
    {
      name: "withdraw",
      run: withdraw.run,
      compensate: async (s, ctx) => {
        await ctx.call(wallet, s.payer).deposit({ amount: 1 });
        if (refundHangs) await new Promise((resolve) => setTimeout(resolve, 1_000));
      },
    },
    { name: "deposit", run: (s, ctx) => ctx.call(wallet, "nobody").deposit({ amount: 1 }) },
  ],
});

/** Its `touch` changes nothing. */
const touchy = keyValue("touchy", { initial: () => ({}), commands: { touch: (_s, _c: {}, fx) => fx.reply({}) } });

/**
 * A plain workflow's failover step is told whether the failed step took effect in part: a
 * journaled ctx.run ("done"), or one still running when the step timed out ("slow": its outside
 * effect may have happened); not one that never ran ("none").
 */
const journaled = workflow("journaled", {
  start: (input: { run: "none" | "done" | "slow" | "timer" | "no-timer" | "touch" }) => ({ run: input.run, failure: null as StepFailure | null }),
  steps: {
    charge: async (s, _input, ctx) => {
      if (s.run === "touch") {
        // A command that decides nothing, kept (its reply) on its own past the 50 ms hold.
        await ctx.call(touchy, "t").touch({});
        await new Promise((resolve) => setTimeout(resolve, 120));
      }
      if (s.run === "timer") await ctx.timers.start(`remind-${ctx.workflowId}`, 60_000, deferred(wallet, "payer").deposit({ amount: 1 }));
      if (s.run === "no-timer") await ctx.timers.cancel("never-started");
      if (s.run === "done") await ctx.run("charge", () => "charged");
      if (s.run === "slow") await ctx.run("charge", () => new Promise((resolve) => setTimeout(resolve, 1_000)));
      throw new SagaflowError("broken", "failed", { status: 400 });
    },
    recover: async (s, input, ctx) => ctx.update({ ...s, failure: (input as { failure: StepFailure }).failure }).end(),
  },
  defaults: { failoverTo: "recover", timeoutMs: 300, retry: { maxAttempts: 1 } },
});

function partialStepSuite(newStore: (name: string) => Store, cleanup: () => Promise<void>) {
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
    await cleanup();
  });

  async function open(name: string, stepCommits: "together" | "separate" = "together") {
    const rt = new Runtime({ store: newStore(name), components: [wallet, retried, pivot, forward, undoable, dropped, journaled, stuck, refundKept, touchy], stepCommits, log: () => {} });
    runtimes.push(rt);
    await rt.start();
    await openPayerAndPayee(rt);
    return rt;
  }

  const balances = payerAndPayeeBalances;
  const ended = (rt: Runtime, name: string, id: string, status = "ended") =>
    until(`${name} ${id} to be ${status}`, async () => {
      const result = await rt.workflowResult(name, id);
      return result.status === status && result;
    }, 10_000);
  const sagaState = (result: { state: unknown }) => result.state as { status: string; completed: string[]; compensated: string[]; failure?: StepFailure };

  it("a-cancel-is-refused-while-a-step-that-nothing-undoes-stands-done-in-part-and-the-saga-finishes-it", async () => {
    const rt = await open("cancel");
    await rt.call("retried", "t1", "start", { payer: "payer", payee: "payee" });
    await until("the deposit's first attempt to fail after its call was kept", async () => {
      const { workflow } = await rt.admin.showWorkflow("retried", "t1");
      return workflow.attempt === 1 && workflow.lastError?.partial === true;
    }, 10_000);
    const { history } = await rt.admin.showWorkflow("retried", "t1");
    assert.ok(history.some((h) => /^step deposit failed \(attempt 1\): step_timeout: .* after part of it took effect; retry in \d+ ms$/.test(h.detail)), "the history says the failed attempt was done in part");
    await assert.rejects(rt.admin.operateWorkflow("retried", "t1", "cancel"), (error: SagaflowError) => {
      assert.equal(error.code, "partial_step");
      assert.match(error.message, /step "deposit" of saga retried "t1" took effect in part/);
      return true;
    });
    const done = await ended(rt, "retried", "t1");
    assert.equal(sagaState(done).status, "completed");
    assert.deepEqual(await balances(rt), [9, 1], "one unit moved, once: no refund of a withdrawal whose deposit was kept");
  });

  it("a-saga-whose-step-failed-done-in-part-with-nothing-to-undo-it-stops-for-an-operator-and-compensates-the-rest-once-they-say-they-undid-it", async () => {
    const rt = await open("pivot");
    await rt.call("pivot", "p1", "start", { payer: "payer", payee: "payee" });
    const stopped = await ended(rt, "pivot", "p1", "failed");
    assert.equal(sagaState(stopped).status, "requires_manual_intervention");
    assert.deepEqual(sagaState(stopped).failure && [sagaState(stopped).failure!.step, sagaState(stopped).failure!.partial], ["deposit", true]);
    const { workflow, operator, journal, history: transitions } = await rt.admin.showWorkflow("pivot", "p1");
    assert.equal(workflow.lastError?.code, "partial_step");
    assert.match(workflow.lastError.message, /lists what it kept: npx sagaflow workflows show pivot p1\), then retry with undoneByHand=deposit \(npx sagaflow workflows retry pivot p1 --undone-by-hand deposit\): the saga counts/);
    // What to undo by hand: the deposit its journal says was kept, with its target and key.
    const depositExec = transitions.find((h) => h.step === "deposit")!.execId;
    assert.deepEqual(
      journal.map(({ at: _at, ...entry }) => entry),
      [{ step: "deposit", call: { component: "wallet", id: "payee", command: "deposit", input: { amount: 1 } }, execution: depositExec, key: `wf:pivot:p1:${depositExec}:0` }],
    );
    // What the console offers: the step the stop is about, and only what the admin API accepts.
    assert.equal(workflow.undoing, "deposit");
    assert.deepEqual(operator, { actions: ["terminate"], undoneByHand: "deposit", forward: "deposit" });
    assert.deepEqual(await balances(rt), [9, 1], "nothing was undone: the payer's refund would have made money");

    // A plain retry would refund the payer beside the kept deposit: refused, nothing changed.
    await assert.rejects(rt.admin.operateWorkflow("pivot", "p1", "retry"), (error: SagaflowError) => {
      assert.equal(error.code, "partial_step");
      assert.match(error.message, /retry with undoneByHand=deposit/);
      return true;
    });
    await assert.rejects(rt.admin.operateWorkflow("pivot", "p1", "retry", { undoneByHand: "withdraw" }), (error: SagaflowError) => {
      assert.equal(error.code, "invalid_status");
      assert.match(error.message, /saga pivot "p1" stopped undoing step "deposit", not "withdraw"/);
      return true;
    });
    const still = await rt.admin.showWorkflow("pivot", "p1");
    assert.deepEqual([still.workflow.status, still.workflow.version], ["failed", workflow.version]);

    // The operator takes the deposit back by hand, then says so: the withdrawal is compensated.
    await rt.call("wallet", "payee", "withdraw", { amount: 1 });
    await rt.admin.operateWorkflow("pivot", "p1", "retry", { undoneByHand: "deposit" });
    const done = await ended(rt, "pivot", "p1");
    assert.equal(sagaState(done).status, "compensated");
    assert.deepEqual(sagaState(done).compensated, ["deposit", "withdraw"]);
    assert.deepEqual((done.state as { undoneByHand?: string[] }).undoneByHand, ["deposit"]);
    assert.deepEqual(await balances(rt), [10, 0]);
    const { history, operator: over, workflow: last } = await rt.admin.showWorkflow("pivot", "p1");
    assert.ok(history.some((h) => /retried by operator; step deposit undone by hand/.test(h.detail)), "the history says who undid what");
    assert.deepEqual([over, last.undoing], [{ actions: [], undoneByHand: null, forward: null }, null], "an ended saga offers nothing");
  });

  it("a-saga-stopped-at-a-step-done-in-part-that-nothing-undoes-is-finished-forward-what-it-kept-answered-from-its-records", async () => {
    depositHangs = true;
    const rt = await open("forward");
    await rt.call("forward", "f1", "start", { payer: "payer", payee: "payee" });
    const stopped = await ended(rt, "forward", "f1", "failed");
    assert.equal(stopped.state && sagaState(stopped).status, "requires_manual_intervention");
    const { workflow, operator, history: before } = await rt.admin.showWorkflow("forward", "f1");
    assert.equal(workflow.lastError?.code, "partial_step");
    assert.match(workflow.lastError.message, /or finish the step instead, retry with forward=true \(npx sagaflow workflows retry forward f1 --forward\): it runs again in the execution it failed in/);
    assert.deepEqual(operator, { actions: ["terminate"], undoneByHand: "deposit", forward: "deposit" });
    assert.deepEqual(await balances(rt), [9, 1], "the deposit was kept, nothing undone");

    // Forward, with what makes no sense beside it: refused, nothing changed.
    await assert.rejects(rt.admin.operateWorkflow("forward", "f1", "retry", { forward: true, undoneByHand: "deposit" }), /forward and undoneByHand are two different answers/);
    await assert.rejects(rt.admin.operateWorkflow("forward", "f1", "cancel", { forward: true }), /forward goes with retry/);
    assert.equal((await rt.admin.showWorkflow("forward", "f1")).workflow.version, workflow.version);

    // Forward while the cause is not fixed: the deposit runs again, hangs again, and the saga stops
    // the same way, the deposit still kept once; an operator may go forward again.
    assert.deepEqual(await rt.admin.operateWorkflow("forward", "f1", "retry", { forward: true }), { status: "running", step: "deposit" });
    const running = (await rt.admin.showWorkflow("forward", "f1")).workflow;
    assert.deepEqual([running.step, running.lastError?.code, running.lastError?.partial], ["deposit", "step_timeout", true], "its last error is the step's own, done in part");
    await until("the saga to stop again", async () => {
      const { workflow: again } = await rt.admin.showWorkflow("forward", "f1");
      return again.status === "failed" && again.version > running.version && again.lastError?.code === "partial_step";
    }, 10_000);
    assert.deepEqual(await balances(rt), [9, 1]);

    depositHangs = false;
    assert.deepEqual(await rt.admin.operateWorkflow("forward", "f1", "retry", { forward: true }), { status: "running", step: "deposit" });
    const done = await ended(rt, "forward", "f1");
    assert.deepEqual([sagaState(done).status, sagaState(done).completed, sagaState(done).compensated, sagaState(done).failure], ["completed", ["withdraw", "deposit", "pass-on"], [], undefined]);
    assert.deepEqual(await balances(rt), [9, 0], "deposited once (the re-run's call answered from the kept deposit's record), then passed on once");

    // The deposit ran again in the execution it failed in: the journal holds its one kept call there.
    const { history, journal } = await rt.admin.showWorkflow("forward", "f1");
    const depositExec = before.find((h) => h.step === "deposit")!.execId;
    const retried = history.filter((h) => h.detail.startsWith("retried forward"));
    assert.deepEqual(retried.map((h) => [h.step, h.execId]), [["deposit", depositExec], ["deposit", depositExec]]);
    assert.match(retried[1]!.detail, new RegExp(`^retried forward by operator: step deposit runs again in execution ${depositExec}, where it failed`));
    const calls = journal.flatMap((entry) => ("call" in entry ? [`${entry.execution} ${entry.step}: ${entry.call.command} ${entry.call.id}`] : []));
    assert.deepEqual(calls.filter((c) => c.endsWith("deposit payee")), [`${depositExec} deposit: deposit payee`], calls.join("; "));
    const { operator: over } = await rt.admin.showWorkflow("forward", "f1");
    assert.deepEqual(over, { actions: [], undoneByHand: null, forward: null });
    await assert.rejects(rt.admin.operateWorkflow("forward", "f1", "retry", { forward: true }), (error: SagaflowError) => error.code === "invalid_status");
  });

  it("forward-is-refused-where-a-saga-did-not-stop-at-a-step-done-in-part-that-nothing-undoes-and-for-a-workflow-that-is-no-saga", async () => {
    const rt = await open("forward-refused");
    await rt.call("stuck", "s2", "start", { payer: "payer", payee: "payee" });
    const stopped = await ended(rt, "stuck", "s2", "failed");
    const { version } = (await rt.admin.showWorkflow("stuck", "s2")).workflow;
    await assert.rejects(rt.admin.operateWorkflow("stuck", "s2", "retry", { forward: true }), (error: SagaflowError) => {
      assert.equal(error.code, "invalid_status");
      assert.match(error.message, /saga stuck "s2" did not stop at a step done in part that nothing undoes \(it is at step "compensate"\)/);
      return true;
    });
    assert.equal((await rt.admin.showWorkflow("stuck", "s2")).workflow.version, version, "nothing changed");
    assert.deepEqual(await rt.workflowResult("stuck", "s2"), stopped);
    await rt.call("journaled", "j2", "start", { run: "none" });
    await assert.rejects(rt.admin.operateWorkflow("journaled", "j2", "retry", { forward: true }), /forward applies to a saga .*workflow "journaled" is not a saga/);
  });

  it("a-step-that-failed-done-in-part-is-compensated-first-when-it-has-a-compensation", async () => {
    const rt = await open("undoable");
    await rt.call("undoable", "u1", "start", { payer: "payer", payee: "payee" });
    const done = await ended(rt, "undoable", "u1");
    assert.equal(sagaState(done).status, "compensated");
    assert.deepEqual(sagaState(done).compensated, ["deposit", "withdraw"]);
    assert.deepEqual(await balances(rt), [10, 0]);
  });

  it("a-step-that-failed-before-anything-of-it-was-kept-is-not-partial-and-its-compensation-does-not-run", async () => {
    const rt = await open("dropped");
    await rt.call("dropped", "d1", "start", { payer: "payer", payee: "payee" });
    const done = await ended(rt, "dropped", "d1");
    assert.equal(sagaState(done).status, "compensated");
    assert.deepEqual(sagaState(done).compensated, ["withdraw"]);
    assert.equal(sagaState(done).failure?.partial, undefined);
    assert.deepEqual(await balances(rt), [10, 0]);
  });

  it("with-step-calls-committed-on-their-own-a-call-answered-before-its-step-failed-makes-the-step-partial", async () => {
    const rt = await open("separate", "separate");
    await rt.call("dropped", "s1", "start", { payer: "payer", payee: "payee" });
    const done = await ended(rt, "dropped", "s1");
    assert.equal(sagaState(done).failure?.partial, true);
    assert.deepEqual(sagaState(done).compensated, ["deposit", "withdraw"]);
    assert.deepEqual(await balances(rt), [10, 0], "the deposit, committed before the step failed, was taken back");
    // Every call committed on its own is in the journal, each with its target (one the step did not hold too).
    const { journal } = await rt.admin.showWorkflow("dropped", "s1");
    const calls = journal.flatMap((entry) => ("call" in entry ? [`${entry.step}: ${entry.call.command} ${entry.call.id}`] : []));
    assert.deepEqual(calls, ["withdraw: withdraw payer", "deposit: deposit payee", "compensate: withdraw payee", "compensate: deposit payer"]);
  });

  it("a-saga-whose-compensation-keeps-timing-out-says-in-its-state-that-it-needs-an-operator", async () => {
    const rt = await open("stuck");
    await rt.call("stuck", "s1", "start", { payer: "payer", payee: "payee" });
    const stopped = await ended(rt, "stuck", "s1", "failed");
    assert.equal(sagaState(stopped).status, "requires_manual_intervention");
    assert.deepEqual(sagaState(stopped).failure && [sagaState(stopped).failure!.step, sagaState(stopped).failure!.code], ["deposit", "not_found"]);
    const shown = await rt.admin.showWorkflow("stuck", "s1");
    assert.deepEqual([shown.workflow.undoing, shown.operator], ["withdraw", { actions: ["retry", "terminate"], undoneByHand: "withdraw", forward: null }]);

    // The operator refunds the payer by hand and says so: the hanging compensation is not run.
    await rt.call("wallet", "payer", "deposit", { amount: 1 });
    await rt.admin.operateWorkflow("stuck", "s1", "retry", { undoneByHand: "withdraw" });
    const done = await ended(rt, "stuck", "s1");
    assert.deepEqual([sagaState(done).status, sagaState(done).compensated], ["compensated", ["withdraw"]]);
    assert.deepEqual(await balances(rt), [10, 0]);
  });

  it("a-compensation-that-timed-out-after-its-refund-was-kept-is-not-offered-as-undone-by-hand-and-a-plain-retry-finishes-it-without-refunding-twice", async () => {
    refundHangs = true;
    const rt = await open("refund-kept");
    await rt.call("refund-kept", "r1", "start", { payer: "payer", payee: "payee" });
    const stopped = await ended(rt, "refund-kept", "r1", "failed");
    assert.equal(sagaState(stopped).status, "requires_manual_intervention");
    const shown = await rt.admin.showWorkflow("refund-kept", "r1");
    assert.deepEqual([shown.workflow.lastError?.code, shown.workflow.lastError?.partial], ["step_timeout", true]);
    // Offered "withdraw undone by hand", an operator might refund the payer a second time.
    assert.deepEqual([shown.workflow.undoing, shown.operator], ["withdraw", { actions: ["retry", "terminate"], undoneByHand: null, forward: null }]);
    assert.deepEqual(await balances(rt), [10, 0], "the refund was kept");
    refundHangs = false;
    await rt.admin.operateWorkflow("refund-kept", "r1", "retry");
    const done = await ended(rt, "refund-kept", "r1");
    assert.deepEqual([sagaState(done).status, sagaState(done).compensated], ["compensated", ["withdraw"]]);
    assert.deepEqual(await balances(rt), [10, 0], "refunded once: the retry's call answered from the kept refund's record");
  });

  it("a-failover-step-is-told-exactly-when-the-failed-step-took-effect-in-part-a-journaled-or-running-ctx-run-a-timer-not-a-command-that-changed-nothing", async () => {
    const rt = await open("journaled");
    await rt.call("journaled", "ran", "start", { run: "done" });
    await rt.call("journaled", "slow", "start", { run: "slow" });
    await rt.call("journaled", "not", "start", { run: "none" });
    await rt.call("journaled", "timer", "start", { run: "timer" });
    await rt.call("journaled", "no-timer", "start", { run: "no-timer" });
    await rt.call("journaled", "touch", "start", { run: "touch" });
    const touch = (await ended(rt, "journaled", "touch")).state as { failure: StepFailure };
    assert.equal(touch.failure.partial, undefined, "a command that changed nothing took no effect");
    const timer = (await ended(rt, "journaled", "timer")).state as { failure: StepFailure };
    const noTimer = (await ended(rt, "journaled", "no-timer")).state as { failure: StepFailure };
    assert.equal(timer.failure.partial, true, "a timer started outlives the attempt");
    assert.equal(noTimer.failure.partial, undefined, "cancelling a timer that was not there changed nothing");
    const ran = (await ended(rt, "journaled", "ran")).state as { failure: StepFailure };
    const slow = (await ended(rt, "journaled", "slow")).state as { failure: StepFailure };
    const not = (await ended(rt, "journaled", "not")).state as { failure: StepFailure };
    assert.deepEqual([ran.failure.step, ran.failure.code, ran.failure.partial], ["charge", "broken", true]);
    assert.deepEqual([slow.failure.code, slow.failure.partial], ["step_timeout", true], "a ctx.run under way when the step timed out may have had its effect");
    assert.deepEqual([not.failure.code, not.failure.partial], ["broken", undefined]);
    // The journal says what was kept: the ctx.run's result, the timer started; nothing for the others.
    const kept = async (id: string) => (await rt.admin.showWorkflow("journaled", id)).journal.map(({ at: _at, key: _key, execution: _e, ...entry }) => entry);
    assert.deepEqual(await kept("ran"), [{ step: "charge", run: { name: "charge", result: "charged" } }]);
    const [started] = (await kept("timer")) as Array<{ step: string; timer: { name: string; change: string; dueAt: number; call: unknown } }>;
    assert.deepEqual({ ...started!, timer: { ...started!.timer, dueAt: typeof started!.timer.dueAt } }, {
      step: "charge",
      timer: { name: "remind-timer", change: "started", dueAt: "number", call: { component: "wallet", id: "payer", command: "deposit", input: { amount: 1 } } },
    });
    assert.deepEqual([await kept("not"), await kept("no-timer"), await kept("touch")], [[], [], []]);
  });
}

describe("a step done in part (SQLite)", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-partial-steps-"));
  partialStepSuite((name) => new SqliteStore({ path: join(dir, `${name}.db`) }), async () => rmSync(dir, { recursive: true, force: true }));
});

whenPostgresAsked((url) => {
  describe("a step done in part (PostgreSQL)", () => {
    const bed = testbed(url);
    partialStepSuite(() => bed.newStore(), () => bed.dropSchemas());
  });
});
