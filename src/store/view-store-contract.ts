/**
 * What every ViewStore must do, through the port only: generations (begin, commit, finish, and a
 * rebuild abandoned by another), row updates in one transaction with the offset, and queries with
 * pages. The SQLite and PostgreSQL view stores run the very same checks
 * (sqlite/sqlite-views.test.ts, postgres/postgres-views.test.ts).
 *
 * @example
 * viewStoreContract("sqlite", async () => new SqliteStore({ path: ":memory:" }));
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { parseQuery, QueryParamError } from "../views/query/index.ts";
import type { Store } from "./port.ts";
import { physicalTable, type PhysicalTable, type ViewPage, type ViewStore } from "./view-port.ts";

const VIEW = "shop-items";
const tables = (generation: number, view = VIEW): PhysicalTable[] => [
  { table: physicalTable(view, "items", generation), indexes: [["even", "n"], ["name"]] },
];
const names = (view = VIEW) => (generation: number) => tables(generation, view).map((t) => t.table);
const items = (generation: number, view = VIEW) => physicalTable(view, "items", generation);
const all = parseQuery("SELECT * FROM items");
const firstPage: ViewPage = { offset: 0, limit: 100 };

/** `makeStore` gives a fresh, not yet migrated store; the suite migrates and closes it. */
export function viewStoreContract(name: string, makeStore: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`view store contract: ${name}`, () => {
    if (cleanup) after(cleanup);

    async function withViews(fn: (views: ViewStore) => Promise<void>): Promise<void> {
      const store = await makeStore();
      try {
        await store.migrate();
        assert.ok(store.views, "the store serves views");
        await fn(store.views);
      } finally {
        await store.close();
      }
    }

    /** The ids of a table's rows, in id order. */
    const ids = async (views: ViewStore, table: string) =>
      ((await views.query(table, parseQuery("SELECT _id FROM items"), {}, firstPage)) as { rows: Array<{ _id: string }> }).rows.map((r) => r._id);

    it("a-first-build-is-generation-1-at-offset-0-and-building", async () => {
      await withViews(async (views) => {
        assert.equal(await views.viewMeta(VIEW), undefined);
        assert.deepEqual(await views.beginBuild(VIEW, 3, tables), { generation: 1, version: 3, offset: 0 });
        const meta = { name: VIEW, active: null, building: { generation: 1, version: 3, offset: 0 } };
        assert.deepEqual(await views.viewMeta(VIEW), meta);
        await views.beginBuild("another", 1, (g) => tables(g, "another"));
        assert.deepEqual((await views.listViews()).map((v) => v.name), ["another", VIEW]);
        assert.deepEqual(await views.query(items(1), all, {}, firstPage), { kind: "rows", rows: [], hasMore: false });
      });
    });

    it("commit-view-applies-the-last-update-of-each-row-and-only-raises-the-offset", async () => {
      await withViews(async (views) => {
        await views.beginBuild(VIEW, 1, tables);
        const t = items(1);
        await views.commitView(VIEW, 1, 5, [
          { table: t, id: "a", row: { n: 1 } },
          { table: t, id: "b", row: { n: 2 } },
          { table: t, id: "c", row: { n: 3 } },
        ]);
        await views.commitView(VIEW, 1, 3, [
          { table: t, id: "b", row: { n: 20 } },
          { table: t, id: "c", row: null },
          { table: t, id: "d", row: { n: 4 } },
          { table: t, id: "d", row: null },
          { table: t, id: "a", row: null },
          { table: t, id: "a", row: { n: 10, nested: { list: [1, "x", null] } } },
        ]);
        const rows = await views.getRows(t, ["a", "b", "c", "d", "nobody"]);
        assert.deepEqual(rows, new Map([["a", { n: 10, nested: { list: [1, "x", null] } }], ["b", { n: 20 }]]));
        assert.deepEqual((await views.viewMeta(VIEW))?.building, { generation: 1, version: 1, offset: 5 });
        await views.commitView(VIEW, 1, 9, []);
        assert.deepEqual((await views.viewMeta(VIEW))?.building?.offset, 9);
        assert.deepEqual(await views.getRows(t, []), new Map());
      });
    });

    it("finish-build-switches-generations-and-drops-the-old-tables", async () => {
      await withViews(async (views) => {
        await views.beginBuild(VIEW, 1, tables);
        await views.commitView(VIEW, 1, 4, [{ table: items(1), id: "old", row: { n: 1 } }]);
        await views.finishBuild(VIEW, names());
        assert.deepEqual(await views.viewMeta(VIEW), { name: VIEW, active: { generation: 1, version: 1, offset: 4 }, building: null });

        assert.deepEqual(await views.beginBuild(VIEW, 2, tables), { generation: 2, version: 2, offset: 0 });
        // The active generation keeps answering while the next one fills.
        assert.deepEqual(await ids(views, items(1)), ["old"]);
        await views.commitView(VIEW, 2, 6, [{ table: items(2), id: "new", row: { n: 2 } }]);
        await views.commitView(VIEW, 1, 7, [{ table: items(1), id: "old2", row: { n: 3 } }]);
        assert.deepEqual(await views.viewMeta(VIEW), {
          name: VIEW, active: { generation: 1, version: 1, offset: 7 }, building: { generation: 2, version: 2, offset: 6 },
        });

        await views.finishBuild(VIEW, names());
        assert.deepEqual(await views.viewMeta(VIEW), { name: VIEW, active: { generation: 2, version: 2, offset: 6 }, building: null });
        assert.deepEqual(await ids(views, items(2)), ["new"]);
        await assert.rejects(views.query(items(1), all, {}, firstPage), "the old generation's table is gone");
        // Nothing building: nothing to do.
        await views.finishBuild(VIEW, names());
        assert.equal((await views.viewMeta(VIEW))?.active?.generation, 2);
      });
    });

    it("a-rebuild-begun-during-a-rebuild-drops-the-abandoned-tables", async () => {
      await withViews(async (views) => {
        await views.beginBuild(VIEW, 1, tables);
        await views.finishBuild(VIEW, names());
        await views.beginBuild(VIEW, 2, tables);
        await views.commitView(VIEW, 2, 3, [{ table: items(2), id: "x", row: {} }]);
        assert.deepEqual(await views.beginBuild(VIEW, 3, tables), { generation: 3, version: 3, offset: 0 });
        await assert.rejects(views.query(items(2), all, {}, firstPage), "the abandoned generation's table is gone");
        assert.deepEqual(await ids(views, items(3)), []);
        assert.deepEqual((await views.viewMeta(VIEW))?.active, { generation: 1, version: 1, offset: 0 });
      });
    });

    it("long-view-and-table-names-keep-their-generations-apart", async () => {
      await withViews(async (views) => {
        const view = `v${"-long".repeat(12)}`;
        const long = (generation: number) => [{ table: physicalTable(view, `t${"x".repeat(62)}`, generation), indexes: [["n"]] }];
        await views.beginBuild(view, 1, long);
        await views.commitView(view, 1, 1, [{ table: long(1)[0]!.table, id: "one", row: { n: 1 } }]);
        await views.finishBuild(view, (g) => long(g).map((t) => t.table));
        await views.beginBuild(view, 2, long);
        await views.commitView(view, 2, 1, [{ table: long(2)[0]!.table, id: "two", row: { n: 2 } }]);
        assert.deepEqual([...(await views.getRows(long(1)[0]!.table, ["one", "two"])).keys()], ["one"]);
        await views.finishBuild(view, (g) => long(g).map((t) => t.table));
        assert.deepEqual([...(await views.getRows(long(2)[0]!.table, ["one", "two"])).keys()], ["two"]);
      });
    });

    it("queries-run-in-the-database-with-pages-counts-and-columns", async () => {
      await withViews(async (views) => {
        await views.beginBuild(VIEW, 1, tables);
        const rows = Array.from({ length: 25 }, (_, n) => ({ table: items(1), id: `r${String(n).padStart(2, "0")}`, row: { n, even: n % 2 === 0, name: `item ${n}` } }));
        await views.commitView(VIEW, 1, 1, rows);
        const evens = parseQuery("SELECT * FROM items WHERE even = :even ORDER BY n DESC");
        const seen: unknown[] = [];
        for (let offset = 0; ; offset += 5) {
          const page = await views.query(items(1), evens, { even: true }, { offset, limit: 5 });
          assert.equal(page.kind, "rows");
          if (page.kind !== "rows") return;
          seen.push(...page.rows);
          assert.equal(page.hasMore, offset + 5 < 13);
          if (!page.hasMore) break;
        }
        assert.deepEqual(seen, rows.filter((r) => r.row.even).reverse().map((r) => r.row));

        const own = parseQuery("SELECT n, name AS label FROM items WHERE n < 10 ORDER BY n LIMIT 3");
        assert.deepEqual(await views.query(items(1), own, {}, { offset: 0, limit: 100 }), {
          kind: "rows", rows: [{ n: 0, label: "item 0" }, { n: 1, label: "item 1" }, { n: 2, label: "item 2" }], hasMore: true,
        });
        // LIMIT is the page size: a page token's offset moves the page, it does not shorten it.
        assert.deepEqual(await views.query(items(1), own, {}, { offset: 8, limit: 100 }), {
          kind: "rows", rows: [{ n: 8, label: "item 8" }, { n: 9, label: "item 9" }], hasMore: false,
        });
        const count = parseQuery("SELECT count(*) FROM items WHERE name LIKE 'item 1%'");
        assert.deepEqual(await views.query(items(1), count, {}, firstPage), { kind: "count", count: 11 });
        await assert.rejects(views.query(items(1), evens, { even: [true] }, firstPage), QueryParamError);
      });
    });
  });
}
