import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { likePrefix, prefixUpperBound } from "./like-pattern.ts";

// Matching rows by these prefixes, on each database: query-semantics.ts.
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
});
