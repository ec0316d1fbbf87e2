/**
 * The meaning of compiled queries, checked against rows filtered and sorted in plain JavaScript
 * (test-fixture.ts): every operator, type rule, ordering, page, count and result shape. One body
 * for every engine (test-engines.ts): the adapters' sqlite-query-compiler.test.ts and
 * postgres-query-compiler.test.ts run it, so both compilers must give the same rows in the same
 * order.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { checkQuery, parseQuery } from "./index.ts";
import type { QueryEngine } from "./test-engines.ts";
import type { Row, Stored } from "./test-fixture.ts";
import { generateRows, get, isBoolean, isNumber, isString, sortRows } from "./test-fixture.ts";

const rows = generateRows(300);
const ids = (list: Stored[]) => list.map((r) => r.id);
/** Rows matching `predicate`, in the default order (by id). */
const where = (predicate: (row: Row, id: string) => boolean) => ids(sortRows(rows.filter((r) => predicate(r.row, r.id)), []));

const num = (row: Row, path = "n") => get(row, path);
const cases: [string, (row: Row, id: string) => boolean, Record<string, unknown>?][] = [
  ["n = 5", (r) => num(r) === 5],
  ["n = 5.0", (r) => num(r) === 5],
  ["n = -3", (r) => num(r) === -3],
  ["n = 3.5", (r) => num(r) === 3.5],
  ["n != 5", (r) => isNumber(num(r)) && num(r) !== 5],
  ["n <> 5", (r) => isNumber(num(r)) && num(r) !== 5],
  ["n < 10", (r) => isNumber(num(r)) && (num(r) as number) < 10],
  ["n <= 10", (r) => isNumber(num(r)) && (num(r) as number) <= 10],
  ["n > 10", (r) => isNumber(num(r)) && (num(r) as number) > 10],
  ["n >= 10.5", (r) => isNumber(num(r)) && (num(r) as number) >= 10.5],
  ["n = '3'", (r) => num(r) === "3"],
  ["n > '5'", (r) => isString(num(r)) && (num(r) as string) > "5"],
  ["n = true", (r) => num(r) === true],
  ["name = 'alpha-1'", (r) => r.name === "alpha-1"],
  ["name = 'o''brien'", (r) => r.name === "o'brien"],
  ["name > 'beta'", (r) => isString(r.name) && r.name > "beta"],
  ["name <= 'alpha-2'", (r) => isString(r.name) && r.name <= "alpha-2"],
  ["name = 42", (r) => r.name === 42],
  ["flag = false", (r) => r.flag === false],
  ["flag = true", (r) => r.flag === true],
  ["flag != true", (r) => r.flag === false],
  ["flag = 0", (r) => r.flag === 0],
  ["flag < true", (r) => r.flag === false],
  ["n > 3 AND flag = true", (r) => isNumber(r.n) && r.n > 3 && r.flag === true],
  ["n < 2 OR name LIKE 'beta%'", (r) => (isNumber(r.n) && r.n < 2) || (isString(r.name) && r.name.startsWith("beta"))],
  ["NOT n > 3", (r) => isNumber(r.n) && !(r.n > 3)],
  ["NOT (n > 3 OR flag = true)", (r) => isNumber(r.n) && !(r.n > 3) && isBoolean(r.flag) && r.flag !== true],
  ["NOT (n > 3 AND flag = true)", (r) => (isNumber(r.n) && !(r.n > 3)) || r.flag === false],
  ["NOT NOT flag = true", (r) => r.flag === true],
  ["(n = 1 OR n = 2) AND (group = 0 OR group = 3)", (r) => (r.n === 1 || r.n === 2) && (r.group === 0 || r.group === 3)],
  ["n IN (1, 2, 3)", (r) => [1, 2, 3].includes(r.n as number)],
  ["n NOT IN (1, 2, 3)", (r) => isNumber(r.n) && ![1, 2, 3].includes(r.n)],
  ["NOT n IN (1, 2, 3)", (r) => isNumber(r.n) && ![1, 2, 3].includes(r.n)],
  ["name IN ('alpha-1', 'beta-2')", (r) => r.name === "alpha-1" || r.name === "beta-2"],
  ["flag IN (true)", (r) => r.flag === true],
  ["flag NOT IN (true)", (r) => r.flag === false],
  ["n IN (:a, :b)", (r) => r.n === 4 || r.n === 7, { a: 4, b: 7 }],
  ["n IN (:a, 9)", (r) => r.n === 4 || r.n === 9, { a: 4 }],
  ["n IN :list", (r) => [0, 1, 2].includes(r.n as number), { list: [0, 1, 2] }],
  ["n NOT IN :list", (r) => isNumber(r.n) && ![0, 1, 2].includes(r.n), { list: [0, 1, 2] }],
  ["flag IN :list", (r) => r.flag === false, { list: [false] }],
  ["name IN :list", (r) => r.name === "beta" || r.name === "", { list: ["beta", ""] }],
  ["n IN :list", () => false, { list: [] }],
  ["n NOT IN :list", () => true, { list: [] }],
  ["n IN (:a, :b)", (r) => r.n === 4, { a: 4, b: null }],
  ["n NOT IN (:a, :b)", () => false, { a: 4, b: null }],
  ["address.city IS NULL", (r) => get(r, "address.city") === undefined || get(r, "address.city") === null],
  ["address.city IS NOT NULL", (r) => get(r, "address.city") !== undefined && get(r, "address.city") !== null],
  ["NOT address IS NULL", (r) => r.address !== undefined && r.address !== null],
  ["n IS NULL", (r) => r.n === undefined || r.n === null],
  ["address.city = 'Oslo'", (r) => get(r, "address.city") === "Oslo"],
  ["address.zip >= 50000 AND address.city != 'Paris'", (r) => (get(r, "address.zip") as number) >= 50000 && isString(get(r, "address.city")) && get(r, "address.city") !== "Paris"],
  ["address = 'Oslo'", () => false],
  ["tags IS NOT NULL", (r) => r.tags !== undefined],
  ["name LIKE 'alpha%'", (r) => isString(r.name) && r.name.startsWith("alpha")],
  ["name LIKE 'al\\_%'", (r) => isString(r.name) && r.name.startsWith("al_")],
  ["name LIKE '%'", (r) => isString(r.name)],
  ["name LIKE 'o''%'", (r) => isString(r.name) && r.name.startsWith("o'")],
  ["name NOT LIKE 'alpha%'", (r) => isString(r.name) && !r.name.startsWith("alpha")],
  ["NOT name LIKE 'a%'", (r) => isString(r.name) && !r.name.startsWith("a")],
  ["name LIKE :p", (r) => isString(r.name) && r.name.startsWith("beta-"), { p: "beta-%" }],
  ["n = :v", (r) => r.n === 12, { v: 12 }],
  ["flag = :v", (r) => r.flag === true, { v: true }],
  ["name = :v", () => false, { v: null }],
  ["name != :v", () => false, { v: null }],
  ["_id = 'r010'", (_r, id) => id === "r010"],
  ["_id LIKE 'r01%'", (_r, id) => id.startsWith("r01")],
  ["_id IN ('r001', 'r299', 'nope')", (_r, id) => id === "r001" || id === "r299"],
  ["_id = 10", () => false],
];

