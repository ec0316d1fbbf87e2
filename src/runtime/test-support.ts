/**
 * Helpers the runtime's tests share (and tests under test/ that drive a runtime): a store with
 * some of its methods replaced, a small counter entity and a log of notes, a matcher for SagaflowError
 * codes, and `until`, the one polling loop of the tests under src/ and test/.
 * Not part of the package: nothing outside the tests imports it.
 */
import assert from "node:assert/strict";
import { inspect } from "node:util";
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

/** What an `until` check returns: `undefined` or `false` for "not yet", anything else is the answer. */
export type Polled<T> = T | undefined | false;

export interface UntilOptions {
  /** The pause between two checks (default 10 ms). */
  everyMs?: number;
  /**
   * Take a check that throws as "not yet" (a process still starting or restarting); the timeout
   * error then names the last error. Off by default: a throw fails the wait at once.
   */
  retryErrors?: boolean;
}

/**
 * Checks `check` every `everyMs` until it returns something other than `undefined` or `false`,
 * and returns that. After `timeoutMs` it fails with an error naming `what` and the last value the
 * check returned (or the last error, with `retryErrors`). `what` may be a function, called only
 * for that error, to add what the test last saw.
 *
 * @example
 * await until("the consumer to catch up", async () => runner.position >= (await store.feedHead()));
 * const parked = await until("a parked message", async () => (await store.listParked("watcher", 10))[0], 15_000, { everyMs: 50 });
 */
export async function until<T>(
  what: string | (() => string),
  check: () => Polled<T> | Promise<Polled<T>>,
  timeoutMs = 10_000,
  { everyMs = 10, retryErrors = false }: UntilOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: unknown;
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (error) {
      if (!retryErrors) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const named = typeof what === "function" ? what() : what;
      const seen = last instanceof Error ? String(last) : inspect(last, { depth: 4, breakLength: Infinity });
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${named} (last seen: ${seen})`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
