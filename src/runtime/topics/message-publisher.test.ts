import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Broker } from "../../broker/port.ts";
import { MessagePublisher, subjectMatches } from "./message-publisher.ts";

describe("ctx.publish", () => {
  it("subjects-match-stream-patterns-token-by-token-with-star-and-greater-than", () => {
    assert.ok(subjectMatches("orders.created", "orders.created"));
    assert.ok(subjectMatches("orders.a", "orders.*"));
    assert.ok(!subjectMatches("orders.a.b", "orders.*"));
    assert.ok(subjectMatches("orders.a.b", "orders.>"));
    assert.ok(!subjectMatches("orders", "orders.>"));
    assert.ok(subjectMatches("x.orders.y", "*.orders.>"));
    assert.ok(!subjectMatches("ordersx.a", "orders.*"));
    assert.ok(!subjectMatches("orders", "orders.a"));
  });

  it("refuses-a-stream-without-subjects-at-start-and-a-message-that-is-not-json", async () => {
    const broker: Broker = {
      url: "test://",
      ensureStream: async () => {},
      streamMaking: () => Promise.reject(new Error("not used")),
      subscribe: () => Promise.reject(new Error("not used")),
      publish: async () => ({ seq: 1, duplicate: false }),
      close: async () => {},
    };
    assert.throws(() => new MessagePublisher("c", { name: "S", subjects: [] }, broker, () => {}), /publishTo needs a stream name and at least one subject/);
    const publish = new MessagePublisher("c", { name: "S", subjects: ["s.>"] }, broker, () => {}).forMessage("7", () => true);
    await assert.rejects(publish("s.a", undefined), /must be JSON/);
    await assert.rejects(publish("t.a", {}), /subject "t.a" is not in stream S/);
    await publish("s.a", { ok: true });
  });
});
