import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { WorkflowShape } from "./graph-layout.ts";
import { stoppedUndoing } from "./saga-stop.ts";

const transfer: WorkflowShape = {
  name: "transfer",
  steps: ["withdraw", "deposit", "compensate"],
  failoverTo: {},
  onCancel: "compensate",
  saga: { steps: [{ name: "withdraw", compensable: true }, { name: "deposit", compensable: false }], compensationStep: "compensate" },
};
const stopped = (state: unknown, status = "failed", step = "compensate") => stoppedUndoing(transfer, { status, step, state });

describe("the step a saga stopped undoing", () => {
  it("is-the-step-done-in-part-first-then-the-latest-completed-not-yet-compensated", () => {
    const partial = { completed: ["withdraw"], compensated: [], failure: { step: "deposit", partial: true } };
    assert.equal(stopped(partial), "deposit");
    assert.equal(stopped({ ...partial, compensated: ["deposit"] }), "withdraw");
    assert.equal(stopped({ completed: ["withdraw"], compensated: [], failure: { step: "deposit" } }), "withdraw", "a step that failed with nothing kept is not undone");
  });

  it("is-none-for-a-saga-not-stopped-in-its-compensations-or-a-plain-workflow", () => {
    const state = { completed: ["withdraw"], compensated: [] };
    assert.equal(stopped(state, "running"), undefined);
    assert.equal(stopped(state, "failed", "deposit"), undefined);
    assert.equal(stopped({ completed: ["withdraw"], compensated: ["withdraw"] }), undefined);
    assert.equal(stoppedUndoing({ ...transfer, saga: null }, { status: "failed", step: "compensate", state }), undefined);
  });
});