/** Strings around the edges of code point order: U+10FFFF, astral characters, accents, case. */
const likeNames = ["a", "ab", "ab\u{10ffff}", "ab\u{10ffff}z", "abc", "ac", "aB", "a😀", "a😀x", "a😁", "\u{10ffff}", "\u{10ffff}\u{10ffff}", "é", "éa", "f", ""];

/** Registers the whole suite for the engine `open` gives (a fresh one, closed afterwards). */
export function querySemantics(open: () => Promise<QueryEngine>): void {
  let engine: QueryEngine;

  /** Runs a query through the engine's compiler and database; returns the ids and result objects. */
  async function run(text: string, params: Record<string, unknown> = {}) {
    const query = parseQuery(text);
    checkQuery(query, ["t"]);
    const compiled = engine.compile(query, "t");
    const result = await engine.rows(compiled, params);
    return { ids: result.map((r) => r.id), objects: result.map((r) => r.row as Row), compiled };
  }

  describe("views query semantics", () => {
    before(async () => {
      engine = await open();
      await engine.load("t", rows);
      await engine.load("names", likeNames.map((name, i) => ({ id: `r${String(i).padStart(2, "0")}`, row: { name } })));
    });
    after(() => engine.close());

    describe("compiled queries against a plain-JavaScript reference", () => {
      for (const [condition, predicate, params] of cases) {
        const text = `SELECT * FROM t WHERE ${condition}`;
        it(`${condition}${params ? ` with ${JSON.stringify(params)}` : ""}`, async () => {
          const expected = where(predicate);
          const { ids: got, objects } = await run(text, params);
          assert.deepEqual(got, expected);
          const byId = new Map(rows.map((r) => [r.id, r.row]));
          assert.deepEqual(objects, got.map((id) => byId.get(id)));
        });
      }

      it("reference covers both outcomes for most conditions", () => {
        const nonEmpty = cases.filter(([, p]) => rows.some((r) => p(r.row, r.id))).length;
        assert.ok(nonEmpty >= cases.length - 12, `only ${nonEmpty} of ${cases.length} conditions match any row`);
      });
    });

    describe("LIKE prefixes in code point order", () => {
      for (const prefix of ["", "a", "ab", "ab\u{10ffff}", "a😀", "\u{10ffff}", "é", "A"]) {
        it(`prefix-${JSON.stringify(prefix)}-matches-exactly-the-strings-starting-with-it`, async () => {
          const compiled = engine.compile(parseQuery("SELECT name FROM names WHERE name LIKE :p ORDER BY name"), "names");
          const got = (await engine.rows(compiled, { p: `${prefix}%` })).map((r) => (r.row as { name: string }).name);
          assert.deepEqual(got, likeNames.filter((n) => n.startsWith(prefix)).sort(byCodePoint));
        });
      }
    });

    describe("order, limit, offset", () => {
      const orders: [string, [string, "asc" | "desc"][]][] = [
        ["n", [["n", "asc"]]],
        ["n ASC", [["n", "asc"]]],
        ["n DESC", [["n", "desc"]]],
        ["group, name DESC", [["group", "asc"], ["name", "desc"]]],
        ["group DESC, n", [["group", "desc"], ["n", "asc"]]],
        ["address.city, address.zip DESC", [["address.city", "asc"], ["address.zip", "desc"]]],
        ["flag", [["flag", "asc"]]],
      ];
      for (const [orderBy, keys] of orders) {
        it(`order-by-${orderBy}-breaks-ties-by-id`, async () => {
          assert.deepEqual((await run(`SELECT * FROM t ORDER BY ${orderBy}`)).ids, ids(sortRows(rows, keys)));
        });
      }

      it("order-by-_id-desc", async () => {
        assert.deepEqual((await run("SELECT * FROM t ORDER BY _id DESC, n")).ids, ids(rows).sort().reverse());
      });

      it("where-order-limit-offset", async () => {
        const matching = rows.filter((r) => isNumber(r.row.n) && r.row.n >= 0);
        const expected = ids(sortRows(matching, [["n", "desc"]])).slice(5, 12);
        assert.deepEqual((await run("SELECT * FROM t WHERE n >= 0 ORDER BY n DESC LIMIT 7 OFFSET 5")).ids, expected);
        assert.deepEqual((await run("SELECT * FROM t WHERE n >= 0 ORDER BY n DESC LIMIT :l OFFSET :o", { l: 7, o: 5 })).ids, expected);
      });

      it("limit-0-and-offset-past-the-end-return-nothing", async () => {
        assert.deepEqual((await run("SELECT * FROM t LIMIT 0")).ids, []);
        assert.deepEqual((await run("SELECT * FROM t OFFSET 300")).ids, []);
        assert.deepEqual((await run("SELECT * FROM t OFFSET 295")).ids, ids(sortRows(rows, [])).slice(295));
      });

      it("pages-from-page-options-cover-every-row-once", async () => {
        const query = parseQuery("SELECT * FROM t WHERE group != 1 ORDER BY name");
        const expected = ids(sortRows(rows.filter((r) => r.row.group !== 1), [["name", "asc"]]));
        const seen: string[] = [];
        for (let offset = 0; ; ) {
          const compiled = engine.compile(query, "t", { offset, limit: 17, extra: 1 });
          const page = await engine.rows(compiled);
          const size = compiled.pageLimit({})!;
          seen.push(...page.slice(0, size).map((r) => r.id));
          if (page.length <= size) break;
          offset += size;
        }
        assert.deepEqual(seen, expected);
      });
    });

    describe("select shapes", () => {
      it("count-star", async () => {
        const compiled = engine.compile(parseQuery("SELECT count(*) FROM t"), "t");
        assert.deepEqual(compiled.shape, { kind: "count", name: undefined, columns: undefined });
        assert.equal(await engine.count(compiled), 300);
        const named = engine.compile(parseQuery("SELECT COUNT(*) AS total FROM t WHERE flag = true OR n IS NULL"), "t");
        assert.equal(named.shape.name, "total");
        const expected = rows.filter((r) => r.row.flag === true || r.row.n === undefined || r.row.n === null).length;
        assert.equal(await engine.count(named), expected);
      });

      it("column-list-with-nested-fields-aliases-and-the-key", async () => {
        const { objects, compiled, ids: got } = await run("SELECT name, address.city AS city, flag, tags, address, _id FROM t WHERE group = 2 ORDER BY name");
        assert.deepEqual(compiled.shape, { kind: "rows", name: undefined, columns: ["name", "city", "flag", "tags", "address", "_id"] });
        const expected = sortRows(rows.filter((r) => r.row.group === 2), [["name", "asc"]]);
        assert.deepEqual(got, ids(expected));
        const orNull = (v: unknown) => (v === undefined ? null : v);
        assert.deepEqual(objects, expected.map((r) => ({
          name: orNull(r.row.name), city: orNull(get(r.row, "address.city")), flag: orNull(r.row.flag),
          tags: orNull(r.row.tags), address: orNull(r.row.address), _id: r.id,
        })));
        // Keys in the order the query lists them.
        assert.deepEqual(Object.keys(objects[0]!), ["name", "city", "flag", "tags", "address", "_id"]);
      });

      it("dotted-column-keys-and-named-column-lists", async () => {
        const { objects, compiled } = await run("SELECT (address.zip, n) AS items FROM t WHERE _id = 'r005'");
        assert.deepEqual(compiled.shape, { kind: "rows", name: "items", columns: ["address.zip", "n"] });
        const row = rows.find((r) => r.id === "r005")!.row;
        assert.deepEqual(objects, [{ "address.zip": get(row, "address.zip") ?? null, n: row.n ?? null }]);
      });

      it("star-as-name", async () => {
        const { compiled, ids: got } = await run("select * as everything from t where n = 1");
        assert.deepEqual(compiled.shape, { kind: "rows", name: "everything", columns: undefined });
        assert.deepEqual(got, where((r) => r.n === 1));
      });
    });
  });
}

/** Code point order (JavaScript's < compares UTF-16 units, which differs above U+FFFF). */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}
