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
 * A deploy that removes a whole workflow (or a rollback to code that never had it) while some of
 * its instances are not over: start-up says so, naming it (they wait; no node without the code
 * runs them), and retention still removes its ended instances — before, nothing was said, and its
 * ended instances were kept for ever (retention went through the code's workflows only).
 */

const day = 24 * 60 * 60 * 1000;

const kept = workflow("kept", {
  start: (_input: {}) => ({}),
  steps: { go: async (_s, _input, ctx) => ctx.end() },
});

const dropped = workflow("dropped", {
  start: (input: { wait: boolean }) => input,
  steps: { go: async (s, _input, ctx) => (s.wait ? ctx.pause({}) : ctx.end()) },
});

describe("a workflow the code no longer defines", () => {
  it("is-named-at-start-while-instances-wait-and-retention-removes-its-ended-instances", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-undefined-workflows-"));
    const path = join(dir, "sagaflow.db");
    const clock = new VirtualClock(Date.now());
    try {
      const v1 = new Runtime({ store: new SqliteStore({ path }), components: [kept, dropped], clock, log: () => {} });
      await v1.start();
      await v1.call("kept", "k1", "start", {});
      await v1.call("dropped", "ended", "start", { wait: false });
      await v1.call("dropped", "waiting", "start", { wait: true });
      await v1.workflowResult("kept", "k1", 10_000);
      await v1.workflowResult("dropped", "ended", 10_000);
      await v1.workflows.sweepNow();
      await v1.stop();

      const lines: string[] = [];
      const store = new SqliteStore({ path });
      const v2 = new Runtime({ store, components: [kept], clock, log: (line) => lines.push(line), retention: { intervalMs: 24 * 60 * 60_000 } });
      await v2.start();
      try {
        const warnings = lines.filter((line) => line.includes("WARNING"));
        assert.equal(warnings.length, 1, lines.join("\n"));
        assert.match(warnings[0]!, /workflow "dropped" is not defined by this service, yet instances of it are not over \(e\.g\. "waiting"\)/);
        assert.equal((await store.loadWorkflow("dropped", "waiting"))?.status, "paused");

        clock.stepWall(7 * day + 60_000);
        const run = await v2.retention.runOnce();
        assert.equal(run.error, null);
        assert.equal(run.removed.workflows, 2, "kept k1 and dropped ended");
        assert.equal(await store.loadWorkflow("dropped", "ended"), undefined);
        assert.equal((await store.retention.removedWorkflow("dropped", "ended"))?.status, "ended");
        assert.equal((await store.loadWorkflow("dropped", "waiting"))?.status, "paused", "one not over stays");
      } finally {
        await v2.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
