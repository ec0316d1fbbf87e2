import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Broker } from "../../broker/port.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import { streamEpoch } from "./stream-epoch.ts";

/** A stream's epoch moves only when the stream was made again: later, and without the consumer. */

describe("a topic consumer's stream epoch", () => {
  it("counts-streams-made-again-not-restarts-deleted-consumers-or-a-creation-time-reset-under-a-live-consumer", async () => {
    const store = new MemoryStore();
    await store.migrate();
    let making = { created: 100, consumerExists: false };
    const broker = { streamMaking: async () => making } as unknown as Broker;
    const epoch = () => streamEpoch(broker, store, "payments", "PAY", "sagaflow-payments", undefined);

    assert.equal(await epoch(), 0, "the first stream it reads");
    making = { created: 100, consumerExists: true };
    assert.equal(await epoch(), 0, "a restart");
    making = { created: 100, consumerExists: false };
    assert.equal(await epoch(), 0, "its durable consumer deleted, the stream kept");
    making = { created: 200, consumerExists: true };
    assert.equal(await epoch(), 0, "a creation time reset while the consumer is there: the same stream");
    making = { created: 300, consumerExists: false };
    assert.equal(await epoch(), 1, "deleted and made again");
    assert.equal(await epoch(), 1, "asked again before subscribing (a crash): counted once");
    making = { created: 300, consumerExists: true };
    assert.equal(await epoch(), 1);
    making = { created: 400, consumerExists: false };
    assert.equal(await epoch(), 2);
  });
});
