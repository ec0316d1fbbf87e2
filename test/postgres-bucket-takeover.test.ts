/**
 * A bucket takeover reads only that bucket's workflows (issue 17, item 4). Two nodes on one
 * PostgreSQL schema, paused workflows due a few seconds later: the first node holds every bucket,
 * the second joins and takes some over. Every due-workflow query of either node names only the
 * buckets that node holds at that moment, and hands back only workflows of those buckets; no node
 * lists workflows; and each workflow's timeout step runs once, on whichever node holds its bucket.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { entity } from "../src/define/entity.ts";
import { workflow } from "../src/define/workflow.ts";
import { leaseNames, WORKFLOW_BUCKETS } from "../src/runtime/cluster/leases.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { wrapStore } from "../src/runtime/test-support.ts";
import { workflowBucket } from "../src/store/buckets.ts";
import { workflowWrite } from "../src/store/contract-support.ts";
import type { DueWorkflowsOf, WorkflowRecord } from "../src/store/port.ts";
import { testbed, whenPostgresAsked } from "../src/store/postgres/postgres-test-support.ts";

const count = 400;
const tally = entity(
  "tally",
  { initial: () => ({ count: 0 }), events: { added: (s: { count: number }, _e: {}) => ({ count: s.count + 1 }) } },
  { commands: { add: (_s, _c: {}, fx) => fx.emit("added", {}).reply((s) => s) }, queries: { get: (s, _: {}, fx) => fx.reply(s) } },
);
const reminder = workflow("reminder", {
  start: (_input: {}) => ({}),
  steps: {
    wait: (_s, _in, ctx) => ctx.pause({ timeoutMs: 60_000, then: "remind" }),
    remind: async (_s, _in, ctx) => {
      await ctx.call(tally, "all").add({});
      return ctx.end();
    },
  },
});

interface Node {
  runtime: Runtime;
  /** Rows the due query handed this node, and checks failed on them. */
  rows: number;
  wrong: string[];
  listed: number;
}

whenPostgresAsked((url) => {
  describe("bucket takeover on PostgreSQL", () => {
    const bed = testbed(url);
    const nodes: Node[] = [];
    after(async () => {
      for (const node of nodes) await node.runtime.stop();
      await bed.dropSchemas();
    });

    function startNode(schema: string, name: string): Node {
      const store = bed.newStore({ schema });
      const node: Node = { runtime: undefined as never, rows: 0, wrong: [], listed: 0 };
      const held = () => new Set(Array.from({ length: WORKFLOW_BUCKETS }, (_, b) => b).filter((b) => node.runtime.membership.holds(leaseNames.workflows(b))));
      node.runtime = new Runtime({
        store: wrapStore(store, {
          async dueWorkflows(now: number, limit: number, of: DueWorkflowsOf) {
            const holds = held();
            for (const b of of.buckets) if (!holds.has(b)) node.wrong.push(`${name} asked for bucket ${b}, which it does not hold`);
            const rows = await store.dueWorkflows(now, limit, of);
            node.rows += rows.length;
            for (const w of rows) if (!of.buckets.includes(workflowBucket(w.name, w.id))) node.wrong.push(`${name} got ${w.id} of another bucket`);
            return rows;
          },
          async listWorkflows(filter) {
            // Start-up's look for workflows the code lacks reads one row per stored name; a takeover that listed would page.
            if (filter.limit > 1) node.listed++;
            return store.listWorkflows(filter);
          },
        }),
        components: [tally, reminder],
        nodeName: name,
        leaseMs: 600,
        log: () => {},
      });
      nodes.push(node);
      return node;
    }

    it("each-node-reads-only-the-workflows-of-the-buckets-it-holds", { timeout: 120_000 }, async () => {
      const schema = bed.freshSchema();
      const seedStore = bed.newStore({ schema });
      await seedStore.migrate();
      const dueAt = Date.now() + 6_000;
      const record: WorkflowRecord = {
        status: "paused", step: "wait", stepInput: { then: "remind" }, state: {}, attempt: 0, execId: 1, dueAt, deadlineAt: null,
        lastError: null, startHash: "h", startReply: null, createdAt: Date.now(), updatedAt: Date.now(),
      };
      const writes = Array.from({ length: count }, (_, i) => workflowWrite("reminder", `r-${i}`, 0, record));
      assert.ok((await seedStore.commit(writes)).every((o) => o.ok));
      await seedStore.close();

      const first = startNode(schema, "first");
      await first.runtime.start();
      for (let i = 0; i < 100 && first.runtime.membership.heldLeases().filter((l) => l.startsWith("workflows/")).length < WORKFLOW_BUCKETS; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const second = startNode(schema, "second");
      await second.runtime.start();
      // The second node takes some buckets over before the reminders are due.
      for (let i = 0; i < 100 && !second.runtime.membership.heldLeases().some((l) => l.startsWith("workflows/")); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(second.runtime.membership.heldLeases().some((l) => l.startsWith("workflows/")), "the second node took buckets over");

      let ended = 0;
      for (let i = 0; i < 400 && ended < count; i++) {
        ended = (await first.runtime.store.listWorkflows({ name: "reminder", statuses: ["ended"], limit: count })).length;
        if (ended < count) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(ended, count);
      assert.deepEqual(await first.runtime.call("tally", "all", "get", {}), { count }, "each reminder's call applied once");
      assert.deepEqual([...first.wrong, ...second.wrong], []);
      assert.ok(second.rows > 0 && first.rows > 0, `rows read: first ${first.rows}, second ${second.rows}`);
      // The test's own listing above went through the first node's store: one call per poll at most.
      assert.equal(second.listed, 0, "the second node took its buckets over without listing workflows");
    });
  });
});
