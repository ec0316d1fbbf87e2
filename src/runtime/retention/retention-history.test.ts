import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { workflow } from "../../define/workflow.ts";
import { whenPostgresAsked } from "../../store/postgres/postgres-test-support.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";
import { postgresBackend, sqliteBackend, type Backend } from "./retention-test-support.ts";

/** A workflow's history past its newest `historyKept` transitions goes; its first stays (retention.historyKept). */

const minute = 60 * 1000;

/** Ticks `ticks` times (a transition each), then waits paused: a workflow that loops and lives on. */
const looper = workflow("looper", {
  start: (input: { ticks: number }) => ({ ticks: input.ticks, n: 0 }),
  steps: {
    tick: async (s, _in, ctx) => (s.n < s.ticks ? ctx.update({ ...s, n: s.n + 1 }).transitionTo("tick") : ctx.pause()),
  },
});

function historySuite(makeBackend: () => Backend) {
  it("a-workflow-that-loops-keeps-its-first-transition-and-its-newest-ones-however-the-batches-cut-it", { timeout: 60_000 }, async () => {
    const backend = makeBackend();
    const runtime = new Runtime({ store: backend.open(), components: [looper], log: () => {}, retention: { intervalMs: 24 * 60 * minute, historyKept: 5, batchSize: 4, maxBatchesPerRun: 3 } });
    await runtime.start();
    try {
      for (const [id, ticks] of [["a", 30], ["b", 2], ["c", 12], ["d", 9], ["e", 3]] as const) await runtime.call("looper", id, "start", { ticks });
      const versions = async (id: string) => (await runtime.admin.showWorkflow("looper", id)).history.map((t) => t.version);
      const newest = async (id: string) => (await runtime.admin.showWorkflow("looper", id)).workflow.version;
      for (const id of ["a", "b", "c", "d", "e"]) await until(`looper ${id} to pause`, async () => (await runtime.workflowResult("looper", id)).status === "paused", 10_000);
      const before = new Map(await Promise.all(["a", "b", "c", "d", "e"].map(async (id) => [id, await versions(id)] as const)));
      assert.equal(before.get("a")!.length, await newest("a"), "every transition kept until retention runs");

      // Batches of 4 transitions or instances, 3 a run: several runs, each going on where the last stopped.
      let removed = 0;
      for (let run = 0; run < 20; run++) removed += (await runtime.retention.runOnce()).removed.history;
      for (const id of ["a", "b", "c", "d", "e"]) {
        const version = await newest(id);
        const kept = version <= 6 ? before.get(id)! : [1, version - 4, version - 3, version - 2, version - 1, version];
        assert.deepEqual(await versions(id), kept, `looper ${id}: its first transition and its newest 5`);
      }
      const expected = [...before.values()].reduce((sum, v) => sum + Math.max(0, v.length - 6), 0);
      assert.equal(removed, expected);
      assert.equal(await backend.count("workflow_history", "name = 'looper'"), [...before.values()].reduce((sum, v) => sum + Math.min(v.length, 6), 0));
      const shown = await runtime.admin.showWorkflow("looper", "a");
      assert.equal(shown.workflow.startedBy, null, "who started it is still read from the first transition");
      assert.equal(shown.history[0]!.detail, "started");
    } finally {
      await runtime.stop();
      await backend.cleanup();
    }
  });
}

describe("retention of workflow histories (SQLite)", () => historySuite(sqliteBackend));

whenPostgresAsked((url) => {
  describe("retention of workflow histories (PostgreSQL)", () => historySuite(() => postgresBackend(url)));
});
