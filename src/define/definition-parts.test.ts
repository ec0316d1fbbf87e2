/**
 * A definition written in plain JavaScript (no type checks) that leaves a part out gets an error
 * that says which part, not a TypeError from deep inside.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { entity } from "./entity.ts";
import { keyValue } from "./key-value.ts";

// Called as JavaScript would: the type checker is not there to catch it.
const loose = <F extends (...args: never[]) => unknown>(f: F) => f as unknown as (...args: unknown[]) => unknown;

describe("definition parts", () => {
  it("an-entity-missing-its-handlers-argument-names-it", () => {
    const model = { initial: () => ({ n: 0 }), events: { added: (s: { n: number }) => s } };
    assert.throws(() => loose(entity)("counter", { ...model, commands: {} }), {
      name: "TypeError",
      message: 'component "counter": the third argument ({ commands, queries, expose }) must be an object, got undefined',
    });
    assert.throws(() => loose(entity)("counter", model, { queries: {} }), { message: 'component "counter": its commands must be an object, got undefined' });
    assert.throws(() => loose(entity)("counter", { initial: () => 0 }, { commands: {} }), { message: 'component "counter": its events must be an object, got undefined' });
    assert.throws(() => loose(entity)("counter", null, { commands: {} }), { message: 'component "counter": the second argument ({ initial, events }) must be an object, got null' });
  });

  it("a-key-value-entity-missing-its-commands-names-them", () => {
    assert.throws(() => loose(keyValue)("profile", { initial: () => null, commands: [] }), { message: 'component "profile": its commands must be an object, got an array' });
    assert.throws(() => loose(keyValue)("profile"), { message: 'component "profile": the second argument ({ initial, commands, queries, expose }) must be an object, got undefined' });
  });
});
