import assert from "node:assert/strict";
import { test } from "node:test";
import { awaitReads } from "./turn-reads.ts";

test("reads that are values come back as they are, after a later microtask", async () => {
  const order: string[] = [];
  const reads = awaitReads(1, "two", null).then((values) => order.push(`reads ${JSON.stringify(values)}`));
  order.push("caller goes on");
  await reads;
  assert.deepEqual(order, ["caller goes on", 'reads [1,"two",null]']);
});

test("one read in flight, or several, are awaited, each in its place", async () => {
  assert.deepEqual(await awaitReads(1, Promise.resolve(2), 3), [1, 2, 3]);
  assert.deepEqual(await awaitReads(Promise.resolve(1), 2, Promise.resolve(3)), [1, 2, 3]);
});

test("two reads in flight are awaited together: one failing while the other is pending is no unhandled rejection", async () => {
  const unhandled: unknown[] = [];
  const listener = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", listener);
  try {
    const pending = new Promise((resolve) => setTimeout(resolve, 30, "state"));
    const failed = Promise.reject(new Error("store down"));
    await assert.rejects(awaitReads(pending, failed, 0), /store down/);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", listener);
  }
});

test("a failed read fails the turn's reads, whichever it is", async () => {
  await assert.rejects(awaitReads(1, Promise.reject(new Error("store down")), 3), /store down/);
  await assert.rejects(awaitReads(Promise.reject(new Error("first")), Promise.resolve(2), 3), /first/);
});
