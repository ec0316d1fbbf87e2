/**
 * The PostgreSQL adapter: the shared store contract plus what only PostgreSQL has (schemas,
 * concurrent migrations, commits from several connections at once, feed visibility).
 *
 * Runs only when SAGAFLOW_POSTGRES_URL names a database, e.g.
 *   SAGAFLOW_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test node scripts/run-tests.mjs postgres
 * Each store gets a fresh schema, dropped after the run. With the variable set and the server
 * unreachable, the tests fail.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { FeedEntry, InstanceWrite, WorkflowRecord, WriteOutcome } from "../port.ts";
import { storeContract } from "../contract.ts";
import { LATEST_SCHEMA_VERSION, migrations } from "./migrations.ts";
import { INSTANCE_LOCKS_UP_TO, LOCK_BUCKETS } from "./postgres-locks.ts";
import { statements } from "./postgres-statements.ts";
import { PostgresStore, type PostgresStoreOptions } from "./postgres-store.ts";

const url = process.env.SAGAFLOW_POSTGRES_URL;

if (!url) {
  process.stderr.write(
    "PostgreSQL store tests not asked for: set SAGAFLOW_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run them\n",
  );
} else {
  registerTests(url);
}

function registerTests(connectionString: string): void {
  const schemas: string[] = [];
  let counter = 0;
  const run = randomBytes(3).toString("hex");
  const freshSchema = (): string => {
    const schema = `sagaflow_test_${run}_${++counter}`;
    schemas.push(schema);
    return schema;
  };
  const newStore = (options: Partial<PostgresStoreOptions> = {}): PostgresStore =>
    new PostgresStore({ connectionString, schema: freshSchema(), poolSize: 4, ...options });

  /** A connection of the test's own, outside any store. */
  async function rawClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString });
    await client.connect();
    return client;
  }

  async function dropSchemas(): Promise<void> {
    const client = await rawClient();
    try {
      for (const schema of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  }

  storeContract("postgres", async () => newStore(), dropSchemas);

  describe("postgres store", () => {
    after(dropSchemas);

    async function withStore(fn: (store: PostgresStore) => Promise<void>, options: Partial<PostgresStoreOptions> = {}): Promise<void> {
      const store = newStore(options);
      try {
        await store.migrate();
        await fn(store);
      } finally {
        await store.close();
      }
    }

    it("is-durable-by-default-and-uses-the-sagaflow-schema-unless-told", async () => {
      const plain = new PostgresStore({ connectionString });
      assert.equal(plain.schema, "sagaflow");
      await plain.close();
      await withStore(async (store) => {
        const settings = await store.settings();
        // PostgreSQL's default: COMMIT returns once the WAL is flushed.
        assert.equal(settings.synchronousCommit, "on");
        assert.equal(settings.fsync, "on");
        assert.equal(settings.schema, store.schema);
      });
    });

    it("refuses-a-schema-name-that-is-not-a-plain-identifier", () => {
      for (const schema of ["", "1abc", "a-b", 'x"y', "a".repeat(64), "a b"]) {
        assert.throws(() => new PostgresStore({ connectionString, schema }), /plain identifier/, schema);
      }
    });

    it("stores-of-other-schemas-see-nothing-of-each-other", async () => {
      await withStore(async (a) => {
        await withStore(async (b) => {
          await commitOk(a, [eventsWrite("c", "x", 0, "a1"), kvWrite("k", "x", 0, "a")]);
          await a.putTimer({ name: "t", dueAt: 1, component: "c", id: "x", handler: "h", input: null, createdAt: 1 });
          await a.commitConsumer("audit", 5, []);
          assert.deepEqual(await b.readFeed(0, 100), []);
          assert.equal(await b.feedHead(), 0);
          assert.deepEqual((await b.loadHistory("c", "x")).events, []);
          assert.equal(await b.loadKv("k", "x"), undefined);
          assert.deepEqual(await b.listTimers(undefined, 10), []);
          assert.deepEqual(await b.listOffsets(), []);
          // And b's own numbering starts from its own sequence.
          await commitOk(b, [eventsWrite("c", "x", 0, "b1")]);
          assert.equal((await b.loadHistory("c", "x")).events[0]!.payload, "b1");
          assert.equal((await a.loadHistory("c", "x")).events[0]!.payload, "a1");
        });
      });
    });

    describe("migrations", () => {
      it("migrations-are-numbered-1-to-n-in-order", () => {
        assert.deepEqual(migrations.map((m) => m.version), migrations.map((_, i) => i + 1));
        assert.equal(LATEST_SCHEMA_VERSION, migrations.length);
      });

      it("several-stores-migrating-one-fresh-schema-at-once-all-succeed-and-apply-each-migration-once", async () => {
        const schema = freshSchema();
        const stores = Array.from({ length: 6 }, () => new PostgresStore({ connectionString, schema, poolSize: 2 }));
        try {
          const results = await Promise.allSettled(stores.map((s) => s.migrate()));
          assert.deepEqual(results.map((r) => r.status), stores.map(() => "fulfilled"), JSON.stringify(results));
          for (const s of stores) assert.equal(await s.schemaVersion(), LATEST_SCHEMA_VERSION);
          const client = await rawClient();
          try {
            const { rows } = await client.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
            assert.deepEqual(rows.map((r: { version: number }) => r.version), migrations.map((m) => m.version));
          } finally {
            await client.end();
          }
          // All of them work on the one schema.
          await commitOk(stores[0]!, [eventsWrite("c", "a", 0, 1)]);
          assert.equal((await stores[5]!.loadHistory("c", "a")).events.length, 1);
        } finally {
          await Promise.all(stores.map((s) => s.close()));
        }
      });

      it("refuses-work-before-migrate-and-a-schema-from-a-newer-sagaflow", async () => {
        const store = newStore();
        try {
          assert.equal(await store.schemaVersion(), 0);
          await assert.rejects(store.loadHistory("c", "a"), /call migrate\(\) first/);
          await assert.rejects(store.commit([eventsWrite("c", "a", 0, 1)]), /call migrate\(\) first/);
          await store.migrate();
          const client = await rawClient();
          try {
            await client.query(
              `INSERT INTO "${store.schema}".schema_migrations (version, description) VALUES ($1, 'from the future')`,
              [LATEST_SCHEMA_VERSION + 1],
            );
          } finally {
            await client.end();
          }
          await assert.rejects(store.migrate(), /newer than this Sagaflow knows/);
          const again = new PostgresStore({ connectionString, schema: store.schema });
          try {
            await assert.rejects(again.loadHistory("c", "a"), new RegExp(`version ${LATEST_SCHEMA_VERSION + 1}`));
          } finally {
            await again.close();
          }
        } finally {
          await store.close();
        }
      });
    });

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
            results[0]!.forEach((o, i) => o.ok && count(ids[i]!));
            results[1]!.forEach((o, i) => o.ok && count(ids[ids.length - 1 - i]!));
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
            testHooks: {
              beforeCommit: async () => {
                const { rows } = await client.query(
                  "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
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

    describe("failures", () => {
      it("a-storage-failure-mid-commit-keeps-nothing-of-the-batch-and-the-store-goes-on", async () => {
        await withStore(async (store) => {
          await commitOk(store, [eventsWrite("c", "warm", 0, 0)]);
          const head = await store.feedHead();
          const client = await rawClient();
          try {
            const s = `"${store.schema}"`;
            await client.query(`
              CREATE FUNCTION ${s}.disk_says_no() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN RAISE EXCEPTION 'disk says no'; END $$`);
            await client.query(`CREATE TRIGGER fail_feed BEFORE INSERT ON ${s}.events FOR EACH ROW WHEN (NEW.type = '$state') EXECUTE FUNCTION ${s}.disk_says_no()`);
            await assert.rejects(store.commit([eventsWrite("c", "a", 0, 1), kvWrite("k", "a", 0, 1)]), /disk says no/);
            await assert.rejects(store.commit([eventsWrite("c", "a", 0, 1), workflowWrite("transfer", "t1", 0, 1)]), /disk says no/);
            assert.equal(await store.loadKv("k", "a"), undefined);
            assert.equal(await store.loadWorkflow("transfer", "t1"), undefined);
            assert.deepEqual(await store.workflowHistory("transfer", "t1", 10), []);
            assert.deepEqual((await store.loadHistory("c", "a")).events, []);
            assert.equal(await store.feedHead(), head);

            await client.query(`DROP TRIGGER fail_feed ON ${s}.events`);
            await client.query(`CREATE TRIGGER fail_history BEFORE INSERT ON ${s}.workflow_history FOR EACH ROW EXECUTE FUNCTION ${s}.disk_says_no()`);
            await assert.rejects(
              store.commit([{ ...eventsWrite("c", "a", 0, 1), dedup: [dedupRecord("k1", 1)] }, workflowWrite("transfer", "t1", 0, 1)]),
              /disk says no/,
            );
            assert.equal(await store.findDedup("c", "a", "k1"), undefined);
            assert.equal(await store.loadWorkflow("transfer", "t1"), undefined);
            assert.equal(await store.feedHead(), head);
            await client.query(`DROP TRIGGER fail_history ON ${s}.workflow_history`);
          } finally {
            await client.end();
          }
          // The connections were rolled back cleanly: everything still works, from version 0.
          await commitOk(store, [eventsWrite("c", "a", 0, 1), kvWrite("k", "a", 0, 1), workflowWrite("transfer", "t1", 0, 1)]);
        });
      });

      it("a-commit-failing-while-it-holds-the-feed-lock-releases-it", async () => {
        let fail = true;
        await withStore(async (store) => {
          const other = new PostgresStore({ connectionString, schema: store.schema });
          try {
            await assert.rejects(store.commit([eventsWrite("c", "a", 0, 1)]), /hook says no/);
            fail = false;
            assert.deepEqual(await other.readFeed(0, 10), []);
            // Another node's feed write goes through at once: the lock went with the rollback.
            await commitOk(other, [eventsWrite("c", "a", 0, 2)]);
            assert.deepEqual((await store.loadHistory("c", "a")).events.map((e) => e.payload), [2]);
          } finally {
            await other.close();
          }
        }, {
          testHooks: {
            beforeCommit: async () => {
              if (fail) throw new Error("hook says no");
            },
          },
        });
      });

      it("text-postgresql-cannot-store-fails-the-whole-batch", async () => {
        await withStore(async (store) => {
          // PostgreSQL text cannot hold U+0000.
          await assert.rejects(store.commit([eventsWrite("c", "a", 0, 1), eventsWrite("c", "bad\u0000id", 0, 1)]));
          assert.deepEqual((await store.loadHistory("c", "a")).events, []);
          await commitOk(store, [eventsWrite("c", "a", 0, 1)]);
          // In JSON it is an escape, and round-trips.
          await commitOk(store, [eventsWrite("c", "b", 0, "nul\u0000inside")]);
          assert.equal((await store.loadHistory("c", "b")).events[0]!.payload, "nul\u0000inside");
        });
      });
    });

    it("feed-timer-and-history-reads-go-through-an-index-even-with-generic-plans", async () => {
      await withStore(async (store) => {
        const s = `"${store.schema}"`;
        const sql = statements(s);
        const client = await rawClient();
        try {
          // A skewed feed: one busy component, one rare. Prepared statements get generic plans
          // after a few runs, which know no parameter values: force them, and look.
          await client.query(`
            INSERT INTO ${s}.events (component, id, kind, seq, type, payload, at)
            SELECT CASE WHEN g % 500 = 0 THEN 'rare' ELSE 'busy' END, 'i' || g, 0, 1, 'x', 'null', 0
            FROM generate_series(1, 20000) AS g`);
          await client.query(`
            INSERT INTO ${s}.timers (name, generation, due_at, component, id, handler, input, attempts, status, last_error, created_at)
            SELECT 't' || g, 1, g, 'c', 'i', 'h', NULL, 0, CASE WHEN g % 10 = 0 THEN 'parked' ELSE 'pending' END, NULL, 0
            FROM generate_series(1, 5000) AS g`);
          await client.query(`ANALYZE ${s}.events, ${s}.timers`);
          await client.query("SET plan_cache_mode = force_generic_plan");
          const plan = async (name: string, types: string, text: string, args: string) => {
            await client.query(`PREPARE ${name}(${types}) AS ${text}`);
            const { rows } = await client.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE ${name}(${args})`);
            return rows.map((r: { "QUERY PLAN": string }) => r["QUERY PLAN"]).join("\n");
          };
          const feedOf = await plan("feed_of", "text[], bigint, bigint", sql.feedOf.text, "'{rare}', 0, 100");
          assert.match(feedOf, /Index (Only )?Scan using events_feed/, feedOf);
          assert.doesNotMatch(feedOf, /events_pkey|Rows Removed by Filter/, feedOf);
          const feedAll = await plan("feed_all", "bigint, bigint", sql.feedAll.text, "19000, 100");
          assert.match(feedAll, /Index Scan using events_pkey/, feedAll);
          assert.doesNotMatch(feedAll, /Sort/, feedAll);
          const due = await plan("due", "float8, bigint", sql.dueTimers.text, "100, 10");
          assert.match(due, /Index Scan using timers_due/, due);
          assert.doesNotMatch(due, /Sort|Rows Removed by Filter/, due);
          const history = await plan("history", "text, text, bigint, bigint", sql.readEvents.text, "'busy', 'i7', 0, 10");
          assert.match(history, /Index Scan using events_component_id_kind_seq_key/, history);
          assert.doesNotMatch(history, /Sort/, history);
        } finally {
          await client.end();
        }
      });
    });
  });
}

function eventsWrite(component: string, id: string, expectedSeq: number, ...payloads: unknown[]): InstanceWrite {
  return { component, id, events: { expectedSeq, append: payloads.map((payload) => ({ type: "x", payload })) }, dedup: [] };
}

function kvWrite(component: string, id: string, expectedVersion: number, state: unknown): InstanceWrite {
  return { component, id, kv: { expectedVersion, state, deleted: false }, dedup: [] };
}

function workflowWrite(name: string, id: string, expectedVersion: number, n: number): InstanceWrite {
  const record: WorkflowRecord = {
    status: "running", step: "s", stepInput: n, state: { n }, attempt: 0, execId: 1, dueAt: null, deadlineAt: null,
    lastError: null, startHash: "h", startReply: null, createdAt: 1000, updatedAt: 1000,
  };
  const transition = { at: 1000, status: record.status, step: record.step, execId: 1, attempt: 0, detail: `by ${n}` };
  return { component: name, id, workflow: { expectedVersion, record, transition }, dedup: [] };
}

function dedupRecord(key: string, n: number) {
  return { key, requestHash: `h${n}`, reply: { ok: true as const, value: n }, at: 1000 + n };
}

async function commitOk(store: PostgresStore, writes: InstanceWrite[]): Promise<WriteOutcome[]> {
  const outcomes = await store.commit(writes);
  outcomes.forEach((o, i) => assert.ok(o.ok, `write ${i} (${writes[i]?.component}/${writes[i]?.id}) was refused`));
  return outcomes;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
