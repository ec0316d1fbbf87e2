import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import type { NodesReport } from "../src/runtime/cluster/membership.ts";
import { until } from "../src/runtime/test-support.ts";
import {
  assertNoBugsLogged,
  checkStoredTransfers,
  checkTransfersEnded,
  createWallets,
  planTransfers,
  resendingSend,
  startTransfers,
} from "./support/bank-transfers.ts";
import { requestJson } from "./support/http.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { describeExit, SagaflowProcess } from "./support/server-process.ts";

/**
 * Three real node processes serving examples/bank on one PostgreSQL schema. 1,000 transfers (sagas
 * and plain workflows alternating; 10% compensated, 10% rejected) are started round-robin over
 * the nodes. After a third of them, one node is SIGKILLed (its leases must be taken over by the
 * others, its running workflows finished by them); after two thirds, another node is restarted
 * (SIGTERM, then started again: it gives its leases up and gets a share back). Every transfer
 * must end as its input dictates, every wallet must hold exactly what the completed transfers
 * say, and each withdrawal and deposit must be stored exactly once.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set. SAGAFLOW_CRASH_SEED=<seed> replays the same plan.
 */

const transferCount = 1_000;
const leaseMs = 1_500;
const startConcurrency = 12;
const url = postgresUrlOrSay("PostgreSQL three-node test");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("three nodes on one PostgreSQL share the bank's work", () => {
    const schemas = new SchemaPool(connectionString);
    const nodes: SagaflowProcess[] = [];
    let inspector: PostgresStore | undefined;
    after(async () => {
      await Promise.all(nodes.map((n) => n.cleanup()));
      await inspector?.close();
      await schemas.dropAll();
    });

    it(`${transferCount} transfers over 3 nodes, one SIGKILLed and one restarted mid-run, end exactly`, { timeout: 180_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const seed = seedFrom("SAGAFLOW_CRASH_SEED");
      const rand = seededRandom(seed);
      const why = `(seed ${seed}; rerun with SAGAFLOW_CRASH_SEED=${seed})`;
      const started = Date.now();
      const schema = schemas.fresh("three");
      for (let i = 0; i < 3; i++) {
        nodes.push(
          SagaflowProcess.create({
            target: "examples/bank",
            args: ["--postgres", connectionString, "--postgres-schema", schema, "--lease-ms", String(leaseMs), "--node-name", `n${i}`],
          }),
        );
      }
      await Promise.all(nodes.map((n) => n.start()));
      inspector = new PostgresStore({ connectionString, schema, poolSize: 2 });
      const store = inspector;

      // Every lease held, and by all three nodes, before any work.
      const spread = await waitForNodes(nodes[0]!, (r) => r.unheld.length === 0 && r.nodes.filter((n) => n.alive && n.leases.length > 0).length === 3, why);
      assert.equal(spread.nodes.length, 3, JSON.stringify(spread));

      /** A request that any live node may answer: on a failed connection (or 503) the next node gets it. */
      let next = 0;
      const nextLiveNode = () => {
        for (let tries = 0; tries < nodes.length; tries++) {
          const node = nodes[next++ % nodes.length]!;
          if (node.running) return node.url;
        }
        throw new Error("no node runs");
      };
      const { send, resent } = resendingSend(nextLiveNode, why);
      await createWallets(send);

      const transfers = planTransfers(rand, transferCount);
      let takeoverMs = 0;
      let chaos = Promise.resolve();
      const onStarted = (count: number) => {
        if (count === Math.floor(transferCount / 3)) {
          chaos = chaos.then(async () => {
            const victim = spread.nodes.find((n) => n.info["url"] === nodes[0]!.url)!;
            const exit = await nodes[0]!.kill("SIGKILL");
            assert.equal(exit.signal, "SIGKILL", `node 0 was killed, not ${describeExit(exit)}`);
            const killedAt = Date.now();
            // Its leases: expired, then taken by the two others (within about two lease times).
            const after = await waitForNodes(nodes[2]!, (r) => r.unheld.length === 0 && r.nodes.every((n) => n.id !== victim.id || n.leases.length === 0), why);
            takeoverMs = Date.now() - killedAt;
            assert.ok(victim.leases.length > 0 && after.nodes.some((n) => n.id !== victim.id && n.leases.length > 0), JSON.stringify(after));
          });
        }
        if (count === Math.floor((2 * transferCount) / 3)) {
          chaos = chaos.then(async () => {
            const exit = await nodes[1]!.stop();
            assert.deepEqual(exit, { code: 0, signal: null }, `node 1 stopped gracefully ${why}`);
            await nodes[1]!.start();
          });
        }
      };
      let acknowledged = 0;
      await startTransfers(send, transfers, startConcurrency, () => onStarted(++acknowledged), why);
      await chaos;
      const startsDone = Date.now() - started;

      // The restarted node got a share back; the killed one holds nothing.
      await waitForNodes(nodes[2]!, (r) => r.unheld.length === 0 && r.nodes.filter((n) => n.alive && n.leases.length > 0).length === 2, why);

      const counted = await checkTransfersEnded(send, transfers, why);
      await checkStoredTransfers(store, transfers, why, { seqsWithoutGap: true });

      for (const node of [nodes[1]!, nodes[2]!]) {
        const exit = await node.stop();
        assert.deepEqual(exit, { code: 0, signal: null }, `a surviving node stopped gracefully ${why}`);
      }
      assertNoBugsLogged(nodes.map((n) => n.allOutput()), why);
      console.log(
        `three-node test ${why}: ${JSON.stringify(counted)}, requests re-sent ${resent()}, ` +
          `killed node's leases taken over after ${takeoverMs} ms (lease ${leaseMs} ms), ` +
          `starts done after ${(startsDone / 1000).toFixed(1)} s, all checked after ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    });
  });
}

/** Polls a node's `GET /nodes` until `ok` holds (30 s at most). */
async function waitForNodes(node: SagaflowProcess, ok: (report: NodesReport) => boolean, why: string): Promise<NodesReport> {
  let report: NodesReport | undefined;
  return until(() => `the nodes to get there: ${JSON.stringify(report)} ${why}`, async () => {
    const res = await requestJson(`${await node.admin()}/nodes`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    report = res.body as NodesReport;
    return ok(report) && report;
  }, 30_000, { everyMs: 100 });
}
