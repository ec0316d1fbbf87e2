/**
 * Parameters cannot inject SQL, on any engine (test-engines.ts): hostile values reach the database
 * only as bound values, match only themselves, and leave the table as it was; field paths that are
 * not identifiers never reach SQL text. The adapters' sqlite-query-compiler.test.ts and
 * postgres-query-compiler.test.ts run it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Query } from "./index.ts";
import { parseQuery } from "./index.ts";
import type { QueryEngine } from "./test-engines.ts";

const HOSTILE = [
  "x' OR 1=1 --",
  `"); DROP TABLE t; --`,
  "'; DELETE FROM t; SELECT '",
  `x" OR "1"="1`,
  "\\' OR 1=1 --",
  "$.a') OR 1=1 --",
  "$1); DROP TABLE t; --",
  "'{a}') OR true --",
  "%",
  "]'",
];

const rows = [
  { id: "a", row: { name: "alice", n: 1 } },
  { id: "b", row: { name: "bob", n: 2 } },
  { id: "c", row: { name: "x' OR 1=1 --", n: 3 } },
  { id: "d", row: { name: `"); DROP TABLE t; --`, n: 4 } },
];

export function injectionSuite(open: () => Promise<QueryEngine>): void {
  describe("views query: parameters cannot inject SQL", () => {
    let engine: QueryEngine;
    before(async () => {
      engine = await open();
      await engine.load("t", rows);
    });
    after(() => engine.close());

    const run = async (text: string, params: Record<string, unknown>, table = "t") =>
      (await engine.rows(engine.compile(parseQuery(text), table), params)).map((r) => r.id);
    const tableIntact = async () => assert.deepEqual(await engine.tables(), { t: 4 });

    for (const value of HOSTILE) {
      it(`hostile-value-${JSON.stringify(value)}-matches-only-itself`, async () => {
        const own = rows.filter((r) => r.row.name === value).map((r) => r.id);
        assert.deepEqual(await run("SELECT * FROM t WHERE name = :v", { v: value }), own);
        assert.deepEqual(await run("SELECT * FROM t WHERE name IN (:v, 'nobody')", { v: value }), own);
        assert.deepEqual(await run("SELECT * FROM t WHERE name IN :v", { v: [value] }), own);
        assert.deepEqual(await run("SELECT * FROM t WHERE name NOT IN :v", { v: [value] }), rows.filter((r) => r.row.name !== value).map((r) => r.id));
        assert.deepEqual(await run("SELECT * FROM t WHERE name > :v AND name < :v", { v: value }), []);
        const prefix = value.replaceAll("\\", "\\\\").replaceAll("%", "\\%").replaceAll("_", "\\_");
        assert.deepEqual(await run("SELECT * FROM t WHERE name LIKE :p", { p: `${prefix}%` }), own);
        assert.deepEqual(await run("SELECT * FROM t WHERE _id = :v OR _id IN :l", { v: value, l: [value] }), []);
        await tableIntact();
      });
    }

    it("hostile-values-as-limit-are-refused-before-the-database-sees-them", async () => {
      await assert.rejects(run("SELECT * FROM t LIMIT :n", { n: "1; DROP TABLE t" }), /whole number/);
      await tableIntact();
    });

    it("a-hostile-physical-table-name-is-quoted", async () => {
      await assert.rejects(run("SELECT * FROM t", {}, `t" ; DROP TABLE t; --`), engine.missingTable);
      await tableIntact();
    });

    it("field-paths-and-keys-that-are-not-identifiers-never-reach-sql", async () => {
      const base = parseQuery("SELECT * FROM t WHERE name = 'x' ORDER BY name");
      const hostile = "name') OR 1=1 --";
      const where = { kind: "compare", op: "=", field: { kind: "field", path: [hostile], pos: 0 }, value: { kind: "literal", value: "x", pos: 0 } };
      assert.throws(() => engine.compile({ ...base, where } as Query, "t"), /invalid field segment/);
      const orderBy = [{ descending: false, field: { kind: "field", path: ["a", "b\"c"], pos: 0 } }];
      assert.throws(() => engine.compile({ ...base, orderBy } as Query, "t"), /invalid field segment/);
      assert.throws(() => engine.indexSql("t", "i", ["a.b') --"]), /invalid field segment/);
      const select = { kind: "columns", name: undefined, columns: [{ key: "k') --", field: { kind: "field", path: ["name"], pos: 0 } }] };
      const compiled = engine.compile({ ...base, where: undefined, select } as Query, "t");
      const result = await engine.rows(compiled);
      const names = rows.map((r) => r.row.name).sort();
      assert.deepEqual(result.map((r) => r.row), names.map((name) => ({ "k') --": name })));
      await tableIntact();
    });
  });
}
