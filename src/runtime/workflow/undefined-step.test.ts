import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { workflow } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { Runtime } from "../runtime.ts";

/**
 * A node meets a workflow due at a step its code does not define (a rolling deploy: newer code on
 * another node moved it there): it leaves it for a node whose code has the step (due again in
 * 30 s, so the sweep does not read it over and over), and says so once, instead of failing the
 * step (and compensating a saga that would have succeeded).
 */

const older = workflow("transfer", {
  start: (_input: {}) => ({}),
  steps: { first: async (_s, _input, ctx) => ctx.end() },
});

const newer = workflow("transfer", {
  start: (_input: {}) => ({}),
  steps: {
    first: async (_s, _input, ctx) => ctx.transitionTo("notify"),
    // It hangs here, so only the older node's handling of the workflow is seen.
    notify: () => new Promise<never>(() => {}),
  },
});

describe("a workflow at a step this node's code does not define", () => {
  it("is-left-for-another-node-with-one-warning-not-failed-or-retried", { timeout: 30_000 }, async () => {
    const store = new MemoryStore();
    const oldLogs: string[] = [];
    const oldNode = new Runtime({ store, components: [older], log: (line) => oldLogs.push(line) });
    await oldNode.start(); // nothing stands anywhere yet: start-up has nothing to refuse
    const newNode = new Runtime({ store, components: [newer], log: () => {} });
    await newNode.start();
    try {
      await newNode.call("transfer", "x1", "start", {});
      const deadline = Date.now() + 10_000;
      while ((await store.loadWorkflow("transfer", "x1"))?.step !== "notify") {
        if (Date.now() > deadline) throw new Error("x1 never reached notify");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await oldNode.workflows.sweepNow();
      while ((await store.loadWorkflow("transfer", "x1"))!.dueAt === null) {
        if (Date.now() > deadline) throw new Error("x1 was never left for another node");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await oldNode.workflows.sweepNow();
      const record = (await store.loadWorkflow("transfer", "x1"))!;
      assert.deepEqual([record.status, record.step, record.attempt, record.lastError ?? null], ["running", "notify", 0, null]);
      // Not due for a while: the sweep does not read it again and again (a page of them would stall the node).
      assert.ok(record.dueAt !== null && record.dueAt > Date.now() + 20_000, `due at ${record.dueAt}`);
      const warnings = oldLogs.filter((line) => line.includes(`workflow transfer "x1" is due at step "notify", which this node's code does not define`));
      assert.equal(warnings.length, 1, oldLogs.join("\n"));
    } finally {
      await newNode.stop();
      await oldNode.stop();
    }
  });
});
