/**
 * Membership on a real PostgreSQL schema: nodes share leases evenly, never hold one at the same
 * time, give theirs up on stop, and take a dead node's over once its leases expire. Runs only
 * when SAGAFLOW_POSTGRES_URL is set.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ClusterStore, Fence } from "../../store/cluster-port.ts";
import { PostgresStore } from "../../store/postgres/postgres-store.ts";
import { sleep, testbed, whenPostgresAsked } from "../../store/postgres/postgres-test-support.ts";
import { until } from "../test-support.ts";
import { Membership } from "./membership.ts";

const leaseMs = 400;
const leases = Array.from({ length: 10 }, (_, i) => `work/${i}`);

whenPostgresAsked((connectionString) => {
  const { freshSchema, dropSchemas } = testbed(connectionString);

  /** Nodes on one schema; `overlaps` records any moment two of them believed they held one lease. */
  /** What a test's lease holder does when its node gives the lease up (after `lost` returns, the lease may be released). */
  type OnLost = (lease: string, fence: Fence, store: PostgresStore) => Promise<void>;

  async function cluster(fn: (join: (name: string, cluster?: ClusterStore, onLost?: OnLost) => Promise<Membership>, store: PostgresStore, overlaps: string[], lines: string[]) => Promise<void>): Promise<void> {
    const schema = freshSchema();
    const stores: PostgresStore[] = [];
    const members: Membership[] = [];
    const overlaps: string[] = [];
    const lines: string[] = [];
    const open = async () => {
      const store = new PostgresStore({ connectionString, schema, poolSize: 2 });
      await store.migrate();
      stores.push(store);
      return store;
    };
    const join = async (name: string, clusterStore?: ClusterStore, onLost?: OnLost) => {
      const store = clusterStore ? undefined : await open();
      const member = new Membership({ cluster: clusterStore ?? store!.cluster, nodeName: name, leaseMs, log: (line) => lines.push(line) });
      for (const lease of leases) {
        let fence: Fence | undefined;
        member.register(lease, {
          acquired: (given) => {
            fence = given;
            const others = members.filter((m) => m !== member && m.holds(lease));
            if (others.length > 0) overlaps.push(`${lease}: ${member.nodeId} and ${others.map((m) => m.nodeId).join()}`);
          },
          lost: () => (onLost && fence && store ? onLost(lease, fence, store) : undefined),
        });
      }
      members.push(member);
      await member.start();
      return member;
    };
    const inspector = await open();
    try {
      await fn(join, inspector, overlaps, lines);
    } finally {
      await Promise.all(members.map((m) => m.stop().catch(() => {})));
      for (const store of stores) await store.close();
    }
  }

  const heldBy = (members: Membership[]) => members.map((m) => m.heldLeases().length);

  /** How long `until` waits here: 10 leases. */
  const waitMs = 10 * leaseMs;

  describe("membership", () => {
    after(dropSchemas);

    it("nodes-share-the-leases-evenly-and-a-joining-node-gets-its-share", async () => {
      await cluster(async (join, _store, overlaps) => {
        const a = await join("a");
        assert.equal(a.heldLeases().length, 10, "alone, a node takes everything at once");
        const b = await join("b");
        await until("two nodes hold 5 each", () => heldBy([a, b]).join() === "5,5", waitMs, { everyMs: 20 });
        const c = await join("c");
        await until("three nodes hold 4/3/3", () => heldBy([a, b, c]).sort().join() === "3,3,4", waitMs, { everyMs: 20 });
        const all = [a, b, c].flatMap((m) => m.heldLeases()).sort();
        assert.deepEqual(all, [...leases].sort(), "every lease held, none twice");
        assert.deepEqual(overlaps, []);
      });
    });

    it("a-stopped-node-gives-its-leases-up-and-the-others-take-them-at-once", async () => {
      await cluster(async (join, store, overlaps, lines) => {
        const a = await join("a");
        const b = await join("b");
        await until("shared", () => heldBy([a, b]).join() === "5,5", waitMs, { everyMs: 20 });
        await a.stop();
        const stoppedAt = Date.now();
        await until("b holds all", () => b.heldLeases().length === 10, waitMs, { everyMs: 20 });
        const ms = Date.now() - stoppedAt;
        assert.ok(ms < 3 * leaseMs, `taken within ${ms} ms`);
        assert.deepEqual((await store.cluster.listNodes()).map((n) => n.id), [b.nodeId], "the stopped node left the table");
        // One line per change, naming the leases and why, not one per lease.
        const ofA = lines.filter((line) => line.includes(`node ${a.nodeId} `));
        assert.deepEqual(ofA.map((line) => line.replace(/: [^:]*$/, "")), [
          `sagaflow: node ${a.nodeId} took 10 lease(s)`,
          `sagaflow: node ${a.nodeId} gave up 5 lease(s) (above its share: nodes joined)`,
          `sagaflow: node ${a.nodeId} gave up 5 lease(s) (stopping)`,
        ]);
        assert.deepEqual(overlaps, []);
      });
    });

    it("a-lease-given-up-to-a-joining-node-is-released-only-once-its-work-here-stopped-so-that-works-last-fenced-write-commits", async () => {
      await cluster(async (join, store, overlaps) => {
        const lastWrites = new Map<string, string>();
        const a = await join("a", undefined, async (lease, fence, own) => {
          await sleep(leaseMs / 4); // the work takes a moment to stop (a schedules pass, a consumer's batch)
          const key = `handover:${lease}`;
          await own.commitConsumer(key, Date.now(), [], [], fence).then(
            () => lastWrites.set(lease, "committed"),
            (error: unknown) => lastWrites.set(lease, String(error)),
          );
        });
        const b = await join("b");
        await until("shared", () => heldBy([a, b]).join() === "5,5");
        await until("a's holders stopped", () => lastWrites.size >= 5);
        await sleep(leaseMs / 2); // any holder still stopping settles
        assert.deepEqual(new Set(lastWrites.values()), new Set(["committed"]), JSON.stringify([...lastWrites]));
        assert.equal(lastWrites.size, 5, "a gave up its excess once: it did not take it back (released, it looks abandoned)");
        for (const lease of lastWrites.keys()) assert.ok((await store.loadOffset(`handover:${lease}`)) > 0, lease);
        assert.deepEqual(overlaps, []);
      });
    });

    it("a-dead-nodes-leases-are-taken-over-after-they-expire-and-it-stops-believing-it-holds-them", async () => {
      await cluster(async (join, store, overlaps) => {
        // A node whose every call to the database hangs from some moment: dead, as far as anyone can tell.
        let dead = false;
        const hang = new Promise<never>(() => {});
        const dying: ClusterStore = new Proxy(store.cluster, {
          get: (target, key) => {
            const value = Reflect.get(target, key) as unknown;
            if (typeof value !== "function") return value;
            return (...args: unknown[]) => (dead ? hang : (value as (...a: unknown[]) => unknown).apply(target, args));
          },
        });
        const a = await join("a", dying);
        const b = await join("b");
        await until("shared", () => heldBy([a, b]).join() === "5,5", waitMs, { everyMs: 20 });
        const aHeld = a.heldLeases();
        dead = true;
        const diedAt = Date.now();
        await until("a no longer believes it holds anything", () => aHeld.every((lease) => !a.holds(lease)), waitMs, { everyMs: 20 });
        const doubted = Date.now() - diedAt;
        await until("b took a's leases", () => b.heldLeases().length === 10, waitMs, { everyMs: 20 });
        const takenOver = Date.now() - diedAt;
        assert.ok(doubted <= takenOver, `a stopped believing (${doubted} ms) before b took over (${takenOver} ms)`);
        assert.ok(takenOver < 4 * leaseMs, `taken over within ${takenOver} ms (lease ${leaseMs} ms)`);
        assert.deepEqual(overlaps, []);
        const tokens = await store.cluster.listLeases();
        assert.ok(aHeld.every((lease) => tokens.find((t) => t.name === lease)!.token >= 2), "the new holder has a new token");
      });
    });

    it("a-lease-renewed-under-a-new-token-another-node-held-in-between-restarts-its-work-under-that-token", async () => {
      await cluster(async (join, store) => {
        const lost: string[] = [];
        const a = await join("a", undefined, async (lease) => void lost.push(lease));
        const before = a.fence("work/3")!.token;
        // Another node held it in between (a frozen while it expired, was taken and given back):
        // the row is free again, so a's next renewal takes it with a new token.
        await store.cluster.releaseLeases(a.nodeId, ["work/3"]);
        await until("a renews work/3 under a new token", () => (a.fence("work/3")?.token ?? before) > before, waitMs, { everyMs: 20 });
        await until("its work stopped and started again", () => lost.includes("work/3"), waitMs, { everyMs: 20 });
        assert.ok(a.holds("work/3"));
        assert.deepEqual(lost, ["work/3"], "only that lease's work restarted");
      });
    });

    it("while-a-node-of-an-older-version-lives-a-node-holds-nothing-and-takes-the-work-once-it-is-gone", async () => {
      await cluster(async (join, store, overlaps, lines) => {
        const a = await join("a");
        assert.equal(a.heldLeases().length, 10);
        // A node of a version from before engine protocols: its heartbeat says none. It also left
        // a lease this code does not have (the older single `timers` lease).
        await store.cluster.acquireLeases("old-1", ["timers"], leaseMs);
        let older = true;
        const beat = async () => {
          while (older) {
            await store.cluster.heartbeat("old-1", 1, { url: "http://old" });
            await sleep(leaseMs / 4);
          }
        };
        const beating = beat();
        await until("a gives everything up to the older node", () => a.heldLeases().length === 0, waitMs, { everyMs: 20 });
        assert.equal(lines.filter((l) => l.includes("run an older Sagaflow")).length, 1, lines.join("\n"));
        assert.match(lines.find((l) => l.includes("run an older Sagaflow"))!, /node\(s\) old-1 \(protocol 0\) run an older Sagaflow than this node \(engine protocol 1\): this node takes no work/);
        await sleep(3 * leaseMs);
        assert.equal(a.heldLeases().length, 0, "nothing taken back while it lives");
        // Out of the older node's sight: counted as live, it would make that node halve its work.
        assert.deepEqual((await store.cluster.listNodes()).map((n) => n.id), ["old-1"]);
        older = false;
        await beating;
        await until("a takes the work back once the older node is silent", () => a.heldLeases().length === 10, 4 * waitMs, { everyMs: 20 });
        assert.ok(lines.some((l) => l.includes("no node on an older Sagaflow is left (old-1 gone)")), lines.join("\n"));
        assert.ok(!(await a.report()).unheld.includes("timers"), "a lease only an older version had is not listed as waiting");
        assert.deepEqual(overlaps, []);
      });
    });

    it("alone-without-a-shared-store-a-node-holds-everything-for-good-and-fences-nothing", async () => {
      const alone = new Membership({ cluster: undefined, log: () => {} });
      let acquired = 0;
      alone.register("x", { acquired: (fence) => void (acquired += fence === undefined ? 1 : 100), lost: () => {} });
      await alone.start();
      assert.equal(acquired, 1);
      assert.equal(alone.holds("x"), true);
      assert.equal(alone.fence("x"), undefined);
      assert.equal((await alone.report()).clustered, false);
      await alone.stop();
    });
  });
});
