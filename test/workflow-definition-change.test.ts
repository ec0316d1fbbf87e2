import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { WorkflowDefinition } from "../src/define/workflow.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { until } from "../src/runtime/test-support.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import * as v1 from "./fixtures/workflow-definition-change/v1.ts";
import * as v2 from "./fixtures/workflow-definition-change/v2.ts";
import { requestJson, runCli, serveChild } from "./support/workflow-child.ts";

/**
 * Workflows survive code changes as long as their step names still exist. When an instance
 * stands at a step the new code lacks, start-up refuses, naming the workflow, how many instances
 * and the step — unless told to terminate such instances.
 */

const fixtures = "test/fixtures/workflow-definition-change";

/**
 * Runs version 1 on `dbPath` and leaves one instance of `definition` standing where it needs
 * step "old": running at "old" between retries (`upgrade`), or paused with "old" to run on
 * timeout (`reminder`).
 */
async function leaveInstanceAtOld(dbPath: string, definition: WorkflowDefinition, id: string): Promise<void> {
  const store = new SqliteStore({ path: dbPath });
  const runtime = new Runtime({ store, components: v1.default.components, log: () => {} });
  await runtime.start();
  try {
    assert.deepEqual(await runtime.call(definition.name, id, "start", { n: 1 }), { status: "started" });
    const record = await until(`${definition.name} to stand still`, async () => {
      const r = await store.loadWorkflow(definition.name, id);
      return r && ((r.status === "running" && r.attempt >= 1) || r.status === "paused") ? r : undefined;
    }, 5_000);
    if (definition.name === "upgrade") {
      assert.equal(record.status, "running");
      assert.equal(record.step, "old");
      assert.ok(record.dueAt !== null && record.dueAt > Date.now() + 30_000, "the next retry is far off");
    } else {
      assert.equal(record.status, "paused");
      assert.deepEqual(record.stepInput, { then: "old" });
    }
  } finally {
    await runtime.stop();
  }
}

const cases = [
  { label: "running-between-retries", v1def: v1.upgrade, v2def: v2.upgrade, id: "u1" },
  { label: "paused-with-timeout-to-old", v1def: v1.reminder, v2def: v2.reminder, id: "r1" },
] as const;

describe("a running instance at a step the new code removed blocks start-up", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-workflow-definition-change-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const { label, v1def, v2def, id } of cases) {
    it(`${label}-start-rejects-naming-workflow-instance-count-and-step`, async () => {
      const path = join(dir, `${label}-refuse.db`);
      await leaveInstanceAtOld(path, v1def, id);

      const store = new SqliteStore({ path });
      const runtime = new Runtime({ store, components: [v2def], log: () => {} });
      try {
        await assert.rejects(runtime.start(), (error: unknown) => {
          assert.ok(error instanceof Error);
          assert.match(error.message, new RegExp(`"${v2def.name}"`));
          assert.match(error.message, /\b1 instance/);
          assert.match(error.message, /"old"/);
          assert.match(error.message, /undoes nothing they did/);
          return true;
        });
        // Nothing was changed by the refusal.
        const record = await store.loadWorkflow(v2def.name, id);
        assert.ok(record?.status === "running" || record?.status === "paused", record?.status);
      } finally {
        await runtime.stop();
      }
    });

    it(`${label}-orphaned-terminate-starts-and-terminates-the-instance`, async () => {
      const path = join(dir, `${label}-terminate.db`);
      await leaveInstanceAtOld(path, v1def, id);

      const store = new SqliteStore({ path });
      const logs: string[] = [];
      const runtime = new Runtime({ store, components: [v2def], log: (line) => logs.push(line), orphanedWorkflows: "terminate" });
      try {
        await runtime.start();
        assert.ok(logs.some((line) => line.includes(`workflow ${v2def.name} "${id}" terminated: it stood at step "old"`)), logs.join("\n"));
        const view = await runtime.workflowResult(v2def.name, id, 5_000);
        assert.equal(view.status, "terminated", JSON.stringify(view));
        const history = await store.workflowHistory(v2def.name, id, 100);
        assert.match(history.at(-1)!.detail, /old/, JSON.stringify(history.at(-1)));
        // Other instances work as usual under the new code.
        await runtime.call(v2def.name, "fresh-1", "start", { n: 2 });
        const fresh = await runtime.workflowResult(v2def.name, "fresh-1", 200);
        assert.notEqual(fresh.step, "old");
      } finally {
        await runtime.stop();
      }
    });
  }

  it("cli-serve-exits-non-zero-printing-the-message", { timeout: 60_000 }, async () => {
    const dataDir = join(dir, "cli");
    mkdirSync(dataDir);
    const dbPath = join(dataDir, "sagaflow.db");
    await leaveInstanceAtOld(dbPath, v1.upgrade, "u1");

    const refused = await runCli(["serve", `${fixtures}/v2.ts`, "--port", "0", "--data", dataDir]);
    assert.notEqual(refused.code, 0, `serve must fail: ${refused.stdout}${refused.stderr}`);
    assert.ok(refused.code !== null, "serve exited by itself (not killed after the time limit)");
    assert.match(refused.stderr, /"upgrade"/);
    assert.match(refused.stderr, /\b1 instance/);
    assert.match(refused.stderr, /"old"/);
    assert.doesNotMatch(refused.stdout, /serving/);

    // The flag the message names lets it start, terminating the instance.
    const served = await serveChild(`${fixtures}/v2.ts`, { dataDir, args: ["--terminate-orphaned-workflows"] });
    try {
      const res = await requestJson(`${served.url}/upgrade/u1?wait=5`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, "terminated", JSON.stringify(res.body));
    } finally {
      await served.kill("SIGTERM");
    }
  });
});
