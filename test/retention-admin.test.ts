import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createSagaflow, service, sqlite, workflow } from "../src/index.ts";
import { runtimeOf } from "../src/host/create-sagaflow.ts";
import { VirtualClock } from "../src/runtime/clock.ts";

/** Retention seen by operators: GET /retention, and a removed workflow said to be removed (410), over HTTP. */

const day = 24 * 60 * 60 * 1000;

const job = workflow("job", {
  start: (input: { n: number }) => input,
  retentionMs: 2 * day,
  steps: { run: async (_s, _in, ctx) => ctx.end() },
});

describe("retention over the admin API", () => {
  it("get-retention-shows-settings-and-the-last-run-and-a-removed-workflow-is-410", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-retention-admin-"));
    const clock = new VirtualClock(Date.now());
    const app = createSagaflow(service("jobs", [job]), {
      store: sqlite(join(dir, "sagaflow.db")),
      clock,
      log: () => {},
      retention: { idempotencyMs: day, intervalMs: 60 * 60 * 1000 },
    });
    await app.start();
    const server = createServer(app.adminHandler);
    await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await app.client.call(job, "j1").start({ n: 1 });
      const deadline = Date.now() + 10_000;
      while ((await (await fetch(`${base}/workflows/job/j1`)).json() as { workflow?: { status: string } }).workflow?.status !== "ended") {
        if (Date.now() > deadline) throw new Error("j1 did not end");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // The feed's newest entry stays, and j1's states may only go with j1: another start moves it on.
      await app.client.call(job, "j2").start({ n: 2 });
      clock.stepWall(2 * day + 60_000);
      // Retention runs at start and then hourly: run it now, after the clock moved.
      await runtimeOf(app)!.retention.runOnce();
      const response = await fetch(`${base}/retention`);
      assert.equal(response.status, 200);
      const report = (await response.json()) as {
        settings: { idempotencyMs: number; feedMs: number };
        workflows: unknown;
        lastRun: { removed: { workflows: number } };
      };
      assert.equal(report.settings.idempotencyMs, day);
      assert.equal(report.settings.feedMs, 7 * day);
      assert.deepEqual(report.workflows, [{ name: "job", retentionMs: 2 * day }]);
      assert.equal(report.lastRun.removed.workflows, 1);

      const removed = await fetch(`${base}/workflows/job/j1`);
      assert.equal(removed.status, 410);
      const body = (await removed.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, "workflow_removed");
      assert.match(body.error.message, /removed by retention/);
      assert.equal((await fetch(`${base}/workflows/job/never`)).status, 404);
      // Its result, as GET /job/j1 and the clients read it, says so too rather than "never started".
      await assert.rejects(app.client.result(job, "j1"), (error: { code?: string; status?: number }) => error.code === "workflow_removed" && error.status === 410);
      await assert.rejects(app.client.result(job, "never"), (error: { code?: string }) => error.code === "not_found");
      const terminate = await fetch(`${base}/workflows/job/j1/terminate`, { method: "POST" });
      assert.equal(terminate.status, 410, "an operator action on a removed workflow says so too");
      assert.equal((await fetch(`${base}/retention`, { method: "POST" })).status, 405);
    } finally {
      server.close();
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
