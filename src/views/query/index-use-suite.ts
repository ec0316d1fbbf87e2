/**
 * On a large table, the queries of a view read the indexes indexesFor plans (as each dialect
 * creates them) instead of the whole table, and those that can read rows in index order need no
 * sort. One body for every engine (test-engines.ts); each says what its plans look like.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { indexesFor, parseQuery } from "./index.ts";
import type { QueryEngine } from "./test-engines.ts";
import type { Stored } from "./test-fixture.ts";
import { random } from "./test-fixture.ts";

export const INDEXED_QUERIES = {
  equality: "SELECT * FROM t WHERE userId = :u",
  equalityOrdered: "SELECT * FROM t WHERE userId = :u ORDER BY at DESC LIMIT 10",
  twoEqualitiesOrdered: "SELECT * FROM t WHERE status = 'open' AND userId = :u ORDER BY at LIMIT 10",
  negatedAndBoolean: "SELECT * FROM t WHERE address.city = :city AND NOT done != false ORDER BY at",
  inArray: "SELECT * FROM t WHERE userId IN :users",
  orderOnly: "SELECT * FROM t ORDER BY at DESC LIMIT 5 OFFSET 10",
  range: "SELECT * FROM t WHERE at >= :from ORDER BY at LIMIT 20",
  prefix: "SELECT name FROM t WHERE name LIKE 'user-12%'",
  prefixOrdered: "SELECT name FROM t WHERE name LIKE 'user-12%' ORDER BY name DESC LIMIT 3",
  count: "SELECT count(*) FROM t WHERE userId = :u",
} as const;

export type IndexedQuery = keyof typeof INDEXED_QUERIES;

/** Several lookups (IN) or a range (LIKE) come out of the index in field order, not id order. */
export const SORTED_AFTER_INDEX: ReadonlySet<IndexedQuery> = new Set(["inArray", "prefix"]);

const params = { u: "u-42", users: ["u-1", "u-2", "u-3"], city: "c-7", from: 999_000_000 };

interface Planned {
  userId: string;
  at: number;
}

/** `count` rows of `users` users, with timestamps, statuses, booleans and nested cities. */
function plannedRows(count: number, users: number): Stored[] {
  const rnd = random(3);
  return Array.from({ length: count }, (_, i) => ({
    id: `k${i}`,
    row: {
      userId: `u-${Math.floor(rnd() * users)}`, status: rnd() < 0.5 ? "open" : "closed", at: Math.floor(rnd() * 1e9),
      done: rnd() < 0.5, name: `user-${i}`, address: { city: `c-${Math.floor(rnd() * 1000)}` },
    },
  }));
}

export interface IndexUseOptions {
  rows: number;
  users: number;
  /** Asserts that the plan of query `name` reads an index as it should. */
  assertPlan(name: IndexedQuery, plan: string): void;
}

export function indexUseSuite(open: () => Promise<QueryEngine>, options: IndexUseOptions): void {
  describe(`views query: with ${options.rows.toLocaleString("en")} rows, indexed queries read only what they return`, () => {
    let engine: QueryEngine;
    const rows = plannedRows(options.rows, options.users);

    before(async () => {
      engine = await open();
      await engine.load("t", rows);
      const planned = new Map<string, string[]>();
      for (const text of Object.values(INDEXED_QUERIES)) for (const fields of indexesFor(parseQuery(text))) planned.set(fields.join(), fields);
      for (const [i, fields] of [...planned.values()].entries()) await engine.exec(engine.indexSql("t", `t__i${i}`, fields));
      if (engine.name === "postgres") await engine.exec("ANALYZE");
    });
    after(() => engine.close());

    for (const [name, text] of Object.entries(INDEXED_QUERIES) as Array<[IndexedQuery, string]>) {
      it(`${name}: ${text}`, async () => {
        const plan = await engine.explain(engine.compile(parseQuery(text), "t", { limit: 100, extra: 1 }), params);
        options.assertPlan(name, plan);
      });
    }

    it("the-indexed-query-returns-the-right-rows", async () => {
      const compiled = engine.compile(parseQuery(INDEXED_QUERIES.equalityOrdered), "t");
      const got = (await engine.rows(compiled, params)).map((r) => r.id);
      const mine = rows.filter((r) => (r.row as unknown as Planned).userId === "u-42");
      const at = (r: Stored) => (r.row as unknown as Planned).at;
      const expected = mine.sort((a, b) => at(b) - at(a) || (a.id < b.id ? 1 : -1)).slice(0, 10).map((r) => r.id);
      assert.equal(got.length, 10);
      assert.deepEqual(got, expected);
    });
  });
}
