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
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool, withClient } from "./support/postgres-schema.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * PostgreSQL drops every connection of a running node while transfers run: the node's pool, its
 * listening connection and whatever commit was in flight (its outcome unknown to the node: it may
 * or may not have committed). Done 6 times during 300 transfers (sagas and plain workflows). Every
 * transfer must still end as its input dictates, with balances exact and each withdrawal and
 * deposit stored exactly once: the node reconnects, takes its leases back and resumes every
 * workflow, and an unknown outcome is settled by the stored state (retried steps reuse their keys).
 *
 * The node's connections carry an application_name of this test's own (in the connection URL),
 * so only they are terminated. Runs only with SAGAFLOW_POSTGRES_URL set.
 */

const transferCount = 300;
const drops = 6;
const url = postgresUrlOrSay("PostgreSQL lost-connections test");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("workflows on PostgreSQL survive the server dropping every connection", () => {
    const schemas = new SchemaPool(connectionString);
    let node: SagaflowProcess | undefined;
    let inspector: PostgresStore | undefined;
    after(async () => {
      await node?.cleanup();
      await inspector?.close();
      await schemas.dropAll();
    });

    it(`${transferCount}-transfers-end-exactly-across-${drops}-drops-of-all-connections`, { timeout: 120_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const seed = seedFrom("SAGAFLOW_CRASH_SEED");
      const rand = seededRandom(seed);
      const why = `(seed ${seed}; rerun with SAGAFLOW_CRASH_SEED=${seed})`;
      const schema = schemas.fresh("drops");
      const appName = `sagaflow_drops_${randomBytes(4).toString("hex")}`;
      const nodeUrl = `${connectionString}${connectionString.includes("?") ? "&" : "?"}application_name=${appName}`;
      node = await SagaflowProcess.start({
        target: "examples/bank",
        args: ["--postgres", nodeUrl, "--postgres-schema", schema, "--lease-ms", "1500", "--admin-port", "-1"],
      });
      const child = node;
      inspector = new PostgresStore({ connectionString, schema, poolSize: 2 });

      /** Terminates every backend of the node (once it has some again); returns how many there were. */
      const dropConnections = () =>
        withClient(connectionString, async (client) => {
          for (let i = 0; i < 100; i++) {
            const { rows } = await client.query("SELECT pg_terminate_backend(pid) AS t FROM pg_stat_activity WHERE application_name = $1", [appName]);
            if (rows.length > 0) return rows.length;
            await sleep(20);
          }
          return 0;
        });

      // A request the node cannot serve while its connections are down is answered 503
      // store_unavailable (never 500) and sent again with the same body: starts are idempotent.
      const { send, resent } = resendingSend(() => child.url, why, { lastWords: () => child.allOutput().slice(-3000) });
      await createWallets(send);
      const terminated: number[] = [];
      const transfers = planTransfers(rand, transferCount);
      await startTransfersAmidKills(send, transfers, {
        rand,
        kills: drops,
        concurrency: 10,
        killAndRestart: async () => terminated.push(await dropConnections()),
        why,
      });
      assert.equal(terminated.length, drops);
      assert.ok(terminated.every((n) => n > 0), `every drop found connections to end: ${terminated} ${why}`);
      assert.ok(child.running, `the node lived through it:\n${child.allOutput().slice(-3000)}`);

      const counted = await checkTransfersEnded(send, transfers, why);
      const exit = await child.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, `the node stopped gracefully ${why}`);
      await checkStoredTransfers(inspector, transfers, why, { seqsWithoutGap: true });
      assertNoBugsLogged([child.allOutput()], why);
      console.log(`lost-connections test ${why}: connections ended per drop ${JSON.stringify(terminated)}, requests re-sent ${resent()}, ${JSON.stringify(counted)}`);
    });
  });
}
