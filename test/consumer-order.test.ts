import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { consumer, entity } from "sagaflow";
import { Runtime } from "../src/runtime/runtime.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { tempDataDir } from "./support/feed-child.ts";

/**
 * Property 4, per-instance order: 10,000 events over 100 instances, produced while the consumer
 * runs, delivered to a handler that sleeps a random 0–2 ms (and fails now and then, to be
 * retried) must arrive in each instance's order, none missing, on SQLite with the real clock.
 */

const instanceCount = 100;
const eventsPerInstance = 100;

const ticker = entity(
  "ticker",
  {
    initial: () => ({ n: 0 }),
    events: { ticked: (s: { n: number }, _e: { n: number }) => ({ n: s.n + 1 }) },
  },
  { commands: { tick: (s, _c: {}, fx) => fx.emit("ticked", { n: s.n + 1 }).reply((after) => after) } },
);

describe("consumer per-instance order", () => {
  const data = tempDataDir("consumer-order");
  after(() => data.dispose());

  it("10000-events-over-100-instances-arrive-in-order-none-missing", { timeout: 60_000 }, async () => {
    const delivered = new Map<string, number[]>();
    const failedOnce = new Set<number>();
    let deliveries = 0;
    const inFlightPerInstance = new Map<string, number>();
    let overlap = 0;
    const watcher = consumer("order-watcher", {
      source: ticker,
      retry: { maxAttempts: 10, initialBackoffMs: 1 },
      events: {
        ticked: async (e, ctx) => {
          const busy = inFlightPerInstance.get(ctx.id) ?? 0;
          if (busy > 0) overlap++;
          inFlightPerInstance.set(ctx.id, busy + 1);
          try {
            await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 3)));
            // About 1 % of messages fail on their first delivery: the retry must keep the order.
            if (e.n % 97 === 0 && !failedOnce.has(ctx.position)) {
              failedOnce.add(ctx.position);
              throw new Error(`transient failure at ${ctx.position}`);
            }
            deliveries++;
            const list = delivered.get(ctx.id) ?? [];
            list.push(e.n);
            delivered.set(ctx.id, list);
          } finally {
            inFlightPerInstance.set(ctx.id, (inFlightPerInstance.get(ctx.id) ?? 1) - 1);
          }
        },
      },
    });
    const store = new SqliteStore({ path: join(data.path, "sagaflow.db"), synchronous: "NORMAL" });
    const runtime = new Runtime({ store, components: [ticker, watcher], log: () => {} });
    await runtime.start();
    try {
      const ids = Array.from({ length: instanceCount }, (_, i) => `t${i}`);
      // Produced while the consumer reads: each round is one command per instance.
      for (let round = 0; round < eventsPerInstance; round++) {
        await Promise.all(ids.map((id) => runtime.call("ticker", id, "tick", {})));
      }
      const head = await store.feedHead();
      const deadline = Date.now() + 30_000;
      while (runtime.consumers.get("order-watcher")!.position < head) {
        assert.ok(Date.now() < deadline, `the consumer reached ${runtime.consumers.get("order-watcher")!.position} of ${head} in 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const expected = Array.from({ length: eventsPerInstance }, (_, i) => i + 1);
      for (const id of ids) assert.deepEqual(delivered.get(id), expected, `instance ${id}`);
      assert.equal(deliveries, instanceCount * eventsPerInstance, "each event delivered once (no crash: no redelivery)");
      assert.ok(failedOnce.size > 0, "some deliveries failed and were retried");
      assert.equal(overlap, 0, "one instance's messages are never handled at the same time");
      assert.deepEqual(await store.listParked(undefined, 10), [], "nothing parked");
    } finally {
      await runtime.stop();
    }
  });
});
