/**
 * The PostgreSQL cluster store: node heartbeats, leases with fencing tokens (and that every
 * fenced write really is refused once its lease moved, changing nothing), and signals between
 * nodes. Runs only when SAGAFLOW_POSTGRES_URL is set.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { LeaseLostError, type ClusterSignal, type SignalledInstance, type SignalledWorkflow } from "../cluster-port.ts";
import type { ParkedMessage } from "../port.ts";
import { timerBucket } from "../buckets.ts";
import { PostgresStore } from "./postgres-store.ts";
import { decodeSignal, encodeSignal } from "./postgres-cluster.ts";
import { deferred, eventsWrite, kvWrite, sleep, testbed, whenPostgresAsked, workflowWrite } from "./postgres-test-support.ts";

whenPostgresAsked((connectionString) => {
  const { freshSchema, dropSchemas, withStore } = testbed(connectionString);

  /** Two stores on one fresh schema: two nodes. */
  async function twoNodes(fn: (a: PostgresStore, b: PostgresStore) => Promise<void>, options: { beforeCommitOfA?: (positions: readonly number[]) => Promise<void> } = {}): Promise<void> {
    const schema = freshSchema();
    const a = new PostgresStore({ connectionString, schema, poolSize: 3, testHooks: options.beforeCommitOfA ? { beforeCommit: options.beforeCommitOfA } : {} });
    const b = new PostgresStore({ connectionString, schema, poolSize: 3 });
    try {
      await a.migrate();
      await b.migrate();
      await fn(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  }

  describe("postgres cluster store", () => {
    after(dropSchemas);

    it("a-lease-is-held-by-one-node-until-it-expires-then-the-next-holder-gets-a-higher-token", async () => {
      await twoNodes(async (a, b) => {
        const first = await a.cluster.acquireLeases("A", ["x", "y"], 400);
        assert.deepEqual([...first], [["x", 1], ["y", 1]]);
        assert.equal((await b.cluster.acquireLeases("B", ["x", "y"], 400)).size, 0, "held leases are not taken");
        assert.deepEqual([...(await a.cluster.acquireLeases("A", ["x"], 400))], [["x", 1]], "renewal keeps the token");
        await sleep(450);
        assert.deepEqual([...(await b.cluster.acquireLeases("B", ["x"], 400))], [["x", 2]], "an expired lease is taken, token + 1");
        assert.equal((await a.cluster.acquireLeases("A", ["x"], 400)).size, 0, "the old holder cannot renew it");
        const leases = await a.cluster.listLeases();
        assert.deepEqual(leases.map((l) => [l.name, l.holder, l.token]), [["x", "B", 2], ["y", "A", 1]]);
        assert.ok(leases[0]!.remainingMs > 0 && leases[1]!.remainingMs <= 0);
      });
    });

    it("a-released-lease-is-free-at-once-and-its-old-token-is-dead", async () => {
      await twoNodes(async (a, b) => {
        await a.cluster.acquireLeases("A", ["x"], 60_000);
        await b.cluster.releaseLeases("B", ["x"]); // not B's: nothing happens
        assert.equal((await b.cluster.acquireLeases("B", ["x"], 60_000)).size, 0);
        await a.cluster.releaseLeases("A", ["x"]);
        const [lease] = await a.cluster.listLeases();
        assert.deepEqual([lease!.holder, lease!.token], [null, 2]);
        assert.deepEqual([...(await b.cluster.acquireLeases("B", ["x"], 60_000))], [["x", 3]]);
      });
    });

    it("a-fenced-write-with-a-stale-token-is-refused-and-the-rest-of-the-batch-is-kept", async () => {
      await twoNodes(async (a, b) => {
        await a.cluster.acquireLeases("A", ["workflows/1"], 300);
        const ok = await a.commit([{ ...workflowWrite("wf", "w1", 0, 1), fence: { lease: "workflows/1", token: 1 } }]);
        assert.ok(ok[0]!.ok);
        await sleep(350);
        await b.cluster.acquireLeases("B", ["workflows/1"], 60_000);
        const outcomes = await a.commit([
          { ...workflowWrite("wf", "w1", 1, 2), fence: { lease: "workflows/1", token: 1 } },
          eventsWrite("c", "e1", 0, "kept"),
        ]);
        assert.deepEqual(outcomes[0], { ok: false, reason: "fenced" });
        assert.ok(outcomes[1]!.ok, "an unfenced write of the same batch is kept");
        assert.equal((await b.loadWorkflow("wf", "w1"))!.version, 1, "nothing of the fenced write is stored");
        assert.equal((await b.workflowHistory("wf", "w1", 10)).length, 1);
        const byB = await b.commit([{ ...workflowWrite("wf", "w1", 1, 3), fence: { lease: "workflows/1", token: 2 } }]);
        assert.ok(byB[0]!.ok, "the new holder writes with its token");
      });
    });

    it("a-fenced-write-with-a-stale-token-keeps-none-of-its-together-writes", async () => {
      await twoNodes(async (a, b) => {
        await a.cluster.acquireLeases("A", ["workflows/3"], 300);
        const step = (token: number) => ({
          ...workflowWrite("wf", "w3", 0, 1),
          fence: { lease: "workflows/3", token },
          together: [{ ...eventsWrite("c", "e3", 0, "withdrawn"), dedup: [{ key: "w3:1:0", requestHash: "h", reply: { ok: true as const, value: 1 }, at: 1 }] }],
        });
        await sleep(350);
        await b.cluster.acquireLeases("B", ["workflows/3"], 60_000);
        const [refused] = await a.commit([step(1)]);
        assert.deepEqual(refused, { ok: false, reason: "fenced" });
        assert.equal(await b.loadWorkflow("wf", "w3"), undefined);
        assert.deepEqual((await b.loadHistory("c", "e3")).events, [], "the step's call is not kept either");
        assert.equal(await b.findDedup("c", "e3", "w3:1:0"), undefined);
        const [kept] = await b.commit([step(2)]);
        assert.ok(kept?.ok && kept.together?.[0]?.length === 1, "the new holder's step commits with its call");
        assert.deepEqual((await a.loadHistory("c", "e3")).events.map((e) => e.payload), ["withdrawn"]);
      });
    });

    it("a-fenced-consumer-offset-or-timer-change-fails-with-lease-lost-and-changes-nothing", async () => {
      await twoNodes(async (a, b) => {
        // Two timers of different buckets; A keeps the lease of the second's bucket.
        const [lost, kept] = ["t", "u"] as const;
        const lostLease = `timers/${timerBucket(lost)}`;
        const keptLease = `timers/${timerBucket(kept)}`;
        assert.notEqual(lostLease, keptLease);
        const tokens = await a.cluster.acquireLeases("A", ["consumer/c", lostLease, keptLease], 60_000);
        await a.commitConsumer("c", 5, [], [], { lease: "consumer/c", token: 1 });
        const timer = await a.putTimer({ name: lost, dueAt: 10, component: "x", id: "1", handler: "h", input: null, createdAt: 1 });
        const other = await a.putTimer({ name: kept, dueAt: 11, component: "x", id: "2", handler: "h", input: null, createdAt: 1 });
        await a.cluster.releaseLeases("A", ["consumer/c", lostLease]);
        const taken = await b.cluster.acquireLeases("B", ["consumer/c", lostLease], 60_000);
        const parked: ParkedMessage = {
          consumer: "c", entry: { position: 6, component: "x", id: "1", seq: 1, type: "t", payload: null, at: 1 },
          error: { code: "e", message: "m" }, attempts: 1, parkedAt: 1, blockedBy: null,
        };
        await assert.rejects(a.commitConsumer("c", 9, [parked], [], { lease: "consumer/c", token: 1 }), LeaseLostError);
        assert.equal(await b.loadOffset("c"), 5);
        assert.deepEqual(await b.listParked("c", 10), []);
        // A finishes both with its old fences: the bucket it still holds is finished, the lost one named and left.
        const fencesOfA = new Map([
          [timerBucket(lost), { lease: lostLease, token: tokens.get(lostLease)! }],
          [timerBucket(kept), { lease: keptLease, token: tokens.get(keptLease)! }],
        ]);
        const fired = [{ name: lost, generation: timer.generation }, { name: kept, generation: other.generation }];
        assert.deepEqual(await a.finishTimers(fired, fencesOfA), [timerBucket(lost)]);
        const change = { dueAt: 99, attempts: 1, status: "pending" as const, lastError: { code: "e", message: "m" } };
        await assert.rejects(a.retryTimer(lost, timer.generation, change, { lease: lostLease, token: tokens.get(lostLease)! }), LeaseLostError);
        assert.deepEqual((await b.listTimers(undefined, 10)).map((t) => [t.name, t.dueAt, t.attempts]), [[lost, 10, 0]]);
        const fencesOfB = new Map([[timerBucket(lost), { lease: lostLease, token: taken.get(lostLease)! }]]);
        assert.deepEqual(await b.finishTimers([{ name: lost, generation: timer.generation }], fencesOfB), []);
        assert.deepEqual(await b.listTimers(undefined, 10), [], "the holder's fenced write goes through");
      });
    });

    it("taking-a-lease-over-waits-for-the-old-holders-fenced-commit-in-flight", async () => {
      const held = deferred<void>();
      const inCommit = deferred<void>();
      let holdNext = false;
      await twoNodes(
        async (a, b) => {
          await a.cluster.acquireLeases("A", ["workflows/2"], 200);
          holdNext = true;
          const commit = a.commit([{ ...workflowWrite("wf", "w2", 0, 1), fence: { lease: "workflows/2", token: 1 } }]);
          await inCommit.promise;
          await sleep(250); // the lease has expired meanwhile
          let takenOver = false;
          const takeover = b.cluster.acquireLeases("B", ["workflows/2"], 60_000).then((m) => {
            takenOver = true;
            return m;
          });
          await sleep(150);
          assert.equal(takenOver, false, "the new holder waits while the fenced commit holds the lease row");
          held.resolve();
          assert.ok((await commit)[0]!.ok, "the commit that checked its fence first goes through");
          assert.deepEqual([...(await takeover)], [["workflows/2", 2]]);
          assert.equal((await b.loadWorkflow("wf", "w2"))!.version, 1, "and the new holder starts from a state that includes it");
        },
        {
          beforeCommitOfA: async () => {
            if (!holdNext) return;
            holdNext = false;
            inCommit.resolve();
            await held.promise;
          },
        },
      );
    });

    it("nodes-heartbeat-are-listed-with-their-age-and-are-forgotten", async () => {
      await withStore(async (store) => {
        const before = Date.now();
        const at = await store.cluster.heartbeat("n1", 1000, { url: "http://a" });
        // The database's clock when it wrote the heartbeat (this machine's clock too, here).
        assert.ok(at >= before - 1_000 && at <= Date.now() + 1_000, `${at} vs ${before}`);
        await store.cluster.heartbeat("n2", 2000, {});
        // Margins wide enough for a loaded machine: n1 is 1.5 s silent, n2 a moment.
        await sleep(1_500);
        await store.cluster.heartbeat("n2", 2000, { url: "http://b" });
        const nodes = await store.cluster.listNodes();
        assert.deepEqual(nodes.map((n) => [n.id, n.startedAt, n.info]), [["n1", 1000, { url: "http://a" }], ["n2", 2000, { url: "http://b" }]]);
        assert.ok(nodes[0]!.ageMs >= 1_400 && nodes[1]!.ageMs < nodes[0]!.ageMs, JSON.stringify(nodes));
        await store.cluster.forgetNodes(undefined, 1_000);
        assert.deepEqual((await store.cluster.listNodes()).map((n) => n.id), ["n2"], "silent nodes are forgotten");
        await store.cluster.forgetNodes("n2", 60_000);
        assert.deepEqual(await store.cluster.listNodes(), []);
      });
    });

    it("a-commit-signals-the-other-nodes-with-its-position-and-workflows-whether-over-with-a-small-lasting-end-and-a-node-never-hears-itself", async () => {
      await twoNodes(async (a, b) => {
        const heardByA: ClusterSignal[] = [];
        const heardByB: ClusterSignal[] = [];
        const stopA = await a.cluster.listen("A", (s) => heardByA.push(s), () => {});
        const stopB = await b.cluster.listen("B", (s) => heardByB.push(s), () => {});
        try {
          const [outcome] = await b.commit([workflowWrite("wf", "w3", 0, 1)]);
          assert.ok(outcome!.ok);
          await b.putTimer({ name: "t", dueAt: 1234, component: "x", id: "1", handler: "h", input: null, createdAt: 1 });
          const ending = workflowWrite("wf", "w3", 1, 2);
          const [ended] = await b.commit([{ ...ending, workflow: { ...ending.workflow!, record: { ...ending.workflow!.record, status: "ended" } } }]);
          assert.ok(ended!.ok);
          // Two versions of one workflow in one commit (an eager start and its steps): one entry, as the last leaves it.
          const last = workflowWrite("wf", "w4", 1, 2);
          const [eager] = await b.commit([{ ...last, workflow: { ...last.workflow!, record: { ...last.workflow!.record, status: "ended" } }, together: [workflowWrite("wf", "w4", 0, 1)] }]);
          assert.ok(eager!.ok);
          // The entities and key-value entities a commit changed, at the version it left them (with
          // an entity's small events); not one whose write changed nothing.
          const entities = await b.commit([eventsWrite("c", "e1", 0, 1), { ...kvWrite("k", "k1", 0, "v"), together: [eventsWrite("c", "e2", 0)] }]);
          assert.ok(entities.every((o) => o.ok));
          // No end comes along for a failed workflow (a retry may run it again), nor for a large state.
          const withStatus = (write: ReturnType<typeof workflowWrite>, status: "failed" | "terminated", state: unknown) =>
            ({ ...write, workflow: { ...write.workflow!, record: { ...write.workflow!.record, status, state } } });
          const failedAndLarge = await b.commit([
            withStatus(workflowWrite("wf", "w5", 0, 1), "failed", { n: 1 }),
            withStatus(workflowWrite("wf", "w6", 0, 1), "terminated", { n: "x".repeat(2_000) }),
          ]);
          assert.ok(failedAndLarge.every((o) => o.ok));
          for (let i = 0; i < 100 && heardByA.length < 6; i++) await sleep(10);
          const position = (o: typeof outcome) => (o!.ok ? o!.positions.at(-1) : -1);
          // Whether the commit left the workflow over (1) or not (0): a node waiting for its end reads it only then,
          // unless the end came along (status, step and state as stored).
          assert.deepEqual(heardByA, [
            { node: "B", position: position(outcome), workflows: [["wf", "w3", 0]] },
            { node: "B", timerDue: 1234, timerBucket: timerBucket("t") },
            { node: "B", position: position(ended), workflows: [["wf", "w3", 1, ["ended", "s", '{"n":2}']]] },
            { node: "B", position: position(eager), workflows: [["wf", "w4", 1, ["ended", "s", '{"n":2}']]] },
            { node: "B", position: position(entities[1]), instances: [["c", "e1", 1, [["x", "1"]]], ["k", "k1", 1, [["$state", '"v"']]]] },
            { node: "B", position: position(failedAndLarge[1]), workflows: [["wf", "w5", 1], ["wf", "w6", 1]] },
          ]);
          assert.deepEqual(heardByB, [], "a node does not hear its own signals");
        } finally {
          await stopA();
          await stopB();
        }
      });
    });

    it("a-commit-of-many-workflows-with-quotes,-backslashes-and-3-byte-characters-in-their-ids-is-signalled-whole", async () => {
      // The signal travels with COMMIT as SQL literals, split over several notifications.
      await twoNodes(async (a, b) => {
        const heard: ClusterSignal[] = [];
        const stopA = await a.cluster.listen("A", (s) => heard.push(s), () => {});
        const stopB = await b.cluster.listen("B", () => {}, () => {}); // B signals once it has a node name
        try {
          const ids = Array.from({ length: 300 }, (_, i) => `q'\\"$$-${i}-${"x€".repeat(20)}`);
          const outcomes = await b.commit(ids.map((id) => workflowWrite("wf", id, 0, 1)));
          assert.ok(outcomes.every((o) => o.ok));
          const received = () => heard.flatMap((s) => s.workflows ?? []);
          for (let i = 0; i < 200 && received().length < ids.length; i++) await sleep(10);
          assert.ok(heard.length > 1, `split into ${heard.length} notifications`);
          assert.deepEqual(received(), ids.map((id) => ["wf", id, 0]));
        } finally {
          await stopA();
          await stopB();
        }
      });
    });

    it("a-long-list-of-workflows-and-instances-is-split-into-payloads-under-the-notify-limit", () => {
      const workflows = Array.from({ length: 500 }, (_, i): SignalledWorkflow => ["transfer", `t-${"x".repeat(200)}-${i}`, (i % 2) as 0 | 1]);
      // Ids of 3-byte characters: the limit is in bytes.
      const instances = Array.from({ length: 500 }, (_, i): SignalledInstance => ["wallet", `w-${"€".repeat(200)}-${i}`]);
      const parts = encodeSignal({ node: "n", position: 7, workflows, instances });
      assert.ok(parts.length > 1);
      for (const part of parts) assert.ok(Buffer.byteLength(part) < 8000, `${Buffer.byteLength(part)} bytes`);
      const decoded = parts.map((p) => decodeSignal(p)!);
      assert.deepEqual(decoded.flatMap((s) => s.workflows ?? []), workflows);
      assert.deepEqual(decoded.flatMap((s) => s.instances ?? []), instances);
      assert.ok(decoded.every((s) => s.node === "n" && s.position === 7));
      assert.equal(decodeSignal("not json"), undefined);
    });
  });
});
