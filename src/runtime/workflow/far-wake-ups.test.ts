import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { workflow } from "../../define/workflow.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";

/**
 * Memory bounded by what is due soon (issue 17, item 4): a workflow waiting on a due time hours
 * away holds no timer of its own in process; the one store wake-up wakes it, on time and once.
 * A due time a second away still has its own timer and fires on time.
 */
const farMs = 3_600_000;
const nearMs = 1_000;

const waiter = workflow("waiter", {
  start: (input: { timeoutMs: number }) => ({ timeoutMs: input.timeoutMs, expired: 0 }),
  steps: {
    wait: (s, _input, ctx) => ctx.pause({ timeoutMs: s.timeoutMs, then: "expired" }),
    expired: (s, _input, ctx) => ctx.update({ ...s, expired: s.expired + 1 }).end(),
  },
});

describe("wake-ups of workflows due far ahead", () => {
  it("paused-workflows-due-in-an-hour-hold-no-timer-in-memory-and-still-time-out-on-time-once", { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-far-wake-ups-"));
    const clock = new VirtualClock();
    const runtime = new Runtime({ store: new SqliteStore({ path: join(dir, "w.db") }), components: [waiter], clock, log: () => {} });
    await runtime.start();
    try {
      const far = Array.from({ length: 500 }, (_, i) => `far-${i}`);
      for (const id of far) await runtime.call("waiter", id, "start", { timeoutMs: farMs + (id === "far-0" ? 0 : 1) });
      await runtime.call("waiter", "near", "start", { timeoutMs: nearMs });
      await clock.advance(0);
      // Only the near one waits on a timer of its own.
      assert.equal(runtime.workflows.wakeUpsInMemory(), 1);

      await clock.advance(nearMs);
      assert.deepEqual(await runtime.workflowResult("waiter", "near"), { id: "near", status: "ended", step: "expired", state: { timeoutMs: nearMs, expired: 1 } });
      assert.equal(runtime.workflows.wakeUpsInMemory(), 0);

      // A millisecond before it is due, nothing has moved; at it, far-0; a millisecond later, the rest.
      await clock.advance(farMs - nearMs - 1);
      assert.equal((await runtime.store.listWorkflows({ name: "waiter", statuses: ["ended"], limit: 1_000 })).length, 1);
      await clock.advance(1);
      assert.deepEqual(await runtime.workflowResult("waiter", "far-0"), { id: "far-0", status: "ended", step: "expired", state: { timeoutMs: farMs, expired: 1 } });
      assert.equal((await runtime.workflowResult("waiter", "far-1")).status, "paused");
      await clock.advance(1);
      for (const id of far) assert.equal((await runtime.workflowResult("waiter", id, 10_000)).status, "ended", id);
      const ended = await runtime.store.listWorkflows({ name: "waiter", statuses: ["ended"], limit: 1_000 });
      assert.equal(ended.length, far.length + 1);
      // Each timed out once.
      assert.ok(ended.every((w) => (w.state as { expired: number }).expired === 1));
      assert.equal(runtime.workflows.wakeUpsInMemory(), 0);
    } finally {
      await runtime.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
