import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SagaflowError, StoreUnavailableError } from "../define/errors.ts";
import { saga } from "../define/saga.ts";
import { workflow } from "../define/workflow.ts";
import { mockComponent, testWorkflow } from "./index.ts";

const calls: string[] = [];
const ledger = mockComponent("ledger", {
  record: (input: { what: string }) => {
    calls.push(input.what);
    if (input.what === "refuse") throw new SagaflowError("refused", "the ledger refuses");
    return { ok: true };
  },
});

const job = workflow("job", {
  start: (input: { n: number }) => ({ n: input.n, log: [] as string[] }),
  steps: {
    work: async (s, _input, ctx) => {
      await ctx.call(ledger, "l").record({ what: `work ${s.n}` });
      return ctx.update({ ...s, log: [...s.log, "worked"] }).end();
    },
    recover: async (s, input: { failure: { code: string } }, ctx) =>
      ctx.update({ ...s, log: [...s.log, `recovered from ${input.failure.code}`] }).end(),
  },
  stepOptions: { work: { timeoutMs: 1_000, retry: { maxAttempts: 2, initialBackoffMs: 100 }, failoverTo: "recover" } },
});

const jobWithoutFailover = { ...job, name: "job-plain", stepOptions: { work: { timeoutMs: 1_000, retry: { maxAttempts: 3, initialBackoffMs: 100 } } } };

const approval = workflow("approval", {
  start: (input: { amount: number }) => ({ amount: input.amount, outcome: "pending" }),
  steps: {
    ask: async (_s, _input, ctx) => ctx.pause({ timeoutMs: 5_000, then: "expire" }),
    expire: async (s, _input, ctx) => ctx.update({ ...s, outcome: "expired" }).end(),
  },
  commands: {
    approve: (wf, _input: {}, fx) =>
      wf.status === "paused" ? fx.update({ ...wf.state, outcome: "approved" }).end().reply({ ok: true }) : fx.error("not_waiting"),
  },
});

