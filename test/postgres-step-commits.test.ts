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
/** A promise and its resolve, for a step that waits for the test or tells it where it is. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

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

    /** `commits` and `loads` (the workflow ids read) record what the runtime asks of its store. */
    async function start(components: ConstructorParameters<typeof Runtime>[0]["components"], commits: InstanceWrite[][] = [], loads: string[] = []) {
      await assertPostgresReachable(url!);
      const schema = schemas.fresh("steps");
      const store = new PostgresStore({ connectionString: url!, schema, poolSize: 4 });
      const counted = wrapStore(store, {
        commit: (writes) => {
          commits.push(writes);
          return store.commit(writes);
        },
        loadWorkflow: (name, id) => {
          loads.push(id);
          return store.loadWorkflow(name, id);
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

    it("a-step-right-after-its-own-transition-asks-nothing-of-the-workflow-and-another-node's-change-meanwhile-keeps-nothing-of-it", { timeout: 60_000 }, async () => {
      const loads: string[] = [];
      let runsOfB = 0;
      const calledInB = gate();
      const mayGoOn = gate();
      const twoSteps = workflow("two-steps", {
        start: (input: { to: string; wait: boolean }) => input,
        steps: {
          a: async (_s, _input, ctx) => ctx.transitionTo("b"),
          b: async (s, _input, ctx) => {
            runsOfB++;
            await ctx.call(wallet, s.to).deposit({ amount: 5 });
            if (s.wait) {
              calledInB.open();
              await mayGoOn.wait;
            }
            return ctx.end();
          },
        },
      });
      const { rt, other } = await start([wallet, twoSteps], [], loads);
      await rt.call("wallet", "w", "create", { initialBalance: 0 });

      // Each step follows the instance's own commit, and the wait for the end starts from it too: nothing read.
      await rt.call("two-steps", "quick", "start", { to: "w", wait: false });
      assert.equal((await rt.workflowResult("two-steps", "quick", 20_000)).status, "ended");
      assert.deepEqual(loads.filter((id) => id === "quick"), [], "no read: the record as this node committed it");
      // Past the moment a node trusts its own commit, it reads again: another node may have
      // changed the workflow since (retention removed it, a new run began).
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal((await rt.workflowResult("two-steps", "quick", 0)).status, "ended");
      assert.deepEqual(loads.filter((id) => id === "quick"), ["quick"], "read once its own commit is 100 ms old");
      // Another node's commit signal: one that says the workflow is over asks nothing of this
      // node, which runs its bucket; one that does not say so makes it look at what is due.
      rt.workflows.remoteChange("two-steps", "quick", 1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(loads.filter((id) => id === "quick"), ["quick"], "nothing read for a signal that says it is over");
      rt.workflows.remoteChange("two-steps", "quick", 0);
      for (let i = 0; i < 100 && loads.filter((id) => id === "quick").length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(loads.filter((id) => id === "quick"), ["quick", "quick"], "read for one that does not say");

      // Another node suspends the workflow while step b runs on the copy it trusted.
      runsOfB = 0;
      await rt.call("two-steps", "raced", "start", { to: "w", wait: true });
      await calledInB.wait;
      const stored = (await other.loadWorkflow("two-steps", "raced"))!;
      const { name: _name, id: _id, version, ...record } = stored;
      const [suspended] = await other.commit([
        { component: "two-steps", id: "raced", workflow: { expectedVersion: version, record: { ...record, status: "suspended" }, transition: { at: Date.now(), status: "suspended", step: record.step, execId: record.execId, attempt: record.attempt, detail: "suspended by another node" } }, dedup: [] },
      ]);
      assert.ok(suspended!.ok);
      mayGoOn.open();
      // The step's commit was a conflict: nothing of it kept. The resume queues behind the step's
      // turn, so it finds the workflow suspended (had the step's commit been kept, it would be
      // ended and the resume refused); b then runs again and deposits once.
      const resumed = await rt.admin.operateWorkflow("two-steps", "raced", "resume");
      assert.deepEqual(resumed, { status: "running", step: "b" });
      assert.equal((await rt.workflowResult("two-steps", "raced", 20_000)).status, "ended");
      assert.equal(runsOfB, 2);
      assert.deepEqual(await rt.call("wallet", "w", "balance", {}), { balance: 10 }, "the quick one's deposit and the raced one's, once");
    });

    it("an-eager-start's-step-on-a-stale-copy-keeps-nothing-and-the-start-is-decided-again-on-what-is-stored", { timeout: 60_000 }, async () => {
      const commits: InstanceWrite[][] = [];
      const pay = workflow("pay-eagerly", {
        eagerStart: true,
        start: (input: { from: string }) => input,
        steps: {
          pay: async (s, _input, ctx) => {
            await ctx.call(wallet, s.from).withdraw({ amount: 30 });
            return ctx.end();
          },
        },
      });
      const { rt, store, other } = await start([wallet, pay], commits);
      await rt.call("wallet", "w", "create", { initialBalance: 100 });
      // Another writer withdraws 60: this node's cached wallet is stale now. (No other node is
      // live, so the eager start trusts its copy: Membership.alone.)
      const [taken] = await other.commit([{ component: "wallet", id: "w", events: { expectedSeq: 1, append: [{ type: "withdrawn", payload: { amount: 60 } }] }, dedup: [] }]);
      assert.ok(taken!.ok);
      commits.length = 0;
      await rt.call("pay-eagerly", "p1", "start", { from: "w" });
      assert.equal((await rt.workflowResult("pay-eagerly", "p1", 20_000)).status, "ended");
      // Decided on the cached copy (the start's commit checks it): refused, then decided again.
      assert.equal(commits.filter((c) => c.some((w) => w.component === "pay-eagerly")).length, 2);
      assert.deepEqual((await store.readEvents("wallet", "w", 0, 10)).map((e) => [e.type, e.payload]), [
        ["created", { initialBalance: 100 }],
        ["withdrawn", { amount: 60 }],
        ["withdrawn", { amount: 30 }],
      ]);
      assert.deepEqual(await rt.call("wallet", "w", "balance", {}), { balance: 10 });

    });

    it("another-writer's-commit-while-a-step-holds-the-entity's-write-keeps-nothing-of-the-step-which-runs-again", { timeout: 60_000 }, async () => {
      let runs = 0;
      const calledOnce = gate();
      const mayGoOn = gate();
      const pay = workflow("pay-once", {
        start: (input: { from: string }) => input,
        steps: {
          pay: async (s, _input, ctx) => {
            runs++;
            await ctx.call(wallet, s.from).withdraw({ amount: 5 });
            if (runs === 1) {
              calledOnce.open();
              await mayGoOn.wait;
            }
            return ctx.end();
          },
        },
      });
      const { rt, other } = await start([wallet, pay]);
      await rt.call("wallet", "w", "create", { initialBalance: 100 });
      await rt.call("pay-once", "p1", "start", { from: "w" });
      await calledOnce.wait;
      // The step holds its withdrawal; another node deposits meanwhile, at what is stored.
      for (;;) {
        const seq = (await other.readEvents("wallet", "w", 0, 100)).length;
        const [outcome] = await other.commit([
          { component: "wallet", id: "w", events: { expectedSeq: seq, append: [{ type: "deposited", payload: { amount: 1 } }] }, dedup: [] },
        ]);
        if (outcome!.ok) break;
      }
      mayGoOn.open();
      assert.equal((await rt.workflowResult("pay-once", "p1", 30_000)).status, "ended");
      // The withdrawal took effect once whatever the order. When the deposit came first (within the
      // step's 50 ms hold), the step's commit was refused whole and the step ran again; when the
      // withdrawal came first (the hold ran out before the deposit was read, on a loaded machine,
      // and it committed alone), the step ran once.
      const events = (await other.readEvents("wallet", "w", 0, 100)).map((e) => e.type);
      assert.deepEqual([...events].sort(), ["created", "deposited", "withdrawn"]);
      assert.equal(runs, events.indexOf("deposited") < events.indexOf("withdrawn") ? 2 : 1, `runs for events ${events.join(", ")}`);
      assert.deepEqual(await rt.call("wallet", "w", "balance", {}), { balance: 96 });
    });
  });
}
