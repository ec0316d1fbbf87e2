import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { describe, it } from "node:test";
import type { ServiceFacade } from "../runtime/facades.ts";
import { ViewStreams } from "./view-streams.ts";

/**
 * A streamed view query whose first result waits (`waitForPosition`) and whose client leaves
 * meanwhile: its close has already happened, so it must not become a reader of a group — one
 * that would never be removed, re-running its query on every write to a closed socket.
 */
describe("streamed view queries", () => {
  it("a-client-gone-while-its-first-result-waits-leaves-no-group-behind", async () => {
    let answer: (value: unknown) => void = () => {};
    let watching = 0;
    const service = {
      queryView: () => new Promise((resolve) => (answer = resolve)),
      watchView: () => {
        watching++;
        return () => watching--;
      },
    } as Partial<ServiceFacade> as ServiceFacade;
    const streams = new ViewStreams(service, { intervalMs: 10, maxBehindMs: 1_000 });
    const res = Object.assign(new EventEmitter(), { destroyed: false, writeHead: () => {}, write: () => true }) as unknown as ServerResponse;
    const opened = streams.open(res, "balances", "all", {}, { waitForPosition: 99 });
    // The client leaves while the view catches up.
    (res as unknown as { destroyed: boolean }).destroyed = true;
    res.emit("close");
    answer({ rows: [] });
    await opened;
    assert.equal(streams.groupCount, 0);
    assert.equal(watching, 0, "nothing watches the view for it");
  });

  it("many-unread-streams-of-one-query-share-one-run-per-interval-and-hold-one-frame-each", async () => {
    let runs = 0;
    let version = 0;
    const listeners = new Set<() => void>();
    const service = {
      queryView: async () => {
        runs++;
        return { rows: [{ version }] };
      },
      watchView: (_view: string, listener: () => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    } as Partial<ServiceFacade> as ServiceFacade;
    const intervalMs = 50;
    const streams = new ViewStreams(service, { intervalMs, maxBehindMs: 60_000 });
    // Clients that stopped reading: each socket takes nothing after its first frame.
    const readers = Array.from({ length: 100 }, () => {
      const frames: string[] = [];
      const res = Object.assign(new EventEmitter(), {
        destroyed: false,
        writeHead: () => {},
        write: (frame: Buffer) => {
          frames.push(frame.toString());
          return false;
        },
      }) as unknown as ServerResponse;
      return { res, frames };
    });
    for (const { res } of readers) await streams.open(res, "carts", "open", {}, {});
    assert.equal(streams.groupCount, 1, "one group for one query");
    const runsAtOpen = runs;
    assert.equal(runsAtOpen, 100, "each stream's first result is its own");

    // 1,000 writes over ≈300 ms: the group's query runs at most once per interval.
    const started = performance.now();
    for (let i = 0; i < 10; i++) {
      for (let j = 0; j < 100; j++) {
        version++;
        for (const listener of listeners) listener();
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs * 2));
    const elapsed = performance.now() - started;
    const groupRuns = runs - runsAtOpen;
    assert.ok(groupRuns >= 1, "the writes made the query run");
    assert.ok(groupRuns <= Math.ceil(elapsed / intervalMs) + 1, `${groupRuns} runs in ${Math.round(elapsed)} ms, at most one per ${intervalMs} ms`);
    // Nothing piles up for a reader that takes nothing: still only its first frame.
    for (const { frames } of readers) assert.equal(frames.length, 1);

    // A reader that drains gets the latest result, skipping the ones between.
    const { res, frames } = readers[0]!;
    res.emit("drain");
    assert.equal(frames.length, 2);
    assert.match(frames[1]!, new RegExp(`"version":${version}\\b`));
    for (const reader of readers) reader.res.emit("close");
    assert.equal(streams.groupCount, 0);
    assert.equal(listeners.size, 0);
  });
});
