import assert from "node:assert/strict";
import { test } from "node:test";
import { requestHash } from "./request-hash.ts";

// Stored idempotency records keep these hashes: a release that hashed otherwise would refuse every
// retry of a request made before it as "another request under the same key".
test("a request's hash is the one earlier releases stored", () => {
  assert.equal(requestHash("withdraw", { amount: 5, transfer: "t1" }), "Ca9EiI2BKlxX57r96wSlLDe3braYlveeUueknrmsemc");
  assert.equal(requestHash("rename", { name: "Zoë 名前" }), "FLS4M_VhcK56k9p1h_r2dhr4erstFwBTCxe-UveYYio");
  // Flat objects are written by a shortcut, nested ones by the general walk: both as before.
  const flat = { b: 1, a: "x", c: null, d: undefined, e: NaN, f: () => 1, g: true, h: -0, i: 1e21, 'k"ey': "é\n" };
  assert.equal(requestHash("h", flat), "OSYE14jXumV23wkRC5ANIXwN6q5z_CYduyLca_4wKXA");
  assert.equal(requestHash("h", { b: { d: 1, c: [1, "x", null, undefined] }, a: true }), "Ag4-2XHxAfapgMvzw3BsQc8UqpgbfayiQ0yjaRmdCyw");
  assert.equal(requestHash("h", { z: new Date(0) }), "MIUxhNo5HsdFJEexDsZ08KzuUKM37PavTTRC44VzD-0");
  assert.equal(requestHash("h", {}), "QJ-kBsHVcbieVgu2hQEK5p4FVKUgvgoMrCz9MsE5px0");
});

test("keys in another order are the same request; another value or handler is not", () => {
  const hash = requestHash("withdraw", { amount: 5, transfer: "t1" });
  assert.equal(requestHash("withdraw", { transfer: "t1", amount: 5 }), hash);
  assert.equal(requestHash("withdraw", { transfer: "t1", amount: 5, note: undefined }), hash);
  assert.notEqual(requestHash("withdraw", { amount: 6, transfer: "t1" }), hash);
  assert.notEqual(requestHash("deposit", { amount: 5, transfer: "t1" }), hash);
});

test("input nested deeper than the call stack is hashed, not a crash", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.match(requestHash("h", deep), /^[\w-]{43}$/);
});
