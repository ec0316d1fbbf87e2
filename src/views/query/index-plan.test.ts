import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { compileSqlite, createIndexSql, indexesFor, parseQuery } from "./index.ts";
import { random } from "./test-fixture.ts";

describe("views query: indexesFor", () => {
  const plan = (text: string) => indexesFor(parseQuery(text));

  it("equality-and-in-fields-then-order-by-fields", () => {
    assert.deepEqual(plan("SELECT * FROM t WHERE userId = :u AND status IN ('a', 'b') AND n > 3 ORDER BY at DESC, n"), [
      ["userId", "status", "at", "n"],
    ]);
  });

  it("not-is-pushed-down-before-planning", () => {
    assert.deepEqual(plan("SELECT * FROM t WHERE NOT (a != 1 OR b IS NOT NULL) AND NOT c = 2"), [["a", "b"]]);
  });

  it("a-range-field-when-there-is-no-order-by", () => {
    assert.deepEqual(plan("SELECT * FROM t WHERE a = 1 AND name LIKE 'x%' AND n > 2"), [["a", "name"]]);
    assert.deepEqual(plan("SELECT count(*) FROM t WHERE n >= 2"), [["n"]]);
    assert.deepEqual(plan("SELECT * FROM t WHERE n >= 2 ORDER BY m"), [["m"]]);
  });

  it("nothing-for-or-negations-or-the-primary-key", () => {
    assert.deepEqual(plan("SELECT * FROM t"), []);
    assert.deepEqual(plan("SELECT * FROM t WHERE a = 1 OR b = 2"), []);
    assert.deepEqual(plan("SELECT * FROM t WHERE a != 1 AND b NOT IN (1) AND c NOT LIKE 'x%'"), []);
    assert.deepEqual(plan("SELECT * FROM t WHERE _id = :id AND a = 1"), []);
    assert.deepEqual(plan("SELECT * FROM t ORDER BY _id"), []);
  });

  it("fields-appear-once-and-order-stops-at-the-key", () => {
    assert.deepEqual(plan("SELECT * FROM t WHERE a = 1 AND a IN (1, 2) AND b.c IS NULL ORDER BY a, d.e, _id, f"), [["a", "b.c", "d.e"]]);
  });

  it("create-index-sql-uses-the-query-expressions-and-ends-with-id", () => {
    assert.equal(
      createIndexSql("view_x__t__g1", "view_x__t__g1__i0", ["userId", "address.city"]),
      `CREATE INDEX IF NOT EXISTS "view_x__t__g1__i0" ON "view_x__t__g1" ` +
        `(json_extract("row", '$."userId"'), json_extract("row", '$."address"."city"'), "id")`,
    );
  });
});

describe("views query: with 200,000 rows, indexed queries read only what they return", () => {
  const ROWS = 200_000;
  const db = new Database(":memory:");
  const tables = ["t"];
  const queries = {
    equality: "SELECT * FROM t WHERE userId = :u",
    equalityOrdered: "SELECT * FROM t WHERE userId = :u ORDER BY at DESC LIMIT 10",
    twoEqualitiesOrdered: "SELECT * FROM t WHERE status = 'open' AND userId = :u ORDER BY at LIMIT 10",
    negatedAndBoolean: "SELECT * FROM t WHERE address.city = :city AND NOT done != false ORDER BY at",
    inArray: "SELECT * FROM t WHERE userId IN :users",
    orderOnly: "SELECT * FROM t ORDER BY at DESC LIMIT 5 OFFSET 10",
    prefix: "SELECT name FROM t WHERE name LIKE 'user-12%'",
    prefixOrdered: "SELECT name FROM t WHERE name LIKE 'user-12%' ORDER BY name DESC LIMIT 3",
    count: "SELECT count(*) FROM t WHERE userId = :u",
  } as const;
  const params = { u: "u-42", users: ["u-1", "u-2", "u-3"], city: "c-7" };

  before(() => {
    db.exec(`CREATE TABLE t (id TEXT PRIMARY KEY, row TEXT NOT NULL)`);
    const insert = db.prepare("INSERT INTO t (id, row) VALUES (?, ?)");
    const rnd = random(3);
    db.transaction(() => {
      for (let i = 0; i < ROWS; i++) {
        const row = {
          userId: `u-${Math.floor(rnd() * 5000)}`, status: rnd() < 0.5 ? "open" : "closed", at: Math.floor(rnd() * 1e9),
          done: rnd() < 0.5, name: `user-${i}`, address: { city: `c-${Math.floor(rnd() * 1000)}` },
        };
        insert.run(`k${i}`, JSON.stringify(row));
      }
    })();
    const seen = new Set<string>();
    for (const text of Object.values(queries)) {
      for (const fields of indexesFor(parseQuery(text))) {
        if (seen.has(fields.join())) continue;
        db.exec(createIndexSql("t", `t__i${seen.size}`, fields));
        seen.add(fields.join());
      }
    }
  });
  after(() => db.close());

  const explain = (text: string) => {
    const compiled = compileSqlite(parseQuery(text), "t", { limit: 100, extra: 1 });
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${compiled.sql}`).all(...compiled.bind(params)) as { detail: string }[];
    return plan.map((p) => p.detail).join(" | ");
  };

  for (const [name, text] of Object.entries(queries)) {
    it(`${name}: ${text}`, () => {
      assert.ok(tables.includes(parseQuery(text).from));
      const plan = explain(text);
      if (name === "orderOnly") assert.match(plan, /^SCAN t USING INDEX /, plan);
      else assert.match(plan, /^SEARCH t USING (COVERING )?INDEX /, plan);
      assert.doesNotMatch(plan, /SCAN t(?! USING)/, plan);
      // Several lookups (IN) or a range (LIKE) come out of the index in field order, not id order.
      if (name !== "inArray" && name !== "prefix") assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
    });
  }

  it("the-indexed-query-returns-the-right-rows", () => {
    const compiled = compileSqlite(parseQuery(queries.equalityOrdered), "t");
    const got = (db.prepare(compiled.sql).all(...compiled.bind(params)) as { id: string; row: string }[]).map((r) => JSON.parse(r.row) as { userId: string; at: number });
    const all = (db.prepare("SELECT row FROM t").all() as { row: string }[]).map((r) => JSON.parse(r.row) as { userId: string; at: number });
    const expected = all.filter((r) => r.userId === "u-42").sort((a, b) => b.at - a.at).slice(0, 10);
    assert.equal(got.length, 10);
    assert.deepEqual(got.map((r) => r.at), expected.map((r) => r.at));
  });
});
