/**
 * What a cached copy does with another node's signalled change (Kind.heard): includes it, applies
 * its events when they follow the copy, or cannot tell (and the copy is read again).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { customer } from "../../examples/bank/customer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { deletedEventType, kindOf, type Loaded } from "./kinds.ts";

describe("kinds: a change another node signalled", () => {
  const wallets = kindOf(wallet, 100);
  const copy: Loaded = { state: { balance: 100, open: true }, deleted: false, version: 5 };

  it("an-entity-copy-applies-events-that-follow-it-and-includes-a-change-it-is-at-or-past", () => {
    const deposit = (amount: number): [string, string] => ["deposited", JSON.stringify({ amount })];
    assert.deepEqual(wallets.heard!(copy, { version: 7, events: [deposit(10), ["withdrawn", '{"amount":30}']] }), { state: { balance: 80, open: true }, deleted: false, version: 7 });
    assert.equal(wallets.heard!(copy, { version: 5, events: [deposit(10)] }), "current");
    assert.equal(wallets.heard!(copy, { version: 3 }), "current");
  });

  it("an-entity-copy-cannot-tell-with-a-gap-without-events-or-with-an-event-it-cannot-apply", () => {
    assert.equal(wallets.heard!(copy, { version: 8, events: [["deposited", '{"amount":1}']] }), undefined, "events 6 and 7 are missing");
    assert.equal(wallets.heard!(copy, { version: 6 }), undefined, "too large to send");
    assert.equal(wallets.heard!(copy, { version: 6, events: [["renamed", '{"to":"x"}']] }), undefined, "a type of a newer version");
    assert.equal(wallets.heard!(copy, { version: 6, events: [["deposited", "not json"]] }), undefined);
  });

  it("a-deletion-marker-leaves-the-copy-deleted", () => {
    assert.deepEqual(wallets.heard!(copy, { version: 6, events: [[deletedEventType, null]] }), { ...copy, deleted: true, version: 6 });
  });

  it("a-key-value-copy-takes-the-new-state-of-any-later-version-and-cannot-tell-without-it", () => {
    const customers = kindOf(customer, 100);
    const kv: Loaded = { state: { name: "Ann" }, deleted: false, version: 2 };
    assert.equal(customers.heard!(kv, { version: 2, events: [["$state", '{"name":"Bob"}']] }), "current");
    assert.deepEqual(customers.heard!(kv, { version: 5, events: [["$state", '{"name":"Bob"}']] }), { state: { name: "Bob" }, deleted: false, version: 5 }, "a whole state: no gap to mind");
    assert.deepEqual(customers.heard!(kv, { version: 3, events: [["$deleted", null]] }), { state: customer.initial(), deleted: true, version: 3 });
    assert.equal(customers.heard!(kv, { version: 3 }), undefined, "too large to send");
    assert.equal(customers.heard!(kv, { version: 3, events: [["renamed", "{}"]] }), undefined);
    assert.equal(customers.heard!(kv, { version: 3, events: [["$state", "not json"]] }), undefined);
    assert.equal(customers.heard!(kv, { version: 3, events: [["$state", "{}"], ["$state", "{}"]] }), undefined);
  });
});
