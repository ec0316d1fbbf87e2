import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { keyValue } from "../../define/key-value.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";

/**
 * A backlog larger than one run's batch budget is removed run after run, a second apart, not one
 * budget an interval (a service writing faster than that would outgrow its retention for good).
 */

const box = keyValue("box", {
  initial: () => ({ v: 0 }),
  commands: { set: (_s, c: { v: number }, fx) => fx.update(c).reply((s) => s) },
});

const day = 24 * 60 * 60 * 1000;

describe("retention with a backlog", () => {
  it("goes-on-a-second-after-a-run-that-stopped-at-its-batch-budget-not-a-whole-interval-later", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-retention-backlog-"));
    const path = join(dir, "sagaflow.db");
    const clock = new VirtualClock(Date.now());
    // One batch of 10 per run, a run an hour: the 30 records would take three hours.
    const retention = { intervalMs: 60 * 60 * 1000, batchSize: 10, maxBatchesPerRun: 1 };
    try {
      const first = new Runtime({ store: new SqliteStore({ path }), components: [box], clock, log: () => {}, retention });
      await first.start();
      for (let i = 0; i < 30; i++) await first.call("box", "b", "set", { v: i }, { idempotencyKey: `client-${i}` });
      await first.stop();

      clock.stepWall(8 * day); // past the idempotency records' period (7 days)
      const store = new SqliteStore({ path });
      const second = new Runtime({ store, components: [box], clock, log: () => {}, retention });
      await second.start();
      try {
        const deadline = Date.now() + 15_000;

        while ((await store.listDedup("box", "b", "", 100)).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.deepEqual(await store.listDedup("box", "b", "", 100), []);
        const report = await second.retention.report();
        assert.equal(report.totals.idempotency, 30);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
