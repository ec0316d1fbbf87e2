import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { getJson, postJson, type JsonResponse } from "./support/http.ts";
import { freePort } from "./support/nats-server.ts";
import { describeExit, SagaflowProcess } from "./support/server-process.ts";

/**
 * Graceful shutdown of a real `sagaflow serve` process: on SIGTERM it stops taking work, finishes
 * every command it has started, answers them, and exits 0; what it acknowledged is there after a
 * restart. The fixture's `slow.work` writes "slow: handling n" when its handler starts and then
 * keeps the process busy, so the test knows which commands the server had started.
 */

describe("graceful shutdown (real process)", () => {
  const servers: SagaflowProcess[] = [];
  const startServer = async () => {
    const server = await SagaflowProcess.start({ target: "test/fixtures/counters" });
    servers.push(server);
    return server;
  };
  after(async () => {
    for (const server of servers) await server.cleanup();
  });

  it("SIGTERM finishes in-flight commands, answers them, exits 0, and the data is there after restart", async () => {
    const server = await startServer();
    const url = server.url;
    const workMs = 150;
    const commands = Array.from({ length: 12 }, (_, i) => ({ n: i + 1, instance: `s${i % 3}` }));
    const answeredAt = new Map<number, number>();
    type Outcome = { n: number; instance: string; res?: JsonResponse; error?: unknown };
    const requests = commands.map(
      ({ n, instance }): Promise<Outcome> =>
        postJson(`${url}/slow/${instance}/work`, { n, ms: workMs }, {}, 20_000).then(
          (res) => {
            answeredAt.set(n, Date.now());
            return { n, instance, res };
          },
          (error: unknown) => {
            answeredAt.set(n, Date.now());
            return { n, instance, error };
          },
        ),
    );

    // As soon as a handler is running, ask the server to stop.
    await server.waitForOutput(/slow: handling \d+/, 10_000);
    const answeredBeforeTerm = new Set(answeredAt.keys());
    const termAt = Date.now();
    const exited = server.stop(15_000);
    const outcomes = await Promise.all(requests);
    const exit = await exited;
    const exitAfterMs = Date.now() - termAt;
    const lastAnswerMs = Math.max(...answeredAt.values()) - termAt;

    assert.deepEqual(exit, { code: 0, signal: null }, `not a clean exit (${describeExit(exit)}):\n${server.output()}`);
    assert.match(server.output(), /SIGTERM: finishing in-flight commands/);

    const handled = new Set([...server.output().matchAll(/slow: handling (\d+)/g)].map((m) => Number(m[1])));
    const ok = new Set<number>();
    for (const { n, res, error } of outcomes) {
      if (res?.status === 200) {
        ok.add(n);
        continue;
      }
      // Not answered 200: it must be a command the server never started — refused with 503
      // shutting_down or not read at all (the connection closed).
      assert.ok(!handled.has(n), `command ${n} was started but answered ${res ? `${res.status} ${res.text}` : String(error)}`);
      if (res) {
        assert.equal(res.status, 503, res.text);
        assert.equal(res.body?.error?.code, "shutting_down", res.text);
      }
    }
    const inFlightAtTerm = [...handled].filter((n) => !answeredBeforeTerm.has(n));
    assert.ok(inFlightAtTerm.length >= 1, "no command was in flight when SIGTERM was sent");
    for (const n of handled) assert.ok(ok.has(n), `command ${n} was started but not acknowledged`);
    // Shutting down waits for work, not for idle keep-alive connections (keepAliveTimeout is 5 s).
    assert.ok(exitAfterMs - lastAnswerMs < 2_000, `exit came ${exitAfterMs - lastAnswerMs} ms after the last answer`);

    // Restart on the same data: exactly the acknowledged commands are there.
    await server.start();
    const applied = new Set<number>();
    for (const instance of ["s0", "s1", "s2"]) {
      const res: JsonResponse = await getJson(`${server.url}/slow/${instance}/done`);
      assert.equal(res.status, 200, res.text);
      for (const n of res.body.done as number[]) {
        assert.ok(!applied.has(n), `command ${n} applied twice`);
        assert.equal(commands[n - 1]?.instance, instance, `command ${n} applied to ${instance}`);
        applied.add(n);
      }
    }
    assert.deepEqual([...applied].sort((a, b) => a - b), [...ok].sort((a, b) => a - b));
    console.log(
      `shutdown-graceful: ${handled.size} started, ${ok.size} acknowledged, ${inFlightAtTerm.length} in flight at SIGTERM, ` +
        `last answer ${lastAnswerMs} ms and exit ${exitAfterMs} ms after SIGTERM`,
    );
    const second = await server.stop();
    assert.deepEqual(second, { code: 0, signal: null });
  });

  it("SIGTERM under steady keep-alive traffic still exits 0 promptly, keeping every acknowledged command", async () => {
    const server = await startServer();
    const url = server.url;
    // Four clients that never pause: each sends its next command as soon as the last is answered,
    // on the same pooled keep-alive connection, until the server is gone.
    const acked: number[] = [];
    let next = 1;
    let running = true;
    const client = async () => {
      while (running) {
        const n = next++;
        try {
          const res = await postJson(`${url}/tally/steady/add`, { n }, {}, 5_000);
          if (res.status === 200) acked.push(n);
          else assert.equal(res.body?.error?.code, "shutting_down", res.text);
        } catch {
          return; // the server closed the connection or is gone
        }
      }
    };
    const clients = Array.from({ length: 4 }, () => client());
    while (acked.length < 50) await new Promise((r) => setTimeout(r, 5));
    const termAt = Date.now();
    const exit = await server.stop(10_000);
    const tookMs = Date.now() - termAt;
    running = false;
    await Promise.all(clients);
    assert.deepEqual(exit, { code: 0, signal: null }, `after ${tookMs} ms: ${describeExit(exit)}`);
    assert.ok(tookMs < 3_000, `SIGTERM took ${tookMs} ms while clients kept sending`);

    await server.start();
    const applied = (await getJson(`${server.url}/tally/steady/applied`)).body.applied as number[];
    assert.equal(new Set(applied).size, applied.length, "a command was applied twice");
    for (const n of acked) assert.ok(applied.includes(n), `acknowledged command ${n} is missing`);
  });

  it("SIGTERM on an idle server with open keep-alive connections exits 0 at once", async () => {
    const server = await startServer();
    // fetch keeps these connections open (keep-alive) after the answers.
    for (let i = 0; i < 4; i++) assert.equal((await postJson(`${server.url}/tally/k${i}/add`, { n: i })).status, 200);
    const termAt = Date.now();
    const exit = await server.stop(15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, server.output());
    assert.ok(Date.now() - termAt < 2_000, `took ${Date.now() - termAt} ms`);
  });

  it("SIGTERM exits 0 while the message broker has never been reached (its topic runners wait for it)", async () => {
    const server = await SagaflowProcess.start({ target: "examples/bank", env: { NATS_URL: `nats://127.0.0.1:${await freePort()}` } });
    servers.push(server);
    await server.waitForOutput(/broker nats:\/\/127\.0\.0\.1:\d+: .*trying again/, 10_000);
    const exit = await server.stop(15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `${describeExit(exit)}:\n${server.output()}`);
  });
});
