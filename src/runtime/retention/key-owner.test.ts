import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ownerOfKey, ownerOfRecord } from "./key-owner.ts";

describe("idempotency key owners", () => {
  it("workflow-consumer-and-timer-keys-name-their-source-even-with-colons-in-ids-and-timer-names", () => {
    assert.deepEqual(ownerOfKey("wf:pay:order:7:3:0"), { kind: "workflow", name: "pay", id: "order:7" });
    assert.deepEqual(ownerOfKey("wf:pay:p1:12:0"), { kind: "workflow", name: "pay", id: "p1" });
    assert.deepEqual(ownerOfKey("consumer:audit:42:1"), { kind: "consumer", name: "audit", position: 42 });
    assert.deepEqual(ownerOfKey("timer:remind:a:b:1767225600000:3:0"), { kind: "timer", name: "remind:a:b", generation: 3 });
    assert.deepEqual(ownerOfKey("topic:deposits:ref:r-1:0"), { kind: "topic", name: "deposits", idempotencyKey: "ref:r-1" });
    assert.deepEqual(ownerOfKey("topic:lines:42:1"), { kind: "topic", name: "lines", idempotencyKey: "42" });
  });

  it("a-refusal-decided-again-is-recorded-under-a-successor-key-with-the-same-owner", () => {
    assert.deepEqual(ownerOfKey("wf:pay:order:7:3:0~1"), { kind: "workflow", name: "pay", id: "order:7" });
    assert.deepEqual(ownerOfKey("consumer:audit:42:1~12"), { kind: "consumer", name: "audit", position: 42 });
    assert.deepEqual(ownerOfKey("timer:remind:a:1767225600000:3:0~2"), { kind: "timer", name: "remind:a", generation: 3 });
    assert.deepEqual(ownerOfKey("topic:deposits:ref~1:0~1"), { kind: "topic", name: "deposits", idempotencyKey: "ref~1" });
    assert.deepEqual(ownerOfKey("k1~1"), { kind: "client" });
  });

  it("anything-else-is-a-client-key", () => {
    for (const key of ["k1", "wf:pay", "wf:pay:p1:x:0", "consumer:audit:x:0", "consumer:audit:1:2:3", "timer:t:1", "topic:lines:0", "topic:lines:7:x", ""]) {
      assert.deepEqual(ownerOfKey(key), { kind: "client" }, key);
    }
  });

  it("ctx-run-results-belong-to-their-workflow-whatever-the-name-of-the-run", () => {
    assert.deepEqual(ownerOfRecord({ component: "$journal", id: "pay/order:7", key: "wf:pay:order:7:3:run:charge:card:0" }), { kind: "workflow", name: "pay", id: "order:7" });
    assert.deepEqual(ownerOfRecord({ component: "$journal", id: "pay/a/b", key: "wf:pay:a/b:1:run:x:0" }), { kind: "workflow", name: "pay", id: "a/b" });
    assert.deepEqual(ownerOfRecord({ component: "wallet", id: "w1", key: "wf:pay:p1:12:0" }), { kind: "workflow", name: "pay", id: "p1" });
    assert.deepEqual(ownerOfRecord({ component: "wallet", id: "w1", key: "k1" }), { kind: "client" });
  });
});
