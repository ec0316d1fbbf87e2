import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { FIRST_MARK, GrowthAnalyzer, LAST_MARK } from "./postgres-analyze.ts";
import { eventsWrite, testbed, whenPostgresAsked } from "./postgres-test-support.ts";

describe("statistics renewed as the tables grow", () => {
  it("renews-at-each-doubling-of-the-rows-written-one-at-a-time-and-stops-after-the-last-mark", async () => {
    const runs: Array<() => void> = [];
    const analyzer = new GrowthAnalyzer(() => new Promise<void>((resolve) => runs.push(resolve)));
    analyzer.wrote(FIRST_MARK - 1);
    assert.equal(runs.length, 0, "below the first mark: nothing");
    analyzer.wrote(1);
    assert.equal(runs.length, 1, "at the first mark");
    analyzer.wrote(5 * FIRST_MARK);
    assert.equal(runs.length, 1, "one at a time: the next mark passed while the first runs");
    runs[0]!();
    await new Promise((resolve) => setImmediate(resolve));
    analyzer.wrote(1);
    assert.equal(runs.length, 2, "the passed mark renews once the first is done");
    runs[1]!();
    await new Promise((resolve) => setImmediate(resolve));
    analyzer.wrote(1);
    assert.equal(runs.length, 2, "6,002 rows: the next mark is 8,000, not every write");
    analyzer.wrote(2_000);
    assert.equal(runs.length, 3);
    runs[2]!();
    await new Promise((resolve) => setImmediate(resolve));
    analyzer.wrote(LAST_MARK * 4);
    assert.equal(runs.length, 4, "the last renewal");
    runs[3]!();
    await new Promise((resolve) => setImmediate(resolve));
    analyzer.wrote(LAST_MARK * 4);
    assert.equal(runs.length, 4, "past the last mark autovacuum keeps up");
  });

  it("goes-on-after-a-renewal-fails", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const analyzer = new GrowthAnalyzer(async () => {
      calls++;
      throw new Error("permission denied");
    }, (error) => errors.push(error));
    analyzer.wrote(FIRST_MARK);
    await new Promise((resolve) => setImmediate(resolve));
    analyzer.wrote(FIRST_MARK);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls, 2);
    assert.equal(errors.length, 2);
  });
});

whenPostgresAsked((url) => {
  describe("statistics renewed as the tables grow (PostgreSQL)", () => {
    const bed = testbed(url);
    after(() => bed.dropSchemas());

    it("analyzes-the-stores-tables-once-it-has-written-the-first-mark's-rows", async () => {
      await bed.withStore(async (store) => {
        const client = await bed.rawClient();
        const analyzed = async () =>
          (await client.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'events' AND last_analyze IS NOT NULL",
          )).rows[0]!.n;
        try {
          await client.query(`SET search_path = "${(await store.settings()).schema}"`);
          const batch = (from: number) => Array.from({ length: 100 }, (_, i) => eventsWrite("c", `e${from + i}`, 0, { n: i }));
          for (let i = 0; i < FIRST_MARK - 100; i += 100) await store.commit(batch(i));
          assert.equal(await analyzed(), "0", "not before the mark");
          await store.commit(batch(FIRST_MARK));
          const deadline = Date.now() + 10_000;
          while ((await analyzed()) === "0" && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
          assert.equal(await analyzed(), "1");
        } finally {
          await client.end();
        }
      });
    });
  });
});
