import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CronTicks } from "./cron-ticks.ts";

const iso = (ms: number) => new Date(ms).toISOString();
const at = (text: string) => Date.parse(text);

describe("cron ticks in a time zone with DST (Europe/Berlin)", () => {
  it("a daily 02:30 fires once on the spring-forward day, at the end of the gap (03:00 CEST)", () => {
    const ticks = new CronTicks({ cron: "0 30 2 * * *", timeZone: "Europe/Berlin" }, "t");
    assert.deepEqual(ticks.between(at("2026-03-27T12:00:00Z"), at("2026-03-31T00:00:00Z")).map(iso), [
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:00:00.000Z", // 02:30 does not exist: 03:00 CEST
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
    ]);
  });

  it("a daily 02:30 fires once on the fall-back day, though 02:30 happens twice", () => {
    const ticks = new CronTicks({ cron: "0 30 2 * * *", timeZone: "Europe/Berlin" }, "t");
    assert.deepEqual(ticks.between(at("2026-10-23T12:00:00Z"), at("2026-10-27T00:00:00Z")).map(iso), [
      "2026-10-24T00:30:00.000Z", // 02:30 CEST
      "2026-10-25T00:30:00.000Z", // the first 02:30 (CEST); not again at 01:30Z (CET)
      "2026-10-26T01:30:00.000Z", // 02:30 CET
    ]);
  });

  it("an hourly schedule ticks every real hour: 23 ticks on the spring day, 25 on the fall day", () => {
    const ticks = new CronTicks({ cron: "0 0 * * * *", timeZone: "Europe/Berlin" }, "t");
    const spring = ticks.between(at("2026-03-28T23:00:00Z") - 1, at("2026-03-29T22:00:00Z") - 1);
    assert.equal(spring.length, 23);
    for (let i = 1; i < spring.length; i++) assert.equal(spring[i]! - spring[i - 1]!, 3_600_000);
    const fall = ticks.between(at("2026-10-24T22:00:00Z") - 1, at("2026-10-25T23:00:00Z") - 1);
    assert.equal(fall.length, 25);
    for (let i = 1; i < fall.length; i++) assert.equal(fall[i]! - fall[i - 1]!, 3_600_000);
  });

  it("seconds are the first field; UTC is the default zone", () => {
    const ticks = new CronTicks({ cron: "*/15 * * * * *" }, "t");
    assert.deepEqual(ticks.between(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:01:00Z")).map(iso), [
      "2026-01-01T00:00:15.000Z",
      "2026-01-01T00:00:30.000Z",
      "2026-01-01T00:00:45.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
  });
});

describe("cron expressions refused", () => {
  it("an invalid field or a date that never comes is refused naming the schedule", () => {
    assert.throws(() => new CronTicks({ cron: "0 61 * * * *" }, "hourly"), /schedule "hourly": cron "0 61 \* \* \* \*": .*minute/i);
    assert.throws(() => new CronTicks({ cron: "0 0 0 30 2 *" }, "leap"), /schedule "leap": cron "0 0 0 30 2 \*" names no instant that will come/);
  });
});
