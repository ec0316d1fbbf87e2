import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { Runtime } from "../src/runtime/runtime.ts";
import { counter, wrapStore } from "../src/runtime/test-support.ts";
import type { InstanceWrite, Store } from "../src/store/port.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";

/**
 * Two Runtimes in one process, each with its OWN PostgresStore (own pool) on the SAME schema,
 * serving only a counter entity: no workflows, consumers, timers or views, so nothing but the
 * entity's commands runs on both (several full nodes on one database need leases, not built yet).
 *
 * What must hold although both nodes write the same instance at once: no lost update and no
 * duplicate (the store's per-instance check rejects a write made on a stale state, the runtime
 * reloads and decides again), and a node never decides on its cached state after the other node
 * wrote.
 *
 * Not asserted: queries. A query changes nothing, so nothing checks the cached state it reads,
 * and a node answers it from its cache even after the other node wrote (stale read). That is
 * one more thing several nodes need leases (one owner per instance) for.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts).
 */

const url = postgresUrlOrSay("PostgreSQL two-runtimes test");
if (url) registerTests(url);

interface Node {
  runtime: Runtime;
  store: PostgresStore;
  /** Writes of this node the store refused because the other node wrote the instance first. */
  conflicts: number;
  commits: number;
  /** Full loads of an entity (snapshot and events) this node made. */
  historyLoads: number;
  /** Run (once) before this node's next commit reaches the store. */
  beforeNextCommit?: (() => Promise<void>) | undefined;
}

