/**
 * PostgresViews: the view store contract (../view-store-contract.ts), plus what only PostgreSQL
 * has: tables and indexes in the store's own schema, and fenced writes that a stale lease token
 * turns away without a trace. Runs only when SAGAFLOW_POSTGRES_URL names a database.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { parseQuery } from "../../views/query/index.ts";
import { LeaseLostError, type Fence } from "../cluster-port.ts";
import { physicalTable, type PhysicalTable } from "../view-port.ts";
import { viewStoreContract } from "../view-store-contract.ts";
import type { PostgresStore } from "./postgres-store.ts";
import { testbed, whenPostgresAsked } from "./postgres-test-support.ts";

const VIEW = "carts";
const tables = (generation: number): PhysicalTable[] => [
  { table: physicalTable(VIEW, "carts", generation), indexes: [["userId", "at"], ["checkedOut"]] },
];
const names = (generation: number) => tables(generation).map((t) => t.table);
const carts = (generation: number) => physicalTable(VIEW, "carts", generation);
const LEASE = "view:carts";

whenPostgresAsked((connectionString) => {
  const { newStore, rawClient, dropSchemas, withStore } = testbed(connectionString);

  viewStoreContract("postgres", async () => newStore(), dropSchemas);

  describe("postgres views", () => {
    after(dropSchemas);

    /** Runs `sql` on a connection of the test's own. */
    async function sql<R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
      const client = await rawClient();
      try {
        return (await client.query<R>(text, values)).rows;
      } finally {
        await client.end();
      }
    }

    /** The view tables and indexes of the store's schema, by name. */
    const relations = async (store: PostgresStore) =>
      (await sql<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relname LIKE 'view\\_%' ORDER BY 1`,
        [store.schema],
      )).map((r) => r.name);

    it("tables-and-their-indexes-live-in-the-store-schema", async () => {
      await withStore(async (store) => {
        await store.views.beginBuild(VIEW, 1, tables);
        assert.deepEqual(await relations(store), [carts(1), `${carts(1)}__i0`, `${carts(1)}__i1`, `${carts(1)}_pkey`]);
        await store.views.finishBuild(VIEW, names);
        await store.views.beginBuild(VIEW, 2, tables);
        await store.views.finishBuild(VIEW, names);
        assert.deepEqual(await relations(store), [carts(2), `${carts(2)}__i0`, `${carts(2)}__i1`, `${carts(2)}_pkey`]);
      });
    });

    it("a-row-holding-U+0000-is-refused-before-anything-is-written", async () => {
      await withStore(async (store) => {
        await store.views.beginBuild(VIEW, 1, tables);
        const row = (id: string, userId: string) => ({ table: carts(1), id, row: { userId, at: 1 } });
        await assert.rejects(store.views.commitView(VIEW, 1, 5, [row("ok", "u1"), row("bad", "u\u0000")]), /"bad".*U\+0000/);
        assert.deepEqual(await store.views.getRows(carts(1), ["ok", "bad"]), new Map());
        assert.equal((await store.views.viewMeta(VIEW))?.building?.offset, 0);
        // A backslash followed by "u0000" is plain text.
        await store.views.commitView(VIEW, 1, 5, [row("ok", "u\\u0000")]);
        assert.deepEqual(await store.views.getRows(carts(1), ["ok"]), new Map([["ok", { userId: "u\\u0000", at: 1 }]]));
      });
    });

    describe("fenced writes", () => {
      /** A store with the view built (generation 1 active, one row) and the lease at token 5. */
      async function withFencedView(fn: (store: PostgresStore) => Promise<void>): Promise<void> {
        await withStore(async (store) => {
          await sql(`INSERT INTO "${store.schema}".leases (name, holder, token, expires_at) VALUES ($1, 'node-b', 5, $2)`, [LEASE, Date.now() + 60_000]);
          const fence: Fence = { lease: LEASE, token: 5 };
          await store.views.beginBuild(VIEW, 1, tables, fence);
          await store.views.commitView(VIEW, 1, 10, [{ table: carts(1), id: "c1", row: { userId: "u1", at: 1 } }], fence);
          await store.views.finishBuild(VIEW, names, fence);
          await fn(store);
        });
      }

      /** What a refused write must have left exactly as it was. */
      async function snapshot(store: PostgresStore) {
        const rows = await store.views.query(carts(1), parseQuery("SELECT * FROM carts"), {}, { offset: 0, limit: 100 });
        return { meta: await store.views.viewMeta(VIEW), rows, relations: await relations(store) };
      }

      const stale: Fence = { lease: LEASE, token: 4 };

      it("a-commit-with-a-stale-token-is-refused-and-changes-nothing", async () => {
        await withFencedView(async (store) => {
          const before = await snapshot(store);
          await assert.rejects(
            store.views.commitView(VIEW, 1, 20, [
              { table: carts(1), id: "c1", row: null },
              { table: carts(1), id: "c2", row: { userId: "u2", at: 2 } },
            ], stale),
            (error: unknown) => error instanceof LeaseLostError && error.lease === LEASE,
          );
          assert.deepEqual(await snapshot(store), before);
          assert.equal(before.meta?.active?.offset, 10);
        });
      });

      it("begin-and-finish-with-a-stale-token-are-refused-and-change-nothing", async () => {
        await withFencedView(async (store) => {
          const before = await snapshot(store);
          await assert.rejects(store.views.beginBuild(VIEW, 2, tables, stale), LeaseLostError);
          assert.deepEqual(await snapshot(store), before);
          await store.views.beginBuild(VIEW, 2, tables, { lease: LEASE, token: 5 });
          const building = await snapshot(store);
          await assert.rejects(store.views.finishBuild(VIEW, names, stale), LeaseLostError);
          assert.deepEqual(await snapshot(store), building);
        });
      });

      it("a-lease-that-does-not-exist-fences-every-write", async () => {
        await withFencedView(async (store) => {
          const before = await snapshot(store);
          const none: Fence = { lease: "view:nobody", token: 1 };
          await assert.rejects(store.views.commitView(VIEW, 1, 30, [{ table: carts(1), id: "c3", row: {} }], none), LeaseLostError);
          assert.deepEqual(await snapshot(store), before);
        });
      });

      it("a-token-moved-on-by-another-node-fences-the-old-holder", async () => {
        await withFencedView(async (store) => {
          await sql(`UPDATE "${store.schema}".leases SET holder = 'node-c', token = 6 WHERE name = $1`, [LEASE]);
          const before = await snapshot(store);
          await assert.rejects(store.views.commitView(VIEW, 1, 30, [{ table: carts(1), id: "c3", row: {} }], { lease: LEASE, token: 5 }), LeaseLostError);
          assert.deepEqual(await snapshot(store), before);
          await store.views.commitView(VIEW, 1, 30, [{ table: carts(1), id: "c3", row: {} }], { lease: LEASE, token: 6 });
          assert.equal((await store.views.viewMeta(VIEW))?.active?.offset, 30);
        });
      });
    });
  });
});
