import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { finalStatuses, isLasting, type WorkflowStatus } from "../../store/port.ts";
import { workflow } from "../../define/workflow.ts";
import { applyDecision, applyStepFailure, firstRunOf, operatorAllowed, startRecord } from "./record.ts";

/** Nodes keep a lasting end other nodes signalled (EndWaiters): it must be one nothing changes again. */
describe("lasting statuses", () => {
  it("no-operator-action-leaves-a-lasting-status-and-every-other-final-status-has-one-that-does", () => {
    const actedOn = new Set<WorkflowStatus>(Object.values(operatorAllowed).flat());
    for (const status of finalStatuses) {
      assert.equal(isLasting(status), !actedOn.has(status), `${status}: lasting ${isLasting(status)}, an action applies ${actedOn.has(status)}`);
    }
  });
});

/** A step retried after an error, then ending or pausing, leaves no error on the record: its history keeps it. */
describe("the last error of a step that then succeeded", () => {
  const flaky = workflow("flaky-record", {
    start: () => ({}),
    steps: { only: async (s, _input, ctx) => ctx.update(s).end() },
    defaults: { retry: { maxAttempts: 3 } },
  });

  it("is-cleared-when-the-step-ends-or-pauses-the-workflow-after-a-failed-attempt", () => {
    const started = startRecord(flaky, {}, "h", 1_000).record;
    const failedOnce = applyStepFailure(flaky, started, new Error("flaky"), 1_001).record;
    assert.equal(failedOnce.lastError?.message, "flaky", "the failed attempt is on the record while the step is retried");
    const ended = applyDecision(flaky, failedOnce, undefined, { kind: "end" }, 1_002).record;
    const paused = applyDecision(flaky, failedOnce, undefined, { kind: "pause", timeoutMs: undefined, then: undefined }, 1_002).record;
    assert.deepEqual([ended.status, ended.lastError], ["ended", null]);
    assert.deepEqual([paused.status, paused.lastError], ["paused", null]);
  });
});

/** A step execution's first run sends its calls unlooked-up (Pending.keyUnsent): only a record that begins one, once. */
describe("a step execution's first run", () => {
  const twoSteps = workflow("two-steps-record", {
    start: () => ({}),
    steps: { first: async (s, _input, ctx) => ctx.update(s).transitionTo("second"), second: async (s, _input, ctx) => ctx.update(s).end() },
    stepOptions: { second: { retry: { maxAttempts: 2 }, failoverTo: "first" } },
  });

  it("is-the-first-run-of-a-record-that-begins-an-execution-and-of-nothing-else", () => {
    const started = startRecord(twoSteps, {}, "h", 1_000).record;
    const moved = applyDecision(twoSteps, started, undefined, { kind: "step", step: "second", input: undefined }, 1_001).record;
    const updated = applyDecision(twoSteps, moved, { state: { n: 1 } }, undefined, 1_002).record;
    const failed = applyStepFailure(twoSteps, moved, new Error("flaky"), 1_003).record;
    const read = { ...moved }; // as loaded from the store: the same execution, run who knows where before
    const failedOver = applyStepFailure(twoSteps, failed, new Error("fails again: the last attempt"), 1_004).record;
    assert.deepEqual([moved.execId, updated.execId, failed.execId, read.execId, failedOver.execId], [2, 2, 2, 2, 3]);
    assert.deepEqual([firstRunOf(started), firstRunOf(moved), firstRunOf(failedOver)], [true, true, true], "a start, a move to a step and a failover begin an execution");
    assert.deepEqual([firstRunOf(started), firstRunOf(moved), firstRunOf(failedOver)], [false, false, false], "run once already: an earlier run may have sent its keys");
    assert.deepEqual([firstRunOf(updated), firstRunOf(failed), firstRunOf(read)], [false, false, false], "the same execution as before");
  });
});
