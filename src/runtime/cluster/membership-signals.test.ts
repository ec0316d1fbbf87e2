/**
 * What Membership does with other nodes' signals, on a cluster store that only listens: a signal
 * the node fails to handle is treated as missed (look again, as after a reconnect), and the
 * failure never reaches the store's listening connection.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ClusterSignal, ClusterStore } from "../../store/cluster-port.ts";
import { Membership } from "./membership.ts";

/** A cluster of one node that records the listener, so a test can deliver signals itself. */
function listeningCluster(): { cluster: ClusterStore; deliver: (signal: ClusterSignal) => void } {
  let onSignal: ((signal: ClusterSignal) => void) | undefined;
  const cluster: ClusterStore = {
    heartbeat: async () => Date.now(),
    forgetNodes: async () => {},
    listNodes: async () => [],
    listLeases: async () => [],
    acquireLeases: async (_node, names) => new Map(names.map((name) => [name, 1])),
    releaseLeases: async () => {},
    listen: async (_node, signal) => {
      onSignal = signal;
      return async () => {};
    },
  };
  return { cluster, deliver: (signal) => onSignal!(signal) };
}

describe("membership signals", () => {
  it("a-signal-the-node-fails-to-handle-is-treated-as-missed-and-nothing-throws-into-the-listener", async () => {
    const { cluster, deliver } = listeningCluster();
    const lines: string[] = [];
    const heard: ClusterSignal[] = [];
    let lookedAgain = 0;
    const member = new Membership({
      cluster,
      log: (line) => lines.push(line),
      onSignal: (signal) => {
        heard.push(signal);
        if (signal.view === "broken") throw new Error("the handler broke");
      },
      onReconnect: () => lookedAgain++,
    });
    await member.start();
    try {
      deliver({ node: "other-1", position: 7 });
      assert.equal(lookedAgain, 0, "a signal handled is not a reason to look again");
      assert.doesNotThrow(() => deliver({ node: "other-1", view: "broken" }));
      assert.equal(lookedAgain, 1);
      assert.equal(heard.length, 2);
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /internal error in signal from node other-1 \[[0-9a-f-]{36}\]: Error: the handler broke/);
    } finally {
      await member.stop();
    }
  });

  it("when-looking-again-fails-too-both-are-logged-and-still-nothing-throws", async () => {
    const { cluster, deliver } = listeningCluster();
    const lines: string[] = [];
    const member = new Membership({
      cluster,
      log: (line) => lines.push(line),
      onSignal: () => {
        throw new Error("signal handler broke");
      },
      onReconnect: () => {
        throw new Error("reconnect handler broke");
      },
    });
    await member.start();
    try {
      assert.doesNotThrow(() => deliver({ node: "other-2" }));
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /signal handler broke/);
      assert.match(lines[1]!, /looking again after a signal not handled .*reconnect handler broke/);
    } finally {
      await member.stop();
    }
  });
});
