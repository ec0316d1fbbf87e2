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
import pg from "pg";
import { storeContract } from "../contract.ts";
import { workflowBucket } from "../buckets.ts";
import type { InstanceWrite } from "../port.ts";
import { LATEST_SCHEMA_VERSION, migrations } from "./migrations.ts";
import { statements } from "./postgres-statements.ts";
import { PostgresStore } from "./postgres-store.ts";
import { commitOk, dedupRecord, eventsWrite, kvWrite, testbed, whenPostgresAsked, workflowWrite } from "./postgres-test-support.ts";

whenPostgresAsked((connectionString) => {
  const { freshSchema, newStore, rawClient, dropSchemas, withStore } = testbed(connectionString);

  storeContract("postgres", async () => newStore(), dropSchemas);

  describe("postgres store", () => {
    after(dropSchemas);

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

    it("a-commit-whose-writes-find-what-they-expect-is-one-round-trip-else-it-decides-each-against-what-is-stored", async () => {
      await withStore(async (store) => {
        await commitOk(store, [eventsWrite("c", "warm", 0, 0)]); // prepares the connection's statements
        let trips = 0;
        const sent: string[] = [];
        const query = pg.Client.prototype.query;
        pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
          trips++;
          sent.push(typeof args[0] === "string" ? args[0] : "");
          return (query as (...a: unknown[]) => unknown).apply(this, args);
        } as typeof query;
        try {
          const step = { ...workflowWrite("w", "t1", 0, 1), dedup: [dedupRecord("start", 1)], together: [eventsWrite("c", "a", 0, "withdrawn")] };
          const first = await commitOk(store, [step, kvWrite("k", "a", 0, 1)]);
          assert.equal(trips, 1, "BEGIN, locks, checked writes, signal and COMMIT in one round trip");
          assert.deepEqual(first.map((o) => o.ok && o.positions.length), [1, 1]);
          trips = 0;
          // An eager start: the workflow's start and two transitions, each with its step's call.
          const together = [workflowWrite("w", "t2", 0, 1), eventsWrite("c", "e", 0, "withdrawn"), workflowWrite("w", "t2", 1, 2), eventsWrite("c", "f", 0, "deposited")];
          await commitOk(store, [{ ...workflowWrite("w", "t2", 2, 3), together }]);
          assert.equal(trips, 1, "an instance written three times in one batch is still one round trip");
          assert.equal((await store.loadWorkflow("w", "t2"))?.version, 3);
          assert.deepEqual((await store.workflowHistory("w", "t2", 10)).map((h) => h.version), [1, 2, 3]);
          trips = 0;
          sent.length = 0;
          // The second and third writes do not find what they expect: the checks fail, nothing is
          // kept, and the two-trip commit decides each write, its BEGIN sent with the ROLLBACK.
          const outcomes = await store.commit([eventsWrite("c", "a", 1, "deposited"), kvWrite("k", "a", 0, 2), { ...eventsWrite("c", "b", 0, "x"), dedup: [dedupRecord("start", 2)] }]);
          assert.equal(trips, 3);
          assert.match(sent[0]!, /^BEGIN;[^]*EXECUTE sagaflow_sql_commit_write_checked\(/, "the one-trip commit");
          assert.match(sent[1]!, /^ROLLBACK;\s*BEGIN;[^]*EXECUTE sagaflow_sql_commit_state\(/, "its ROLLBACK goes with the two-trip commit's BEGIN");
          assert.match(sent[2]!, /^EXECUTE sagaflow_sql_commit_write\([^]*COMMIT$/, "the writes and COMMIT");
          assert.deepEqual(outcomes.map((o) => o.ok || o.reason), [true, "conflict", true]);
          assert.deepEqual((await store.loadHistory("c", "a")).events.map((e) => e.payload), ["withdrawn", "deposited"]);
          assert.deepEqual(await store.loadKv("k", "a"), { version: 1, state: 1, deleted: false });
          assert.deepEqual((await store.readFeed(0, 100)).map((f) => f.component), ["c", "c", "w", "k", "w", "c", "w", "c", "w", "c", "c"]);
        } finally {
          pg.Client.prototype.query = query;
        }
      });
    });

    it("both-the-one-trip-and-the-two-trip-commit-write-buckets-and-traces", async () => {
      await withStore(async (store) => {
        await commitOk(store, [eventsWrite("c", "warm", 0, 0)]); // prepares the connection's statements
        const traced = (w: InstanceWrite, trace: string): InstanceWrite => ({ ...w, trace });
        const tracedWorkflow = (id: string, n: number, trace: string): InstanceWrite => {
          const w = workflowWrite("w", id, 0, n);
          return { ...w, workflow: { ...w.workflow!, record: { ...w.workflow!.record, trace } } };
        };
        const trace = (n: number) => `00-${String(n).padStart(32, "0")}-${"b".repeat(16)}-01`;
        let trips = 0;
        const query = pg.Client.prototype.query;
        pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
          trips++;
          return (query as (...a: unknown[]) => unknown).apply(this, args);
        } as typeof query;
        const tripsOf = async (writes: InstanceWrite[]) => {
          trips = 0;
          const outcomes = await store.commit(writes);
          return { trips, outcomes: outcomes.map((o) => o.ok || o.reason) };
        };
        try {
          // Feed rows alone (the feed-only statement), then every table (the full one); each in
          // one trip, then in two more after a failed check (a conflicting write beside them).
          assert.deepEqual(await tripsOf([traced(eventsWrite("c", "f", 0, "one"), trace(1))]), { trips: 1, outcomes: [true] });
          assert.deepEqual(await tripsOf([traced(eventsWrite("c", "f", 1, "two"), trace(2)), eventsWrite("c", "g", 5, "no")]), { trips: 3, outcomes: [true, "conflict"] });
          assert.deepEqual(await tripsOf([traced(tracedWorkflow("t1", 1, trace(3)), trace(4))]), { trips: 1, outcomes: [true] });
          assert.deepEqual(await tripsOf([tracedWorkflow("t2", 2, trace(5)), traced(kvWrite("k", "z", 3, 0), trace(6))]), { trips: 3, outcomes: [true, "conflict"] });
        } finally {
          pg.Client.prototype.query = query;
        }
        const feed = (await store.readFeed(0, 100)).filter((f) => f.id !== "warm");
        assert.deepEqual(feed.map((f) => [f.id, f.trace]), [["f", trace(1)], ["f", trace(2)], ["t1", trace(4)], ["t2", trace(5)]]);
        const client = await rawClient();
        try {
          const { rows } = await client.query<{ id: string; bucket: number; trace: string }>(`SELECT id, bucket, trace FROM "${store.schema}".workflows ORDER BY id`);
          assert.deepEqual(rows, [
            { id: "t1", bucket: workflowBucket("w", "t1"), trace: trace(3) },
            { id: "t2", bucket: workflowBucket("w", "t2"), trace: trace(5) },
          ]);
        } finally {
          await client.end();
        }
      });
    });

    it("point-reads-asked-for-at-once-each-get-what-is-stored-for-their-own-key", async () => {
      await withStore(async (store) => {
        const ids = Array.from({ length: 120 }, (_, i) => `i${i}`);
        // Every third id has nothing stored; the others i events, a state, a record and a key.
        const stored = ids.filter((_, i) => i % 3 !== 0);
        await commitOk(store, stored.map((id, j) => ({
          ...eventsWrite("c", id, 0, ...Array.from({ length: (j % 4) + 1 }, (_, e) => `${id}.${e}`)),
          dedup: [dedupRecord(`k-${id}`, j)],
        })));
        await commitOk(store, stored.flatMap((id, j) => [kvWrite("k", id, 0, { id }), workflowWrite("w", id, 0, j)]));
        const results = await Promise.all(ids.map(async (id) => ({
          id,
          events: await store.readEvents("c", id, 1, 2),
          kv: await store.loadKv("k", id),
          dedup: await store.findDedup("c", id, `k-${id}`),
          workflow: await store.loadWorkflow("w", id),
        })));
        for (const [i, r] of results.entries()) {
          const j = stored.indexOf(r.id);
          if (i % 3 === 0) {
            assert.deepEqual([r.events, r.kv, r.dedup, r.workflow], [[], undefined, undefined, undefined], r.id);
            continue;
          }
          const count = (j % 4) + 1;
          assert.deepEqual(r.events.map((e) => e.payload), Array.from({ length: Math.min(2, count - 1) }, (_, e) => `${r.id}.${e + 1}`), r.id);
          assert.deepEqual(r.kv?.state, { id: r.id });
          assert.equal(r.dedup?.reply.ok && r.dedup.reply.value, j);
          assert.deepEqual([r.workflow?.id, r.workflow?.stepInput], [r.id, j]);
        }
      });
    });

    it("feed-timer-and-history-reads-go-through-an-index-even-with-generic-plans", async () => {
      await withStore(async (store) => {
        const s = `"${store.schema}"`;
        const sql = statements(s, store.schema);
        const client = await rawClient();
        try {
          // A skewed feed: one busy component, one rare. Prepared statements get generic plans
          // after a few runs, which know no parameter values: force them, and look.
          await client.query(`
            INSERT INTO ${s}.events (component, id, kind, seq, type, payload, at)
            SELECT CASE WHEN g % 500 = 0 THEN 'rare' ELSE 'busy' END, 'i' || g, 0, 1, 'x', 'null', 0
            FROM generate_series(1, 20000) AS g`);
          await client.query(`
            INSERT INTO ${s}.timers (name, generation, due_at, component, id, handler, input, attempts, status, last_error, created_at, bucket)
            SELECT 't' || g, 1, g, 'c', 'i', 'h', NULL, 0, CASE WHEN g % 10 = 0 THEN 'parked' ELSE 'pending' END, NULL, 0, g % 16
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
          // Each held bucket's range read only as far as the limit; only those rows sorted.
          const due = await plan("due", "float8, bigint, int4[]", sql.dueTimers.text, "4000, 10, '{1,5,9}'");
          assert.match(due, /Index Scan using timers_bucket_due/, due);
          assert.doesNotMatch(due, /Seq Scan|Rows Removed by Filter/, due);
          assert.match(due, /Sort[^]*\(actual rows=10 loops=1\)[^]*Index Scan using timers_bucket_due on timers \(actual rows=10 loops=3\)/, due);
          const next = await plan("next", "int4[]", sql.nextTimerDue.text, "'{1,5,9}'");
          assert.match(next, /Index Only Scan using timers_bucket_due/, next);
          assert.doesNotMatch(next, /Seq Scan|Rows Removed by Filter|Sort/, next);
          const history = await plan("history", "text, text, bigint, bigint", sql.readEvents.text, "'busy', 'i7', 0, 10");
          assert.match(history, /Index Scan using events_component_id_kind_seq_key/, history);
          assert.doesNotMatch(history, /Sort/, history);
          const batched = await plan("batched", "text[], text[], bigint[], bigint[]", sql.readEventsOf.text, "'{busy,rare}', '{i7,i500}', '{0,0}', '{1,1}'");
          assert.match(batched, /Index Scan using events_component_id_kind_seq_key/, batched);
          assert.doesNotMatch(batched, /Seq Scan on events/, batched);
        } finally {
          await client.end();
        }
      });
    });
  });
});
