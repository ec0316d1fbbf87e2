import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { workflow } from "../define/workflow.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { until } from "./test-support.ts";

/**
 * A stop does not wait out a step attempt's own timeout (minutes, say): past `stopGraceMs` the
 * attempt is abandoned as a crash would leave it, and its step runs again at the next start.
 */
describe("a stop while a workflow step is running", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-stop-grace-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  let attempts = 0;
  let hang = true;
  const slow = workflow("slow", {
    start: () => ({ done: false }),
    steps: {
      work: async (s, _input, ctx) => {
        attempts++;
        // A call to another system that does not answer (until the test says so).
        if (hang) await new Promise(() => {});
        return ctx.update({ ...s, done: true }).end();
      },
    },
    stepOptions: { work: { timeoutMs: 600_000 } },
  });

  it("abandons-the-attempt-after-the-grace-and-the-step-runs-again-at-the-next-start", { timeout: 30_000 }, async () => {
    const path = join(dir, "stop.db");
    const lines: string[] = [];
    const first = new Runtime({ store: new SqliteStore({ path }), components: [slow], log: (line) => lines.push(line), stopGraceMs: 300 });
    await first.start();
    await first.call("slow", "s1", "start", {});
    await until("the step attempt to start", () => attempts === 1);
    const began = Date.now();
    await first.stop();
    assert.ok(Date.now() - began < 10_000, "the stop did not wait for the step's own timeout");
    assert.ok(lines.some((line) => /abandoned 1 workflow step attempt\(s\) still running \(slow "s1"\)/.test(line)), lines.join("\n"));

    hang = false;
    const second = new Runtime({ store: new SqliteStore({ path }), components: [slow], log: () => {} });
    await second.start();
    try {
      const view = await second.workflowResult("slow", "s1", 10_000);
      assert.deepEqual([view.status, view.state, attempts], ["ended", { done: true }, 2], "nothing was decided by the abandoned attempt");
    } finally {
      await second.stop();
    }
  });
});
