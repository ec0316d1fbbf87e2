/**
 * compileSqlite: the semantic and injection suites every compiler passes (query-semantics.ts,
 * injection-suite.ts), and on 200,000 rows, plans that read the indexes createSqliteIndexSql made
 * (index-use-suite.ts).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { indexUseSuite, SORTED_AFTER_INDEX } from "../../views/query/index-use-suite.ts";
import { injectionSuite } from "../../views/query/injection-suite.ts";
import { querySemantics } from "../../views/query/query-semantics.ts";
import { sqliteEngine } from "../../views/query/test-engines.ts";
import { createSqliteIndexSql } from "./sqlite-query-tables.ts";

querySemantics(async () => sqliteEngine());
injectionSuite(async () => sqliteEngine());

describe("views query on SQLite: index DDL", () => {
  it("create-index-sql-uses-the-query-expressions-and-ends-with-id", () => {
    assert.equal(
      createSqliteIndexSql("view_x__t__g1", "view_x__t__g1__i0", ["userId", "address.city"]),
      `CREATE INDEX IF NOT EXISTS "view_x__t__g1__i0" ON "view_x__t__g1" ` +
        `(json_extract("row", '$."userId"'), json_extract("row", '$."address"."city"'), "id")`,
    );
  });
});

indexUseSuite(async () => sqliteEngine(), {
  rows: 200_000,
  users: 5000,
  assertPlan(name, plan) {
    if (name === "orderOnly") assert.match(plan, /^SCAN t USING INDEX /, plan);
    else assert.match(plan, /^SEARCH t USING (COVERING )?INDEX /, plan);
    assert.doesNotMatch(plan, /SCAN t(?! USING)/, plan);
    if (!SORTED_AFTER_INDEX.has(name)) assert.doesNotMatch(plan, /TEMP B-TREE/, plan);
  },
});
