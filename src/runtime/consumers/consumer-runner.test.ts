import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StoreUnavailableError } from "../../define/errors.ts";
import { consumer } from "../../define/consumer.ts";
import { entity } from "../../define/entity.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import type { ParkedMessage } from "../../store/port.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/** The consumer runner when storing a batch's outcome fails (the store is busy, the disk full). */

const item = entity(
  "item",
  {
    initial: () => ({ n: 0 }),
    events: { added: (s: { n: number }, _e: { poison: boolean }) => ({ n: s.n + 1 }) },
  },
  {
    commands: {
      add: (_s, c: { poison?: boolean }, fx) => fx.emit("added", { poison: c.poison === true }).reply((after) => after),
      /** Two events in one commit, so in one batch: a fine one, then a poison one. */
      addFineThenPoison: (_s, _c: {}, fx) => fx.emit("added", { poison: false }).emit("added", { poison: true }).reply((after) => after),
    },
  },
);

/** Fails the first commit that `failWhen` picks, as a storage error would. */
class FlakyStore extends MemoryStore {
  failures = 0;
  constructor(private readonly failWhen: (park: ParkedMessage[], remove: readonly number[]) => boolean) {
    super();
  }
  override async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = []): Promise<void> {
    if (this.failures === 0 && this.failWhen(park, remove)) {
      this.failures++;
      throw new Error("disk I/O error");
    }
    return super.commitConsumer(consumer, offset, park, remove);
  }
}

/** A runtime whose consumer fails on poison events while `env.broken`; back-offs pass at once. */
async function start(store: FlakyStore) {
  /** `outages`: that many deliveries fail next as a dropped database connection does. */
  const env = { broken: true, delivered: [] as number[], outages: 0 };
  const watcher = consumer("watcher", {
    source: item,
    retry: { maxAttempts: 2, initialBackoffMs: 1 },
    events: {
      added: (e, ctx) => {
        if (env.outages > 0 && env.outages--) throw new StoreUnavailableError("unreachable", "the database cannot be reached right now (Connection terminated unexpectedly)");
        if (e.poison && env.broken) throw new Error("poison");
        env.delivered.push(ctx.position);
      },
    },
  });
  const clock = new VirtualClock();
  clock.schedule = (_ms, fn) => {
    const handle = setTimeout(fn, 0);
    return { cancel: () => clearTimeout(handle) };
  };
  const runtime = new Runtime({ store, components: [item, watcher], clock, log: () => {} });
  await runtime.start();
  const runner = runtime.consumers.get("watcher")!;
  const caughtUp = async () => {
    const head = await store.feedHead();
    await until("the consumer to catch up", async () => runner.position >= head);
  };
  const parked = async () => (await store.listParked("watcher", 10)).map((p) => [p.entry.position, p.blockedBy]);
  return { runtime, runner, env, caughtUp, parked };
}

describe("consumer runner: a failed batch commit", () => {
  it("the-poison-message-is-parked-as-a-retryable-head-when-its-batch-is-redone", { timeout: 20_000 }, async () => {
    const store = new FlakyStore((park) => park.length > 0);
    const { runtime, runner, env, caughtUp, parked } = await start(store);
    try {
      await runtime.call("item", "a", "add", { poison: true });
      await runtime.call("item", "a", "add", {});
      await until("the failed commit", async () => store.failures === 1);
      await caughtUp();
      assert.deepEqual(await parked(), [[1, null], [2, 1]], "the failing message is the head, the next one waits behind it");
      assert.equal((await store.listParked("watcher", 1))[0]!.error.message, "poison");
      env.broken = false;
      assert.deepEqual(await runner.retry(1), { delivered: 2, parked: 0 });
      assert.deepEqual(env.delivered, [1, 2]);
    } finally {
      await runtime.stop();
    }
  });

  it("messages-before-the-poison-one-are-not-held-when-the-poison-one-is-delivered-again", { timeout: 20_000 }, async () => {
    const store = new FlakyStore((park) => park.length > 0);
    const { runtime, runner, env, caughtUp, parked } = await start(store);
    try {
      // One commit, one batch: a@1 is fine, a@2 is poison.
      await runtime.call("item", "a", "addFineThenPoison", {});
      await until("the failed commit", async () => store.failures === 1);
      await caughtUp();
      assert.deepEqual(await parked(), [[2, null]]);
      // The offset had passed 1 (each instance's messages are finished one by one): only 2 is redone.
      assert.deepEqual(env.delivered, [1], "delivered, never held");
      env.broken = false;
      assert.deepEqual(await runner.retry(2), { delivered: 1, parked: 0 });
      assert.deepEqual(env.delivered, [1, 2]);
    } finally {
      await runtime.stop();
    }
  });

  it("a-failed-operator-retry-keeps-the-instance-held", { timeout: 20_000 }, async () => {
    const store = new FlakyStore((_park, remove) => remove.length > 0);
    const { runtime, runner, env, caughtUp, parked } = await start(store);
    try {
      await runtime.call("item", "a", "add", { poison: true });
      await caughtUp();
      assert.deepEqual(await parked(), [[1, null]]);
      env.broken = false;
      await assert.rejects(runner.retry(1), /disk I\/O error/);
      assert.deepEqual(await parked(), [[1, null]], "still parked in the store");
      // The store still says the instance is held: so must the runner.
      await runtime.call("item", "a", "add", {});
      await caughtUp();
      assert.deepEqual(await parked(), [[1, null], [2, 1]]);
      assert.deepEqual(env.delivered, [1], "delivered by the failed retry (at least once), but 2 is held");
      assert.deepEqual(await runner.retry(1), { delivered: 2, parked: 0 });
      assert.deepEqual(env.delivered, [1, 1, 2]);
      assert.deepEqual(await parked(), []);
    } finally {
      await runtime.stop();
    }
  });
});

