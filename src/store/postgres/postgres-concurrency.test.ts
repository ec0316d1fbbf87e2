/**
 * The PostgreSQL adapter under concurrency: feed visibility in commit order (Property 4) and
 * commits from several connections at once. Runs only when SAGAFLOW_POSTGRES_URL is set.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { FeedEntry, InstanceWrite } from "../port.ts";
import { INSTANCE_LOCKS_UP_TO, LOCK_BUCKETS } from "./postgres-locks.ts";
import { PostgresStore } from "./postgres-store.ts";
import { isStoreUnavailable } from "../../define/errors.ts";
import { commitOk, dedupRecord, deferred, eventsWrite, kvWrite, sleep, testbed, whenPostgresAsked, workflowWrite } from "./postgres-test-support.ts";

whenPostgresAsked((connectionString) => {
  const { freshSchema, rawClient, dropSchemas, withStore } = testbed(connectionString);

  describe("postgres store under concurrency", () => {
    after(dropSchemas);

    describe("feed visibility (Property 4)", () => {
      it("the-hazard-is-real-a-sequence-value-can-become-visible-before-a-lower-one", async () => {
        // Why the commit protocol takes the feed lock: two plain transactions, the one holding the
        // lower position committing last. A reader in between sees the higher one alone.
        await withStore(async (store) => {
          const s = `"${store.schema}"`;
          const insert = `INSERT INTO ${s}.events (component, id, kind, seq, type, payload, at) VALUES ($1, 'x', 0, 1, 't', NULL, 0) RETURNING position`;
          const a = await rawClient();
          const b = await rawClient();
          try {
            await a.query("BEGIN");
            const low = Number((await a.query(insert, ["a"])).rows[0].position);
            const high = Number((await b.query(insert, ["b"])).rows[0].position);
            assert.ok(low < high);
            const seen = (await b.query(`SELECT position FROM ${s}.events ORDER BY position`)).rows.map((r: { position: string }) => Number(r.position));
            assert.deepEqual(seen, [high], "the higher position is visible while the lower one is not yet");
            await a.query("COMMIT");
            const later = (await b.query(`SELECT position FROM ${s}.events ORDER BY position`)).rows.map((r: { position: string }) => Number(r.position));
            assert.deepEqual(later, [low, high], "and the lower one shows up behind it");
          } finally {
            await a.end();
            await b.end();
          }
        });
      });

      it("a-commit-holding-a-lower-position-keeps-every-higher-position-back-until-it-commits", async () => {
        const schema = freshSchema();
        const held = deferred<readonly number[]>();
        const release = deferred<void>();
        let holding = true;
        // Node A: its commit stops after writing its feed rows, before COMMIT, until released.
        const nodeA = new PostgresStore({
          connectionString,
          schema,
          testHooks: {
            beforeCommit: async (positions) => {
              if (!holding) return;
              held.resolve(positions);
              await release.promise;
            },
          },
        });
        const nodeB = new PostgresStore({ connectionString, schema });
        try {
          await nodeA.migrate();
          await nodeB.migrate();
          await commitOk(nodeB, [eventsWrite("wallet", "w0", 0, "before")]);
          const start = await nodeB.feedHead();

          const commitA = nodeA.commit([eventsWrite("wallet", "wa", 0, "a1", "a2"), kvWrite("cart", "ca", 0, "a")]);
          const positionsA = await held.promise;
          assert.equal(positionsA.length, 3);
          // Node B commits other instances meanwhile: it must not get a position visible before A's.
          let bDone = false;
          const commitB = nodeB.commit([eventsWrite("wallet", "wb", 0, "b1"), kvWrite("cart", "cb", 0, "b")]).then((o) => {
            bDone = true;
            return o;
          });
          await sleep(300);
          // Readers on either node, whole feed or by component, see nothing past the held commit.
          for (const reader of [nodeA, nodeB]) {
            assert.deepEqual(await reader.readFeed(start, 100), []);
            assert.deepEqual(await reader.readFeed(start, 100, ["wallet", "cart"]), []);
            assert.equal(await reader.feedHead(), start);
          }
          assert.equal(bDone, false, "B's commit waits for the feed lock while A holds its positions");
          // Reads, and commits that write no feed rows, are not held up.
          await commitOk(nodeB, [{ component: "wallet", id: "wz", dedup: [{ key: "k", requestHash: "h", reply: { ok: true, value: 1 }, at: 1 }] }]);

          holding = false;
          release.resolve();
          const [outcomesA, outcomesB] = await Promise.all([commitA, commitB]);
          const a = outcomesA.flatMap((o) => (o.ok ? o.positions : []));
          const b = outcomesB.flatMap((o) => (o.ok ? o.positions : []));
          assert.deepEqual(a, positionsA);
          assert.equal(b.length, 2);
          assert.ok(Math.max(...a) < Math.min(...b), `A ${a} before B ${b}`);
          const feed = await nodeB.readFeed(start, 100);
          assert.deepEqual(feed.map((e) => e.position), [...a, ...b]);
          assert.deepEqual(feed.map((e) => e.id), ["wa", "wa", "ca", "wb", "cb"]);
        } finally {
          release.resolve();
          await nodeA.close();
          await nodeB.close();
        }
      });

      it("a-reader-polling-while-several-nodes-commit-sees-every-position-once-in-order", async () => {
        const schema = freshSchema();
        const nodes = Array.from({ length: 4 }, () => new PostgresStore({ connectionString, schema, poolSize: 3 }));
        try {
          for (const n of nodes) await n.migrate();
          const committed: number[] = [];
          let writing = true;
          const writers = nodes.map(async (node, w) => {
            // Two commit loops per node, so that commits of one node overlap too.
            await Promise.all(
              [0, 1].map(async (loop) => {
                for (let i = 0; i < 40; i++) {
                  const outcomes = await node.commit([
                    eventsWrite("c", `n${w}-${loop}-${i}`, 0, i, i),
                    kvWrite("k", `n${w}-${loop}`, i, i),
                  ]);
                  for (const o of outcomes) {
                    assert.ok(o.ok);
                    committed.push(...o.positions);
                  }
                }
              }),
            );
          });
          const seen: FeedEntry[] = [];
          const reader = (async () => {
            let offset = 0;
            for (;;) {
              const done = !writing;
              const batch = await nodes[0]!.readFeed(offset, 7, ["c", "k"]);
              seen.push(...batch);
              if (batch.length > 0) offset = batch[batch.length - 1]!.position;
              else if (done) return;
            }
          })();
          await Promise.all(writers);
          writing = false;
          await reader;
          const positions = seen.map((e) => e.position);
          for (let i = 1; i < positions.length; i++) assert.ok(positions[i]! > positions[i - 1]!, "ascending, no repeats");
          assert.deepEqual(positions, [...committed].sort((x, y) => x - y), "every committed position seen");
          assert.equal(positions.length, 4 * 2 * 40 * 3);
        } finally {
          await Promise.all(nodes.map((n) => n.close()));
        }
      });
    });

    describe("concurrent commits", () => {
      it("several-nodes-writing-one-instance-at-the-same-expected-version-one-wins-the-rest-conflict", async () => {
        const schema = freshSchema();
        const nodes = Array.from({ length: 6 }, () => new PostgresStore({ connectionString, schema, poolSize: 2 }));
        try {
          for (const n of nodes) await n.migrate();
          for (const [label, write] of [
            ["events", (i: number) => eventsWrite("wallet", "w1", 0, i)],
            ["kv", (i: number) => kvWrite("cart", "c1", 0, i)],
            ["workflow", (i: number) => workflowWrite("transfer", "t1", 0, i)],
            ["dedup", (i: number): InstanceWrite => ({ component: "wallet", id: "w2", dedup: [dedupRecord("same-key", i)] })],
          ] as const) {
            const outcomes = (await Promise.all(nodes.map((n, i) => n.commit([write(i)])))).flat();
            assert.equal(outcomes.filter((o) => o.ok).length, 1, `${label}: ${JSON.stringify(outcomes)}`);
            assert.equal(outcomes.filter((o) => !o.ok).length, nodes.length - 1, label);
          }
          assert.equal((await nodes[0]!.loadHistory("wallet", "w1")).events.length, 1);
          assert.equal((await nodes[0]!.loadKv("cart", "c1"))?.version, 1);
          assert.equal((await nodes[0]!.workflowHistory("transfer", "t1", 10)).length, 1);
          assert.equal((await nodes[0]!.readFeed(0, 100)).length, 3);
        } finally {
          await Promise.all(nodes.map((n) => n.close()));
        }
      });

      it("batches-writing-the-same-instances-in-opposite-orders-neither-deadlock-nor-lose-writes", async () => {
        const schema = freshSchema();
        const one = new PostgresStore({ connectionString, schema });
        const two = new PostgresStore({ connectionString, schema });
        try {
          await one.migrate();
          await two.migrate();
          const started = Date.now();
          for (let round = 0; round < 15; round++) {
            const ids = ["a", "b", "c", "d"].map((x) => `${x}${round}`);
            const [o1, o2] = await Promise.all([
              one.commit(ids.map((id) => eventsWrite("c", id, 0, `one-${id}`))),
              two.commit([...ids].reverse().map((id) => eventsWrite("c", id, 0, `two-${id}`))),
            ]);
            // Each instance was written by exactly one of the two batches.
            ids.forEach((id, i) => {
              const fromOne = o1[i]!.ok;
              const fromTwo = o2[ids.length - 1 - i]!.ok;
              assert.ok(fromOne !== fromTwo, `${id}: ${fromOne} ${fromTwo}`);
            });
            for (const id of ids) assert.equal((await one.loadHistory("c", id)).events.length, 1);
          }
          // A deadlock would cost PostgreSQL's deadlock_timeout (1 s) and an error.
          assert.ok(Date.now() - started < 10_000);
        } finally {
          await one.close();
          await two.close();
        }
      });
      it("small-and-large-batches-on-the-same-instances-exclude-each-other", async () => {
        // A batch of more than INSTANCE_LOCKS_UP_TO instances locks whole buckets, smaller ones lock
        // their instances: both kinds must still exclude each other on a shared instance.
        const schema = freshSchema();
        const nodes = Array.from({ length: 4 }, () => new PostgresStore({ connectionString, schema, poolSize: 2 }));
        try {
          for (const n of nodes) await n.migrate();
          for (let round = 0; round < 10; round++) {
            const ids = Array.from({ length: INSTANCE_LOCKS_UP_TO + 8 }, (_, i) => `r${round}-${i}`);
            const results = await Promise.all([
              nodes[0]!.commit(ids.map((id) => eventsWrite("c", id, 0, "large-a"))),
              nodes[1]!.commit([...ids].reverse().map((id) => eventsWrite("c", id, 0, "large-b"))),
              ...ids.slice(0, 6).map((id, i) => nodes[2 + (i % 2)]!.commit([eventsWrite("c", id, 0, "small")])),
              nodes[2]!.commit(ids.slice(-3).reverse().map((id) => eventsWrite("c", id, 0, "small-batch"))),
            ]);
            const wins = new Map<string, number>();
            const count = (id: string) => wins.set(id, (wins.get(id) ?? 0) + 1);
            results[0].forEach((o, i) => o.ok && count(ids[i]!));
            results[1].forEach((o, i) => o.ok && count(ids[ids.length - 1 - i]!));
            ids.slice(0, 6).forEach((id, i) => results[2 + i]![0]!.ok && count(id));
            results[8]!.forEach((o, i) => o.ok && count(ids[ids.length - 1 - i]!));
            for (const id of ids) assert.equal(wins.get(id), 1, `${id} written ${wins.get(id) ?? 0} times`);
            for (const id of ids) assert.equal((await nodes[0]!.loadHistory("c", id)).events.length, 1);
          }
        } finally {
          await Promise.all(nodes.map((n) => n.close()));
        }
      });

      it("a-commit-takes-a-bounded-number-of-advisory-locks-whatever-its-size", async () => {
        // Each advisory lock takes a slot of PostgreSQL's shared lock table (about 6,400 by
        // default): a lock per instance would fail a batch this large with "out of shared memory".
        const counts: number[] = [];
        // Only this store's locks: other test files may use the same database meanwhile.
        const appName = `sagaflow_locks_${process.pid}`;
        const client = await rawClient();
        try {
          await withStore(async (store) => {
            const small = await store.commit([eventsWrite("c", "a", 0, 1), eventsWrite("c", "b", 0, 1), kvWrite("k", "a", 0, 1)]);
            assert.ok(small.every((o) => o.ok));
            const size = 20_000;
            const started = Date.now();
            const large = await store.commit(Array.from({ length: size }, (_, i) => eventsWrite("big", `i${i}`, 0, i)));
            assert.equal(large.filter((o) => o.ok).length, size);
            assert.ok(Date.now() - started < 20_000);
            assert.equal((await store.readFeed(0, size + 10, ["big"])).length, size);
          }, {
            connectionString: `${connectionString}${connectionString.includes("?") ? "&" : "?"}application_name=${appName}`,
            testHooks: {
              beforeCommit: async () => {
                const { rows } = await client.query(
                  `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted
                     AND pid IN (SELECT pid FROM pg_stat_activity WHERE application_name = $1)`,
                  [appName],
                );
                counts.push(rows[0].n);
              },
            },
          });
        } finally {
          await client.end();
        }
        // Small: per bucket a shared lock, per instance its own lock, and the feed lock.
        assert.ok(counts[0]! >= 3 + 1 + 1 && counts[0]! <= 3 + 3 + 1, `${counts}`);
        // Large: at most every bucket, and the feed lock.
        assert.ok(counts[1]! <= LOCK_BUCKETS + 1, `${counts}`);
      });
    });

    it("a-commit-left-open-by-a-frozen-process-is-ended-by-the-server-and-frees-the-feed-for-everyone", async () => {
      const schema = freshSchema();
      const inside = deferred<void>();
      let frozenOnce = false;
      // A: its first commit stops before COMMIT for 2 s, holding the instance and feed locks, as a
      // frozen process would; the server ends the session after 300 ms idle.
      const frozen = new PostgresStore({
        connectionString,
        schema,
        poolSize: 2,
        idleInTransactionTimeoutMs: 300,
        testHooks: {
          beforeCommit: async () => {
            if (frozenOnce) return;
            frozenOnce = true;
            inside.resolve();
            await sleep(2_000);
          },
        },
      });
      const other = new PostgresStore({ connectionString, schema, poolSize: 2 });
      try {
        await frozen.migrate();
        const stuck = frozen.commit([eventsWrite("c", "x", 0, 1)]).then(
          () => "committed",
          (error: unknown) => error,
        );
        await inside.promise;
        // B needs the feed lock A holds: it gets it once the server has ended A's session.
        const [written] = await other.commit([eventsWrite("c", "y", 0, 1)]);
        assert.ok(written?.ok, "the other writer went on");
        const outcome = await stuck;
        assert.ok(outcome instanceof Error, `the frozen commit did not commit: ${String(outcome)}`);
        assert.equal(isStoreUnavailable(outcome), true, `seen as the store out of reach: ${String(outcome)}`);
        assert.deepEqual(await other.readEvents("c", "x", 0, 10), [], "nothing of it was kept");
        assert.equal((await frozen.commit([eventsWrite("c", "z", 0, 1)]))[0]?.ok, true, "the frozen store works again");
      } finally {
        await frozen.close();
        await other.close();
      }
    });

    describe("rows locked by a session outside Sagaflow", () => {
      it("a write whose kv, workflow or snapshot row another session holds FOR UPDATE is answered locked at once; the rest of the batch commits", { timeout: 20_000 }, async () => {
        await withStore(async (store) => {
          const withSnapshot = (w: InstanceWrite): InstanceWrite => ({ ...w, events: { ...w.events!, snapshot: { seq: 2, state: { s: 2 }, stateVersion: 0 } } });
          await commitOk(store, [kvWrite("k", "held", 0, 1), kvWrite("k", "free", 0, 1), workflowWrite("wf", "held", 0, 1), withSnapshot(eventsWrite("e", "held", 0, 1, 2))]);
          const other = await rawClient();
          try {
            await other.query("BEGIN");
            const s = `"${store.schema}"`;
            await other.query(`SELECT 1 FROM ${s}.kv WHERE id = 'held' FOR UPDATE`);
            await other.query(`SELECT 1 FROM ${s}.workflows WHERE id = 'held' FOR UPDATE`);
            await other.query(`SELECT 1 FROM ${s}.snapshots WHERE id = 'held' FOR UPDATE`);
            const outcomes = await store.commit([
              kvWrite("k", "held", 1, 2),
              kvWrite("k", "free", 1, 2),
              workflowWrite("wf", "held", 1, 2),
              { ...eventsWrite("e", "held", 2, 3, 4), events: { expectedSeq: 2, append: [{ type: "x", payload: 3 }, { type: "x", payload: 4 }], snapshot: { seq: 4, state: { s: 4 }, stateVersion: 0 } } },
              kvWrite("k", "new", 0, 1),
            ]);
            assert.deepEqual(outcomes.map((o) => (o.ok ? "ok" : o.reason)), ["locked", "ok", "locked", "locked", "ok"]);
            assert.equal((await store.loadKv("k", "held"))?.version, 1, "nothing of the locked write was kept");
            assert.equal((await store.loadKv("k", "free"))?.version, 2);
            await other.query("ROLLBACK");
            const again = await store.commit([kvWrite("k", "held", 1, 2), workflowWrite("wf", "held", 1, 2)]);
            assert.deepEqual(again.map((o) => o.ok), [true, true], "once the other session lets go, the same writes commit");
          } finally {
            await other.end();
          }
        });
      });

      it("a fenced write whose lease row another session holds FOR UPDATE is answered locked, not fenced", { timeout: 20_000 }, async () => {
        await withStore(async (store) => {
          const token = (await store.cluster.acquireLeases("n1", ["workflows/0"], 60_000)).get("workflows/0");
          assert.ok(token !== undefined, "the lease is taken");
          const fence = { lease: "workflows/0", token };
          const other = await rawClient();
          try {
            await other.query("BEGIN");
            await other.query(`SELECT 1 FROM "${store.schema}".leases WHERE name = 'workflows/0' FOR UPDATE`);
            const outcomes = await store.commit([{ ...kvWrite("k", "a", 0, 1), fence }, kvWrite("k", "b", 0, 1)]);
            assert.deepEqual(outcomes.map((o) => (o.ok ? "ok" : o.reason)), ["locked", "ok"]);
            await other.query("ROLLBACK");
            const [again] = await store.commit([{ ...kvWrite("k", "a", 0, 1), fence }]);
            assert.equal(again?.ok, true);
          } finally {
            await other.end();
          }
        });
      });

      it("a lock the commit must wait for (a table lock) fails it after lockTimeoutMs as store_unavailable lock_timeout", { timeout: 20_000 }, async () => {
        await withStore(async (store) => {
          const other = await rawClient();
          try {
            await other.query("BEGIN");
            await other.query(`LOCK TABLE "${store.schema}".dedup IN ACCESS EXCLUSIVE MODE`);
            const error = await store.commit([kvWrite("k", "a", 0, 1)]).then(() => undefined, (e: unknown) => e);
            assert.equal(isStoreUnavailable(error), true, String(error));
            assert.equal((error as { reason?: string }).reason, "lock_timeout");
            await other.query("ROLLBACK");
            assert.equal((await store.commit([kvWrite("k", "a", 0, 1)]))[0]?.ok, true);
          } finally {
            await other.end();
          }
        }, { lockTimeoutMs: 300 });
      });
    });
  });
});
