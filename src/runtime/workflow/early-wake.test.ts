import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deferred } from "../../define/deferred.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { VirtualClock } from "../clock.ts";
import { Runtime } from "../runtime.ts";
import { dueTimeComponents } from "./due-times-test-support.ts";

/**
 * A clock whose timers wake early (at half the delay asked for), as Node's setTimeout can when
 * the event loop's cached time lags: whatever was due must still happen, at its due time.
 */
class EarlyClock extends VirtualClock {
  wakeUps = 0;
  override schedule(ms: number, fn: () => void): { cancel(): void } {
    return super.schedule(Math.ceil(ms / 2), () => {
      this.wakeUps++;
      fn();
    });
  }
}

const { target, deadline, pauser, retrier } = dueTimeComponents(2_000);

describe("timers that wake before their due time", () => {
  it("workflow-timeouts-pause-timeouts-retries-and-durable-timers-still-happen-at-their-due-time", async () => {
    const clock = new EarlyClock();
    const runtime = new Runtime({ store: new MemoryStore(), components: [target, deadline, pauser, retrier], clock, log: () => {} });
    await runtime.start();
    try {
      await runtime.call("deadline", "d", "start", {});
      await runtime.call("pauser", "p", "start", {});
      await runtime.call("retrier", "r", "start", {});
      await runtime.timers.start("soon", 2_000, deferred(target, "t").hit({}));
      await clock.advance(1_999);
      // Nothing is due yet, though the clock has woken its callbacks (early) many times.
      assert.ok(clock.wakeUps >= 4, `woken ${clock.wakeUps} times`);
      assert.equal((await runtime.workflowResult("deadline", "d")).status, "paused");
      assert.equal((await runtime.workflowResult("pauser", "p")).status, "paused");
      assert.equal((await runtime.workflowResult("retrier", "r")).status, "running");
      assert.deepEqual(await runtime.call("target", "t", "get", {}), { hits: 0 });
      await clock.advance(1);
      assert.deepEqual(await runtime.workflowResult("deadline", "d"), { id: "d", status: "ended", step: "late", state: { late: true } });
      assert.deepEqual(await runtime.workflowResult("pauser", "p"), { id: "p", status: "ended", step: "expired", state: { timedOut: true } });
      assert.deepEqual(await runtime.workflowResult("retrier", "r"), { id: "r", status: "ended", step: "flaky", state: { ran: 1 } });
      assert.deepEqual(await runtime.call("target", "t", "get", {}), { hits: 1 });
    } finally {
      await runtime.stop();
    }
  });
});
