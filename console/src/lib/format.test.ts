import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { changedFields, fitLabel, workflowOfKey, formatAgo, formatCount, formatDuration, formatJson, formatRate, progressPercent } from "./format.ts";

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
    assert.equal(formatRate(0), "0/s");
    assert.equal(formatRate(0.42), "0.4/s");
    assert.equal(formatRate(1250), "1\u202f250/s");
    assert.equal(formatRate(undefined), "–");
    assert.equal(progressPercent(50, 200), 25);
    assert.equal(progressPercent(0, 0), 100);
    assert.equal(progressPercent(300, 200), 100);
  });
  it("cuts-a-label-to-its-box-with-an-ellipsis-never-inside-a-character", () => {
    // Measured as 10 px a character, "W" 20 (a browser measures each glyph).
    const measure = (text: string) => Array.from(text).reduce((width, c) => width + (c === "W" ? 20 : 10), 0);
    assert.equal(fitLabel("withdraw", 100, measure), "withdraw");
    assert.equal(fitLabel("undo reserveInventory", 100, measure), "undo rese…");
    assert.equal(fitLabel("WWWWWWWWWW", 100, measure), "WWWW…");
    assert.equal(fitLabel("😀😀😀😀😀😀😀😀😀😀😀😀", 60, measure), "😀😀😀😀😀…");
  });
  it("finds-the-workflow-a-step's-idempotency-key-belongs-to", () => {
    const names = ["transfer", "order"];
    assert.deepEqual(workflowOfKey("wf:transfer:t1:2:0", names), { name: "transfer", id: "t1" });
    assert.deepEqual(workflowOfKey("wf:order:o:1:12:3", names), { name: "order", id: "o:1" });
    assert.deepEqual(workflowOfKey("wf:order:o1:3:run:charge:0", names), { name: "order", id: "o1" });
    assert.equal(workflowOfKey("wf:payout:p1:1:0", names), undefined, "not a workflow of this service");
    assert.equal(workflowOfKey("client-key-1", names), undefined);
  });
  it("tells-which-fields-of-a-state-changed", () => {
    assert.deepEqual(changedFields({ a: 1, b: { c: 2 }, d: 3 }, { a: 1, b: { c: 3 }, e: 4 }), ["b", "d", "e"]);
    assert.deepEqual(changedFields({ a: [1] }, { a: [1] }), []);
    assert.deepEqual(changedFields(1, 2), ["(value)"]);
    assert.deepEqual(changedFields(undefined, { a: 1 }), ["(value)"]);
  });
});
