import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { getJson, postJson } from "./support/http.ts";
import { SagaflowProcess, tempDir } from "./support/server-process.ts";
import { until } from "../src/runtime/test-support.ts";

/**
 * A step that kept part of itself, then died with its process (SIGKILL), is still known to be
 * done in part when its re-run fails before meeting that part again: the kept call left a mark
 * in the workflow's journal, committed with it. Without the mark, the saga refunded the
 * withdrawal while the killed run's deposit stayed — money made, saga "compensated".
 */
describe("a step done in part survives a crash (real process, SIGKILL)", () => {
  const dir = tempDir("sagaflow-partial-crash-");
  const failFile = join(dir, "check-down");
  let server: SagaflowProcess | undefined;
  after(async () => {
    await server?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const balance = async (id: string) => ((await getJson(`${server!.url}/wallet/${id}/balance`)).body as { balance: number }).balance;

  it("the re-run that fails before its call stops the saga for an operator instead of refunding", async () => {
    server = await SagaflowProcess.start({ target: "test/fixtures/partial-steps", env: { FAIL_FILE: failFile, HOLD_MS: "10000" } });
    assert.equal((await postJson(`${server.url}/wallet/payer/create`, { initialBalance: 10 })).status, 200);
    assert.equal((await postJson(`${server.url}/wallet/payee/create`, { initialBalance: 0 })).status, 200);
    assert.equal((await postJson(`${server.url}/transfer/t1/start`, { from: "payer", to: "payee" })).status, 200);
    await until("the deposit to commit on its own while its step works on", async () => (await balance("payee")) === 1, 10_000);

    writeFileSync(failFile, "down\n");
    await server.restart("SIGKILL");
    const view = await getJson(`${server.url}/transfer/t1`, { wait: 20 });
    const state = view.body.state as { status: string; failure?: { step: string; code: string; partial?: true }; compensated: string[] };
    assert.equal(view.body.status, "failed", JSON.stringify(view.body));
    assert.equal(state.status, "requires_manual_intervention");
    assert.deepEqual([state.failure?.step, state.failure?.code, state.failure?.partial], ["deposit", "check_down", true]);
    assert.deepEqual(state.compensated, []);
    assert.deepEqual([await balance("payer"), await balance("payee")], [9, 1], "one unit moved, none made");
  });

  it("so does a step whose part committed by itself, not held by the step: a workflow it started", async () => {
    rmSync(failFile, { force: true });
    await server!.restart("SIGKILL");
    assert.equal((await postJson(`${server!.url}/wallet/shopper/create`, { initialBalance: 10 })).status, 200);
    assert.equal((await postJson(`${server!.url}/shipment/s1/start`, { from: "shopper" })).status, 200);
    const courier = async () => (await getJson(`${server!.url}/courier/parcel-s1`)).body as { status?: string };
    await until("the courier to be booked while the ship step works on", async () => (await courier()).status === "paused", 10_000);

    writeFileSync(failFile, "down\n");
    await server!.restart("SIGKILL");
    const view = await getJson(`${server!.url}/shipment/s1`, { wait: 20 });
    const state = view.body.state as { status: string; failure?: { step: string; partial?: true }; compensated: string[] };
    assert.equal(view.body.status, "failed", JSON.stringify(view.body));
    assert.deepEqual([state.status, state.failure?.step, state.failure?.partial], ["requires_manual_intervention", "ship", true]);
    assert.deepEqual(state.compensated, [], "the charge is not refunded while the courier it paid for runs");
    assert.equal(await balance("shopper"), 9);
  });
});
