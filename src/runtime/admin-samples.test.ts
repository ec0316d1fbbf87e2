import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AdminSamples, rateBetween, Ring } from "./admin-samples.ts";

/** Sources the test moves by hand: a clock, the totals and the lags. */
function sources() {
  const s = { at: 0, commands: 0, commits: 0, lags: [{ name: "c", lag: 0 }], fail: false };
  return {
    s,
    samples: new AdminSamples(
      {
        now: () => s.at,
        totals: async () => {
          if (s.fail) throw new Error("store down");
          return { commands: s.commands, commits: s.commits };
        },
        lags: async () => s.lags,
      },
      { everyMs: 1_000, keep: 3 },
    ),
  };
}

describe("admin samples (lag and rate history)", () => {
  it("a-ring-keeps-the-latest-values-oldest-first", () => {
    const ring = new Ring<number>(2);
    for (const n of [1, 2, 3]) ring.push(n);
    assert.deepEqual(ring.list(), [2, 3]);
  });

  it("rates-are-per-second-between-two-totals", () => {
    assert.deepEqual(rateBetween({ at: 1_000, commands: 10, commits: 4 }, { at: 3_000, commands: 30, commits: 8 }), { at: 3_000, commandsPerSecond: 10, commitsPerSecond: 2 });
    assert.equal(rateBetween({ at: 5, commands: 1, commits: 1 }, { at: 5, commands: 9, commits: 9 }).commandsPerSecond, 0, "no time, no rate");
  });

  it("keeps-each-consumers-lag-and-adds-the-lag-now", async () => {
    const { s, samples } = sources();
    for (const [at, lag] of [[1_000, 5], [2_000, 7], [3_000, 2], [4_000, 0]] as const) {
      s.at = at;
      s.lags = [{ name: "c", lag }];
      await samples.sample();
    }
    s.at = 4_500;
    assert.deepEqual(samples.lagHistory("c", 1).samples, [{ at: 2_000, lag: 7 }, { at: 3_000, lag: 2 }, { at: 4_000, lag: 0 }, { at: 4_500, lag: 1 }]);
    assert.deepEqual(samples.lagHistory("other", 3).samples, [{ at: 4_500, lag: 3 }], "never sampled: only now");
  });

  it("rates-over-each-interval-and-now-and-a-failed-read-leaves-a-gap", async () => {
    const { s, samples } = sources();
    s.at = 1_000;
    await samples.sample();
    s.at = 2_000;
    s.commands = 50;
    s.commits = 10;
    await samples.sample();
    s.at = 3_000;
    s.fail = true;
    await samples.sample();
    s.fail = false;
    s.at = 4_000;
    s.commands = 150;
    const report = await samples.rates();
    assert.deepEqual(report.samples, [{ at: 2_000, commandsPerSecond: 50, commitsPerSecond: 10 }]);
    assert.deepEqual(report.now, { at: 4_000, commandsPerSecond: 50, commitsPerSecond: 0 }, "since the last sample, two seconds ago");
    assert.deepEqual(report.totals, { at: 4_000, commands: 150, commits: 10 });
    // Under a second after a sample, "now" spans the interval before it too.
    s.at = 2_500;
    assert.deepEqual((await samples.rates()).now, { at: 2_500, commandsPerSecond: 150 / 1.5, commitsPerSecond: 10 / 1.5 });
  });
});
