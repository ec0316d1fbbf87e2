import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { workflow } from "../../define/workflow.ts";
import Database from "better-sqlite3";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { dueWorkflowsSql, nextWorkflowDueSql } from "../../store/sqlite/sqlite-workflows.ts";
import { Runtime } from "../runtime.ts";

/**
 * Workflow timeouts on the real clock and a real SQLite file (issue 19, item 1): a workflow
 * paused with no pause timeout is moved on by its workflow timeout, every one of them, even when
 * Node's setTimeout wakes while Date.now() is still just below the deadline.
 */
const waiting = workflow("waiting", {
  start: (_input: {}) => ({ late: false }),
  steps: {
    wait: (_s, _input, ctx) => ctx.pause(),
    late: (s, _input, ctx) => ctx.update({ ...s, late: true }).end(),
  },
  timeout: { afterMs: 2_000, step: "late" },
});

describe("workflow timeouts on the real clock", () => {
  it("sixty-paused-workflows-with-a-2-s-timeout-all-time-out-within-5-s", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-wf-timeouts-"));
    const runtime = new Runtime({ store: new SqliteStore({ path: join(dir, "t.db") }), components: [waiting], log: () => {} });
    await runtime.start();
    try {
      const count = 60;
      const ids = Array.from({ length: count }, (_, i) => `w${i}`);
      const startedAt = Date.now();
      // Started one after another, each commit fsynced: the event loop's cached time lags behind.
      for (const id of ids) await runtime.call("waiting", id, "start", {});
      const views = await Promise.all(ids.map((id) => runtime.workflowResult("waiting", id, 5_000)));
      const late = views.filter((v) => v.status !== "ended" || !(v.state as { late: boolean }).late);
      const tookMs = Date.now() - startedAt;
      console.log(`workflow timeouts: ${count - late.length} of ${count} fired; the last after ${tookMs} ms`);
      assert.deepEqual(late.map((v) => `${v.id}: ${v.status}`), [], `${late.length} of ${count} had not timed out`);
    } finally {
      await runtime.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the-sweep-of-due-workflows-reads-only-index-ranges", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-wf-sweep-plan-"));
    try {
      const store = new SqliteStore({ path: join(dir, "p.db") });
      await store.migrate();
      await store.close();
      const db = new Database(join(dir, "p.db"), { readonly: true });
      const params = { now: 0, limit: 10, buckets: "[3, 7]", names: '["transfer"]' };
      const planOf = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as Array<{ detail: string }>).map((r) => r.detail);
      const due = planOf(dueWorkflowsSql);
      const next = planOf(nextWorkflowDueSql);
      db.close();
      const scans = due.filter((d) => /^(SCAN|SEARCH) workflows/.test(d));
      // Running with no due time, then due and deadline of running and paused: one range per bucket each.
      assert.equal(scans.length, 5, due.join("\n"));
      for (const d of scans) assert.match(d, /^SEARCH workflows USING (COVERING )?INDEX workflows_(due|deadline) \(bucket=\? AND status=\? AND (due|deadline)_at[<=]\?\)$/);
      assert.ok(!due.some((d) => /TEMP B-TREE/.test(d)), `read as far as the limit, never sorted whole:\n${due.join("\n")}`);
      const mins = next.filter((d) => /workflows/.test(d) && /^(SCAN|SEARCH)/.test(d));
      assert.equal(mins.length, 4, next.join("\n"));
      for (const d of mins) assert.match(d, /^SEARCH workflows USING COVERING INDEX workflows_(due|deadline) \(bucket=\? AND status=\? AND (due|deadline)_at>\?\)$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
