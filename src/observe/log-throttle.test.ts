import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LogThrottle } from "./log-throttle.ts";

describe("LogThrottle", () => {
  it("lets one line per key per interval through, and says how many it held back", () => {
    const throttle = new LogThrottle(1_000);
    assert.deepEqual(throttle.pass("a", 0), { suppressed: 0, sinceMs: 0 });
    assert.equal(throttle.pass("a", 10), undefined);
    assert.equal(throttle.pass("a", 999), undefined);
    assert.deepEqual(throttle.pass("b", 500), { suppressed: 0, sinceMs: 0 }, "another key has its own interval");
    assert.deepEqual(throttle.pass("a", 1_000), { suppressed: 2, sinceMs: 1_000 });
    assert.deepEqual(throttle.pass("a", 2_500), { suppressed: 0, sinceMs: 1_500 });
  });

  it("forgets its keys once it holds too many, rather than growing without bound", () => {
    const throttle = new LogThrottle(1_000, 2);
    throttle.pass("a", 0);
    throttle.pass("b", 0);
    assert.equal(throttle.pass("a", 1), undefined);
    assert.deepEqual(throttle.pass("c", 1), { suppressed: 0, sinceMs: 0 }, "a third key starts afresh");
    assert.deepEqual(throttle.pass("a", 2), { suppressed: 0, sinceMs: 0 }, "a was forgotten: it logs again");
  });
});
