import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { finalStatuses, isLasting, type WorkflowStatus } from "../../store/port.ts";
import { operatorAllowed } from "./record.ts";

/** Nodes keep a lasting end other nodes signalled (EndWaiters): it must be one nothing changes again. */
describe("lasting statuses", () => {
  it("no-operator-action-leaves-a-lasting-status-and-every-other-final-status-has-one-that-does", () => {
    const actedOn = new Set<WorkflowStatus>(Object.values(operatorAllowed).flat());
    for (const status of finalStatuses) {
      assert.equal(isLasting(status), !actedOn.has(status), `${status}: lasting ${isLasting(status)}, an action applies ${actedOn.has(status)}`);
    }
  });
});
