import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deferred } from "../../define/deferred.ts";
import { entity } from "../../define/entity.ts";
import { schedule } from "../../define/schedule.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { until, wrapStore } from "../test-support.ts";

/**
 * A node that runs many schedules fires each of their ticks, however long firing the others takes:
 * a tick is missed (and skipped) only when it was due before any node ran schedules.
 */

const ticks = entity(
  "ticks",
  { initial: () => ({ at: [] as number[] }), events: { recorded: (s: { at: number[] }, e: { at: number }) => ({ at: [...s.at, e.at] }) } },
  {
    commands: { record: (_s, c: { at: number }, fx) => fx.emit("recorded", { at: c.at }).reply({}) },
    queries: { list: (s, _: {}, fx) => fx.reply(s.at) },
  },
);

describe("schedules on a busy node", () => {
  it("a-tick-late-because-this-node-was-firing-other-schedules-fires-and-is-not-counted-missed", { timeout: 30_000 }, async () => {
    const count = 20;
    const schedules = Array.from({ length: count }, (_, i) =>
      schedule(`s${i}`, { cron: "*/10 * * * * *", call: (t) => deferred(ticks, `s${i}`).record({ at: t.at }) }),
    );
    const clock = new VirtualClock(Date.UTC(2030, 0, 1));
    const inner = new MemoryStore();
    // Each tick's call takes 300 ms of the clock: the last schedules fire seconds after their tick
    // (every 10 s, so one pass is over before the next tick).
    const store = wrapStore(inner, {
      commit: async (writes) => {
        if (writes.some((w) => w.component === "ticks")) clock.stepWall(300);
        return inner.commit(writes);
      },
    });
    const logs: string[] = [];
    const runtime = new Runtime({ store, components: [ticks, ...schedules], clock, log: (line) => logs.push(line) });
    await runtime.start();
    // The runtime's own waits do not hold the process open (a server's socket does): this does.
    const keepAlive = setInterval(() => {}, 100);
    try {
      const start = clock.now();
      await clock.advance(10_000);
      const tick = start + 10_000;
      const deadline = Date.now() + 10_000;
      const fired = async () => {
        let n = 0;
        for (let i = 0; i < count; i++) if (((await runtime.call("ticks", `s${i}`, "list", {})) as number[]).includes(tick)) n++;
        return n;
      };
      while ((await fired()) < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await fired(), count, logs.join("\n"));
      assert.deepEqual(logs.filter((line) => /missed/.test(line)), []);
    } finally {
      await runtime.stop();
      clearInterval(keepAlive);
    }
  });

  it("a-tick-due-between-a-graceful-stop-and-the-next-start-fires-late-not-missed", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-schedule-handover-"));
    const path = join(dir, "sagaflow.db");
    const every10s = schedule("every10s", { cron: "*/10 * * * * *", call: (t) => deferred(ticks, "h").record({ at: t.at }) });
    const clock = new VirtualClock(Date.UTC(2030, 0, 1) + 5_000); // between two ticks
    const keepAlive = setInterval(() => {}, 100);
    try {
      const first = new Runtime({ store: new SqliteStore({ path }), components: [ticks, every10s], clock, log: () => {} });
      await first.start();
      await first.stop(); // graceful: it hands over
      clock.stepWall(8_000); // the tick at +10 s passes while no process runs; the next starts 3 s after it
      const logs: string[] = [];
      const second = new Runtime({ store: new SqliteStore({ path }), components: [ticks, every10s], clock, log: (line) => logs.push(line) });
      await second.start();
      try {
        const tick = Date.UTC(2030, 0, 1) + 10_000;
        const deadline = Date.now() + 10_000;
        while (!((await second.call("ticks", "h", "list", {})) as number[]).includes(tick) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.deepEqual(await second.call("ticks", "h", "list", {}), [tick], logs.join("\n"));
      } finally {
        await second.stop();
      }
    } finally {
      clearInterval(keepAlive);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a-schedule-whose-ticks-fail-is-tried-again-alone-while-the-other-schedules-fire", { timeout: 30_000 }, async () => {
    const broken = schedule("a-broken", {
      cron: "* * * * * *",
      call: () => {
        throw new Error("no target today");
      },
    });
    const healthy = schedule("b-healthy", { cron: "* * * * * *", call: (t) => deferred(ticks, "ok").record({ at: t.at }) });
    const clock = new VirtualClock(Date.UTC(2030, 0, 1) + 500);
    const logs: string[] = [];
    const runtime = new Runtime({ store: new MemoryStore(), components: [ticks, broken, healthy], clock, log: (line) => logs.push(line) });
    await runtime.start();
    try {
      for (let s = 1; s <= 4; s++) {
        clock.stepWall(1_000);
        await until(`b-healthy's tick ${s}`, async () => ((await runtime.call("ticks", "ok", "list", {})) as number[]).length >= s);
      }
      assert.deepEqual(await runtime.call("ticks", "ok", "list", {}), [1, 2, 3, 4].map((s) => Date.UTC(2030, 0, 1) + s * 1_000));
      const failed = logs.filter((line) => line.includes("schedule a-broken: Error: no target today; trying again in"));
      assert.ok(failed.length >= 1 && failed.length <= 3, `retried with growing pauses, not every pass:\n${logs.join("\n")}`);
      const report = (await runtime.admin.schedules()).schedules;
      assert.equal(report.find((r) => r.name === "a-broken")?.lastError, "Error: no target today");
      assert.equal(report.find((r) => r.name === "b-healthy")?.lastError, null);
    } finally {
      await runtime.stop();
    }
  });
});
