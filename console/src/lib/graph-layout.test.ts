import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { layoutGraph, visitedSteps, type WorkflowShape } from "./graph-layout.ts";

const saga: WorkflowShape = {
  name: "transfer",
  steps: ["withdraw", "deposit", "compensate"],
  failoverTo: { withdraw: "compensate", deposit: "compensate" },
  onCancel: "compensate",
  saga: { steps: [{ name: "withdraw", compensable: true }, { name: "deposit", compensable: false }], compensationStep: "compensate" },
};

describe("step graph layout", () => {
  it("collapses-repeated-steps-of-a-history", () => {
    assert.deepEqual(visitedSteps([{ step: null }, { step: "a" }, { step: "a" }, { step: "b" }, { step: "a" }]), ["a", "b", "a"]);
  });
  it("draws-a-compensated-saga-with-its-undo-on-the-path-taken", () => {
    const g = layoutGraph(saga, { visited: ["withdraw", "deposit", "compensate"], current: "compensate", status: "ended", compensated: ["withdraw"], undoing: null });
    const node = (id: string) => g.nodes.find((n) => n.id === id)!;
    assert.deepEqual(g.nodes.map((n) => n.id), ["$start", "withdraw", "deposit", "$end", "undo:withdraw", "$compensated"]);
    assert.equal(node("undo:withdraw").taken, true);
    assert.equal(node("$compensated").taken, true);
    assert.deepEqual(g.nodes.filter((n) => n.failed).map((n) => n.id), ["deposit"], "the step that failed is marked so, not as done");
    assert.equal(node("$end").taken, false);
    assert.ok(node("undo:withdraw").y > node("withdraw").y, "compensations in the row below");
    assert.equal(node("undo:withdraw").x, node("withdraw").x, "under the step they undo");
    const edge = (from: string, to: string) => g.edges.find((e) => e.from === from && e.to === to)!;
    assert.equal(edge("deposit", "undo:withdraw").taken, true);
    assert.equal(edge("deposit", "$end").taken, false);
    for (const n of g.nodes) assert.ok(n.x + n.w <= g.width && n.y + n.h <= g.height, `${n.id} inside the picture`);
  });
  it("marks-the-current-step-of-a-running-workflow-and-its-moves", () => {
    const shape: WorkflowShape = { name: "w", steps: ["a", "b", "c"], failoverTo: {}, onCancel: null, saga: null };
    const g = layoutGraph(shape, { visited: ["a", "c", "b"], current: "b", status: "running", compensated: [], undoing: null });
    assert.deepEqual(g.nodes.filter((n) => n.current).map((n) => n.id), ["b"]);
    assert.deepEqual(g.edges.map((e) => `${e.from}>${e.to}`), ["$start>a", "a>c", "c>b"]);
    assert.match(g.edges[1]!.d, /Q/, "a move past a neighbour is an arc");
    assert.equal(g.nodes.find((n) => n.id === "$end")!.taken, false);
  });
  it("marks-the-step-a-saga-is-undoing-as-the-admin-api-names-it-the-step-itself-when-it-has-no-compensation", () => {
    const current = (undoing: string) =>
      layoutGraph(saga, { visited: ["withdraw", "deposit", "compensate"], current: "compensate", status: "failed", compensated: [], undoing })
        .nodes.filter((n) => n.current)
        .map((n) => n.id);
    assert.deepEqual(current("withdraw"), ["undo:withdraw"]);
    // The stop is about the deposit, done in part with nothing to undo it: not "undo withdraw".
    assert.deepEqual(current("deposit"), ["deposit"]);
  });
  it("labels-a-step-without-a-compensation-the-operator-undid-by-hand", () => {
    const g = layoutGraph(saga, { visited: ["withdraw", "deposit", "compensate"], current: "compensate", status: "ended", compensated: ["deposit", "withdraw"], undoing: null });
    const deposit = g.nodes.find((n) => n.id === "deposit")!;
    assert.deepEqual([deposit.label, deposit.undoneByHand, deposit.failed], ["deposit (undone by hand)", true, true]);
    assert.equal(g.nodes.find((n) => n.id === "withdraw")!.undoneByHand, undefined, "undone by its compensation");
  });
});
