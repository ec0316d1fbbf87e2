import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { entity } from "../src/define/entity.ts";
import { workflow } from "../src/define/workflow.ts";
import { leaseNames, workflowBucket } from "../src/runtime/cluster/leases.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { waitFor } from "./support/feed-child.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";

/**
 * Terminate on several nodes: the operator's request reaches a node that does not run the
 * workflow's step. That node commits the workflow terminated; the node running the step hears
 * of it (the commit's signal) and stops the attempt, whose later calls are then not sent —
 * rather than going on until its own commit is refused.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts).
 */

const url = postgresUrlOrSay("PostgreSQL terminate-elsewhere test");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("terminate sent to another node (PostgreSQL, two runtimes)", () => {
    const schemas = new SchemaPool(connectionString);
    const runtimes: Runtime[] = [];
    after(async () => {
      unblock();
      for (const runtime of runtimes.splice(0)) await runtime.stop();
      await schemas.dropAll();
    });

    let unblock!: () => void;
    const blocked = new Promise<void>((resolve) => (unblock = resolve));
    let entered!: () => void;
    const inStep = new Promise<void>((resolve) => (entered = resolve));
    const late: string[] = [];
    const sink = entity(
      "sink",
      { initial: () => ({ calls: 0 }), events: { called: (s: { calls: number }) => ({ calls: s.calls + 1 }) } },
      { commands: { take: (_s, _c: {}, fx) => fx.emit("called", {}).reply((s) => s.calls) }, queries: { count: (s, _q: {}, fx) => fx.reply(s.calls) } },
    );
    const hung = workflow("hung", {
      start: () => ({ done: false }),
      steps: {
        call: async (s, _input, ctx) => {
          entered();
          await blocked; // a hung call to another system
          await ctx.call(sink, "late").take({}).catch((error: { code?: string }) => late.push(error.code ?? "?"));
          return ctx.update({ ...s, done: true }).end();
        },
      },
      stepOptions: { call: { timeoutMs: 600_000 } },
    });

    it("the node running the step stops it: its later call is not sent, the workflow stays terminated", { timeout: 60_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh("terminate");
      for (const name of ["a", "b"]) {
        const runtime = new Runtime({ store: new PostgresStore({ connectionString, schema, poolSize: 4 }), components: [sink, hung], nodeName: name, leaseMs: 600, log: () => {} });
        runtimes.push(runtime);
        await runtime.start();
      }
      const lease = leaseNames.workflows(workflowBucket("hung", "h1"));
      const holder = await waitFor(`a node to hold ${lease}`, () => runtimes.find((r) => r.membership.heldLeases().includes(lease)));
      const other = runtimes.find((r) => r !== holder)!;
      await other.call("hung", "h1", "start", {});
      await inStep;

      assert.deepEqual(await other.admin.operateWorkflow("hung", "h1", "terminate"), { status: "terminated", step: "call" });
      // The holder hears of it by the commit's signal; then the attempt goes on in the background.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      unblock();
      await waitFor("the attempt's late call to be refused", () => (late.length > 0 ? true : undefined));
      assert.deepEqual(late, ["run_abandoned"]);
      assert.equal(await holder.call("sink", "late", "count", {}), 0, "the late call never reached the entity");
      assert.equal((await other.workflowResult("hung", "h1")).status, "terminated");
      assert.equal((await holder.workflowResult("hung", "h1")).status, "terminated");
    });
  });
}
