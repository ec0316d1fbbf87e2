import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { transferWorkflow } from "../examples/bank/transfer-workflow.ts";
import { wallet } from "../examples/bank/wallet.ts";
import { workflow } from "../src/define/workflow.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { wrapStore } from "../src/runtime/test-support.ts";
import type { InstanceWrite } from "../src/store/port.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";

/**
 * A workflow step's calls commit with its transition on PostgreSQL too (held writes, see
 * src/runtime/held-writes.ts), and on a node that shares the schema with others: should another
 * writer commit the entity while the step holds its write, the step's commit keeps nothing and the
 * step runs again, so the call takes effect once. Runs only with SAGAFLOW_POSTGRES_URL set.
 */
const url = postgresUrlOrSay("PostgreSQL step commits test");
if (url) {
  describe("a step's calls commit with its transition on PostgreSQL", () => {
    const schemas = new SchemaPool(url);
    const runtimes: Runtime[] = [];
    const stores: PostgresStore[] = [];
    after(async () => {
      for (const rt of runtimes) await rt.stop();
      for (const store of stores) await store.close();
      await schemas.dropAll();
    });

    async function start(components: ConstructorParameters<typeof Runtime>[0]["components"], commits: InstanceWrite[][] = []) {
      await assertPostgresReachable(url!);
      const schema = schemas.fresh("steps");
      const store = new PostgresStore({ connectionString: url!, schema, poolSize: 4 });
      const counted = wrapStore(store, {
        commit: (writes) => {
          commits.push(writes);
          return store.commit(writes);
        },
      });
      const rt = new Runtime({ store: counted, components, log: () => {} });
      runtimes.push(rt);
      await rt.start();
      // Another writer of the same schema (another node's store).
      const other = new PostgresStore({ connectionString: url!, schema, poolSize: 2 });
      stores.push(other);
      return { rt, store, other };
    }

    it("a-transfer-is-three-commits-each-step's-call-with-its-transition", { timeout: 30_000 }, async () => {
      const commits: InstanceWrite[][] = [];
      const { rt, store } = await start([wallet, transferWorkflow], commits);
      await rt.call("wallet", "a", "create", { initialBalance: 100 });
      await rt.call("wallet", "b", "create", { initialBalance: 0 });
      commits.length = 0;
      await rt.call("transfer-workflow", "t1", "start", { from: "a", to: "b", amount: 30 });
      const view = await rt.workflowResult("transfer-workflow", "t1", 20_000);
      assert.equal((view.state as { status: string }).status, "completed");
      // start; withdraw + transition; deposit + end.
      assert.equal(commits.length, 3, JSON.stringify(commits.map((c) => c.map((w) => `${w.component}/${w.id}`))));
      const withTransition = commits.flat().filter((w) => w.workflow && w.together);
      assert.deepEqual(withTransition.map((w) => w.together!.map((t) => `${t.component}/${t.id}`)), [["wallet/a"], ["wallet/b"]]);
      assert.deepEqual((await store.readEvents("wallet", "a", 0, 10)).map((e) => e.type), ["created", "withdrawn"]);
      assert.deepEqual((await store.readEvents("wallet", "b", 0, 10)).map((e) => e.type), ["created", "deposited"]);
      assert.deepEqual(await rt.call("wallet", "b", "balance", {}), { balance: 30 });
    });

    it("another-writer's-commit-while-a-step-holds-the-entity's-write-keeps-nothing-of-the-step-which-runs-again", { timeout: 60_000 }, async () => {
      let runs = 0;
      let called!: () => void;
      const calledOnce = new Promise<void>((resolve) => (called = resolve));
      let goOn!: () => void;
      const mayGoOn = new Promise<void>((resolve) => (goOn = resolve));
      const pay = workflow("pay-once", {
        start: (input: { from: string }) => input,
        steps: {
          pay: async (s, _input, ctx) => {
            runs++;
            await ctx.call(wallet, s.from).withdraw({ amount: 5 });
            if (runs === 1) {
              called();
              await mayGoOn;
            }
            return ctx.end();
          },
        },
      });
      const { rt, other } = await start([wallet, pay]);
      await rt.call("wallet", "w", "create", { initialBalance: 100 });
      await rt.call("pay-once", "p1", "start", { from: "w" });
      await calledOnce;
      // The step holds its withdrawal; another node deposits meanwhile, at what is stored.
      let otherFirstOk: boolean | undefined;
      for (;;) {
        const seq = (await other.readEvents("wallet", "w", 0, 100)).length;
        const [outcome] = await other.commit([
          { component: "wallet", id: "w", events: { expectedSeq: seq, append: [{ type: "deposited", payload: { amount: 1 } }] }, dedup: [] },
        ]);
        otherFirstOk ??= outcome!.ok;
        if (outcome!.ok) break;
      }
      goOn();
      assert.equal((await rt.workflowResult("pay-once", "p1", 30_000)).status, "ended");
      // The withdrawal took effect once whatever the order; when the deposit came first (within the
      // step's hold), the step's commit was refused whole and the step ran again.
      assert.equal(runs, otherFirstOk ? 2 : 1);
      const events = await other.readEvents("wallet", "w", 0, 100);
      assert.deepEqual(events.map((e) => e.type).sort(), ["created", "deposited", "withdrawn"]);
      assert.deepEqual(await rt.call("wallet", "w", "balance", {}), { balance: 96 });
    });
  });
}
