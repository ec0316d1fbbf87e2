import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { wallet } from "../examples/bank/wallet.ts";
import { saga } from "../src/define/saga.ts";
import { leaseNames, workflowBucket } from "../src/runtime/cluster/leases.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { waitFor } from "./support/feed-child.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";

/**
 * Cancel on several nodes: the operator's request reaches a node that does not run the saga's
 * step, which decides it at once (it cannot wait for an attempt running elsewhere). The attempt's
 * deposit had committed on its own; its transition is then refused. The compensation that
 * follows must still know the deposit stayed — from the journal's mark — rather than refund the
 * withdrawal alone (money made, as a reviewer measured under load).
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts).
 */

const url = postgresUrlOrSay("PostgreSQL cancel-elsewhere test");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("cancel sent to another node (PostgreSQL, two runtimes)", () => {
    const schemas = new SchemaPool(connectionString);
    const runtimes: Runtime[] = [];
    after(async () => {
      for (const runtime of runtimes.splice(0)) await runtime.stop();
      await schemas.dropAll();
    });

    /** Opened by the test once the cancel is decided (at most 10 s): the deposit step works on until then. */
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
      setTimeout(resolve, 10_000).unref();
    });

    /** Its deposit works on after its call, until the gate opens: the deposit commits on its own meanwhile (50 ms). */
    const slow = saga("slow-transfer", {
      start: (input: { from: string; to: string }) => input,
      stepTimeoutMs: 10_000,
      steps: [
        {
          name: "withdraw",
          run: (s, ctx) => ctx.call(wallet, s.from).withdraw({ amount: 1 }),
          compensate: (s, ctx) => ctx.call(wallet, s.from).deposit({ amount: 1 }),
        },
        {
          name: "deposit",
          run: async (s, ctx) => {
            await ctx.call(wallet, s.to).deposit({ amount: 1 });
            await gate;
          },
        },
      ],
    });

    it("the compensation knows the attempt running elsewhere kept its deposit, and stops for an operator instead of refunding", { timeout: 60_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh("cancel");
      // Leases long enough not to lapse on a loaded machine: a bucket that moved would run the
      // step on the node the cancel goes to, which then waits for it (as it should) and finds it ended.
      for (const name of ["a", "b"]) {
        const runtime = new Runtime({ store: new PostgresStore({ connectionString, schema, poolSize: 4 }), components: [wallet, slow], nodeName: name, leaseMs: 5_000, log: () => {} });
        runtimes.push(runtime);
        await runtime.start();
      }
      const lease = leaseNames.workflows(workflowBucket("slow-transfer", "t1"));
      const holder = await waitFor(`a node to hold ${lease}`, () => runtimes.find((r) => r.membership.heldLeases().includes(lease)));
      const other = runtimes.find((r) => r !== holder)!;
      await other.call("wallet", "payer", "create", { initialBalance: 10 });
      await other.call("wallet", "payee", "create", { initialBalance: 0 });
      await other.call("slow-transfer", "t1", "start", { from: "payer", to: "payee" });
      await waitFor("the deposit to commit on its own", async () => ((await other.call("wallet", "payee", "balance", {})) as { balance: number }).balance === 1 || undefined);

      await other.admin.operateWorkflow("slow-transfer", "t1", "cancel");
      openGate();
      const stopped = await waitFor("the saga to stop", async () => {
        const result = await holder.workflowResult("slow-transfer", "t1");
        return result.status === "failed" || result.status === "ended" ? result : undefined;
      });
      const state = stopped.state as { status: string; failure?: { code: string; partial?: true }; compensated: string[] };
      const balances = [
        ((await holder.call("wallet", "payer", "balance", {})) as { balance: number }).balance,
        ((await holder.call("wallet", "payee", "balance", {})) as { balance: number }).balance,
      ];
      assert.deepEqual(balances, [9, 1], `no refund beside the kept deposit (saga ${stopped.status}, ${JSON.stringify(state)})`);
      assert.deepEqual([stopped.status, state.status, state.failure?.code, state.failure?.partial], ["failed", "requires_manual_intervention", "cancelled", true]);

      // The operator is offered to say the deposit was undone by hand, as the failure asks, and that retry compensates the rest.
      const shown = await holder.admin.showWorkflow("slow-transfer", "t1");
      assert.equal(shown.operator.undoneByHand, "deposit");
      await holder.admin.operateWorkflow("slow-transfer", "t1", "retry", { undoneByHand: "deposit" });
      const ended = await waitFor("the saga to compensate", async () => {
        const result = await holder.workflowResult("slow-transfer", "t1");
        return result.status === "ended" ? result : undefined;
      });
      assert.equal((ended.state as { status: string }).status, "compensated");
      assert.equal(((await holder.call("wallet", "payer", "balance", {})) as { balance: number }).balance, 10);
    });
  });
}
