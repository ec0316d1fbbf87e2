/**
 * An eager start on several nodes (PostgreSQL): a start that reaches a node not running its
 * workflow's bucket still commits with its steps (the start creates the workflow, so no node can
 * have run them: no fence is needed), and goes no further once the start is durable; with another
 * node live, its calls read first an entity another node's commit signal said it changed (or
 * every cached one, after its listening connection dropped and signals may have been missed); and
 * a transfer awaited on the other node is answered from its commit's signal.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { transfer } from "../examples/bank/transfer.ts";
import { wallet } from "../examples/bank/wallet.ts";
import { workflow } from "../src/define/workflow.ts";
import { leaseNames, WORKFLOW_BUCKETS } from "../src/runtime/cluster/leases.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { until, wrapStore } from "../src/runtime/test-support.ts";
import { workflowBucket } from "../src/store/buckets.ts";
import type { InstanceWrite } from "../src/store/port.ts";
import { testbed, whenPostgresAsked } from "../src/store/postgres/postgres-test-support.ts";

/** How many times `slow-pay`'s step ran, by node. */
const payRuns: string[] = [];

/** One eager step that calls a wallet, then works past the eager start's 50 ms budget. */
function slowPay(node: string) {
  return workflow("slow-pay", {
    eagerStart: true,
    start: (input: { from: string }) => input,
    steps: {
      pay: async (s, _input, ctx) => {
        payRuns.push(node);
        await ctx.call(wallet, s.from).withdraw({ amount: 5 });
        await new Promise((resolve) => setTimeout(resolve, 150));
        return ctx.end();
      },
    },
  });
}

interface Node {
  name: string;
  runtime: Runtime;
  /** Every commit this node sent. */
  commits: InstanceWrite[][];
  /** The writes (together writes with them) of its commits that were kept. */
  kept: InstanceWrite[];
  /** How many of their writes were refused as conflicts (not a fenced write of a lease lost under load). */
  conflicts: number;
  /** The entity instances it read (whole, or the events after its copy), as component/id. */
  reads: string[];
  /** The workflow records it read, as name/id. */
  workflowReads: string[];
}

