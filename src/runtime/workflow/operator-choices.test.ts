import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { workflow } from "../../define/workflow.ts";
import type { WorkflowStatus } from "../../store/port.ts";
import { retryUndoneByHand } from "../../define/saga.ts";
import { operatorChoices, operatorDecision } from "./operator-decisions.ts";
import { startRecord } from "./record.ts";

/** What the console offers an operator is what the admin API accepts, status by status. */
describe("an operator's choices", () => {
  const cancellable = workflow("cancellable", {
    start: () => ({}),
    steps: { work: async (s, _input, ctx) => ctx.update(s).end(), undo: async (s, _input, ctx) => ctx.update(s).end() },
    onCancel: "undo",
  });
  const plain = workflow("plain", { start: () => ({}), steps: { work: async (s, _input, ctx) => ctx.update(s).end() } });
  const at = (definition: typeof cancellable | typeof plain, status: WorkflowStatus, step = "work") => ({ ...startRecord(definition, {}, "h", 1_000).record, status, step });

  it("follow-the-status-and-whether-the-workflow-has-a-cancel-step", () => {
    const choices = (definition: typeof cancellable | typeof plain, status: WorkflowStatus, step?: string) => operatorChoices(definition, "o1", at(definition, status, step), 2_000).actions;
    assert.deepEqual(choices(cancellable, "running"), ["suspend", "cancel", "terminate"]);
    assert.deepEqual(choices(plain, "running"), ["suspend", "terminate"], "no cancel step: cancel is refused");
    assert.deepEqual(choices(cancellable, "suspended"), ["resume", "cancel", "terminate"]);
    assert.deepEqual(choices(cancellable, "failed"), ["retry", "cancel", "terminate"]);
    assert.deepEqual(choices(cancellable, "failed", "undo"), ["retry", "terminate"], "already at its cancel step");
    assert.deepEqual(choices(cancellable, "paused"), ["cancel", "terminate"]);
    assert.deepEqual(choices(cancellable, "ended"), []);
    assert.deepEqual(choices(cancellable, "terminated"), []);
  });

  it("a-cancel-of-a-workflow-already-running-its-cancel-step-says-where-to-watch-it", () => {
    const record = at(cancellable, "running", "undo");
    const { reply } = operatorDecision(cancellable, "o 1", { state: record, deleted: false }, record, { action: "cancel" }, "by operator", 2_000, false);
    assert.deepEqual(reply.ok ? "accepted" : [reply.code, reply.message], [
      "invalid_status",
      `the workflow is already at its cancel step "undo"; it is running there (where the step attempt in progress may have left it: see how it goes with npx sagaflow workflows show cancellable 'o 1')`,
    ]);
  });

  it("offer-no-step-undone-by-hand-and-no-forward-outside-a-saga", () => {
    const { undoneByHand, forward, actions } = operatorChoices(cancellable, "o1", at(cancellable, "failed", "undo"), 2_000);
    assert.deepEqual([undoneByHand, forward, actions.includes("retry")], [null, null, true]);
  });
});

describe("an operator's command in a refusal", () => {
  it("names-the-instance-quoted-for-a-shell-where-its-id-needs-it", () => {
    assert.equal(retryUndoneByHand("transfer", "t-1:a/b", "deposit"), "retry with undoneByHand=deposit (npx sagaflow workflows retry transfer t-1:a/b --undone-by-hand deposit)");
    assert.equal(retryUndoneByHand("transfer", "bob's $HOME", "deposit"), "retry with undoneByHand=deposit (npx sagaflow workflows retry transfer 'bob'\\''s $HOME' --undone-by-hand deposit)");
  });
});
