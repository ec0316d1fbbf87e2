import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { MemoryStore } from "../store/memory/memory-store.ts";
import type { Store } from "../store/port.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { counter, wrapStore } from "./test-support.ts";

describe("runtime: single writer per instance", { timeout: 10_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-single-writer-"));
  const runtimes: Runtime[] = [];
  // Held loads are let go before stopping, so that a failed test cannot leave stop() waiting.
  const gates: Array<() => void> = [];
  after(async () => {
    for (const release of gates) release();
    for (const rt of runtimes) await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function started(store: Store): Promise<Runtime> {
    const rt = new Runtime({ store, components: [counter], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    return rt;
  }

  it("1000-concurrent-increments-end-at-1000-with-events-seq-1-to-1000", async () => {
    const store = new SqliteStore({ path: join(dir, "increments.db") });
    const rt = await started(store);
    const replies = await Promise.all(
      Array.from({ length: 1000 }, () => rt.call("counter", "c1", "add", { by: 1 })),
    );
    assert.equal(await rt.call("counter", "c1", "get", {}), 1000);
    const events = await store.readEvents("counter", "c1", 0, 5000);
    assert.equal(events.length, 1000);
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    assert.ok(events.every((e) => e.type === "added"));
    // Positions (the store-wide order) increase with seq: the log was written in one order.
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.position > events[i - 1]!.position);
    // Each reply is the counter after that command: arrival order is the order of handling.
    assert.deepEqual(
      replies,
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
  });

  it("commands-to-one-instance-are-answered-in-arrival-order-with-distinct-inputs", async () => {
    const rt = await started(new MemoryStore());
    // Powers of two make every prefix sum unique, so each reply says exactly which commands ran before it.
    const bys = Array.from({ length: 20 }, (_, i) => 2 ** i);
    const replies = await Promise.all(bys.map((by) => rt.call("counter", "c2", "add", { by })));
    assert.deepEqual(
      replies,
      bys.map((_, i) => 2 ** (i + 1) - 1),
    );
  });

  it("a-slow-load-of-one-instance-does-not-block-another", async () => {
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    gates.push(releaseSlow);
    let slowLoadStarted = false;
    const inner = new SqliteStore({ path: join(dir, "parallel.db") });
    const store = wrapStore(inner, {
      async loadHistory(component, id) {
        if (id === "slow") {
          slowLoadStarted = true;
          await slowGate;
        }
        return inner.loadHistory(component, id);
      },
    });
    const rt = await started(store);

    let slowDone = false;
    const slow = rt.call("counter", "slow", "add", { by: 7 }).then((v) => {
      slowDone = true;
      return v;
    });
    const fast = await rt.call("counter", "fast", "add", { by: 3 });
    assert.equal(fast, 3);
    assert.equal(slowLoadStarted, true, "the slow instance was loading when fast completed");
    assert.equal(slowDone, false, "the slow instance is still waiting for its load");
    // A second command on the fast instance also goes through.
    assert.equal(await rt.call("counter", "fast", "add", { by: 1 }), 4);
    assert.equal(slowDone, false);

    releaseSlow();
    assert.equal(await slow, 7);
    assert.equal(await rt.call("counter", "slow", "get", {}), 7);
  });

  it("a-command-queued-behind-a-slow-load-of-the-same-instance-waits-for-it", async () => {
    let releaseSlow!: () => void;
    const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
    gates.push(releaseSlow);
    const inner = new MemoryStore();
    const store = wrapStore(inner, {
      async loadHistory(component, id) {
        await slowGate;
        return inner.loadHistory(component, id);
      },
    });
    const rt = await started(store);
    const order: number[] = [];
    const first = rt.call("counter", "same", "add", { by: 1 }).then((v) => order.push(v as number));
    const second = rt.call("counter", "same", "add", { by: 10 }).then((v) => order.push(v as number));
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, [], "nothing answered while the instance is still loading");
    releaseSlow();
    await Promise.all([first, second]);
    assert.deepEqual(order, [1, 11]);
  });
});
