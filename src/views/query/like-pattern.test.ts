import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { compileSqlite, parseQuery } from "./index.ts";
import { likePrefix, prefixUpperBound } from "./like-pattern.ts";
import { openTable } from "./test-fixture.ts";

describe("views query: LIKE prefixes", () => {
  it("patterns", () => {
    assert.deepEqual(likePrefix("abc%"), { prefix: "abc" });
    assert.deepEqual(likePrefix("%"), { prefix: "" });
    assert.deepEqual(likePrefix("a\\%b\\_c\\\\%"), { prefix: "a%b_c\\" });
    assert.ok("error" in likePrefix("a%b%"));
    assert.ok("error" in likePrefix("a\\"));
  });

  it("upper-bounds-step-the-last-code-point", () => {
    assert.equal(prefixUpperBound("ab"), "ac");
    assert.equal(prefixUpperBound("a\u{d7ff}"), "a\u{e000}");
    assert.equal(prefixUpperBound("a😀"), "a😁");
    assert.equal(prefixUpperBound("a\u{10ffff}"), "b");
    assert.equal(prefixUpperBound("\u{10ffff}"), undefined);
    assert.equal(prefixUpperBound(""), undefined);
  });

  const names = ["a", "ab", "ab\u{10ffff}", "ab\u{10ffff}z", "abc", "ac", "aB", "a😀", "a😀x", "a😁", "\u{10ffff}", "\u{10ffff}\u{10ffff}", "é", "éa", "f", ""];
  const db = openTable(names.map((name, i) => ({ id: `r${String(i).padStart(2, "0")}`, row: { name } })));
  after(() => db.close());

  for (const prefix of ["", "a", "ab", "ab\u{10ffff}", "a😀", "\u{10ffff}", "é", "A"]) {
    it(`prefix-${JSON.stringify(prefix)}-matches-exactly-the-strings-starting-with-it`, () => {
      const compiled = compileSqlite(parseQuery("SELECT name FROM t WHERE name LIKE :p"), "t");
      const got = (db.prepare(compiled.sql).all(...compiled.bind({ p: `${prefix}%` })) as { row: string }[])
        .map((r) => (JSON.parse(r.row) as { name: string }).name);
      assert.deepEqual(got, names.filter((n) => n.startsWith(prefix)));
    });
  }
});
