import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { indexesFor, parseQuery } from "./index.ts";

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
});
