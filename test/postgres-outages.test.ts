import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import {
  assertNoBugsLogged,
  checkStoredTransfers,
  checkTransfersEnded,
  createWallets,
  planTransfers,
  resendingSend,
  startTransfersAmidKills,
} from "./support/bank-transfers.ts";
import { OwnPostgres, postgresBinOrSay } from "./support/own-postgres.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool, withClient } from "./support/postgres-schema.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * A node runs examples/bank (300 transfers: sagas and plain workflows) while the database goes
 * away under it, in two ways:
 * - every connection of the node is terminated, 6 times: its pool, its listening connection and
 *   whatever commit was in flight (its outcome unknown to the node);
 * - the server itself is restarted, twice: every connection breaks and for a few seconds none can
 *   be made. That server is the test's own (OwnPostgres), never the shared one other test files
 *   use meanwhile; it runs when SAGAFLOW_POSTGRES_BIN names PostgreSQL's programs (.ci/run sets it).
 * Every transfer must still end as its input dictates, balances exact, each withdrawal and
 * deposit stored once (an unknown outcome is settled by the stored state: retried steps reuse
 * their keys). Requests the node cannot serve meanwhile are answered 503 (never 500) and sent
 * again, and no step may use up an attempt on the outage.
 */

const transferCount = 300;
const url = postgresUrlOrSay("PostgreSQL outage tests");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("workflows on PostgreSQL survive the database going away", () => {
    const schemas = new SchemaPool(connectionString);
    const nodes: SagaflowProcess[] = [];
    const inspectors: PostgresStore[] = [];
    let ownServer: OwnPostgres | undefined;
    after(async () => {
      for (const node of nodes) await node.cleanup();
      for (const inspector of inspectors) await inspector.close();
      await schemas.dropAll();
      await ownServer?.stop();
    });

    /**
     * Runs the transfers on a fresh node, calling `outage` `times` times while they start, and
     * checks everything ended exactly. The node's connections carry an application_name of their
     * own, which `outage` gets to find them. `server`: the shared server, or one of the test's own.
     */
    async function runThroughOutages(label: string, times: number, outage: (appName: string) => Promise<void>, server = connectionString): Promise<void> {
      await assertPostgresReachable(server);
      const seed = seedFrom("SAGAFLOW_CRASH_SEED");
      const rand = seededRandom(seed);
      const why = `(seed ${seed}; rerun with SAGAFLOW_CRASH_SEED=${seed})`;
      const schema = schemas.fresh(label);
      const appName = `sagaflow_${label}_${randomBytes(4).toString("hex")}`;
      const nodeUrl = `${server}${server.includes("?") ? "&" : "?"}application_name=${appName}`;
      const node = await SagaflowProcess.start({
        target: "examples/bank",
        args: ["--postgres", nodeUrl, "--postgres-schema", schema, "--lease-ms", "1500", "--admin-port", "-1"],
      });
      nodes.push(node);
      const { send, resent } = resendingSend(() => node.url, why, { lastWords: () => node.allOutput().slice(-3000) });
      await createWallets(send);
      const transfers = planTransfers(rand, transferCount);
      let outages = 0;
      const killAndRestart = async () => {
        await outage(appName);
        outages++;
      };
      await startTransfersAmidKills(send, transfers, { rand, kills: times, concurrency: 8, killAndRestart, why });
      assert.equal(outages, times);
      assert.ok(node.running, `the node lived through it:\n${node.allOutput().slice(-3000)}`);

      const counted = await checkTransfersEnded(send, transfers, why);
      const exit = await node.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, `the node stopped gracefully ${why}`);
      const inspector = new PostgresStore({ connectionString: server, schema, poolSize: 2 });
      inspectors.push(inspector);
      await checkStoredTransfers(inspector, transfers, why, { seqsWithoutGap: true });
      const outageAttempts = await withClient(server, async (client) => {
        const { rows } = await client.query<{ detail: string }>(`SELECT detail FROM "${schema}".workflow_history WHERE detail ~* $1`, [
          "failed \\(attempt.*(terminating connection|connection terminated|not queryable|ECONNREFUSED|starting up|shutting down)",
        ]);
        return rows.map((r) => r.detail);
      });
      assert.deepEqual(outageAttempts, [], `no step used up an attempt on the outage ${why}`);
      assertNoBugsLogged([node.allOutput()], why);
      const unavailable = node.allOutput().split("\n").filter((line) => line.includes("store unavailable")).length;
      console.log(`${label} ${why}: ${times} outages, requests answered 503 ${unavailable}, re-sent ${resent()}, ${JSON.stringify(counted)}`);
    }

    it(`${transferCount}-transfers-end-exactly-across-6-drops-of-all-connections`, { timeout: 120_000 }, async () => {
      const ended: number[] = [];
      await runThroughOutages("drops", 6, async (appName) => {
        // Every backend of the node, once it has some again.
        ended.push(
          await withClient(connectionString, async (client) => {
            for (let i = 0; i < 100; i++) {
              const { rows } = await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [appName]);
              if (rows.length > 0) return rows.length;
              await sleep(20);
            }
            return 0;
          }),
        );
      });
      assert.ok(ended.every((n) => n > 0), `every drop found connections to end: ${ended}`);
    });

    const bin = postgresBinOrSay("PostgreSQL restart test");
    if (!bin) return;
    it(`${transferCount}-transfers-end-exactly-across-2-server-restarts`, { timeout: 180_000 }, async () => {
      // A server of its own: the other test files, running meanwhile, share the machine's.
      const own = (ownServer = await OwnPostgres.start(bin));
      await runThroughOutages(
        "restart",
        2,
        async () => {
          await own.restart();
          await assertPostgresReachable(own.url);
        },
        own.url,
      );
    });
  });
}
