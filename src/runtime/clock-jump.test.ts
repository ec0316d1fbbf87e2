import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deferred } from "../define/deferred.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import { SteadyWallTime, VirtualClock } from "./clock.ts";
import { Runtime } from "./runtime.ts";
import { dueTimeComponents } from "./workflow/due-times-test-support.ts";

/**
 * The wall clock set back 30 s while timers, pause timeouts, retry back-offs and workflow
 * timeouts wait (issue 19, item 2): each fires at its delay on the monotonic clock, not 30 s late.
 */
const { target, deadline, pauser, retrier } = dueTimeComponents(5_000);

describe("the wall clock set back", () => {
  it("steady-wall-time-carries-on-from-where-it-was-until-the-wall-clock-catches-up", () => {
    let wall = 1_000_000;
    let monotonic = 0;
    const time = new SteadyWallTime(() => wall, () => monotonic);
    assert.equal(time.now(), 1_000_000);
    monotonic += 500;
    wall += 500 - 30_000; // moved on 500 ms, then set back 30 s
    assert.equal(time.now(), 1_000_500);
    monotonic += 1_000;
    wall += 1_000;
    assert.equal(time.now(), 1_001_500);
    wall += 30_000; // corrected
    assert.equal(time.now(), 1_001_500);
    wall += 10; // and forward steps are followed at once
    assert.equal(time.now(), 1_001_510);
  });

  it("timers-pause-timeouts-retries-and-workflow-timeouts-fire-at-their-monotonic-delay-not-30-s-late", async () => {
    const clock = new VirtualClock();
    const runtime = new Runtime({ store: new MemoryStore(), components: [target, deadline, pauser, retrier], clock, log: () => {} });
    await runtime.start();
    try {
      const startedAt = clock.now();
      // Some armed before the step back, some after it.
      await runtime.call("deadline", "d1", "start", {});
      await runtime.call("pauser", "p1", "start", {});
      await runtime.call("retrier", "r1", "start", {});
      await runtime.timers.start("t1", 5_000, deferred(target, "t1").hit({}));
      await clock.advance(1_000);
      clock.stepWall(-30_000);
      assert.equal(clock.rawWall(), startedAt - 29_000);
      await runtime.call("deadline", "d2", "start", {});
      await runtime.call("pauser", "p2", "start", {});
      await runtime.call("retrier", "r2", "start", {});
      await runtime.timers.start("t2", 5_000, deferred(target, "t2").hit({}));

      await clock.advance(3_999);
      assert.equal((await runtime.workflowResult("deadline", "d1")).status, "paused", "nothing before it is due");
      await clock.advance(1);
      assert.deepEqual((await runtime.workflowResult("deadline", "d1")).state, { late: true });
      assert.deepEqual((await runtime.workflowResult("pauser", "p1")).state, { timedOut: true });
      assert.deepEqual((await runtime.workflowResult("retrier", "r1")).state, { ran: 1 });
      assert.deepEqual(await runtime.call("target", "t1", "get", {}), { hits: 1 });

      // Those armed after the step back: 5 s after they were started, 1 s later.
      await clock.advance(1_000);
      for (const id of ["d2", "p2", "r2"]) {
        const name = { d: "deadline", p: "pauser", r: "retrier" }[id[0]!]!;
        assert.equal((await runtime.workflowResult(name, id)).status, "ended", `${name} ${id}`);
      }
      assert.deepEqual(await runtime.call("target", "t2", "get", {}), { hits: 1 });
      // The wall clock is still 30 s behind: time in the process carried on all the same.
      assert.equal(clock.rawWall(), startedAt + 6_000 - 30_000);
      assert.equal(clock.now(), startedAt + 6_000);
      const history = await runtime.store.workflowHistory("deadline", "d2", 10);
      assert.ok(history.every((h, i) => i === 0 || h.at >= history[i - 1]!.at), "no transition stamped before the one it follows");
    } finally {
      await runtime.stop();
    }
  });
});
