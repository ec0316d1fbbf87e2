import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { workflow } from "../../define/workflow.ts";
import { MemoryStore } from "../../store/memory/memory-store.ts";
import type { Store } from "../../store/port.ts";
import { Runtime } from "../runtime.ts";
import { isCode, wrapStore } from "../test-support.ts";

const greet = workflow("greet", {
  start: (input: { name: string }) => ({ name: input.name, greeted: false }),
  steps: { hello: async (s, _input, ctx) => ctx.update({ ...s, greeted: true }).end() },
});

/** Greets once `release` is called: until then the workflow runs, and a caller of `?wait=` waits. */
let release = () => {};
const slowGreet = workflow("slow-greet", {
  start: (input: { name: string }) => ({ name: input.name }),
  steps: {
    hello: async (s, _input, ctx) => {
      await new Promise<void>((resolve) => (release = resolve));
      return ctx.update(s).end();
    },
  },
});

/** A runtime of `greet` on a memory store that notes each workflow record it reads. */
async function countingLoads(): Promise<{ rt: Runtime; loads: string[] }> {
  const inner = new MemoryStore();
  const loads: string[] = [];
  const store = wrapStore(inner, {
    loadWorkflow: (name, id) => {
      loads.push(`${name}/${id}`);
      return inner.loadWorkflow(name, id);
    },
  });
  const rt = new Runtime({ store, components: [greet, slowGreet], log: () => {} });
  await rt.start();
  return { rt, loads };
}

/**
 * Two runtimes on one memory store, as two nodes: `runner` runs the workflows; `waiter` only
 * waits for them, nothing cached, reading records through `loadWorkflow` (by default, one that
 * notes the ids it reads in `reads`).
 */
async function runnerAndWaiter(store: MemoryStore, loadWorkflow?: Store["loadWorkflow"]): Promise<{ runner: Runtime; waiter: Runtime; reads: string[] }> {
  const reads: string[] = [];
  const noting: Store["loadWorkflow"] = (name, id) => {
    reads.push(id);
    return store.loadWorkflow(name, id);
  };
  const runner = new Runtime({ store: wrapStore(store, { close: async () => {} }), components: [greet, slowGreet], log: () => {} });
  await runner.start();
  const waiter = new Runtime({ store: wrapStore(store, { loadWorkflow: loadWorkflow ?? noting, close: async () => {} }), components: [greet, slowGreet], log: () => {} });
  await waiter.start();
  return { runner, waiter, reads };
}

/** A start decides on an instance presumed new; its commit, which expects none stored, checks it. */
describe("a workflow start", () => {
  it("of-a-new-instance-reads-no-record-before-it-commits", async () => {
    const { rt, loads } = await countingLoads();
    try {
      const loadsBefore = loads.length;
      assert.deepEqual(await rt.call("greet", "g1", "start", { name: "Ada" }), { status: "started" });
      assert.deepEqual(loads.slice(loadsBefore), [], "started without reading the store first");
      assert.equal((await rt.workflowResult("greet", "g1", 5_000)).status, "ended");
    } finally {
      await rt.stop();
    }
  });

  it("of-a-stored-instance-with-nothing-cached-answers-as-the-first-start-did-and-writes-nothing", async () => {
    const store = new MemoryStore();
    // The first runtime leaves the store open for the second (a restart with its data kept).
    const first = new Runtime({ store: wrapStore(store, { close: async () => {} }), components: [greet], log: () => {} });
    await first.start();
    await first.call("greet", "g1", "start", { name: "Ada" });
    assert.equal((await first.workflowResult("greet", "g1", 5_000)).status, "ended");
    await first.stop();
    const stored = await store.loadWorkflow("greet", "g1");

    const second = new Runtime({ store, components: [greet], log: () => {} });
    await second.start();
    try {
      // The presumed-new commit is a conflict; read again, the start is a repeat of the first...
      assert.deepEqual(await second.call("greet", "g1", "start", { name: "Ada" }), { status: "started" });
      // ...or, with other input, refused.
      await assert.rejects(second.call("greet", "g1", "start", { name: "Bob" }), (error: { code?: string }) => error.code === "already_started");
      assert.deepEqual(await store.loadWorkflow("greet", "g1"), stored, "the ended record is as it was");
      assert.equal((await store.workflowHistory("greet", "g1", 100)).length, stored!.version);
    } finally {
      await second.stop();
    }
  });
});

