import assert from "node:assert/strict";
import { test } from "node:test";
import { attemptOutcome } from "./attempt-outcome.ts";

const never = () => {};

test("the run's result, the run started in a later microtask, not synchronously", async () => {
  const order: string[] = [];
  const outcome = attemptOutcome("in", (input) => (order.push(`run ${input}`), "out"), never);
  order.push("caller goes on");
  assert.equal(await outcome, "out");
  assert.deepEqual(order, ["caller goes on", "run in"]);
});

test("an input still being read is run once settled; a run's promise is awaited", async () => {
  assert.equal(await attemptOutcome(Promise.resolve(2), async (n) => n * 21, never), 42);
});

test("a run that throws, or rejects, or an input that fails, rejects the outcome", async () => {
  await assert.rejects(attemptOutcome(1, () => { throw new Error("sync"); }, never), /sync/);
  await assert.rejects(attemptOutcome(1, async () => { throw new Error("async"); }, never), /async/);
  await assert.rejects(attemptOutcome(Promise.reject(new Error("read")), () => "never run", never), /read/);
});

test("a rejection armed to come first (a deadline, a stop) settles it, whatever the run does later", async () => {
  let finish = (_: string) => {};
  const running = new Promise<string>((resolve) => (finish = resolve));
  let stop = (_: unknown) => {};
  const outcome = attemptOutcome(0, () => running, (reject) => (stop = reject));
  setTimeout(() => stop(new Error("step_timeout")), 5);
  await assert.rejects(outcome, /step_timeout/);
  finish("late");
  await running;
});

test("the rejection is armed before the run starts: a stop at once wins over a run that would answer", async () => {
  const outcome = attemptOutcome(0, () => "answered", (reject) => reject(new Error("stopped")));
  await assert.rejects(outcome, /stopped/);
});
