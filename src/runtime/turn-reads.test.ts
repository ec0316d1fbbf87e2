import assert from "node:assert/strict";
import { test } from "node:test";
import { turnReads } from "./turn-reads.ts";

test("reads that are values come back as they are, not as a promise", () => {
  assert.deepEqual(turnReads(1, "two", null), [1, "two", null]);
});

test("one read in flight, or several, come back as a promise of all three, each in its place", async () => {
  for (const reads of [turnReads(Promise.resolve(1), 2, 3), turnReads(1, Promise.resolve(2), 3), turnReads(1, 2, Promise.resolve(3)), turnReads(Promise.resolve(1), 2, Promise.resolve(3))]) {
    assert.ok(reads instanceof Promise);
    assert.deepEqual(await reads, [1, 2, 3]);
  }
});

test("two reads in flight are awaited together: one failing while the other is pending is no unhandled rejection", async () => {
  const unhandled: unknown[] = [];
  const listener = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", listener);
  try {
    const pending = new Promise((resolve) => setTimeout(resolve, 30, "state"));
    const failed = Promise.reject(new Error("store down"));
    await assert.rejects(Promise.resolve(turnReads(pending, failed, 0)), /store down/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", listener);
  }
});

test("a failed read fails the turn's reads, whichever it is", async () => {
  await assert.rejects(Promise.resolve(turnReads(1, Promise.reject(new Error("store down")), 3)), /store down/);
  await assert.rejects(Promise.resolve(turnReads(Promise.reject(new Error("first")), Promise.resolve(2), 3)), /first/);
  await assert.rejects(Promise.resolve(turnReads(1, 2, Promise.reject(new Error("third")))), /third/);
});
