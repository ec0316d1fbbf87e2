import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { consumer } from "../../define/consumer.ts";
import { entity } from "../../define/entity.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { until } from "../test-support.ts";

/** Property 5 and issue 17 item 5: a message that backs off holds up only its own instance. */

const item = entity(
  "item",
  {
    initial: () => ({ n: 0 }),
    events: { added: (s: { n: number }, _e: { poison: boolean }) => ({ n: s.n + 1 }) },
  },
  { commands: { add: (_s, c: { poison?: boolean }, fx) => fx.emit("added", { poison: c.poison === true }).reply((after) => after) } },
);

describe("consumer back-off per instance (SQLite)", () => {
  it("other-instances-messages-are-delivered-while-one-instance-backs-off-and-before-it-parks", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-backoff-"));
    const store = new SqliteStore({ path: join(dir, "sagaflow.db") });
    /** What happened, in order: "ok a@3", "fail bad@1", "parked 1". */
    const log: string[] = [];
    const watcher = consumer("watcher", {
      source: item,
      retry: { maxAttempts: 3, initialBackoffMs: 100 },
      events: {
        added: (e, ctx) => {
          if (e.poison) {
            log.push(`fail ${ctx.id}@${ctx.position}`);
            throw new Error("poison");
          }
          log.push(`ok ${ctx.id}@${ctx.position}`);
        },
      },
    });
    // Back-offs wait until the test lets them go: the order below cannot depend on timing.
    const heldBackoffs: Array<() => void> = [];
    const clock = new VirtualClock();
    clock.schedule = (_ms, fn) => {
      heldBackoffs.push(fn);
      return { cancel: () => {} };
    };
    const runtime = new Runtime({ store, components: [item, watcher], clock, log: (line) => { if (line.includes("parked")) log.push("parked"); } });
    await runtime.start();
    const runner = runtime.consumers.get("watcher")!;
    try {
      await runtime.call("item", "bad", "add", { poison: true });
      await runtime.call("item", "bad", "add", {});
      await until("the first failure", () => heldBackoffs.length === 1, 10_000, { everyMs: 5 });
      for (let i = 0; i < 20; i++) await runtime.call("item", `good-${i % 5}`, "add", {});
      // Delivered while "bad" is still backing off (its back-off has not even been let go).
      await until("the other instances' messages", () => log.filter((l) => l.startsWith("ok good-")).length === 20, 10_000, { everyMs: 5 });
      assert.deepEqual(await store.listParked("watcher", 10), [], "nothing parked yet");
      assert.ok(!log.includes("ok bad@2"), "bad's later message waits behind its failing one");
      assert.equal(runner.position, 0, "the offset does not pass the failing message");
      // Let the back-offs go: bad@1 parks, bad@2 is held behind it, the offset moves past both.
      while (!log.includes("parked")) {
        await until("a back-off or the park", () => heldBackoffs.length > 0 || log.includes("parked"), 10_000, { everyMs: 5 });
        heldBackoffs.shift()?.();
      }
      const head = await store.feedHead();
      await until("the offset to reach the head", () => runner.position === head, 10_000, { everyMs: 5 });
      assert.deepEqual((await store.listParked("watcher", 10)).map((p) => [p.entry.position, p.blockedBy]), [[1, null], [2, 1]]);
      const firstPark = log.indexOf("parked");
      const lastGood = log.findLastIndex((l) => l.startsWith("ok good-"));
      assert.ok(lastGood < firstPark, `every other instance's message came before the park: ${log.join(", ")}`);
      assert.deepEqual(log.filter((l) => l.startsWith("fail")), ["fail bad@1", "fail bad@1", "fail bad@1"]);
      // Per-instance order held for the others.
      for (let g = 0; g < 5; g++) {
        const positions = log.filter((l) => l.startsWith(`ok good-${g}@`)).map((l) => Number(l.split("@")[1]));
        assert.deepEqual(positions, [...positions].sort((a, b) => a - b));
        assert.equal(positions.length, 4);
      }
    } finally {
      await runtime.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a-crash-while-one-instance-backs-off-redelivers-from-below-its-failing-message", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-backoff-"));
    const path = join(dir, "sagaflow.db");
    const delivered: number[] = [];
    const make = (failing: boolean) =>
      consumer("watcher", {
        source: item,
        retry: { maxAttempts: 3, initialBackoffMs: 100 },
        events: {
          added: (e, ctx) => {
            if (e.poison && failing) throw new Error("poison");
            delivered.push(ctx.position);
          },
        },
      });
    const clock = new VirtualClock();
    const held: Array<() => void> = [];
    clock.schedule = (_ms, fn) => {
      held.push(fn);
      return { cancel: () => {} };
    };
    let store = new SqliteStore({ path });
    let runtime = new Runtime({ store, components: [item, make(true)], clock, log: () => {} });
    await runtime.start();
    await runtime.call("item", "good", "add", {});
    await runtime.call("item", "bad", "add", { poison: true });
    await runtime.call("item", "good", "add", {});
    await until("the good ones", () => delivered.length === 2 && held.length === 1, 10_000, { everyMs: 5 });
    // Give the offset time to be stored (it waits a little): it must stay below position 2.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(await store.loadOffset("watcher"), 1, "stored offset stops below the message still backing off");
    // "Crash": the store is closed under the runner (no park, no offset past 1).
    await store.close();
    held.shift()?.();
    await runtime.stop().catch(() => {});
    store = new SqliteStore({ path });
    runtime = new Runtime({ store, components: [item, make(false)], clock: new VirtualClock(), log: () => {} });
    await runtime.start();
    try {
      const head = await store.feedHead();
      await until("catch-up", () => runtime.consumers.get("watcher")!.position === head, 10_000, { everyMs: 5 });
      assert.ok(delivered.includes(2), "the unhandled message is delivered after the restart (never skipped)");
      assert.deepEqual(await store.listParked("watcher", 10), []);
    } finally {
      await runtime.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
