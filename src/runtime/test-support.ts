/**
 * Helpers the runtime's tests share (and tests under test/ that drive a runtime): a store with
 * some of its methods replaced, a small counter entity and a log of notes, and a matcher for SagaflowError codes.
 * Not part of the package: nothing outside the tests imports it.
 */
import assert from "node:assert/strict";
import { entity } from "../define/entity.ts";
import { SagaflowError } from "../define/errors.ts";
import type { Store } from "../store/port.ts";

/**
 * A store that forwards everything to `inner` except what `over` replaces (whatever the port grows).
 *
 * @example
 * const store = wrapStore(inner, { async commit(writes) { commits++; return inner.commit(writes); } });
 */
export function wrapStore(inner: Store, over: Partial<Store>): Store {
  return new Proxy(inner, {
    get(target, prop) {
      if (Object.hasOwn(over, prop)) return (over as Record<PropertyKey, unknown>)[prop];
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** An event-sourced counter: `add({ by })` replies with the new value, `get` reads it. */
export const counter = entity(
  "counter",
  {
    initial: () => ({ value: 0 }),
    events: { added: (s: { value: number }, e: { by: number }) => ({ value: s.value + e.by }) },
  },
  {
    commands: { add: (_s, c: { by: number }, fx) => fx.emit("added", { by: c.by }).reply((s) => s.value) },
    queries: { get: (s, _: {}, fx) => fx.reply(s.value) },
  },
);

/** A log of strings: `note({ text })` replies with how many there are, `items` lists them, `close` deletes it. */
export const notes = entity(
  "notes",
  {
    initial: () => ({ items: [] as string[] }),
    events: { noted: (s: { items: string[] }, e: { text: string }) => ({ items: [...s.items, e.text] }) },
  },
  {
    commands: {
      note: (_s, c: { text: string }, fx) => fx.emit("noted", { text: c.text }).reply((s) => s.items.length),
      close: (s, _: {}, fx) => fx.emit("noted", { text: "bye" }).delete().reply({ closed: s.items.length + 1 }),
    },
    queries: { items: (s, _: {}, fx) => fx.reply(s.items) },
  },
);

/**
 * For `assert.rejects`: the error is a SagaflowError with `code` (and `status`, if given).
 *
 * @example
 * await assert.rejects(rt.call("wallet", "w1", "balance", {}), isCode("not_found", 404));
 */
export const isCode = (code: string, status?: number) => (error: unknown) => {
  assert.ok(error instanceof SagaflowError, `expected a SagaflowError, got ${String(error)}`);
  assert.equal(error.code, code);
  if (status !== undefined) assert.equal(error.status, status);
  return true;
};
