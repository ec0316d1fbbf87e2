import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { keyValue } from "../define/key-value.ts";
import { MemoryStore } from "../store/memory/memory-store.ts";
import type { Store } from "../store/port.ts";
import { kindOf } from "./kinds.ts";
import { Runtime } from "./runtime.ts";
import { notes, wrapStore } from "./test-support.ts";

const label = keyValue("label", {
  initial: () => "",
  commands: { set: (_s, c: { text: string }, fx) => fx.update(c.text).reply("ok") },
});

/**
 * Kind.refresh: what a node sharing the store does before it decides on its cached copy. It must
 * end where a full load would, and read as little as it can to get there.
 */
describe("bringing a cached instance up to date (Kind.refresh)", () => {
  const inner = new MemoryStore();
  const reads: string[] = [];
  /** The store as refresh sees it: every read noted. */
  const store: Store = wrapStore(inner, {
    loadHistory: (component, id) => (reads.push("history"), inner.loadHistory(component, id)),
    readEvents: (component, id, afterSeq, limit) => (reads.push("events"), inner.readEvents(component, id, afterSeq, limit)),
    loadKv: (component, id) => (reads.push("kv"), inner.loadKv(component, id)),
  });
  // "Another node": it writes to the same store behind the cached copies' backs.
  const other = new Runtime({ store: wrapStore(inner, { close: async () => {} }), components: [notes, label], log: () => {}, snapshotEvery: 5 });
  const notesKind = kindOf(notes, 5);
  const labelKind = kindOf(label, 5);
  after(() => other.stop());

  async function noted(id: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) await other.call("notes", id, "note", { text: `${id}-${i}` });
  }

  it("an-entity-takes-only-the-events-after-its-copy-and-ends-where-a-full-load-does", async () => {
    await other.start();
    await noted("a", 3);
    const cached = await notesKind.load(store, "a");
    reads.length = 0;
    assert.equal(await notesKind.refresh(store, "a", cached), cached, "nothing new: the same copy");
    await noted("a", 4); // crosses a snapshot (at 5): the events are all still there
    const refreshed = await notesKind.refresh(store, "a", cached);
    assert.deepEqual(reads, ["events", "events"], "one read each time, no history");
    assert.deepEqual(refreshed, await notesKind.load(store, "a"));
    assert.equal(refreshed.version, 7);
    assert.deepEqual(cached.state, { items: ["a-0", "a-1", "a-2"] }, "the old copy is left as it was");
  });

  it("a-deletion-among-the-newer-events-leaves-the-copy-deleted", async () => {
    await noted("d", 2);
    const cached = await notesKind.load(store, "d");
    await other.call("notes", "d", "close", {});
    const refreshed = await notesKind.refresh(store, "d", cached);
    assert.equal(refreshed.deleted, true);
    assert.deepEqual(refreshed, await notesKind.load(store, "d"));
  });

  it("a-copy-far-behind-is-loaded-again-from-its-snapshot", async () => {
    await noted("f", 1);
    const cached = await notesKind.load(store, "f");
    await noted("f", 70);
    reads.length = 0;
    const refreshed = await notesKind.refresh(store, "f", cached);
    assert.deepEqual(reads, ["events", "history"]);
    assert.equal(refreshed.version, 71);
    assert.deepEqual(refreshed, await notesKind.load(store, "f"));
  });

  it("newer-events-with-a-gap-before-them-are-not-folded-onto-the-copy", async () => {
    await noted("g", 1);
    const cached = await notesKind.load(store, "g");
    await noted("g", 3);
    // As if the event right after the copy were gone (pruned): folding the rest would skip it.
    const gapped = wrapStore(store, {
      readEvents: async (component, id, afterSeq, limit) => (await store.readEvents(component, id, afterSeq, limit)).slice(1),
    });
    const refreshed = await notesKind.refresh(gapped, "g", cached);
    assert.deepEqual(refreshed.state, { items: ["g-0", "g-0", "g-1", "g-2"] }, "all four, as a full load has them");
  });

  it("a-key-value-entity-takes-the-newer-record-from-its-one-read", async () => {
    await other.call("label", "k", "set", { text: "first" });
    const cached = await labelKind.load(store, "k");
    reads.length = 0;
    assert.equal(await labelKind.refresh(store, "k", cached), cached);
    await other.call("label", "k", "set", { text: "second" });
    const refreshed = await labelKind.refresh(store, "k", cached);
    assert.deepEqual(reads, ["kv", "kv"], "one read each time");
    assert.deepEqual(refreshed, { state: "second", deleted: false, version: 2 });
  });
});
