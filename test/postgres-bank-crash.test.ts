import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import {
  assertNoBugsLogged,
  checkStoredTransfers,
  checkTransfersEnded,
  countMidway,
  createWallets,
  planTransfers,
  resendingSend,
  startTransfersAmidKills,
} from "./support/bank-transfers.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { describeExit, SagaflowProcess } from "./support/server-process.ts";

/**
 * Crash test with a real process on PostgreSQL: examples/bank served by `sagaflow serve
 * --postgres $SAGAFLOW_POSTGRES_URL --postgres-schema <fresh>` in a child that is SIGKILLed at
 * random moments while 300 transfers (sagas and plain workflows, alternating) start and run, and
 * restarted each time on the same schema (one node at a time). Every transfer must end as its
 * input dictates and every wallet must hold exactly what the completed transfers say: no step
 * effect lost, none applied twice. The PostgreSQL twin of test/workflow-crash.test.ts (SQLite).
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts). The seed is
 * printed; SAGAFLOW_CRASH_SEED=<seed> replays the same plan (the kill moments still vary).
 */

const transferCount = 300;
const kills = 8;
const startConcurrency = 10;
const url = postgresUrlOrSay("PostgreSQL bank crash test");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("bank on PostgreSQL survives SIGKILL of a real process", () => {
    const schemas = new SchemaPool(connectionString);
    let server: SagaflowProcess | undefined;
    let inspector: PostgresStore | undefined;
    after(async () => {
      await server?.cleanup();
      await inspector?.close();
      await schemas.dropAll();
    });

    it(`${transferCount}-transfers-end-as-their-inputs-dictate-and-balances-add-up-across-${kills}-kills`, { timeout: 90_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const seed = seedFrom("SAGAFLOW_CRASH_SEED");
      const rand = seededRandom(seed);
      const why = `(seed ${seed}; rerun with SAGAFLOW_CRASH_SEED=${seed})`;
      const started = Date.now();
      const schema = schemas.fresh("bank");

      server = SagaflowProcess.create({
        target: "examples/bank",
        args: ["--postgres", connectionString, "--postgres-schema", schema, "--admin-port", "-1"],
      });
      const child = server;
      /** The URL of the child serving now, or of the one being started; replaced synchronously on each kill. */
      let up: Promise<string> = child.start().then(() => child.url);
      await up;
      // The child says where its data is (right after the URL): PostgreSQL, in the fresh schema.
      await child.waitForOutput(new RegExp(`data in PostgreSQL \\(schema ${schema}\\)`), 5_000);
      // A look at the schema from outside, alongside the child (it never writes).
      inspector = new PostgresStore({ connectionString, schema, poolSize: 2 });
      const store = inspector;

      let killed = 0;
      /** Workflows each kill left mid-way (by step), which the next child must resume. */
      const leftMidway = new Map<string, number>();
      const countUnfinished = () => countMidway(store, leftMidway);
      const killAndRestart = () => {
        const previous = up;
        killed++;
        up = (async () => {
          await previous;
          const exit = await child.kill("SIGKILL");
          assert.equal(exit.signal, "SIGKILL", `the child was killed, not ${describeExit(exit)}`);
          await countUnfinished();
          await child.start();
          return child.url;
        })();
        return up;
      };

      /** A request that survives the kills: sent again to whichever child serves by then. */
      const { send, resent } = resendingSend(() => up, why);
      // Wallets first, before any kill.
      await createWallets(send);

      const transfers = planTransfers(rand, transferCount);
      await startTransfersAmidKills(send, transfers, { rand, kills, concurrency: startConcurrency, killAndRestart, why });
      assert.equal(killed, kills, `the child was SIGKILLed ${killed} times ${why}`);
      const startedAt = Date.now() - started;

      // Every transfer must end, without any help.
      const counted = await checkTransfersEnded(send, transfers, why);

      // A clean stop, then the schema itself: each withdrawal and deposit happened exactly once,
      // no refused deposit created a wallet, and no workflow is left unfinished.
      await up;
      const exit = await child.stop();
      assert.deepEqual(exit, { code: 0, signal: null }, `the last child stopped gracefully ${why}`);
      await checkStoredTransfers(store, transfers, why, { seqsWithoutGap: true });
      assert.equal((await store.listTimers(undefined, 10)).length, 0, `no timer left behind ${why}`);

      const seconds = (ms: number) => (ms / 1000).toFixed(1);
      const midway = Object.fromEntries([...leftMidway].sort());
      console.log(
        `postgres bank crash test ${why}: ${kills} kills (${child.starts} starts), ${JSON.stringify(counted)}, ` +
          `requests re-sent after a kill ${resent()}, left mid-way by the kills ${JSON.stringify(midway)}, ` +
          `starts done after ${seconds(startedAt)} s, all checked after ${seconds(Date.now() - started)} s`,
      );
      assert.ok(leftMidway.size > 0, `no kill caught a workflow mid-way: nothing was resumed ${why}`);
      assertNoBugsLogged([child.allOutput()], why);
    });
  });
}
