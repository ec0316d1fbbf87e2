/**
 * compilePostgres: the same semantic and injection suites as SQLite (query-semantics.ts,
 * injection-suite.ts), and on 50,000 rows, plans that read the indexes createPostgresIndexSql made
 * (index-use-suite.ts).
 * Runs only when SAGAFLOW_POSTGRES_URL names a database (each engine in a fresh schema, dropped).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { whenPostgresAsked } from "./postgres-test-support.ts";
import { QueryParamError, parseQuery } from "../../views/query/index.ts";
import { indexUseSuite, SORTED_AFTER_INDEX } from "../../views/query/index-use-suite.ts";
import { injectionSuite } from "../../views/query/injection-suite.ts";
import { querySemantics } from "../../views/query/query-semantics.ts";
import type { QueryEngine } from "../../views/query/test-engines.ts";
import { postgresEngine } from "../../views/query/test-engines.ts";

whenPostgresAsked((connectionString) => {
  querySemantics(() => postgresEngine(connectionString));
  injectionSuite(() => postgresEngine(connectionString));

  describe("views query on PostgreSQL: what text cannot hold", () => {
    let engine: QueryEngine;
    before(async () => {
      engine = await postgresEngine(connectionString);
      await engine.load("t", [{ id: "a", row: { name: "a" } }]);
    });
    after(() => engine.close());

    it("a-string-with-U+0000-is-a-parameter-error-not-a-server-error", async () => {
      for (const text of ["SELECT * FROM t WHERE name = :v", "SELECT * FROM t WHERE name IN :l", "SELECT * FROM t WHERE name LIKE :p"]) {
        const compiled = engine.compile(parseQuery(text), "t");
        await assert.rejects(engine.rows(compiled, { v: "a\u0000", l: ["a\u0000"], p: "a\u0000%" }), QueryParamError, text);
      }
    });
  });

  indexUseSuite(() => postgresEngine(connectionString), {
    rows: 50_000,
    users: 2500,
    assertPlan(name, plan) {
      assert.match(plan, /Index Scan|Index Only Scan/, plan);
      assert.doesNotMatch(plan, /Seq Scan/, plan);
      if (!SORTED_AFTER_INDEX.has(name)) assert.doesNotMatch(plan, /Sort/, plan);
    },
  });
});