function registerTests(connectionString: string): void {
  describe("two runtimes on one PostgreSQL schema (counter entity only)", () => {
    const schemas = new SchemaPool(connectionString);
    const nodes: Node[] = [];
    after(async () => {
      for (const node of nodes.splice(0)) await node.runtime.stop();
      await schemas.dropAll();
    });

    async function startNode(schema: string): Promise<Node> {
      const store = new PostgresStore({ connectionString, schema, poolSize: 4 });
      const node: Node = { runtime: undefined as never, store, conflicts: 0, commits: 0, historyLoads: 0 };
      const counted: Store = wrapStore(store, {
        async commit(writes: InstanceWrite[]) {
          const before = node.beforeNextCommit;
          node.beforeNextCommit = undefined;
          await before?.();
          const outcomes = await store.commit(writes);
          node.commits++;
          node.conflicts += outcomes.filter((o) => !o.ok).length;
          return outcomes;
        },
        loadHistory(component, id) {
          node.historyLoads++;
          return store.loadHistory(component, id);
        },
      });
      node.runtime = new Runtime({ store: counted, components: [counter], log: (line) => process.stderr.write(`${line}\n`) });
      nodes.push(node);
      await node.runtime.start();
      return node;
    }

    async function twoNodes(label: string): Promise<[Node, Node, string]> {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh(label);
      // Started one after the other: both migrate the same schema (the second finds it done).
      const a = await startNode(schema);
      const b = await startNode(schema);
      return [a, b, schema];
    }

    it("5000-concurrent-increments-split-across-two-nodes-end-at-5000-with-events-seq-1-to-5000", { timeout: 60_000 }, async () => {
      const [a, b] = await twoNodes("incr");
      const total = 5_000;
      const started = Date.now();
      const settled = await Promise.allSettled(
        Array.from({ length: total }, (_, i) => (i % 2 === 0 ? a : b).runtime.call("counter", "c", "add", { by: 1 })),
      );
      const took = Date.now() - started;
      const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected");
      const failures = new Map<string, number>();
      for (const f of failed) {
        const code = (f.reason as { code?: string }).code ?? String(f.reason);
        failures.set(code, (failures.get(code) ?? 0) + 1);
      }
      const figures =
        `${total} increments in ${took} ms; conflicts (writes refused) node A ${a.conflicts} in ${a.commits} commits, ` +
        `node B ${b.conflicts} in ${b.commits} commits; calls failed: ${JSON.stringify(Object.fromEntries(failures))}`;
      console.log(`two runtimes: ${figures}`);
      assert.equal(failed.length, 0, `every increment must succeed: ${figures}`);

      // Each reply is the counter right after that command: 1..5000, each exactly once.
      const replies = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value as number);
      assert.deepEqual(
        [...replies].sort((x, y) => x - y),
        Array.from({ length: total }, (_, i) => i + 1),
        "the replies are 1..5000, each once",
      );

      // Both nodes (and a third look with a fresh store) read 5000.
      assert.equal(await a.runtime.call("counter", "c", "add", { by: 0 }), total);
      assert.equal(await b.runtime.call("counter", "c", "add", { by: 0 }), total);
      const events = await a.store.readEvents("counter", "c", 0, 100_000);
      // `add {by: 0}` emits an event too: two more.
      assert.equal(events.length, total + 2, "exactly one event per command");
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: total + 2 }, (_, i) => i + 1),
        "seqs 1..n without gap or duplicate",
      );
      assert.ok(events.every((e) => e.type === "added"));
      assert.equal(events.slice(0, total).reduce((sum, e) => sum + (e.payload as { by: number }).by, 0), total);
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.position > events[i - 1]!.position, "positions follow seqs");
    });

    it("sustained-ping-pong-between-two-nodes-loses-and-duplicates-nothing", { timeout: 60_000 }, async () => {
      // One client per node, each sending its next increment as soon as the last one is answered:
      // the nodes take turns invalidating each other's cache for the whole run. The node that
      // just won has the instance cached and commits its next command at once, while the loser
      // must reload first, so a command may lose every retry (bounded, see src/runtime/instance.ts)
      // and fail with write_conflict (retryable): without leases that is possible. What must
      // never happen: an answered increment missing, a failed one applied, or one applied twice.
      const [a, b] = await twoNodes("pingpong");
      const perNode = 1_000;
      const started = Date.now();
      const replies: number[] = [];
      let failed = 0;
      await Promise.all(
        [a, b].map(async (node) => {
          for (let i = 0; i < perNode; i++) {
            try {
              replies.push((await node.runtime.call("counter", "p", "add", { by: 1 })) as number);
            } catch (error) {
              assert.equal((error as { code?: string }).code, "write_conflict", String(error));
              failed++;
            }
          }
        }),
      );
      const figures =
        `${2 * perNode} sequential increments (one client per node) in ${Date.now() - started} ms; ` +
        `conflicts node A ${a.conflicts}, node B ${b.conflicts}; calls failed with write_conflict: ${failed}`;
      console.log(`two runtimes ping-pong: ${figures}`);
      assert.ok(failed <= perNode / 10, `too many commands starved: ${figures}`);
      assert.deepEqual(
        replies.sort((x, y) => x - y),
        Array.from({ length: 2 * perNode - failed }, (_, i) => i + 1),
        `every answered increment counted once: ${figures}`,
      );
      const events = await a.store.readEvents("counter", "p", 0, 100_000);
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: 2 * perNode - failed }, (_, i) => i + 1),
        `one event per answered increment, none for a failed one: ${figures}`,
      );
    });

    it("a-node-decides-on-what-the-other-node-wrote-not-on-its-cached-state", { timeout: 30_000 }, async () => {
      const [a, b] = await twoNodes("cache");
      // Node A reads the instance (and caches it)…
      assert.equal(await a.runtime.call("counter", "k", "add", { by: 1 }), 1);
      assert.equal(await a.runtime.call("counter", "k", "get", {}), 1);
      // …node B changes it (B loads it from the store: it sees A's write)…
      assert.equal(await b.runtime.call("counter", "k", "add", { by: 10 }), 11);
      // …and A's next command decides on B's state: 1 + 10 + 100, not 1 + 100.
      const conflictsBefore = a.conflicts;
      assert.equal(await a.runtime.call("counter", "k", "add", { by: 100 }), 111);
      // A asked the store for the instance's version before deciding and reloaded: its stale
      // cache was never used, so not even a refused write (a conflict) came of it.
      assert.equal(a.conflicts, conflictsBefore, "A decided on the stored state at once");
      // Back and forth, several times: every reply includes everything the other node did, and
      // each node brings its cached copy up to date with the other's events, never loading it whole.
      const historyLoads = a.historyLoads + b.historyLoads;
      let expected = 111;
      for (let round = 0; round < 10; round++) {
        const [first, second] = round % 2 === 0 ? [a, b] : [b, a];
        expected += 1_000;
        assert.equal(await first.runtime.call("counter", "k", "add", { by: 1_000 }), expected, `round ${round}`);
        expected += 1;
        assert.equal(await second.runtime.call("counter", "k", "add", { by: 1 }), expected, `round ${round}`);
      }
      assert.equal(a.historyLoads + b.historyLoads, historyLoads, "no full load after the first on each node");
      const events = await b.store.readEvents("counter", "k", 0, 1000);
      assert.deepEqual(
        events.map((e) => e.seq),
        Array.from({ length: 23 }, (_, i) => i + 1),
      );
    });

    it("a-node-whose-commit-lost-the-race-reads-only-what-the-other-wrote-and-decides-again", { timeout: 30_000 }, async () => {
      const [a, b] = await twoNodes("race");
      assert.equal(await a.runtime.call("counter", "r", "add", { by: 1 }), 1);
      const historyLoads = a.historyLoads;
      // Between A's decision and its commit, B writes: A's commit is refused.
      a.beforeNextCommit = async () => {
        const [written] = await b.store.commit([{ component: "counter", id: "r", events: { expectedSeq: 1, append: [{ type: "added", payload: { by: 10 } }] }, dedup: [] }]);
        assert.ok(written!.ok);
      };
      const conflicts = a.conflicts;
      assert.equal(await a.runtime.call("counter", "r", "add", { by: 100 }), 111, "decided again on B's write");
      assert.equal(a.conflicts, conflicts + 1);
      assert.equal(a.historyLoads, historyLoads, "its copy was brought up to date with B's event, not loaded whole");
    });
  });
}
