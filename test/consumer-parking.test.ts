import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { consumer, entity } from "sagaflow";
import { Runtime } from "../src/runtime/runtime.ts";
import { testService, type ServiceUnderTest } from "sagaflow/testkit";
import { createAdmin } from "../src/http/admin.ts";
import type { AdminFacade } from "../src/runtime/facades.ts";
import { SqliteStore } from "../src/store/sqlite/sqlite-store.ts";
import { tempDataDir, waitFor } from "./support/feed-child.ts";
import { requestJson, sleep } from "./support/workflow-child.ts";

/**
 * Property 5 for consumers: a message that keeps failing is parked after `retry.maxAttempts`
 * deliveries, visible with its error; other instances keep flowing; later messages of the same
 * instance are held, not delivered, until an operator retries (in order, after the parked one)
 * or skips (the parked one is dropped, the held ones delivered). Over the admin HTTP API, and
 * across a restart on SQLite.
 */

const order = entity(
  "order",
  {
    initial: () => ({ n: 0 }),
    events: { placed: (s: { n: number }, _e: { n: number; poison: boolean }) => ({ n: s.n + 1 }) },
  },
  {
    commands: {
      place: (s, c: { poison?: boolean }, fx) => fx.emit("placed", { n: s.n + 1, poison: c.poison === true }).reply((after) => after),
    },
  },
);

const maxAttempts = 3;

/** A consumer whose handler fails on poison events of the instances in `broken`. */
function shippingConsumer(initialBackoffMs: number) {
  const env = {
    broken: new Set<string>(),
    delivered: new Map<string, number[]>(),
    attempts: new Map<string, number>(),
  };
  const definition = consumer("shipping", {
    source: order,
    retry: { maxAttempts, initialBackoffMs },
    events: {
      placed: (e, ctx) => {
        const key = `${ctx.id}#${e.n}`;
        env.attempts.set(key, (env.attempts.get(key) ?? 0) + 1);
        if (e.poison && env.broken.has(ctx.id)) throw new Error(`cannot ship ${key}`);
        env.delivered.set(ctx.id, [...(env.delivered.get(ctx.id) ?? []), e.n]);
      },
    },
  });
  return { definition, env };
}

async function listen(operations: AdminFacade) {
  const server = createAdmin(operations, () => {});
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", () => ready()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  };
}

/** Waits for an admin request while moving virtual time, so that retry back-offs can pass. */
async function withVirtualTime<T>(t: ServiceUnderTest, request: Promise<T>): Promise<T> {
  let done = false;
  const result = request.finally(() => (done = true));
  while (!done) {
    await t.advance(1_000);
    await sleep(5);
  }
  return result;
}