describe("consumer runner: the database out of reach", () => {
  it("failures-from-an-outage-use-up-no-attempt-and-park-nothing", { timeout: 20_000 }, async () => {
    const store = new FlakyStore(() => false);
    const { runtime, env, caughtUp, parked } = await start(store);
    try {
      env.outages = 6; // three times the attempts the consumer allows
      await runtime.call("item", "a", "add", {});
      await caughtUp();
      assert.equal(env.outages, 0);
      assert.deepEqual(await parked(), [], "nothing parked");
      assert.deepEqual(env.delivered, [1]);
    } finally {
      await runtime.stop();
    }
  });
});

describe("a consumer without a handler for an event type", () => {
  it("parks the message at once (no_event_handler), without retries that cannot help", async () => {
    const { testService } = await import("../../testkit/service-testkit.ts");
    const doc = entity(
      "doc",
      { initial: () => ({}), events: { written: (s: {}, _e: {}) => s, archived: (s: {}, _e: {}) => s } },
      { commands: { write: (_s, _c: {}, fx) => fx.emit("written", {}).reply({}), archive: (_s, _c: {}, fx) => fx.emit("archived", {}).reply({}) }, queries: {} },
    );
    const seen: string[] = [];
    const writes = consumer("writes", { source: doc, events: { written: (_e, ctx) => void seen.push(ctx.id) } });
    const t = await testService([doc, writes]);
    try {
      await t.client.call(doc, "d1").write({});
      await t.client.call(doc, "d1").archive({});
      await t.settle(); // no virtual time passes: a retried message would still be waiting on its back-off
      const parked = await t.admin.parked("writes", 10);
      assert.deepEqual(parked.map((p) => [p.entry.type, p.error.code, p.attempts]), [["archived", "no_event_handler", 1]]);
      assert.deepEqual(seen, ["d1"]);
    } finally {
      await t.stop();
    }
  });
});

describe("a consumer's message failing while the service stops", () => {
  it("is left to be delivered again at the next start, not parked", async () => {
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { SqliteStore } = await import("../../store/sqlite/sqlite-store.ts");
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-consumer-stopping-"));
    const path = join(dir, "db.sqlite");
    const note = entity("note", { initial: () => ({}), events: { written: (s: {}, _e: {}) => s } }, { commands: { write: (_s, _c: {}, fx) => fx.emit("written", {}).reply({}) }, queries: {} });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const delivered: string[] = [];
    let failing = true;
    const notify = consumer("notify", {
      source: note,
      events: {
        written: async (_e, ctx) => {
          if (!failing) return void delivered.push(ctx.id);
          entered();
          await gate; // a publish waiting out a broker that is away, say
          throw new Error("TIMEOUT");
        },
      },
    });
    try {
      const first = new Runtime({ store: new SqliteStore({ path }), components: [note, notify], log: () => {} });
      await first.start();
      await first.call("note", "n1", "write", {});
      await inHandler;
      const stopped = first.stop();
      await new Promise((resolve) => setTimeout(resolve, 20));
      release(); // the handler fails now, while the service stops
      await stopped;
      failing = false;
      const second = new Runtime({ store: new SqliteStore({ path }), components: [note, notify], log: () => {} });
      await second.start();
      try {
        assert.deepEqual(await second.admin.parked("notify", 10), [], "nothing parked");
        for (let i = 0; i < 200 && delivered.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.deepEqual(delivered, ["n1"], "delivered again at the next start");
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
