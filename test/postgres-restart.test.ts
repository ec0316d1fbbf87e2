import assert from "node:assert/strict";
import { exec } from "node:child_process";
import { promisify } from "node:util";
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
 * The PostgreSQL server itself is restarted, twice, while a node runs 300 transfers (sagas and
 * plain workflows) started 8 at a time: every connection breaks, and for a few seconds none can
 * be made. Every transfer must still end as its input dictates, balances exact, each withdrawal
 * and deposit stored once. Requests the node cannot serve meanwhile are answered 503 (never 500)
 * and sent again; and no step may use up an attempt on the outage (a longer one would otherwise
 * fail workflows).
 *
 * Restarting a server is not something a test may do to a user's database: this runs only when
 * SAGAFLOW_POSTGRES_RESTART names the shell command that restarts the server of
 * SAGAFLOW_POSTGRES_URL (.ci/run sets it).
 */

const transferCount = 300;
const restarts = 2;
const url = postgresUrlOrSay("PostgreSQL restart test");
const restartCommand = process.env["SAGAFLOW_POSTGRES_RESTART"];
if (url && !restartCommand) {
  process.stderr.write("PostgreSQL restart test not asked for: set SAGAFLOW_POSTGRES_RESTART to the command that restarts the server\n");
}
if (url && restartCommand) registerTests(url, restartCommand);

function registerTests(connectionString: string, restart: string): void {
  describe("workflows on PostgreSQL survive the server restarting", () => {
    const schemas = new SchemaPool(connectionString);
    let node: SagaflowProcess | undefined;
    let inspector: PostgresStore | undefined;
    after(async () => {
      await node?.cleanup();
      await inspector?.close();
      await schemas.dropAll();
    });

    it(`${transferCount}-transfers-end-exactly-across-${restarts}-server-restarts`, { timeout: 180_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const seed = seedFrom("SAGAFLOW_CRASH_SEED");
      const rand = seededRandom(seed);
      const why = `(seed ${seed}; rerun with SAGAFLOW_CRASH_SEED=${seed})`;
      const schema = schemas.fresh("restart");
      node = await SagaflowProcess.start({
        target: "examples/bank",
        args: ["--postgres", connectionString, "--postgres-schema", schema, "--lease-ms", "1500", "--admin-port", "-1"],
      });
      const child = node;
      const { send, resent } = resendingSend(() => child.url, why, { lastWords: () => child.allOutput().slice(-3000) });
      await createWallets(send);

      let restarted = 0;
      const restartServer = async () => {
        // Not execSync: requests must keep going while the server is down.
        await promisify(exec)(restart, { timeout: 60_000 });
        restarted++;
        // Back once it answers again; the node finds out by itself.
        for (let i = 0; i < 100; i++) {
          try {
            await assertPostgresReachable(connectionString);
            return;
          } catch {
            await sleep(100);
          }
        }
      };
      const transfers = planTransfers(rand, transferCount);
      await startTransfersAmidKills(send, transfers, { rand, kills: restarts, concurrency: 8, killAndRestart: restartServer, why });
      assert.equal(restarted, restarts);
      assert.ok(child.running, `the node lived through it:\n${child.allOutput().slice(-3000)}`);

      const counted = await checkTransfersEnded(send, transfers, why);
      const exit = await child.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, `the node stopped gracefully ${why}`);
      inspector = new PostgresStore({ connectionString, schema, poolSize: 2 });
      await checkStoredTransfers(inspector, transfers, why, { seqsWithoutGap: true });
      const { outageAttempts, stepsThatMetTheOutage } = await withClient(connectionString, async (client) => {
        const notes = (pattern: string) =>
          client.query<{ detail: string }>(`SELECT detail FROM "${schema}".workflow_history WHERE detail ~* $1`, [pattern]);
        return {
          outageAttempts: (await notes("failed \\(attempt.*(terminating connection|connection terminated|not queryable|ECONNREFUSED|starting up|shutting down)")).rows.map((r) => r.detail),
          stepsThatMetTheOutage: (await notes("out of reach")).rows.length,
        };
      });
      assert.deepEqual(outageAttempts, [], `no step used up an attempt on the outage ${why}`);
      assertNoBugsLogged([child.allOutput()], why);
      const unavailable = child.allOutput().split("\n").filter((line) => line.includes("store unavailable")).length;
      console.log(`restart test ${why}: ${restarts} restarts, requests answered 503 ${unavailable}, re-sent ${resent()}, steps retried for the outage ${stepsThatMetTheOutage}, ${JSON.stringify(counted)}`);
    });
  });
}
