import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VirtualClock } from "../clock.ts";
import { lingerAtMostMs, StepAttempts } from "./step-attempts.ts";

/** A `ctx.run` that outlived its attempt is waited for by the next attempt: at most a minute, once. */
describe("lingering runs", () => {
  it("are-waited-for-until-they-settle", async () => {
    const attempts = new StepAttempts();
    let settle = () => {};
    attempts.linger("w/1", new Promise<void>((resolve) => (settle = resolve)));
    const wait = attempts.lingeringRuns("w/1", new VirtualClock());
    assert.ok(wait, "the next attempt has runs to wait for");
    settle();
    await wait;
    assert.equal(attempts.lingeringRuns("w/1", new VirtualClock()), undefined, "settled runs are forgotten");
  });

  it("that-never-settle-are-waited-for-once-not-by-every-later-attempt", async () => {
    const attempts = new StepAttempts();
    const clock = new VirtualClock();
    attempts.linger("w/1", new Promise<void>(() => {}));
    const first = attempts.lingeringRuns("w/1", clock);
    let waited = false;
    void first!.then(() => (waited = true));
    await clock.advance(lingerAtMostMs - 1);
    assert.equal(waited, false, "waited for up to a minute");
    await clock.advance(1);
    assert.equal(waited, true);
    assert.equal(attempts.lingeringRuns("w/1", clock), undefined, "the next attempt does not wait another minute");
  });
});
