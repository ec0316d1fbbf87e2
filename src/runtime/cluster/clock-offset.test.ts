import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ClusterStore } from "../../store/cluster-port.ts";
import { until } from "../test-support.ts";
import { ClockOffset } from "./clock-offset.ts";
import { Membership } from "./membership.ts";

/**
 * Leases run on the database's clock, but due times on each node's own: a node whose clock is off
 * fires timers and timeouts early or late. Each heartbeat measures the offset; past a second it is
 * said once (`clock_offset`), and once more when it is back, and `sagaflow nodes` shows it.
 */
describe("a node's clock against the database's", () => {
  it("is-said-once-past-a-second-either-way-and-once-when-back-never-on-a-measure-too-loose-to-tell", () => {
    const lines: string[] = [];
    const clock = new ClockOffset("n1", (line) => lines.push(line));
    clock.measured(10_000, 10_205, 10_010);
    assert.equal(clock.offsetMs, 200);
    assert.deepEqual(lines, [], "200 ms is in step");
    clock.measured(20_000, 25_010, 20_020);
    assert.equal(clock.offsetMs, 5_000);
    clock.measured(30_000, 35_010, 30_020);
    assert.equal(lines.length, 1, "said once while it lasts");
    assert.match(lines[0]!, /WARNING: node n1's clock is 5\.0 s behind the database's\. .*fires up to that much late here .*synchronise the nodes' clocks/);
    clock.measured(40_000, 60_000, 43_000);
    assert.equal(clock.offsetMs, 5_000, "a 3 s round trip tells nothing: the last measure stays");
    clock.measured(50_000, 50_010, 50_020);
    assert.match(lines[1]!, /node n1's clock is back within 1000 ms of the database's \(0 ms\)/);
    clock.measured(55_000, 56_850, 55_900);
    assert.equal(clock.offsetMs, 1_400);
    assert.equal(lines.length, 2, "1,400 ms off, give or take a 900 ms round trip's half, is not surely off");
    clock.measured(60_000, 58_010, 60_020);
    assert.match(lines[2]!, /node n1's clock is 2\.0 s ahead of the database's\. .*early here/);
  });

  it("membership-measures-it-at-each-heartbeat-and-tells-the-other-nodes-in-its-next", async () => {
    let databaseAhead = 4_000;
    const sent: Array<Record<string, unknown>> = [];
    const cluster: ClusterStore = {
      heartbeat: async (_node, _started, info) => {
        sent.push({ ...info });
        return Date.now() + databaseAhead;
      },
      forgetNodes: async () => {},
      listNodes: async () => [],
      listLeases: async () => [],
      acquireLeases: async (_node, names) => new Map(names.map((name) => [name, 1])),
      releaseLeases: async () => {},
      listen: async () => async () => {},
    };
    const lines: string[] = [];
    const member = new Membership({ cluster, log: (line) => lines.push(line), leaseMs: 300 });
    await member.start();
    try {
      await until("a heartbeat saying its offset", () => sent.some((info) => typeof info["clockOffsetMs"] === "number"), 5_000);
      const said = sent.find((info) => typeof info["clockOffsetMs"] === "number")!["clockOffsetMs"] as number;
      assert.ok(Math.abs(said - 4_000) < 100, `about 4,000 ms, got ${said}`);
      assert.equal(lines.filter((l) => l.includes("WARNING") && l.includes("4.0 s behind")).length, 1, lines.join("\n"));
      databaseAhead = 0;
      await until("back in step", () => lines.some((l) => l.includes("back within")), 5_000);
    } finally {
      await member.stop();
    }
  });
});
