import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatAgo, formatCount, formatDuration, formatJson, progressPercent, ratePerSecond } from "./format.ts";

describe("console formatting", () => {
  it("formats-durations-at-each-scale", () => {
    assert.equal(formatDuration(850), "850 ms");
    assert.equal(formatDuration(4_200), "4.2 s");
    assert.equal(formatDuration(42_000), "42 s");
    assert.equal(formatDuration(185_000), "3 min 5 s");
    assert.equal(formatDuration(2 * 3_600_000 + 10 * 60_000), "2 h 10 min");
    assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
    assert.equal(formatDuration(null), "–");
    assert.equal(formatAgo(1_000, 6_000), "5.0 s ago");
    assert.equal(formatAgo(7_000, 6_000), "in 1.0 s");
  });
  it("formats-counts-json-rates-and-progress", () => {
    assert.equal(formatCount(1234567), "1\u202f234\u202f567");
    assert.equal(formatCount(10_000, true), "≥ 10\u202f000");
    assert.equal(formatJson({ a: "bcdefgh" }, 8), '{"a":"b…');
    assert.equal(ratePerSecond({ at: 0, value: 10 }, { at: 2_000, value: 30 }), 10);
    assert.equal(ratePerSecond(undefined, { at: 1, value: 1 }), null);
    assert.equal(progressPercent(50, 200), 25);
    assert.equal(progressPercent(0, 0), 100);
    assert.equal(progressPercent(300, 200), 100);
  });
});
