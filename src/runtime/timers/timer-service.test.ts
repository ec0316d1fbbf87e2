import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { StoreUnavailableError } from "../../define/errors.ts";
import { deferred } from "../../define/deferred.ts";
import { entity } from "../../define/entity.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import type { InstanceWrite, TimerRecord, WriteOutcome } from "../../store/port.ts";
import { systemClock, VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { timerBucket } from "../../store/buckets.ts";
import { TimerService } from "./timer-service.ts";

/** Timers on the real clock (the testkit's virtual clock has no limit on how far it waits). */

const target = entity(
  "target",
  { initial: () => ({ hits: 0 }), events: { hit: (s: { hits: number }, _e: {}) => ({ hits: s.hits + 1 }) } },
  { commands: { hit: (_s, _c: {}, fx) => fx.emit("hit", {}).reply((after) => after) }, queries: { get: (s, _: {}, fx) => fx.reply(s) } },
);

class CountingStore extends MemoryStore {
  dueQueries = 0;
  override async dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]> {
    this.dueQueries++;
    return super.dueTimers(now, limit, buckets);
  }
}

/** Fails the next `outages` commits that write the target, as a dropped database connection does. */
class OutageStore extends MemoryStore {
  outages = 0;
  override async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    if (this.outages > 0 && writes.some((w) => w.component === "target")) {
      this.outages--;
      throw new StoreUnavailableError("unreachable", "the database cannot be reached right now (terminating connection due to administrator command)");
    }
    return super.commit(writes);
  }
}

const day = 24 * 60 * 60 * 1000;

describe("timer service on the system clock", () => {
  it("a-timer-due-in-30-days-waits-quietly-instead-of-polling-every-millisecond", { timeout: 10_000 }, async () => {
    const store = new CountingStore();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    const runtime = new Runtime({ store, components: [target], clock: systemClock, log: () => {} });
    await runtime.start();
    try {
      // setTimeout cannot wait more than 2^31 - 1 ms (24.8 days): asked for more, it fires at once.
      await runtime.timers.start("far", 30 * day, deferred(target, "t").hit({}));
      await runtime.timers.start("soon", 50, deferred(target, "s").hit({}));
      const before = store.dueQueries;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await runtime.call("target", "s", "get", {}), { hits: 1 }, "the near timer fired");
      assert.deepEqual(await runtime.call("target", "t", "get", {}), { hits: 0 }, "the far one did not");
      assert.ok(store.dueQueries - before <= 3, `looked for due timers ${store.dueQueries - before} times in 300 ms`);
      assert.deepEqual(
        (await store.listTimers(undefined, 10)).map((t) => t.name),
        ["far"],
      );
      assert.deepEqual(warnings.filter((w) => w === "TimeoutOverflowWarning"), []);
    } finally {
      process.off("warning", onWarning);
      await runtime.stop();
    }
  });

  it("a-database-out-of-reach-uses-up-no-firing-attempt-and-parks-no-timer", { timeout: 20_000 }, async () => {
    const store = new OutageStore();
    const runtime = new Runtime({ store, components: [target], clock: systemClock, log: () => {} });
    await runtime.start();
    try {
      store.outages = 11; // one more than the firings a timer gets before it is parked
      await runtime.timers.start("through-outage", 0, deferred(target, "o").hit({}));
      const deadline = Date.now() + 15_000;
      while (((await runtime.call("target", "o", "get", {})) as { hits: number }).hits === 0) {
        assert.ok(Date.now() < deadline, `not fired: ${JSON.stringify(await store.listTimers(undefined, 10))}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(store.outages, 0);
      assert.deepEqual(await store.listTimers(undefined, 10), [], "fired and done, not parked");
    } finally {
      await runtime.stop();
    }
  });
});

describe("timer service: a parked timer", () => {
  it("is logged as one warning line naming the timer, its target and the error", async () => {
    const broken = entity(
      "broken",
      { initial: () => ({}), events: {} },
      {
        commands: {
          explode: (): never => {
            throw new Error("the handler has a bug");
          },
        },
      },
    );
    const clock = new VirtualClock();
    const lines: string[] = [];
    const runtime = new Runtime({ store: new MemoryStore(), components: [broken], clock, log: (line) => lines.push(line) });
    await runtime.start();
    try {
      await runtime.timers.start("doomed", 0, deferred(broken, "x").explode({}));
      const parkedLine = () => lines.find((line) => line.includes("WARNING: timer doomed"));
      for (let i = 0; i < 100 && parkedLine() === undefined; i++) await clock.advance(10_000);
      const line = parkedLine();
      assert.ok(line, lines.join("\n"));
      assert.match(line, /timer doomed \(broken "x" explode\) parked after 10 attempt\(s\): internal: /);
      assert.equal(lines.filter((l) => l.includes("WARNING: timer doomed")).length, 1);
      assert.deepEqual((await runtime.store.listTimers("parked", 10)).map((t) => t.name), ["doomed"]);
    } finally {
      await runtime.stop();
    }
  });
});

describe("timer service on several nodes", () => {
  // A lease whose renewal is late lapses before the membership says it is lost, and another node
  // may take the bucket and fire its timers meanwhile.
  it("leaves-the-timers-of-a-bucket-whose-lease-lapsed-alone-until-it-is-valid-again", { timeout: 10_000 }, async () => {
    const asked: number[][] = [];
    const store = new (class extends MemoryStore {
      override async dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]> {
        asked.push([...buckets]);
        return super.dueTimers(now, limit, buckets);
      }
    })();
    await store.migrate();
    const calls: string[] = [];
    let leaseValid = false;
    const bucket = timerBucket("lapsed");
    const timers = new TimerService(
      {
        store,
        clock: systemClock,
        log: () => {},
        call: async (component, id) => {
          calls.push(`${component}/${id}`);
          return { ok: true, value: {} };
        },
        check: async () => {},
        holdsBucket: (b) => b !== bucket || leaseValid,
      },
      { pollMs: 20 },
    );
    await timers.begin(bucket, { lease: `timers:${bucket}`, token: 1 });
    try {
      await timers.start("lapsed", 0, { component: "target", id: "t", handler: "hit", input: {} });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(calls, [], "not fired while its bucket's lease has lapsed");
      assert.ok(asked.every((buckets) => !buckets.includes(bucket)), `asked for ${JSON.stringify(asked)}`);
      leaseValid = true; // renewed
      for (let i = 0; i < 100 && calls.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(calls, ["target/t"], "fired once the lease is valid again");
    } finally {
      timers.stop();
      await timers.idle();
    }
  });
});
