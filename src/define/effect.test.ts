import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { asEffect, entityEffects, keyValueEffects } from "./effect.ts";

type Ev = { a: number; b: number; c: number };
const fx = entityEffects as unknown as import("./effect.ts").EntityEffects<unknown, Ev>;
const types = (effect: unknown): string[] => asEffect(effect).events.map((e) => `${e.type}${String(e.payload)}`);

describe("effect builders", () => {
  it("are-immutable-so-a-handler-may-branch-from-a-builder-it-keeps", () => {
    const base = fx.emit("a", 1);
    assert.deepEqual(types(base), ["a1"], "read before branching");
    const left = base.emit("b", 2);
    const right = base.emit("c", 3);
    const longer = left.emit("c", 4).emit("a", 5);
    assert.deepEqual(types(base), ["a1"]);
    assert.deepEqual(types(left), ["a1", "b2"]);
    assert.deepEqual(types(right), ["a1", "c3"]);
    assert.deepEqual(types(longer), ["a1", "b2", "c4", "a5"]);
    assert.deepEqual(types(left.reply(true)), ["a1", "b2"], "a reply keeps the events");
    assert.deepEqual(types(right.delete()), ["a1", "c3"]);
    assert.equal(asEffect(right.delete()).deletes, true);
    assert.equal(asEffect(right).deletes, false);
    const cond = (flag: boolean) => (flag ? base.emit("b", 6) : base.emit("c", 7));
    assert.deepEqual([types(cond(true)), types(cond(false))], [["a1", "b6"], ["a1", "c7"]]);
  });

  it("without-events-have-none", () => {
    assert.deepEqual(asEffect(fx.reply(1)).events, []);
    assert.deepEqual(asEffect(fx.error("nope")).events, []);
    assert.deepEqual(asEffect(fx.delete()).events, []);
    assert.deepEqual(asEffect((keyValueEffects as unknown as { update(s: unknown): unknown }).update({ n: 1 })).events, []);
  });

  it("emit-100000-events-in-linear-time", () => {
    // Copying the events on every emit made n emits cost O(n²): 20,000 took seconds, 50,000
    // minutes. Linear, 100,000 take tens of milliseconds; the bound below is a hundred times that,
    // checked as the loop goes so that a quadratic builder fails in seconds, not minutes.
    const n = 100_000;
    const boundMs = 5_000;
    const started = performance.now();
    let f = fx.emit("a", 0);
    for (let i = 1; i < n; i++) {
      f = f.emit("b", i);
      if (i % 1_000 === 0) assert.ok(performance.now() - started < boundMs, `${i} emits took over ${boundMs} ms`);
    }
    const events = asEffect(f.reply(null)).events;
    assert.ok(performance.now() - started < boundMs, `${n} emits took over ${boundMs} ms`);
    assert.equal(events.length, n);
    assert.deepEqual([events[0], events[1], events[n - 1]], [{ type: "a", payload: 0 }, { type: "b", payload: 1 }, { type: "b", payload: n - 1 }]);
    assert.ok(events.every((e, i) => e.payload === i), "in the order emitted");
  });
});
