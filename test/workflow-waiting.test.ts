import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import service from "../examples/bank/index.ts";
import { serve, type RunningService } from "../src/cli/serve.ts";
import waiting from "./fixtures/workflow-waiting/index.ts";
import { requestJson } from "./support/workflow-child.ts";

/**
 * `GET /{workflow}/{id}?wait=<seconds>` holds the request until the workflow is over, or for the
 * wait and then answers with the record as it is; bad waits and unknown ids are clear 4xx.
 */
describe("waiting for a workflow over HTTP", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-workflow-waiting-"));
  let running: RunningService;
  let bank: RunningService;
  before(async () => {
    running = await serve({ service: waiting, port: 0, adminPort: -1, dataDir: join(dir, "waiting"), log: () => {} });
    bank = await serve({ service, port: 0, adminPort: -1, dataDir: join(dir, "bank"), log: () => {} });
  });
  after(async () => {
    await running?.close();
    await bank?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("wait-on-a-paused-workflow-returns-after-the-wait-with-status-paused", { timeout: 20_000 }, async () => {
    const started = await requestJson(`${running.url}/approval/a1/start`, { body: { what: "holiday" } });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    const t0 = performance.now();
    const res = await requestJson(`${running.url}/approval/a1?wait=5`);
    const elapsed = performance.now() - t0;
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body, { id: "a1", status: "paused", step: "ask", state: { what: "holiday", approved: false } });
    assert.ok(elapsed >= 4_900 && elapsed < 7_000, `answered after ${Math.round(elapsed)} ms, expected about 5,000`);
  });

  it("wait-returns-as-soon-as-the-workflow-ends", { timeout: 20_000 }, async () => {
    await requestJson(`${running.url}/approval/a2/start`, { body: { what: "laptop" } });
    const t0 = performance.now();
    const waited = requestJson(`${running.url}/approval/a2?wait=10`);
    await new Promise((r) => setTimeout(r, 300));
    const approved = await requestJson(`${running.url}/approval/a2/approve`, { body: {} });
    assert.deepEqual(approved, { status: 200, body: { approved: true } });
    const res = await waited;
    const elapsed = performance.now() - t0;
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { id: "a2", status: "ended", step: "done", state: { what: "laptop", approved: true } });
    assert.ok(elapsed < 3_000, `answered after ${Math.round(elapsed)} ms, long after the workflow ended`);
  });

  it("wait-on-an-ended-transfer-answers-at-once", async () => {
    await requestJson(`${bank.url}/wallet/a/create`, { body: { initialBalance: 10 } });
    await requestJson(`${bank.url}/wallet/b/create`, { body: { initialBalance: 0 } });
    const started = await requestJson(`${bank.url}/transfer/t1/start`, { body: { from: "a", to: "b", amount: 4 } });
    assert.deepEqual(started, { status: 200, body: { status: "started" } });
    const res = await requestJson(`${bank.url}/transfer/t1?wait=30`);
    assert.equal(res.status, 200);
    assert.equal(res.body.status, "ended");
    assert.equal(res.body.state.status, "completed");
    const t0 = performance.now();
    const again = await requestJson(`${bank.url}/transfer/t1?wait=30`);
    assert.deepEqual(again, res);
    assert.ok(performance.now() - t0 < 1_000);
  });

  it("wait-that-is-not-a-number-of-seconds-is-400-invalid_wait", async () => {
    for (const wait of ["abc", "-1", "61", "", "1e9", "NaN", "0x10"]) {
      const res = await requestJson(`${bank.url}/transfer/t1?wait=${wait}`);
      assert.equal(res.status, 400, `wait=${wait}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "invalid_wait", `wait=${wait}`);
      assert.match(res.body.error.message, /wait/);
    }
    const paused = await requestJson(`${running.url}/approval/a1?wait=abc`);
    assert.equal(paused.status, 400);
    assert.equal(paused.body.error.code, "invalid_wait");
  });

  it("get-on-a-never-started-workflow-is-404-not_found", async () => {
    for (const path of ["/transfer/never", "/transfer/never?wait=1", "/transfer-workflow/never", "/approval/never?wait=2"]) {
      const server = path.startsWith("/approval") ? running : bank;
      const t0 = performance.now();
      const res = await requestJson(`${server.url}${path}`);
      assert.equal(res.status, 404, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, "not_found", path);
      assert.ok(performance.now() - t0 < 1_000, `${path}: a never-started workflow is not waited for`);
    }
  });

  it("get-on-something-that-is-not-a-workflow-is-404", async () => {
    const unknown = await requestJson(`${bank.url}/nothing/x?wait=1`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, "unknown_component");
    const entity = await requestJson(`${bank.url}/wallet/a`);
    assert.equal(entity.status, 404, JSON.stringify(entity.body));
  });
});
