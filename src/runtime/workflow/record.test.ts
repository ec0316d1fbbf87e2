import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { finalStatuses, isLasting, type WorkflowStatus } from "../../store/port.ts";
import { workflow } from "../../define/workflow.ts";
import { applyDecision, applyStepFailure, operatorAllowed, startRecord } from "./record.ts";

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