describe("consumer poison messages (testkit, admin HTTP API)", () => {
  let t: ServiceUnderTest | undefined;
  let admin: Awaited<ReturnType<typeof listen>> | undefined;
  after(async () => {
    await admin?.close();
    await t?.stop();
  });

  it("parks-after-max-attempts-holds-the-instance-retry-delivers-in-order-skip-drops", { timeout: 30_000 }, async () => {
    const { definition, env } = shippingConsumer(100);
    t = await testService([order, definition]);
    admin = await listen(t.admin);
    const place = (id: string, poison = false) => t!.client.call(order, id).place({ poison });
    env.broken.add("bad");
    env.broken.add("worse");

    await place("bad", true);
    await place("good");
    await place("worse", true);
    await place("good");
    await t.advance(10_000);
    assert.equal(env.attempts.get("bad#1"), maxAttempts, "delivered maxAttempts times, then parked");
    assert.equal(env.attempts.get("worse#1"), maxAttempts);
    assert.deepEqual(env.delivered.get("good"), [1, 2]);

    // Later messages: other instances flow, the parked instances' are held.
    await place("bad");
    await place("bad");
    await place("good");
    await place("worse");
    await place("worse");
    await place("good");
    await t.advance(10_000);
    assert.deepEqual(env.delivered.get("good"), [1, 2, 3, 4], "other instances keep flowing");
    assert.equal(env.delivered.get("bad"), undefined, "held behind the parked message");
    assert.equal(env.delivered.get("worse"), undefined);
    assert.equal(env.attempts.get("bad#2"), undefined, "a held message is not even tried");

    const lags = await requestJson(`${admin.url}/consumers`);
    assert.equal(lags.status, 200);
    assert.equal(lags.body.consumers[0].lag, 0, "parked and held messages are handled as far as the offset goes");

    const parked = await requestJson(`${admin.url}/consumers/shipping/parked`);
    assert.equal(parked.status, 200);
    const rows = parked.body.parked as Array<{ entry: { id: string; position: number; payload: { n: number } }; error: { code: string; message: string }; attempts: number; blockedBy: number | null }>;
    const badHead = rows.find((p) => p.entry.id === "bad" && p.blockedBy === null)!;
    const worseHead = rows.find((p) => p.entry.id === "worse" && p.blockedBy === null)!;
    assert.ok(badHead && worseHead, JSON.stringify(rows));
    assert.equal(parked.body.next, null, "one page holds them all");
    // In pages: one at a time, each page's `next` reading on, to the same rows.
    const paged: typeof rows = [];
    for (let after = 0; ; ) {
      const page = await requestJson(`${admin.url}/consumers/shipping/parked?limit=1&after=${after}`);
      paged.push(...(page.body.parked as typeof rows));
      if (page.body.next === null) break;
      after = page.body.next as number;
    }
    assert.deepEqual(paged.map((p) => p.entry.position), rows.map((p) => p.entry.position));
    assert.match(badHead.error.message, /cannot ship bad#1/, "the error is visible");
    assert.equal(badHead.attempts, maxAttempts);
    assert.deepEqual(
      rows.filter((p) => p.entry.id === "bad").map((p) => [p.entry.payload.n, p.blockedBy, p.error.code]),
      [[1, null, "handler_error"], [2, badHead.entry.position, "held"], [3, badHead.entry.position, "held"]],
    );
    assert.equal(rows.length, 6);

    // Only a parked head can be acted on.
    const heldPosition = rows.find((p) => p.entry.id === "bad" && p.blockedBy !== null)!.entry.position;
    const heldRetry = await requestJson(`${admin.url}/consumers/shipping/parked/${heldPosition}/retry`, { method: "POST" });
    assert.deepEqual([heldRetry.status, heldRetry.body.error.code], [409, "held"]);
    assert.match(heldRetry.body.error.message, new RegExp(`held behind the parked message at position ${badHead.entry.position}`));
    assert.equal((await requestJson(`${admin.url}/consumers/shipping/parked/999999/skip`, { method: "POST" })).status, 404);

    // Retrying before the cause is fixed parks it again, with the held ones still behind it.
    const again = await withVirtualTime(t, requestJson(`${admin.url}/consumers/shipping/parked/${badHead.entry.position}/retry`, { method: "POST" }));
    assert.deepEqual([again.status, again.body], [200, { delivered: 0, parked: 3 }]);
    assert.equal(env.attempts.get("bad#1"), 2 * maxAttempts);
    const stillParked = (await requestJson(`${admin.url}/consumers/shipping/parked`)).body.parked as typeof rows;
    assert.deepEqual(
      stillParked.filter((p) => p.entry.id === "bad").map((p) => [p.entry.payload.n, p.blockedBy]),
      [[1, null], [2, badHead.entry.position], [3, badHead.entry.position]],
      "a failed retry loses nothing",
    );
    assert.equal(env.delivered.get("bad"), undefined);

    // Fix the cause, retry: the parked message, then the held ones, in order.
    env.broken.delete("bad");
    const retried = await withVirtualTime(t, requestJson(`${admin.url}/consumers/shipping/parked/${badHead.entry.position}/retry`, { method: "POST" }));
    assert.deepEqual([retried.status, retried.body], [200, { delivered: 3, parked: 0 }]);
    assert.deepEqual(env.delivered.get("bad"), [1, 2, 3]);

    // Skip: the poison message is dropped, the held ones delivered in order.
    const skipped = await requestJson(`${admin.url}/consumers/shipping/parked/${worseHead.entry.position}/skip`, { method: "POST" });
    assert.deepEqual([skipped.status, skipped.body], [200, { delivered: 2, parked: 0 }]);
    assert.deepEqual(env.delivered.get("worse"), [2, 3]);
    assert.equal(env.attempts.get("worse#1"), maxAttempts, "a skipped message is not delivered again");
    assert.deepEqual((await requestJson(`${admin.url}/consumers/shipping/parked`)).body, { parked: [], next: null });

    // Both instances are free again.
    await place("bad");
    await place("worse");
    await t.settle();
    assert.deepEqual(env.delivered.get("bad"), [1, 2, 3, 4]);
    assert.deepEqual(env.delivered.get("worse"), [2, 3, 4]);
  });
});

describe("consumer poison messages (SQLite, real clock, restart)", () => {
  const data = tempDataDir("consumer-parking");
  after(() => data.dispose());

  it("parked-and-held-messages-survive-a-restart-and-stay-held", { timeout: 30_000 }, async () => {
    const path = join(data.path, "sagaflow.db");
    const { definition, env } = shippingConsumer(5);
    env.broken.add("bad");
    let runtime = new Runtime({ store: new SqliteStore({ path }), components: [order, definition], log: () => {} });
    await runtime.start();
    const place = (id: string, poison = false) => runtime.call("order", id, "place", { poison });
    const caughtUp = (what: string) =>
      waitFor(what, async () => {
        const runner = runtime.consumers.get("shipping")!;
        return runner.position >= (await runtime.store.feedHead()) ? true : undefined;
      });
    await place("bad", true);
    await place("bad");
    await place("good");
    await caughtUp("the poison message to be parked");
    assert.equal(env.attempts.get("bad#1"), maxAttempts);
    assert.deepEqual(env.delivered.get("good"), [1]);
    await runtime.stop();

    runtime = new Runtime({ store: new SqliteStore({ path }), components: [order, definition], log: () => {} });
    await runtime.start();
    try {
      await place("bad");
      await place("good");
      await caughtUp("the consumer to catch up after the restart");
      assert.deepEqual(env.delivered.get("good"), [1, 2]);
      assert.equal(env.delivered.get("bad"), undefined, "still held after the restart");
      const parked = await runtime.store.listParked("shipping", 10);
      assert.deepEqual(
        parked.map((p) => [(p.entry.payload as { n: number }).n, p.blockedBy === null ? "head" : "held"]),
        [[1, "head"], [2, "held"], [3, "held"]],
      );
      env.broken.delete("bad");
      assert.deepEqual(await runtime.consumers.get("shipping")!.retry(parked[0]!.entry.position), { delivered: 3, parked: 0 });
      assert.deepEqual(env.delivered.get("bad"), [1, 2, 3]);
      assert.deepEqual(await runtime.store.listParked("shipping", 10), []);
    } finally {
      await runtime.stop();
    }
  });
});
