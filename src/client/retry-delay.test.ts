import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { retryAfterMs, retryDelayMs } from "./retry-delay.ts";

const timing = { initialDelayMs: 200, maxDelayMs: 5_000 };
const now = Date.parse("2025-01-01T00:00:00Z");

describe("retry delays", () => {
  it("Retry-After is read as seconds or as an HTTP date; anything else is ignored", () => {
    assert.equal(retryAfterMs("2", now), 2_000);
    assert.equal(retryAfterMs(" 0 ", now), 0);
    assert.equal(retryAfterMs("Wed, 01 Jan 2025 00:00:03 GMT", now), 3_000);
    assert.equal(retryAfterMs("Tue, 31 Dec 2024 23:00:00 GMT", now), 0, "a date in the past means now");
    assert.equal(retryAfterMs("soon", now), undefined);
    assert.equal(retryAfterMs("-1", now), undefined);
    assert.equal(retryAfterMs(null, now), undefined);
  });

  it("the server's Retry-After is the least wait; jitter only adds, up to half of it plus 100 ms", () => {
    assert.equal(retryDelayMs(1, "1", timing, now, () => 0), 1_000);
    assert.equal(retryDelayMs(1, "1", timing, now, () => 1), 1_600);
    assert.equal(retryDelayMs(3, "0", timing, now, () => 0), 0);
    assert.equal(retryDelayMs(3, "0", timing, now, () => 1), 100);
  });

  it("without Retry-After the wait doubles from the initial delay", () => {
    assert.deepEqual([1, 2, 3].map((retry) => retryDelayMs(retry, null, timing, now, () => 0)), [200, 400, 800]);
  });

  it("no wait is longer than the cap, however long the server asks for, jitter included", () => {
    assert.equal(retryDelayMs(1, "3600", timing, now, () => 0), 5_000);
    assert.equal(retryDelayMs(1, "3600", timing, now, () => 1), 5_000);
    assert.equal(retryDelayMs(30, null, timing, now, () => 1), 5_000);
    assert.equal(retryDelayMs(1, "4", timing, now, () => 1), 5_000);
  });
});