/** `GET /{workflow}/{id}?wait=`: a result this node committed is answered from memory. */
describe("a workflow's result", () => {
  it("asked-after-the-end-this-node-committed-reads-nothing-from-the-store;-an-unknown-one-still-does", async () => {
    const { rt, loads } = await countingLoads();
    try {
      await rt.call("greet", "g1", "start", { name: "Ada" });
      assert.equal((await rt.workflowResult("greet", "g1", 5_000)).status, "ended");
      loads.length = 0;
      const view = await rt.workflowResult("greet", "g1", 5_000);
      assert.deepEqual(view, { id: "g1", status: "ended", step: "hello", state: { name: "Ada", greeted: true } });
      assert.deepEqual(loads, [], "answered from what this node committed");
      await assert.rejects(rt.workflowResult("greet", "never", 0), isCode("not_found", 404));
      assert.deepEqual(loads, ["greet/never"], "one not cached is read from the store");
    } finally {
      await rt.stop();
    }
  });

  it("awaited-while-it-runs-on-this-node-reads-nothing-from-the-store-and-is-answered-at-its-end", async () => {
    const { rt, loads } = await countingLoads();
    try {
      await rt.call("slow-greet", "s2", "start", { name: "Ada" });
      loads.length = 0;
      const result = rt.workflowResult("slow-greet", "s2", 5_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(loads, [], "still running as this node last committed it");
      release();
      assert.deepEqual(await result, { id: "s2", status: "ended", step: "hello", state: { name: "Ada" } });
      assert.deepEqual(loads, [], "woken by this node's commit of the end");
    } finally {
      release();
      await rt.stop();
    }
  });

  it("awaited-on-another-node-is-read-on-a-signal-that-may-have-ended-it,-not-on-one-that-says-it-did-not", async () => {
    const { rt, loads } = await countingLoads();
    try {
      await rt.call("slow-greet", "s1", "start", { name: "Ada" });
      const result = rt.workflowResult("slow-greet", "s1", 5_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      loads.length = 0;
      // What another node's commit signal says: not over (0), or nothing (a node of an earlier version).
      rt.workflows.remoteChange("slow-greet", "s1", 0);
      rt.workflows.remoteChange("slow-greet", "s1");
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(loads, ["slow-greet/s1"], "read once: on the signal that did not say");
      release();
      assert.equal((await result).status, "ended");
    } finally {
      release();
      await rt.stop();
    }
  });

  it("awaited-on-another-node,-a-signal-during-the-waiter's-own-read-adds-a-read-only-if-that-read-finds-it-not-over", { timeout: 10_000 }, async () => {
    const store = new MemoryStore();
    const reads: string[] = [];
    let readHeld: Promise<void> | undefined;
    // The waiter reads the record, then (while `readHeld`) hands it back only once let go: as a
    // read sent before a commit and answered after its signal.
    const { runner, waiter } = await runnerAndWaiter(store, async (name, id) => {
      reads.push(id);
      const record = await store.loadWorkflow(name, id);
      await readHeld;
      return record;
    });
    try {
      // Its read finds the workflow over: the signal that came meanwhile reads nothing more.
      await runner.call("greet", "g1", "start", { name: "Ada" });
      assert.equal((await runner.workflowResult("greet", "g1", 5_000)).status, "ended");
      let letGo!: () => void;
      readHeld = new Promise((resolve) => (letGo = resolve));
      const ended = waiter.workflowResult("greet", "g1", 5_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      waiter.workflows.remoteChange("greet", "g1", 1);
      letGo();
      assert.equal((await ended).status, "ended");
      assert.deepEqual(reads, ["g1"]);

      // Its read was sent before the end and finds it running: the signal that came meanwhile reads it again.
      await runner.call("slow-greet", "s1", "start", { name: "Ada" });
      readHeld = new Promise((resolve) => (letGo = resolve));
      const awaited = waiter.workflowResult("slow-greet", "s1", 60_000);
      await new Promise((resolve) => setTimeout(resolve, 20));
      release();
      assert.equal((await runner.workflowResult("slow-greet", "s1", 5_000)).status, "ended");
      waiter.workflows.remoteChange("slow-greet", "s1", 1);
      readHeld = undefined;
      letGo();
      assert.equal((await awaited).status, "ended", "answered at once, not after its 60 s");
      assert.deepEqual(reads, ["g1", "s1", "s1"]);
    } finally {
      release();
      await waiter.stop();
      await runner.stop();
    }
  });

  it("awaited-on-another-node,-a-signal-that-brings-the-end-answers-who-waits-and-who-asks-next-without-a-read", { timeout: 10_000 }, async () => {
    const { runner, waiter, reads } = await runnerAndWaiter(new MemoryStore());
    try {
      await runner.call("slow-greet", "s1", "start", { name: "Ada" });
      const awaited = waiter.workflowResult("slow-greet", "s1", 60_000);
      for (let i = 0; i < 100 && reads.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      release();
      const view = await runner.workflowResult("slow-greet", "s1", 5_000);
      assert.equal(view.status, "ended");
      // What the runner's commit signal brings: the end, its state as the store encodes it.
      waiter.workflows.remoteChange("slow-greet", "s1", 1, ["ended", view.step, JSON.stringify(view.state)]);
      assert.deepEqual(await awaited, view, "the waiter is answered with the end the signal brought");
      assert.deepEqual(await waiter.workflowResult("slow-greet", "s1", 5_000), view, "and so is the next caller");
      assert.deepEqual(reads, ["s1"], "read once: before it ended");
    } finally {
      release();
      await waiter.stop();
      await runner.stop();
    }
  });

  it("a-signalled-end-this-version-does-not-understand-is-not-kept:-the-result-is-read", async () => {
    const { runner, waiter, reads } = await runnerAndWaiter(new MemoryStore());
    try {
      await runner.call("greet", "g1", "start", { name: "Ada" });
      const view = await runner.workflowResult("greet", "g1", 5_000);
      // A state that is not JSON, and a status no end has (as a node of another version might send).
      waiter.workflows.remoteChange("greet", "g1", 1, ["ended", "hello", "{not json"]);
      waiter.workflows.remoteChange("greet", "g1", 1, ["running", "hello", null]);
      assert.deepEqual(await waiter.workflowResult("greet", "g1", 5_000), view);
      assert.deepEqual(reads, ["g1"]);
    } finally {
      await waiter.stop();
      await runner.stop();
    }
  });
});
