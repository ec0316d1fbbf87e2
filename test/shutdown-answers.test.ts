import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { postJson, requestJson, type JsonResponse } from "./support/http.ts";
import { describeExit, SagaflowProcess } from "./support/server-process.ts";

/**
 * What SIGTERM does to answers that would hold a `sagaflow serve` process: a `?wait=60` long poll
 * is answered at once with the workflow as it is, endpoint handlers see their `signal` aborted,
 * event streams end, an endpoint's command still goes through, and a handler that ignores its
 * signal holds the exit no longer than the drain bound (SAGAFLOW_SHUTDOWN_DRAIN_MS). The process
 * exits 0 in every case. Durations are asserted only against waits far longer (60 s, 120 s).
 */

/** An outcome or the network error's name: a request the process never answered is not a rejection here. */
const settle = (request: Promise<JsonResponse>) => request.then((res) => res, (error: Error) => ({ failed: error.cause ?? error.name }));

describe("SIGTERM with answers in flight (real process)", () => {
  const servers: SagaflowProcess[] = [];
  after(async () => {
    for (const server of servers) await server.cleanup();
  });

  it("answers a 60 s long poll at once, aborts endpoint signals, ends event streams, and exits 0", { timeout: 120_000 }, async () => {
    const server = await SagaflowProcess.start({ target: "test/fixtures/shutdown" });
    servers.push(server);
    const { url } = server;
    assert.equal((await postJson(`${url}/approval/w1/start`, { what: "holiday" })).status, 200);
    const poll = settle(requestJson(`${url}/approval/w1?wait=60`, { timeoutMs: 90_000 }));
    const hold = settle(requestJson(`${url}/hold`, { timeoutMs: 90_000 }));
    const late = settle(postJson(`${url}/late/t1`, { ms: 1_500 }, {}, 90_000));
    const stream = await fetch(`${url}/quiet`, { signal: AbortSignal.timeout(90_000) });
    assert.equal(stream.status, 200);
    const streamEnded = stream.text().then(() => "ended", (error: Error) => `failed: ${error.message}`);
    await server.waitForOutput(/mark: hold: waiting/);
    await server.waitForOutput(/mark: late: sleeping/);
    await server.waitForOutput(/mark: quiet: open/);
    // The poll was sent first; give its request a moment to reach the waiting state.
    await new Promise((r) => setTimeout(r, 500));

    const exit = await server.stop(45_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `${describeExit(exit)}:\n${server.output()}`);
    const polled = await poll;
    assert.ok("status" in polled, `the long poll got no answer: ${JSON.stringify(polled)}`);
    assert.equal(polled.status, 200, polled.text);
    assert.deepEqual(polled.body, { id: "w1", status: "paused", step: "ask", state: { what: "holiday", approved: false } });
    assert.match(server.output(), /mark: hold: signal aborted/);
    const held = await hold;
    assert.ok("status" in held && held.status === 200, `GET /hold: ${JSON.stringify(held)}`);
    assert.equal(await streamEnded, "ended");
    assert.match(server.output(), /mark: quiet: ended/);
    // In flight at SIGTERM, the endpoint's command still went through.
    const added = await late;
    assert.ok("status" in added, `POST /late: ${JSON.stringify(added)}`);
    assert.deepEqual([added.status, added.body], [200, { count: 1 }]);
  });

  it("an endpoint that ignores its signal holds SIGTERM no longer than the drain bound", { timeout: 120_000 }, async () => {
    const server = await SagaflowProcess.start({ target: "test/fixtures/shutdown", env: { SAGAFLOW_SHUTDOWN_DRAIN_MS: "1000" } });
    servers.push(server);
    const stubborn = settle(requestJson(`${server.url}/stubborn?ms=120000`, { timeoutMs: 150_000 }));
    await server.waitForOutput(/mark: stubborn: sleeping/);
    // The handler sleeps 120 s: an exit within 45 s is the bound at work, by a wide margin.
    const exit = await server.stop(45_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `${describeExit(exit)}:\n${server.output()}`);
    const outcome = await stubborn;
    assert.ok(!("status" in outcome), `the stubborn endpoint was answered: ${JSON.stringify(outcome)}`);
  });
});
