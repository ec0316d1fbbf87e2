import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SagaflowError } from "../../define/errors.ts";
import { QueryError, checkQuery, parseQuery, queryParams } from "./index.ts";

/** Asserts that parsing `text` fails at (line, column) with a message matching `pattern`. */
function fails(text: string, line: number, column: number, pattern: RegExp) {
  assert.throws(() => parseQuery(text), (error: unknown) => {
    assert.ok(error instanceof QueryError, `expected a QueryError, got ${String(error)}`);
    assert.match(error.message, pattern);
    assert.deepEqual({ line: error.line, column: error.column }, { line, column }, error.message);
    assert.ok(error.message.endsWith(`at line ${line}, column ${column}`), error.message);
    const lines = text.split("\n");
    const offset = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0) + column - 1;
    assert.equal(error.position, offset);
    return true;
  });
}

describe("views query: parser errors point at the offending token", () => {
  it("missing-from", () => fails("SELECT * WHERE a = 1", 1, 10, /^expected FROM but found "WHERE"/));
  it("missing-value-at-end", () => fails("SELECT * FROM t WHERE a =", 1, 26, /expected a value .* but found the end of the query/));
  it("unterminated-string-on-line-3", () => fails("SELECT *\nFROM t\nWHERE a = 'abc", 3, 11, /unterminated string/));
  it("misspelled-where", () => fails("SELECT * FROM t WHER a = 1", 1, 17, /expected WHERE, ORDER BY, LIMIT, OFFSET or the end of the query but found "WHER"/));
  it("missing-and", () => fails("SELECT * FROM t\nWHERE a = 1 b = 2", 2, 13, /expected AND, OR, ORDER BY, LIMIT, OFFSET or the end/));
  it("order-without-by", () => fails("SELECT * FROM t ORDER a", 1, 23, /expected BY/));
  it("unclosed-parenthesis", () => fails("SELECT * FROM t WHERE (a = 1 OR b = 2", 1, 38, /expected '\)'/));
  it("equals-null", () => fails("SELECT * FROM t WHERE a = null", 1, 27, /never true: use IS NULL/));
  it("not-equals-null", () => fails("SELECT * FROM t WHERE a != NULL", 1, 28, /use IS NOT NULL/));
  it("null-in-list", () => fails("SELECT * FROM t WHERE a IN (1, null)", 1, 32, /use IS NULL/));
  it("mixed-literal-list", () => fails("SELECT * FROM t WHERE a IN (1, 'x')", 1, 32, /mixes numbers and strings/));
  it("empty-in-list", () => fails("SELECT * FROM t WHERE a IN ()", 1, 29, /expected a value/));
  it("like-suffix", () => fails("SELECT * FROM t WHERE a LIKE '%x'", 1, 30, /only prefix patterns/));
  it("like-underscore", () => fails("SELECT * FROM t WHERE a LIKE 'a_%'", 1, 30, /'_'/));
  it("like-without-percent", () => fails("SELECT * FROM t WHERE a LIKE 'abc'", 1, 30, /must end with '%'/));
  it("like-number", () => fails("SELECT * FROM t WHERE a LIKE 5", 1, 30, /expected a 'prefix%' string/));
  it("negative-limit", () => fails("SELECT * FROM t LIMIT -1", 1, 23, /whole number/));
  it("fractional-offset", () => fails("SELECT * FROM t LIMIT 5 OFFSET 1.5", 1, 32, /whole number/));
  it("limit-then-garbage", () => fails("SELECT * FROM t LIMIT 5 x", 1, 25, /expected OFFSET or the end of the query/));
  it("count-of-a-field", () => fails("SELECT count(a) FROM t", 1, 14, /'\*' \(only count\(\*\)/));
  it("count-with-order-by", () => fails("SELECT count(*) FROM t\n  ORDER BY a", 2, 3, /count\(\*\) cannot have ORDER/));
  it("count-with-limit", () => fails("SELECT count(*) FROM t LIMIT 1", 1, 24, /count\(\*\) cannot have LIMIT/));
  it("duplicate-column", () => fails("SELECT a, b AS a FROM t", 1, 11, /duplicate result column "a"/));
  it("double-quoted-string", () => fails(`SELECT * FROM t WHERE a = "x"`, 1, 27, /unexpected character.*single quotes/));
  it("reserved-table-name", () => fails("SELECT * FROM select", 1, 15, /expected a table name \(SELECT is a reserved word\)/));
  it("value-on-the-left", () => fails("SELECT * FROM t WHERE 5 = a", 1, 23, /expected a field name, NOT or '\(' but found "5"/));
  it("field-of-the-key", () => fails("SELECT * FROM t WHERE _id.x = 1", 1, 23, /_id is the row key/));
  it("colon-without-name", () => fails("SELECT * FROM t WHERE a = : x", 1, 27, /parameter name/));
  it("param-as-array-and-scalar", () => fails("SELECT * FROM t WHERE a IN :p OR b = :p", 1, 38, /both as an array/));
  it("dangling-not", () => fails("SELECT * FROM t WHERE NOT", 1, 26, /found the end of the query/));
  it("not-without-in-or-like", () => fails("SELECT * FROM t WHERE a NOT = 1", 1, 29, /expected IN or LIKE after NOT/));
  it("malformed-number", () => fails("SELECT * FROM t WHERE a = 12abc", 1, 27, /malformed number/));
  it("trailing-dot", () => fails("SELECT a., b FROM t", 1, 10, /field name after '\.'/));
  it("too-deep", () => fails(`SELECT * FROM t WHERE ${"(".repeat(100)}a = 1${")".repeat(100)}`, 1, 87, /nested deeper than 64/));
  it("empty-query", () => fails("", 1, 1, /expected SELECT/));

  it("query-errors-are-sagaflow-errors-with-a-code", () => {
    assert.throws(() => parseQuery("SELECT"), (e: unknown) => e instanceof SagaflowError && e.code === "invalid_query");
  });
});

describe("views query: checkQuery and queryParams", () => {
  it("unknown-table-points-at-the-table-name", () => {
    const query = parseQuery("SELECT *\n  FROM cartz WHERE a = 1");
    checkQuery(query, ["cartz"]);
    assert.throws(() => checkQuery(query, ["carts", "items"]), (e: unknown) => {
      assert.ok(e instanceof QueryError);
      assert.equal(e.message, 'unknown table "cartz" (the view has carts, items) at line 2, column 8');
      assert.equal(e.position, 16);
      return true;
    });
  });

  it("params-are-listed-once-in-order-of-appearance", () => {
    const query = parseQuery("SELECT * FROM t WHERE a = :a AND (b IN (:b, :a) OR c LIKE :c OR d IN :d) LIMIT :n OFFSET :o");
    assert.deepEqual(queryParams(query), ["a", "b", "c", "d", "n", "o"]);
    assert.deepEqual(queryParams(parseQuery("SELECT * FROM t")), []);
  });
});

describe("views query: parser accepts the language", () => {
  it("keywords-are-case-insensitive-and-comments-are-skipped", () => {
    const query = parseQuery("select * as Items from t -- all of them\nwhere NOT a.b = 'x' And c iS nOt NuLl order BY d desc, e Asc limit 5 offset :o");
    assert.deepEqual(query.select, { kind: "rows", name: "Items" });
    assert.equal(query.from, "t");
    assert.deepEqual(query.orderBy.map((k) => [k.field.path.join("."), k.descending]), [["d", true], ["e", false]]);
    assert.deepEqual(query.limit, { kind: "literal", value: 5, pos: query.source.indexOf("5 offset") });
    assert.deepEqual(query.offset, { kind: "param", name: "o", pos: query.source.indexOf(":o") });
  });

  it("and-binds-tighter-than-or", () => {
    const query = parseQuery("SELECT * FROM t WHERE a = 1 OR b = 2 AND c = 3 OR d = 4");
    assert.equal(query.where?.kind, "or");
    const operands = query.where?.kind === "or" ? query.where.operands : [];
    assert.deepEqual(operands.map((c) => c.kind), ["compare", "and", "compare"]);
  });

  it("literals", () => {
    const query = parseQuery("SELECT * FROM t WHERE a IN (-1.5, 2e3, .5, 7) AND b = 'it''s' AND c = TRUE AND d <> false");
    const where = query.where?.kind === "and" ? query.where.operands : [];
    const first = where[0];
    assert.ok(first?.kind === "in" && Array.isArray(first.values));
    assert.deepEqual((first.values as { value: unknown }[]).map((v) => v.value), [-1.5, 2000, 0.5, 7]);
    assert.deepEqual(where.slice(1).map((c) => (c.kind === "compare" ? [c.op, c.value.kind === "literal" && c.value.value] : null)), [
      ["=", "it's"], ["=", true], ["!=", false],
    ]);
  });

  it("reserved-words-are-fine-after-a-dot-and-count-is-a-field-name", () => {
    const query = parseQuery("SELECT count, meta.order, desc FROM t WHERE meta.from = 1 ORDER BY desc DESC");
    assert.ok(query.select.kind === "columns");
    assert.deepEqual(query.select.columns.map((c) => c.key), ["count", "meta.order", "desc"]);
    assert.deepEqual(query.orderBy.map((k) => [k.field.path, k.descending]), [[["desc"], true]]);
  });
});