describe("workflow testkit (virtual time)", () => {
  it("step-timeout-then-retry-then-failover", async () => {
    const t = await testWorkflow(job, { components: [ledger] });
    t.failStep("work", 2, "hang");
    await t.start("j1", { n: 1 });
    assert.equal((await t.result("j1")).status, "running");
    await t.advance(999);
    assert.equal((await t.history("j1")).length, 1, "nothing happens before the timeout");
    await t.advance(1); // first run times out; retry after 100 ms back-off
    const afterFirst = await t.history("j1");
    assert.match(afterFirst.at(-1)!.detail, /step_timeout.*retry in 100 ms/);
    await t.advance(100); // second run starts and hangs
    await t.advance(1_000); // times out: attempts used up, failover
    const view = await t.result("j1");
    assert.equal(view.status, "ended");
    assert.equal(view.step, "recover");
    assert.deepEqual(view.state.log, ["recovered from step_timeout"]);
    await t.stop();
  });

  it("a-database-out-of-reach-uses-up-no-attempt-however-long-it-lasts", async () => {
    // Three attempts allowed; the store fails eight times as a dropped connection does.
    const t = await testWorkflow(jobWithoutFailover as typeof job, { components: [ledger] });
    const outage = new StoreUnavailableError("unreachable", "the database cannot be reached right now (terminating connection due to administrator command)");
    t.failStep("work", 8, outage);
    await t.start("j9", { n: 9 });
    for (let i = 0; i < 8; i++) {
      assert.equal((await t.result("j9")).status, "running", `still running after ${i} outage failures`);
      await t.advance(100); // the first back-off, every time
    }
    const view = await t.result("j9");
    assert.equal(view.status, "ended");
    assert.deepEqual(view.state.log, ["worked"]);
    const notes = (await t.history("j9")).map((h) => h.detail);
    assert.equal(notes.filter((n) => /store was out of reach.*retry in 100 ms, attempts unchanged/.test(n)).length, 8);
    await t.stop();
  });

  it("retries-exhausted-without-failover-fails-and-operator-retry-finishes", async () => {
    const t = await testWorkflow(jobWithoutFailover as typeof job, { components: [ledger] });
    t.failStep("work", 3, new Error("flaky"));
    await t.start("j2", { n: 2 });
    await t.advance(100); // attempt 2 after 100 ms
    await t.advance(200); // attempt 3 after 200 ms
    const failed = await t.result("j2");
    assert.equal(failed.status, "failed");
    const history = await t.history("j2");
    assert.match(history.at(-1)!.detail, /attempt 3\): step_error: flaky; workflow failed/);
    await t.operate("j2", "retry");
    const done = await t.result("j2");
    assert.equal(done.status, "ended");
    assert.deepEqual(done.state.log, ["worked"]);
    await t.stop();
  });

  it("a-refusal-is-not-retried-it-fails-over-at-once", async () => {
    const refusing = workflow("refusing", {
      start: (_input: {}) => ({ note: "" }),
      steps: {
        act: async (_s, _input, ctx) => {
          await ctx.call(ledger, "l").record({ what: "refuse" });
          return ctx.end();
        },
        undo: async (_s, input: { failure: { code: string } }, ctx) => ctx.update({ note: input.failure.code }).end(),
      },
      defaults: { failoverTo: "undo" },
    });
    const t = await testWorkflow(refusing, { components: [ledger] });
    calls.length = 0;
    await t.start("r1", {});
    const view = await t.result("r1");
    assert.equal(view.status, "ended");
    assert.equal(view.state.note, "refused");
    assert.deepEqual(calls, ["refuse"], "called once: refusals are final");
    await t.stop();
  });

  it("pause-timeout-runs-the-handler-step", async () => {
    const t = await testWorkflow(approval);
    await t.start("p1", { amount: 5 });
    assert.equal((await t.result("p1")).status, "paused");
    await t.advance(4_999);
    assert.equal((await t.result("p1")).status, "paused");
    await t.advance(1);
    const view = await t.result("p1");
    assert.equal(view.status, "ended");
    assert.equal(view.state.outcome, "expired");
    await t.stop();
  });

  it("a-command-ends-a-pause-before-its-timeout", async () => {
    const t = await testWorkflow(approval);
    await t.start("p2", { amount: 5 });
    assert.deepEqual(await t.command("p2", "approve"), { ok: true });
    await t.advance(10_000);
    const view = await t.result("p2");
    assert.equal(view.state.outcome, "approved", "the pause timeout no longer fires");
    await assert.rejects(t.command("p2", "approve"), (e: SagaflowError) => e.code === "not_waiting");
    await t.stop();
  });

  it("saga-compensates-completed-steps-in-reverse-order", async () => {
    const three = saga("three", {
      start: (_input: {}) => ({}),
      steps: [
        { name: "a", run: (_s, ctx) => ctx.call(ledger, "l").record({ what: "do a" }), compensate: (_s, ctx) => ctx.call(ledger, "l").record({ what: "undo a" }) },
        { name: "b", run: (_s, ctx) => ctx.call(ledger, "l").record({ what: "do b" }), compensate: (_s, ctx) => ctx.call(ledger, "l").record({ what: "undo b" }) },
        { name: "c", run: (_s, ctx) => ctx.call(ledger, "l").record({ what: "refuse" }), compensate: (_s, ctx) => ctx.call(ledger, "l").record({ what: "undo c" }) },
      ],
    });
    const t = await testWorkflow(three, { components: [ledger] });
    calls.length = 0;
    await t.start("s1", {});
    const view = await t.result("s1");
    assert.deepEqual(calls, ["do a", "do b", "refuse", "undo b", "undo a"]);
    assert.equal(view.state.status, "compensated");
    assert.deepEqual(view.state.completed, ["a", "b"]);
    assert.deepEqual(view.state.compensated, ["b", "a"]);
    assert.equal(view.state.failure?.step, "c");
    await t.stop();
  });

  it("a-saga-step-keeps-what-it-learnt-by-returning-ctx-update-and-its-compensation-reads-it", async () => {
    const shipping = saga("shipping", {
      start: (_input: {}) => ({ tracking: null as string | null }),
      steps: [
        {
          name: "ship",
          run: async (s, ctx) => {
            const { tracking } = await ctx.run("carrier", () => ({ tracking: "T-42" }));
            // A step's own `completed` or `status` is not the saga's to lose: they are its own.
            return ctx.update(Object.assign({ ...s, tracking }, { completed: [], status: "completed" }));
          },
          compensate: (s, ctx) => ctx.call(ledger, "l").record({ what: `cancel ${s.tracking}` }),
        },
        { name: "bill", run: (_s, ctx) => ctx.call(ledger, "l").record({ what: "refuse" }) },
      ],
    });
    const t = await testWorkflow(shipping, { components: [ledger] });
    calls.length = 0;
    await t.start("s1", {});
    const view = await t.result("s1");
    assert.deepEqual(calls, ["refuse", "cancel T-42"]);
    assert.deepEqual([view.state.tracking, view.state.status, view.state.completed], ["T-42", "compensated", ["ship"]]);
    await t.stop();
  });

  it("a-saga-step-that-returns-a-transition-fails-naming-the-step", async () => {
    const moving = saga("moving", {
      start: (_input: {}) => ({}),
      retry: { maxAttempts: 1 },
      steps: [{ name: "only", run: async (s, ctx) => ctx.update(s).end() }],
    });
    const t = await testWorkflow(moving, { components: [] });
    await t.start("m1", {});
    const view = await t.result("m1");
    assert.equal(view.state.status, "rejected");
    assert.match(view.state.failure?.message ?? "", /saga "moving", step "only": a saga moves from step to step by itself/);
    await t.stop();
  });

  it("saga-whose-compensation-keeps-failing-needs-an-operator", async () => {
    let undoFails = true;
    const flaky = mockComponent("flaky", {
      act: (input: { what: string }) => {
        if (input.what === "refuse") throw new SagaflowError("refused", "no");
        if (input.what === "undo" && undoFails) throw new Error("undo is down");
        return {};
      },
    });
    const two = saga("two", {
      start: (_input: {}) => ({}),
      steps: [
        { name: "a", run: (_s, ctx) => ctx.call(flaky, "f").act({ what: "do" }), compensate: (_s, ctx) => ctx.call(flaky, "f").act({ what: "undo" }) },
        { name: "b", run: (_s, ctx) => ctx.call(flaky, "f").act({ what: "refuse" }) },
      ],
      compensationRetry: { maxAttempts: 2, initialBackoffMs: 10 },
    });
    const t = await testWorkflow(two, { components: [flaky] });
    await t.start("m1", {});
    await t.advance(10);
    const stuck = await t.result("m1");
    assert.equal(stuck.status, "failed");
    assert.equal(stuck.state.status, "requires_manual_intervention");
    undoFails = false;
    await t.operate("m1", "retry");
    const view = await t.result("m1");
    assert.equal(view.status, "ended");
    assert.equal(view.state.status, "compensated");
    await t.stop();
  });

  it("a-saga-stopped-at-a-step-done-in-part-that-nothing-undoes-is-finished-forward", async () => {
    let labelsPrinted = 0;
    let carrierDown = true;
    const ship = saga("ship", {
      start: (_input: {}) => ({ label: "" }),
      retry: { maxAttempts: 1 },
      steps: [
        {
          name: "dispatch",
          run: async (s, ctx) => {
            const label = await ctx.run("print label", () => `label-${++labelsPrinted}`);
            if (carrierDown) throw new Error("the carrier is down");
            return ctx.update({ ...s, label });
          },
        },
      ],
    });
    const t = await testWorkflow(ship, {});
    await t.start("s1", {});
    const stopped = await t.result("s1");
    assert.deepEqual([stopped.status, stopped.state.status, stopped.state.failure?.partial], ["failed", "requires_manual_intervention", true]);
    carrierDown = false;
    await t.operate("s1", "retry", { forward: true });
    const done = await t.result("s1");
    assert.deepEqual([done.status, done.state.status, done.state.label], ["ended", "completed", "label-1"]);
    assert.equal(labelsPrinted, 1, "the label printed before the failure is answered from its record");
    await t.stop();
  });
});

