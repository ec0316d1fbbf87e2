import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compileSqlite } from "../../store/sqlite/sqlite-query-compiler.ts";
import { QueryParamError, parseQuery } from "./index.ts";

const compile = (text: string, page = {}) => compileSqlite(parseQuery(text), "t", page);

/** Asserts that binding fails for parameter `param` with a message matching `pattern`. */
function refuses(text: string, params: Record<string, unknown>, param: string, pattern: RegExp) {
  assert.throws(() => compile(text).bind(params), (error: unknown) => {
    assert.ok(error instanceof QueryParamError, `expected a QueryParamError, got ${String(error)}`);
    assert.equal(error.code, "invalid_query_param");
    assert.equal(error.status, 400);
    assert.equal(error.param, param);
    assert.match(error.message, pattern);
    return true;
  });
}

describe("views query: bind checks parameter values", () => {
  it("missing-parameter", () => refuses("SELECT * FROM t WHERE a = :a AND b = :b", { a: 1 }, "b", /^parameter :b is missing$/));
  it("undefined-counts-as-missing", () => refuses("SELECT * FROM t WHERE a = :a", { a: undefined }, "a", /missing/));
  it("inherited-names-are-not-parameters", () => refuses("SELECT * FROM t WHERE a = :constructor", {}, "constructor", /missing/));
  it("object-value", () => refuses("SELECT * FROM t WHERE a = :a", { a: { x: 1 } }, "a", /not an object/));
  it("array-for-a-single-value", () => refuses("SELECT * FROM t WHERE a IN (:a)", { a: [1] }, "a", /not an array/));
  it("non-finite-number", () => refuses("SELECT * FROM t WHERE a < :a", { a: Infinity }, "a", /finite number/));
  it("nan", () => refuses("SELECT * FROM t WHERE a < :a", { a: NaN }, "a", /NaN/));
  it("bigint", () => refuses("SELECT * FROM t WHERE a < :a", { a: 1n }, "a", /not a bigint/));
  it("array-param-not-an-array", () => refuses("SELECT * FROM t WHERE a IN :a", { a: "x" }, "a", /must be an array/));
  it("array-with-objects", () => refuses("SELECT * FROM t WHERE a IN :a", { a: [1, {}] }, "a", /must hold only/));
  it("array-mixing-types", () => refuses("SELECT * FROM t WHERE a IN :a", { a: [1, "1"] }, "a", /both numbers and strings/));
  it("list-mixing-types", () => refuses("SELECT * FROM t WHERE a IN (1, :b)", { b: true }, "b", /both numbers and booleans/));
  it("negative-limit", () => refuses("SELECT * FROM t LIMIT :n", { n: -1 }, "n", /whole number/));
  it("fractional-offset", () => refuses("SELECT * FROM t OFFSET :n", { n: 1.5 }, "n", /whole number/));
  it("string-limit", () => refuses("SELECT * FROM t LIMIT :n", { n: "10" }, "n", /whole number/));
  it("like-param-not-a-prefix", () => refuses("SELECT * FROM t WHERE a LIKE :p", { p: "%x" }, "p", /prefix patterns/));
  it("like-param-not-a-string", () => refuses("SELECT * FROM t WHERE a LIKE :p", { p: 5 }, "p", /must be a string/));

  it("extra-keys-are-ignored-and-values-are-positional", () => {
    const compiled = compile("SELECT * FROM t WHERE a = :a AND b IN (:b, 'x') AND c LIKE 'ab%' LIMIT :n OFFSET 2");
    assert.deepEqual(compiled.bind({ a: true, b: "y", n: 5, other: "ignored" }), [
      1, "true", "false", "y", "x", "text", "text", "ab", "ac", 5, 2,
    ]);
  });

  it("sql-text-never-depends-on-values-or-page", () => {
    const text = "SELECT * FROM t WHERE a = :a AND b IN :b LIMIT :n";
    const first = compile(text);
    const second = compile(text, { offset: 40, limit: 20, extra: 1 });
    assert.equal(first.sql, second.sql);
    assert.equal(first.sql.includes("secret"), false);
    assert.deepEqual(first.bind({ a: "secret", b: ["x"], n: 3 }).at(-2), 3);
  });
});

describe("views query: page options", () => {
  const limits = (text: string, page: object, params: Record<string, unknown> = {}) => {
    const compiled = compile(text, page);
    const values = compiled.bind(params);
    return { limit: values.at(-2), offset: values.at(-1), pageLimit: compiled.pageLimit(params) };
  };

  it("no-limit-anywhere-means-unlimited", () => {
    assert.deepEqual(limits("SELECT * FROM t", {}), { limit: -1, offset: 0, pageLimit: undefined });
    assert.deepEqual(limits("SELECT * FROM t", { extra: 1 }), { limit: -1, offset: 0, pageLimit: undefined });
  });

  it("the-smaller-of-the-query-limit-and-the-page-size-wins-and-extra-is-added", () => {
    assert.deepEqual(limits("SELECT * FROM t LIMIT 10", { limit: 100, extra: 1 }), { limit: 11, offset: 0, pageLimit: 10 });
    assert.deepEqual(limits("SELECT * FROM t LIMIT :n", { limit: 5, extra: 1 }, { n: 10 }), { limit: 6, offset: 0, pageLimit: 5 });
    assert.deepEqual(limits("SELECT * FROM t", { limit: 5 }), { limit: 5, offset: 0, pageLimit: 5 });
  });

  it("the-page-offset-is-added-to-the-query-offset", () => {
    assert.deepEqual(limits("SELECT * FROM t LIMIT 10 OFFSET :o", { offset: 30 }, { o: 5 }), { limit: 10, offset: 35, pageLimit: 10 });
  });

  it("count-ignores-the-page", () => {
    const compiled = compile("SELECT count(*) FROM t WHERE a = 1", { offset: 5, limit: 1 });
    assert.deepEqual(compiled.bind({}), [1, "integer", "real"]);
    assert.equal(compiled.pageLimit({}), undefined);
  });

  it("bad-page-options-are-a-programming-error", () => {
    assert.throws(() => compile("SELECT * FROM t", { offset: -1 }), RangeError);
    assert.throws(() => compile("SELECT * FROM t", { limit: 1.5 }), RangeError);
  });
});
