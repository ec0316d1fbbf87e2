import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, describe, it } from "node:test";
import { getJson, postJson } from "./support/http.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * `ctx.run` journals a side effect's result (issue 16), with a real process and a local HTTP
 * "payment provider" that counts its calls. Killed (SIGKILL) after the call succeeded and its
 * result was journaled, but before the step's transition was committed: the re-run does not call
 * again and ends with the first receipt. Killed during the call (the provider still answering):
 * the re-run calls again, with the same idempotency key.
 */

interface Provider {
  url: string;
  calls: Array<{ key: string | undefined }>;
  /** Resolves when the next call arrives. */
  nextCall(): Promise<void>;
  /** How long the provider waits before answering call n (0-based). */
  delayOf: (n: number) => number;
  server: Server;
}

async function startProvider(delayOf: (n: number) => number): Promise<Provider> {
  const waiting: Array<() => void> = [];
  const provider: Provider = {
    url: "",
    calls: [],
    nextCall: () => new Promise((resolve) => waiting.push(resolve)),
    delayOf,
    server: createServer((req, res) => {
      const n = provider.calls.length;
      provider.calls.push({ key: req.headers["idempotency-key"] as string | undefined });
      for (const wake of waiting.splice(0)) wake();
      setTimeout(() => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ receipt: `rc-${n}` }));
      }, provider.delayOf(n));
    }),
  };
  await new Promise<void>((resolve) => provider.server.listen(0, "127.0.0.1", resolve));
  const address = provider.server.address();
  provider.url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  return provider;
}

describe("ctx.run journals side effects (real process, SIGKILL)", () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  });

  async function setUp(delayOf: (n: number) => number) {
    const provider = await startProvider(delayOf);
    cleanups.push(() => new Promise((resolve) => provider.server.close(() => resolve())));
    const server = await SagaflowProcess.start({ target: "test/fixtures/journal", env: { PROVIDER_URL: provider.url } });
    cleanups.push(() => server.cleanup());
    return { provider, server };
  }

  it("killed after the call succeeded, before the transition: no second call", async () => {
    const { provider, server } = await setUp(() => 0);
    const called = provider.nextCall();
    assert.equal((await postJson(`${server.url}/payment/p1/start`, { amount: 5, holdMs: 1_500 })).status, 200);
    await called;
    await sleep(400); // the answer is back and journaled; the step holds for 1.5 s before ending
    await server.restart("SIGKILL");
    const view = await getJson(`${server.url}/payment/p1`, { wait: 20 });
    assert.equal(view.body.status, "ended", JSON.stringify(view.body));
    assert.equal(view.body.state.receipt, "rc-0");
    assert.equal(provider.calls.length, 1);
  });

  it("killed during the call: the re-run calls again with the same idempotency key", async () => {
    const { provider, server } = await setUp((n) => (n === 0 ? 10_000 : 0));
    const called = provider.nextCall();
    assert.equal((await postJson(`${server.url}/payment/p2/start`, { amount: 5, holdMs: 0 })).status, 200);
    await called;
    await server.restart("SIGKILL");
    const view = await getJson(`${server.url}/payment/p2`, { wait: 20 });
    assert.equal(view.body.status, "ended", JSON.stringify(view.body));
    assert.equal(view.body.state.receipt, "rc-1");
    assert.equal(provider.calls.length, 2);
    assert.ok(provider.calls[0]!.key?.startsWith("wf:payment:p2:"), provider.calls[0]!.key);
    assert.equal(provider.calls[1]!.key, provider.calls[0]!.key);
  });
});
