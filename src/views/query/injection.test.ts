import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Query } from "./index.ts";
import { compileSqlite, createIndexSql, parseQuery } from "./index.ts";
import { openTable } from "./test-fixture.ts";

const HOSTILE = [
  "x' OR 1=1 --",
  `"); DROP TABLE t; --`,
  "'; DELETE FROM t; SELECT '",
  `x" OR "1"="1`,
  "\\' OR 1=1 --",
  "$.a') OR 1=1 --",
  "%",
  "]'",
];

describe("views query: parameters cannot inject SQL", () => {
  const rows = [
    { id: "a", row: { name: "alice", n: 1 } },
    { id: "b", row: { name: "bob", n: 2 } },
    { id: "c", row: { name: "x' OR 1=1 --", n: 3 } },
    { id: "d", row: { name: `"); DROP TABLE t; --`, n: 4 } },
  ];
  const db = openTable(rows);
  after(() => db.close());
  const run = (text: string, params: Record<string, unknown>, table = "t") => {
    const compiled = compileSqlite(parseQuery(text), table);
    return (db.prepare(compiled.sql).all(...compiled.bind(params)) as { id: string }[]).map((r) => r.id);
  };
  const tableIntact = () => {
    assert.equal((db.prepare("SELECT count(*) AS c FROM t").get() as { c: number }).c, 4);
    assert.deepEqual(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all(), [{ name: "t" }]);
  };

  for (const value of HOSTILE) {
    it(`hostile-value-${JSON.stringify(value)}-matches-only-itself`, () => {
      const own = rows.filter((r) => r.row.name === value).map((r) => r.id);
      assert.deepEqual(run("SELECT * FROM t WHERE name = :v", { v: value }), own);
      assert.deepEqual(run("SELECT * FROM t WHERE name IN (:v, 'nobody')", { v: value }), own);
      assert.deepEqual(run("SELECT * FROM t WHERE name IN :v", { v: [value] }), own);
      assert.deepEqual(run("SELECT * FROM t WHERE name NOT IN :v", { v: [value] }), rows.filter((r) => r.row.name !== value).map((r) => r.id));
      assert.deepEqual(run("SELECT * FROM t WHERE name > :v AND name < :v", { v: value }), []);
      const prefix = value.replaceAll("\\", "\\\\").replaceAll("%", "\\%").replaceAll("_", "\\_");
      assert.deepEqual(run("SELECT * FROM t WHERE name LIKE :p", { p: `${prefix}%` }), own);
      tableIntact();
    });
  }

  it("hostile-values-as-limit-are-refused-before-sqlite-sees-them", () => {
    assert.throws(() => run("SELECT * FROM t LIMIT :n", { n: "1; DROP TABLE t" }), /whole number/);
    tableIntact();
  });

  it("a-hostile-physical-table-name-is-quoted", () => {
    assert.throws(() => run("SELECT * FROM t", {}, `t" ; DROP TABLE t; --`), /no such table/);
    tableIntact();
  });

  it("field-paths-and-keys-that-are-not-identifiers-never-reach-sql", () => {
    const base = parseQuery("SELECT * FROM t WHERE name = 'x' ORDER BY name");
    const hostile = "name') OR 1=1 --";
    const where = { kind: "compare", op: "=", field: { kind: "field", path: [hostile], pos: 0 }, value: { kind: "literal", value: "x", pos: 0 } };
    assert.throws(() => compileSqlite({ ...base, where } as Query, "t"), /invalid field segment/);
    const orderBy = [{ descending: false, field: { kind: "field", path: ["a", "b\"c"], pos: 0 } }];
    assert.throws(() => compileSqlite({ ...base, orderBy } as Query, "t"), /invalid field segment/);
    assert.throws(() => createIndexSql("t", "i", ["a.b') --"]), /invalid field segment/);
    const select = { kind: "columns", name: undefined, columns: [{ key: "k') --", field: { kind: "field", path: ["name"], pos: 0 } }] };
    const compiled = compileSqlite({ ...base, where: undefined, select } as Query, "t");
    const result = db.prepare(compiled.sql).all(...compiled.bind({})) as { row: string }[];
    const names = rows.map((r) => r.row.name).sort();
    assert.deepEqual(result.map((r) => JSON.parse(r.row)), names.map((name) => ({ "k') --": name })));
    tableIntact();
  });
});