whenPostgresAsked((url) => {
  describe("an eager start on several nodes", () => {
    const bed = testbed(url);
    const schema = bed.freshSchema();
    const nodes: Node[] = [];
    let a: Node;
    let b: Node;

    function startNode(name: string): Node {
      const store = bed.newStore({ schema });
      const node: Node = { name, runtime: undefined as never, commits: [], kept: [], conflicts: 0, reads: [], workflowReads: [] };
      node.runtime = new Runtime({
        store: wrapStore(store, {
          async commit(writes) {
            node.commits.push(writes);
            const outcomes = await store.commit(writes);
            node.conflicts += outcomes.filter((o) => !o.ok && o.reason === "conflict").length;
            for (const [i, w] of writes.entries()) if (outcomes[i]?.ok) node.kept.push(w, ...(w.together ?? []));
            return outcomes;
          },
          loadHistory(component, id) {
            node.reads.push(`${component}/${id}`);
            return store.loadHistory(component, id);
          },
          readEvents(component, id, afterSeq, limit) {
            node.reads.push(`${component}/${id}`);
            return store.readEvents(component, id, afterSeq, limit);
          },
          loadWorkflow(name, id) {
            node.workflowReads.push(`${name}/${id}`);
            return store.loadWorkflow(name, id);
          },
        }),
        components: [wallet, transfer, slowPay(name)],
        nodeName: name,
        leaseMs: 900,
        log: () => {},
      });
      nodes.push(node);
      return node;
    }

    const holdsBucketOf = (node: Node, workflowName: string, id: string) => node.runtime.membership.holds(leaseNames.workflows(workflowBucket(workflowName, id)));
    /** An id of `workflowName` whose bucket `node` runs. */
    const idRunBy = (node: Node, workflowName: string, prefix: string): string => {
      for (let i = 0; ; i++) if (holdsBucketOf(node, workflowName, `${prefix}-${i}`)) return `${prefix}-${i}`;
    };
    /** The kept writes of `node` to `name`/`id`. */
    const keptOf = (node: Node, name: string, id: string) => node.kept.filter((w) => w.component === name && w.id === id);
    /** The commits of `node` that wrote workflow `name`/`id`. */
    const commitsOf = (node: Node, name: string, id: string) => node.commits.filter((c) => c.some((w) => w.component === name && w.id === id));
    const workflowBuckets = (node: Node) => node.runtime.membership.heldLeases().filter((l) => l.startsWith("workflows/")).length;

    before(async () => {
      a = startNode("a");
      await a.runtime.start();
      b = startNode("b");
      await b.runtime.start();
      // Each runs some of the buckets, and knows the other is live.
      await until("the buckets are shared", () => workflowBuckets(a) > 0 && workflowBuckets(b) > 0 && workflowBuckets(a) + workflowBuckets(b) === WORKFLOW_BUCKETS, 10_000, { everyMs: 50 });
      await until("each node sees the other", () => !a.runtime.membership.alone && !b.runtime.membership.alone, 10_000, { everyMs: 50 });
    });
    after(async () => {
      for (const node of nodes) await node.runtime.stop();
      await bed.dropSchemas();
    });

    it("a-start-on-the-node-not-running-its-bucket-commits-with-its-steps-in-one-transaction", { timeout: 60_000 }, async () => {
      await a.runtime.call("wallet", "from-1", "create", { initialBalance: 100 });
      await a.runtime.call("wallet", "to-1", "create", { initialBalance: 0 });
      const id = idRunBy(b, "transfer", "t");
      assert.equal(holdsBucketOf(a, "transfer", id), false);

      await a.runtime.call("transfer", id, "start", { from: "from-1", to: "to-1", amount: 30 });
      const result = await a.runtime.workflowResult("transfer", id, 10_000);
      assert.equal(result.status, "ended");
      assert.equal((result.state as { status: string }).status, "completed");
      const [only, ...more] = commitsOf(a, "transfer", id);
      assert.deepEqual(more, [], "one commit on the node it was started on");
      assert.deepEqual(
        only!.flatMap((w) => [w, ...(w.together ?? [])]).filter((w) => w.component === "wallet").map((w) => w.id).sort(),
        ["from-1", "to-1"],
        "both calls' writes in it",
      );
      assert.deepEqual(commitsOf(b, "transfer", id), [], "the bucket's holder had nothing left to run");
      assert.deepEqual(await b.runtime.call("wallet", "from-1", "balance", {}), { balance: 70 });
      assert.deepEqual(await b.runtime.call("wallet", "to-1", "balance", {}), { balance: 30 });
    });

    it("with-another-node-live-its-calls-trust-a-cached-copy-brought-up-to-date-by-signals-and-read-one-a-signal-left-behind", { timeout: 60_000 }, async () => {
      await a.runtime.call("wallet", "from-2", "create", { initialBalance: 100 });
      await a.runtime.call("wallet", "to-2", "create", { initialBalance: 0 });
      const readsBefore = a.reads.length; // creating them read them (as new)
      const walletReads = () => a.reads.slice(readsBefore).filter((r) => r === "wallet/from-2" || r === "wallet/to-2");
      const conflicts = a.conflicts;

      // No other node changed them: node A decides on its copies without a read.
      const first = idRunBy(a, "transfer", "u");
      await a.runtime.call("transfer", first, "start", { from: "from-2", to: "to-2", amount: 10 });
      assert.equal((await a.runtime.workflowResult("transfer", first, 10_000)).status, "ended");
      assert.deepEqual(walletReads(), [], "trusted: no signal named them");

      // Node B changes one; its commit's signal brings the deposit, which node A applies to its copy.
      await b.runtime.call("wallet", "from-2", "deposit", { amount: 50 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const second = idRunBy(a, "transfer", "v");
      await a.runtime.call("transfer", second, "start", { from: "from-2", to: "to-2", amount: 30 });
      assert.equal((await a.runtime.workflowResult("transfer", second, 10_000)).status, "ended");
      assert.deepEqual(walletReads(), [], "brought up to date by the signal");
      assert.equal(commitsOf(a, "transfer", second).length, 1, "decided on what is stored: no conflict to decide again");
      assert.equal(a.conflicts, conflicts);
      assert.deepEqual(await a.runtime.call("wallet", "from-2", "balance", {}), { balance: 110 });
      const readsAfterBalance = walletReads().length; // a query reads (on several nodes it is never trusted)

      // A signal that only names the wallet (a node of an earlier version): node A reads it first.
      const channel = `sagaflow_${createHash("sha256").update(schema).digest("hex").slice(0, 24)}`;
      const client = await bed.rawClient();
      try {
        await client.query("SELECT pg_notify($1, $2)", [channel, JSON.stringify({ n: "older-node", e: [["wallet", "from-2"]] })]);
      } finally {
        await client.end();
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const third = idRunBy(a, "transfer", "x");
      await a.runtime.call("transfer", third, "start", { from: "from-2", to: "to-2", amount: 10 });
      assert.equal((await a.runtime.workflowResult("transfer", third, 10_000)).status, "ended");
      assert.deepEqual(walletReads().slice(readsAfterBalance), ["wallet/from-2"]);
      assert.equal(a.conflicts, conflicts);
    });

    /** A deposit no node hears of: written straight into the table, no signal. */
    async function unsignalledDeposit(walletId: string, seq: number, amount: number): Promise<void> {
      const client = await bed.rawClient();
      try {
        await client.query(`INSERT INTO "${schema}".events (component, id, kind, seq, type, payload, at) VALUES ('wallet', $1, 0, $2, 'deposited', $3, 0)`, [walletId, seq, JSON.stringify({ amount })]);
      } finally {
        await client.end();
      }
    }

    it("an-eager-start-decided-on-a-stale-copy-is-a-conflict-and-its-retry-reads-the-wallet-not-the-workflow", { timeout: 60_000 }, async () => {
      await a.runtime.call("wallet", "from-6", "create", { initialBalance: 100 });
      await a.runtime.call("wallet", "to-6", "create", { initialBalance: 0 });
      await unsignalledDeposit("from-6", 2, 50); // node A trusts its copy: balance 100, seq 1
      const readsBefore = a.reads.length;
      const conflicts = a.conflicts;
      const id = idRunBy(a, "transfer", "c");
      await a.runtime.call("transfer", id, "start", { from: "from-6", to: "to-6", amount: 80 });
      const result = await a.runtime.workflowResult("transfer", id, 10_000);
      assert.equal((result.state as { status: string }).status, "completed");
      assert.ok(a.conflicts > conflicts, "the first attempt's withdrawal expected seq 1: a conflict");
      assert.ok(a.reads.slice(readsBefore).includes("wallet/from-6"), "the retry read the wallet");
      assert.deepEqual(a.workflowReads.filter((r) => r === `transfer/${id}`), [], "the retry presumed the transfer new again: no read");
      assert.deepEqual(await a.runtime.call("wallet", "from-6", "balance", {}), { balance: 70 });
    });

    it("a-step's-call-that-changes-nothing-on-an-unread-copy-is-decided-again-on-what-is-stored", { timeout: 60_000 }, async () => {
      await a.runtime.call("wallet", "from-7", "create", { initialBalance: 100 });
      await a.runtime.call("wallet", "to-7", "create", { initialBalance: 0 });
      await unsignalledDeposit("from-7", 2, 50);
      // On the copy (100) the withdrawal of 120 is refused, and a refusal writes nothing the
      // start's commit could check: it is decided again on the stored balance (150).
      const readsBefore = a.reads.length;
      const id = idRunBy(a, "transfer", "d");
      await a.runtime.call("transfer", id, "start", { from: "from-7", to: "to-7", amount: 120 });
      const result = await a.runtime.workflowResult("transfer", id, 10_000);
      assert.equal((result.state as { status: string }).status, "completed", "decided on the balance of 150, not rejected on 100");
      assert.ok(a.reads.slice(readsBefore).includes("wallet/from-7"));
      assert.deepEqual(await a.runtime.call("wallet", "from-7", "balance", {}), { balance: 30 });
    });

    it("a-transfer-ended-on-one-node-is-answered-on-the-other-from-its-commit's-signal-without-a-read", { timeout: 60_000 }, async () => {
      await a.runtime.call("wallet", "from-3", "create", { initialBalance: 100 });
      await a.runtime.call("wallet", "to-3", "create", { initialBalance: 0 });
      const id = idRunBy(b, "transfer", "w");
      await a.runtime.call("transfer", id, "start", { from: "from-3", to: "to-3", amount: 20 });
      const onA = await a.runtime.workflowResult("transfer", id, 10_000);
      assert.equal(onA.status, "ended");
      // The start's commit signalled its end to node B (a client's `GET ?wait=` there, after the start's reply).
      await new Promise((resolve) => setTimeout(resolve, 300));
      const readsBefore = b.workflowReads.length;
      assert.deepEqual(await b.runtime.workflowResult("transfer", id, 10_000), onA);
      assert.deepEqual(b.workflowReads.slice(readsBefore), [], "answered from the signal");
    });

    it("a-node-whose-listening-connection-dropped-reads-its-cached-entities-before-trusting-them-again", { timeout: 60_000 }, async () => {
      await a.runtime.call("wallet", "from-5", "create", { initialBalance: 100 });
      await a.runtime.call("wallet", "to-5", "create", { initialBalance: 0 });
      const readsBefore = a.reads.length;
      const conflicts = a.conflicts;
      // The nodes' listening connections drop (ended by the server); node B deposits while node A
      // is deaf (it tries again after 100 ms), so A never hears that B changed the wallet.
      const channel = `sagaflow_${createHash("sha256").update(schema).digest("hex").slice(0, 24)}`;
      const listeners = `SELECT pid FROM pg_stat_activity WHERE application_name = 'sagaflow-listen' AND query = 'LISTEN "${channel}"'`;
      const client = await bed.rawClient();
      try {
        await client.query(`SELECT pg_terminate_backend(pid) FROM (${listeners}) l`);
        for (let i = 0; i < 200 && (await client.query(listeners)).rowCount! > 0; i++) await new Promise((resolve) => setTimeout(resolve, 2));
        await b.runtime.call("wallet", "from-5", "deposit", { amount: 50 });
        for (let i = 0; i < 200 && (await client.query(listeners)).rowCount! < 2; i++) await new Promise((resolve) => setTimeout(resolve, 25));
        assert.equal((await client.query(listeners)).rowCount, 2, "both nodes listen again");
      } finally {
        await client.end();
      }

      // Back, node A brings its copies up to date before it decides on them: no conflict.
      const id = idRunBy(a, "transfer", "r");
      await a.runtime.call("transfer", id, "start", { from: "from-5", to: "to-5", amount: 120 });
      const result = await a.runtime.workflowResult("transfer", id, 10_000);
      assert.equal((result.state as { status: string }).status, "completed", "decided on the balance of 150");
      assert.ok(a.reads.slice(readsBefore).includes("wallet/from-5"), "read before trusting it");
      assert.equal(a.conflicts, conflicts);
    });

    it("a-step-still-running-when-the-start-commits-on-a-node-not-running-the-bucket-is-dropped-and-run-by-the-holder", { timeout: 60_000 }, async () => {
      await a.runtime.call("wallet", "payer", "create", { initialBalance: 100 });
      const id = idRunBy(b, "slow-pay", "p");
      payRuns.length = 0;

      await a.runtime.call("slow-pay", id, "start", { from: "payer" });
      assert.equal((await a.runtime.workflowResult("slow-pay", id, 10_000)).status, "ended");
      // A ran the step until its start committed (after 50 ms) and went no further: it committed
      // the start alone, dropped the withdrawal it held, and B ran the step again and ended it.
      assert.deepEqual(payRuns.sort(), ["a", "b"]);
      const started = commitsOf(a, "slow-pay", id);
      assert.equal(started.length, 1, "node A committed only the start");
      assert.deepEqual(started[0]!.flatMap((w) => [w, ...(w.together ?? [])]).filter((w) => w.component === "wallet"), []);
      // Kept, not sent: under load a commit of B's may be refused (its 900 ms lease renewed late)
      // and sent again. (A may hear of the end before B's commit call has returned.)
      await until("node B's commit of the end to return", () => keptOf(b, "slow-pay", id).length > 0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(keptOf(b, "slow-pay", id).length, 1, "node B kept the workflow's end once");
      assert.deepEqual(await a.runtime.call("wallet", "payer", "balance", {}), { balance: 95 }, "withdrawn once");
    });
  });
});
