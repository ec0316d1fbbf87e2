import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { until } from "../src/runtime/test-support.ts";
import { cli } from "./support/cli.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { SagaflowProcess } from "./support/server-process.ts";

/**
 * Issue 11, point 8: a node killed without a goodbye leaves `sagaflow nodes` once it has been
 * silent for --forget-dead-nodes-after: a live node deletes its row. Two real processes on one
 * PostgreSQL schema. Runs only with SAGAFLOW_POSTGRES_URL set.
 */

const connectionString = postgresUrlOrSay("PostgreSQL dead-node test");

if (connectionString) {
  describe("dead nodes leave `sagaflow nodes` (real processes, PostgreSQL)", () => {
    const schemas = new SchemaPool(connectionString);
    const nodes: SagaflowProcess[] = [];
    after(async () => {
      for (const node of nodes) await node.cleanup();
      await schemas.dropAll();
    });

    it("a SIGKILLed node is listed as dead, then dropped after --forget-dead-nodes-after", { timeout: 60_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh("forget");
      const start = async (name: string) => {
        const node = await SagaflowProcess.start({
          target: "examples/bank",
          args: ["--postgres", connectionString, "--postgres-schema", schema, "--lease-ms", "600", "--node-name", name, "--forget-dead-nodes-after", "8s"],
        });
        nodes.push(node);
        return node;
      };
      const live = await start("live");
      const doomed = await start("doomed");
      const admin = await live.admin();
      const nodesTable = async () => {
        const run = await cli(["nodes", "--admin", admin]);
        assert.equal(run.code, 0, run.stderr);
        return run.stdout;
      };
      /** Waits (20 s at most) until `sagaflow nodes` prints a table `ok` likes; the timeout error shows the last one. */
      const untilTable = async (what: string, ok: (table: string) => boolean) => {
        let table = "";
        await until(() => `${what}:\n${table}\n${live.output()}`, async () => ok((table = await nodesTable())), 20_000, { everyMs: 250 });
      };
      await untilTable("both listed", (table) => /^doomed-\S+\s+yes/m.test(table) && /^live-\S+ \(this\)\s+yes/m.test(table));
      // Each node's clock against the database's, from its heartbeats: one machine, one clock.
      await untilTable("both clocks in step", (table) => /^doomed-.* in step /m.test(table) && /^live-.* in step /m.test(table));

      await doomed.kill("SIGKILL");
      // First it is dead but still listed (so an operator sees what happened), for 8 s: several
      // `sagaflow nodes` runs, each a process start, even on a loaded machine…
      await untilTable("the killed node listed as silent", (table) => /^doomed-\S+\s+no \(silent \d+ s\)/m.test(table));
      // …then it is gone, and the live node said so.
      await untilTable("the killed node dropped", (table) => !/doomed-/.test(table));
      assert.match(live.output(), /forgot node\(s\) silent for over 8 s: doomed-/);
      assert.match(await nodesTable(), /^live-\S+ \(this\)\s+yes/m);
    });
  });
}
