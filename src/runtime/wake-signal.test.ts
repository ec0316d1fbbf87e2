import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WakeSignal } from "./wake-signal.ts";

/**
 * The sleep's timer is unref'd, so a sleep that is never woken leaves the event loop empty and
 * node:test cancels the test: each "resolves" below fails that way if the wake is lost.
 */
describe("wake signal", () => {
  it("a wake during a sleep ends it", async () => {
    const signal = new WakeSignal();
    const slept = signal.sleep(60_000);
    signal.wake();
    await slept;
  });

  it("a wake while nobody sleeps ends the next sleep at once, and only that one", async () => {
    const signal = new WakeSignal();
    signal.wake();
    signal.wake();
    await signal.sleep(60_000);
    const order: string[] = [];
    const keepAlive = setTimeout(() => {}, 1_000);
    await Promise.race([
      signal.sleep(50).then(() => order.push("sleep")),
      new Promise<void>((resolve) => setImmediate(resolve)).then(() => order.push("next turn")),
    ]);
    clearTimeout(keepAlive);
    assert.deepEqual(order, ["next turn"]);
  });

  it("an unwoken sleep ends when its time is up", async () => {
    const keepAlive = setTimeout(() => {}, 5_000);
    await new WakeSignal().sleep(5);
    clearTimeout(keepAlive);
  });
});
