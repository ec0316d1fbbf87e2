import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { consumer, createSagaflow, entity, keyValue, memoryStore, service } from "../../index.ts";
import { runtimeOf } from "../../host/create-sagaflow.ts";
import { until } from "../test-support.ts";

/** A consumer handler that hangs is given up on after `timeoutMs`: retried, then parked; its later calls are refused; stop does not wait for it. */

const item = entity(
  "item",
  { initial: () => ({ n: 0 }), events: { added: (s: { n: number }, _e: {}) => ({ n: s.n + 1 }) } },
  { commands: { add: (_s, _c: {}, fx) => fx.emit("added", {}).reply((after) => after.n) } },
);

const counter = keyValue("counter", {
  initial: () => 0,
  commands: { bump: (n: number, _c: {}, fx) => fx.update(n + 1).reply(n + 1) },
  queries: { get: (n: number, _q: {}, fx) => fx.reply(n) },
});

describe("consumer handler timeout", () => {
  it("a-hung-handler-times-out-its-retries-are-parked-as-handler_timeout-its-late-calls-refused-and-stop-does-not-wait", { timeout: 30_000 }, async () => {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const lateCalls: string[] = [];
    const watcher = consumer("watcher", {
      source: item,
      timeoutMs: 150,
      retry: { maxAttempts: 2, initialBackoffMs: 1 },
      events: {
        added: async (_e, ctx) => {
          await ctx.call(counter, ctx.id).bump({});
          if (ctx.id !== "hang") return;
          await woken; // hangs until the test wakes it, long after it was given up on
          try {
            await ctx.call(counter, "late").bump({});
            lateCalls.push("sent");
          } catch (error) {
            lateCalls.push((error as { code?: string }).code ?? String(error));
          }
        },
      },
    });
    const app = createSagaflow(service("timeouts", [item, counter, watcher]), { store: memoryStore(), log: () => {} });
    await app.start();
    try {
      await app.client.call(item, "hang").add({});
      await app.client.call(item, "fine").add({});
      const admin = runtimeOf(app)!.admin;
      await until("the hung message parked", async () => (await admin.parked("watcher", 10)).length === 1);
      const [parked] = await admin.parked("watcher", 10);
      assert.equal(parked!.error.code, "handler_timeout");
      assert.match(parked!.error.message, /did not finish within 150 ms/);
      assert.equal(parked!.attempts, 2);
      assert.equal(await app.client.call(counter, "fine").get({}), 1, "the other instance's message was delivered");
      assert.equal(await app.client.call(counter, "hang").get({}), 1, "the second attempt's call was answered from the first's record");
      wake();
      await until("both abandoned attempts woke", async () => lateCalls.length === 2);
      assert.deepEqual(lateCalls, ["run_abandoned", "run_abandoned"]);
      assert.equal(await app.client.call(counter, "late").get({}), 0, "no call of an abandoned attempt was sent");
    } finally {
      await app.stop();
    }
  });

  it("stop-waits-for-a-hung-handler-no-longer-than-its-timeout", { timeout: 30_000 }, async () => {
    const watcher = consumer("watcher", {
      source: item,
      timeoutMs: 300,
      events: { added: () => new Promise<void>(() => {}) },
    });
    const app = createSagaflow(service("timeouts", [item, counter, watcher]), { store: memoryStore(), log: () => {} });
    await app.start();
    await app.client.call(item, "hang").add({});
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stopped = app.stop().then(() => "stopped");
    const late = new Promise((resolve) => setTimeout(() => resolve("still waiting after 10 s"), 10_000).unref());
    assert.equal(await Promise.race([stopped, late]), "stopped");
  });

  it("a-timeout-that-is-not-a-whole-number-of-ms-is-refused-at-definition", () => {
    assert.throws(() => consumer("watcher", { source: item, timeoutMs: 0, events: {} }), /consumer "watcher": timeoutMs must be a whole number of ms, at least 1, not 0/);
  });
});
