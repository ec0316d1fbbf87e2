/**
 * What a commit's signal says of the entities it changed (`signalledInstance`), and what a node
 * keeps of a received entry (`decodeSignal`): no database needed.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeSignal, encodeSignal, isOwnSignal, signalledInstance } from "./postgres-cluster.ts";
import type { SignalledInstance } from "../cluster-port.ts";

const append = (...payloads: string[]) => payloads.map((payload) => ({ type: "deposited", payload }));

describe("a signal's entities", () => {
  it("an-entity's-entry-has-the-version-its-write-leaves-and-the-events-appended", () => {
    const entry = signalledInstance(undefined, "wallet", "w1", { events: { expectedSeq: 4, append: append('{"amount":1}', '{"amount":2}') } });
    assert.deepEqual(entry, ["wallet", "w1", 6, [["deposited", '{"amount":1}'], ["deposited", '{"amount":2}']]]);
  });

  it("a-second-write-of-the-entity-in-the-commit-adds-its-events-when-it-follows-the-first", () => {
    const first = signalledInstance(undefined, "wallet", "w1", { events: { expectedSeq: 4, append: append("1") } });
    assert.deepEqual(signalledInstance(first, "wallet", "w1", { events: { expectedSeq: 5, append: append("2") } }), ["wallet", "w1", 6, [["deposited", "1"], ["deposited", "2"]]]);
    // Not following (it cannot happen in one commit, but the entry must not claim what it does not know).
    assert.deepEqual(signalledInstance(first, "wallet", "w1", { events: { expectedSeq: 7, append: append("2") } }), ["wallet", "w1", 8]);
  });

  it("a-key-value-entity's-entry-has-its-new-version-and-state-as-its-feed-row-has-it", () => {
    assert.deepEqual(signalledInstance(undefined, "customer", "c1", { kv: { expectedVersion: 2, state: '{"name":"Ann"}', deleted: false } }), ["customer", "c1", 3, [["$state", '{"name":"Ann"}']]]);
    assert.deepEqual(signalledInstance(undefined, "customer", "c1", { kv: { expectedVersion: 3, state: '{"name":"Ann"}', deleted: true } }), ["customer", "c1", 4, [["$deleted", null]]]);
  });

  it("large-events-and-states-are-not-sent-only-the-version", () => {
    const large = signalledInstance(undefined, "wallet", "w1", { events: { expectedSeq: 0, append: append(JSON.stringify("x".repeat(1_100))) } });
    assert.deepEqual(large, ["wallet", "w1", 1]);
    // Once too large, the later writes of the same commit add nothing either.
    assert.deepEqual(signalledInstance(large, "wallet", "w1", { events: { expectedSeq: 1, append: append("1") } }), ["wallet", "w1", 2]);
    assert.deepEqual(signalledInstance(undefined, "customer", "c1", { kv: { expectedVersion: 2, state: JSON.stringify("x".repeat(1_100)), deleted: false } }), ["customer", "c1", 3]);
  });

  it("a-received-entry-keeps-what-is-well-formed-and-drops-what-is-not", () => {
    const wire = JSON.stringify({
      n: "other",
      p: 9,
      e: [
        ["wallet", "ok", 3, [["deposited", '{"amount":1}'], ["deleted", null]]],
        ["wallet", "old-node"],
        ["wallet", "bad-version", "3", [["deposited", "1"]]],
        ["wallet", "negative", -1],
        ["wallet", "bad-events", 3, [["deposited", 1]]],
        ["wallet", "not-a-list", 3, "events"],
        [1, "bad-component"],
        "not an entry",
      ],
    });
    assert.deepEqual(decodeSignal(wire)?.instances, [
      ["wallet", "ok", 3, [["deposited", '{"amount":1}'], ["deleted", null]]],
      ["wallet", "old-node"],
      ["wallet", "bad-version"],
      ["wallet", "negative"],
      ["wallet", "bad-events", 3],
      ["wallet", "not-a-list", 3],
    ]);
    const [part] = encodeSignal({ node: "n", instances: [["wallet", "w", 2, [["deposited", "1"]]]] });
    assert.deepEqual(decodeSignal(part!)?.instances, [["wallet", "w", 2, [["deposited", "1"]]]]);
  });

  it("a node tells its own signals without parsing them, every part of a long one, and no other node's", () => {
    const instances: SignalledInstance[] = Array.from({ length: 400 }, (_, i) => ["wallet", `w-${i}-${"x".repeat(40)}`, 1]);
    for (const node of ["n0", 'quo"te', "ünï"]) {
      const parts = encodeSignal({ node, position: 12, workflows: [["transfer", "t1"]], instances });
      assert.ok(parts.length > 1);
      for (const part of parts) {
        assert.equal(decodeSignal(part)?.node, node);
        assert.equal(isOwnSignal(part, node), true);
        for (const other of [`${node}x`, node.slice(0, -1), "n"]) assert.equal(isOwnSignal(part, other), false, `${node} is not ${other}`);
      }
    }
  });
});