describe("workflow testkit: ctx.run's back-offs on the virtual clock", () => {
  const flakyRun = (failures: number) =>
    workflow("flaky-run", {
      start: (_input: {}) => ({ calls: 0 }),
      steps: {
        work: async (_s, _input, ctx) => {
          const calls = await ctx.run("ext", ({ attempt }) => {
            if (attempt <= failures) throw new Error("ext flaked");
            return attempt;
          }, { maxAttempts: 5, initialBackoffMs: 10 });
          return ctx.update({ calls }).end();
        },
      },
    });

  it("one advance past every back-off finishes the step", async () => {
    const t = await testWorkflow(flakyRun(3), { components: [] });
    await t.start("r1", {});
    assert.equal((await t.result("r1")).status, "running", "waiting on its first back-off");
    await t.advance(1_000); // 10 + 20 + 40 ms of back-off
    assert.deepEqual([(await t.result("r1")).status, (await t.result("r1")).state], ["ended", { calls: 4 }]);
    await t.stop();
  });

  it("stop does not wait for an attempt waiting on the virtual clock", async () => {
    const t = await testWorkflow(flakyRun(1), { components: [] });
    await t.start("r2", {});
    const stopped = await Promise.race([t.stop().then(() => "stopped"), new Promise((done) => setTimeout(() => done("still waiting"), 3_000))]);
    assert.equal(stopped, "stopped");
  });
});

describe("workflow testkit: a command's transition to an undefined step", () => {
  it("is an error naming the step, and the workflow stays where it was", async () => {
    const wayward = workflow("wayward", {
      start: (_input: {}) => ({ n: 0 }),
      steps: { wait: async (_s, _input, ctx) => ctx.pause() },
      // The type checker refuses "nowhere"; `as never` gets it past, as plain JavaScript would.
      commands: { derail: (_w, _c: {}, fx) => fx.transitionTo("nowhere" as never).reply({ moved: true }) },
    });
    const t = await testWorkflow(wayward);
    await t.start("w1", {});
    await assert.rejects(t.command("w1", "derail"), (error: unknown) => {
      assert.ok(error instanceof SagaflowError);
      assert.equal(error.code, "unknown_step");
      assert.match(error.message, /wayward\.derail: workflow "wayward" has no step "nowhere"/);
      return true;
    });
    const view = await t.result("w1");
    assert.equal(view.status, "paused");
    assert.equal(view.step, "wait");
    await t.stop();
  });
});
