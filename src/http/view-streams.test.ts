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
});
