import type { Decision } from "./decide.ts";

/**
 * An instance's state as handlers get it: frozen, all the way down. A handler that changes it in
 * place — rather than return a new state — fails at once with a clear error, instead of changing
 * the cached state without storing it (lost at the next restart), or, for a key-value entity's
 * `fx.update(s)` of the same object, having its write taken for no change and never stored.
 * Parts already frozen (shared with the previous state) are not walked again.
 *
 * The same walk refuses what JSON cannot keep as it is (NotJsonStateError): a BigInt, or an
 * object other than a plain one or an array — a Date, Map, Set, class instance, or the Promise of
 * an `async` handler. Such a state would work until the instance is next loaded, then be something
 * else (a string, `{}`) or break its entity for good.
 */
export function freezeState<T>(value: T): T {
  if (typeof value === "bigint") throw new NotJsonStateError("a BigInt");
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  // On the commit path: no array of the values is made, and primitives are not called on.
  if (Array.isArray(value)) {
    Object.freeze(value);
    for (let i = 0; i < value.length; i++) {
      const part: unknown = value[i];
      if ((typeof part === "object" && part !== null) || typeof part === "bigint") freezeState(part);
    }
  } else {
    const prototype: unknown = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) throw new NotJsonStateError(describeObject(value));
    Object.freeze(value);
    for (const key in value) {
      const part: unknown = value[key];
      if ((typeof part === "object" && part !== null) || typeof part === "bigint") freezeState(part);
    }
  }
  return value;
}

/** A state holding what JSON cannot keep as it is; `what` says what, e.g. "a Set". */
export class NotJsonStateError extends TypeError {
  constructor(readonly what: string) {
    super(`a state holds ${what}, which JSON cannot keep`);
  }
}

function describeObject(value: object): string {
  if (value instanceof Promise) return "a Promise (is a handler async? handlers are synchronous)";
  const name = (value.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === "string" && name !== "" ? `a ${name}` : "an object that is not a plain object";
}

/** A handler's TypeError from changing a frozen state, said in the user's terms; other errors as they are. */
function explainFrozenChange(error: unknown, where: string): unknown {
  if (error instanceof NotJsonStateError) {
    return new TypeError(
      `${where} made a state that holds ${error.what}: states are JSON (plain objects, arrays, strings, numbers, booleans, null), ` +
        `and such a value would not be the same once the state is stored and read back; nothing of it was kept`,
      { cause: error },
    );
  }
  if (!(error instanceof TypeError) || !/read.only|not extensible|Cannot (add|delete|assign)|object is frozen/i.test(error.message)) return error;
  return new TypeError(
    `${where} changed its state (or an object in it) in place: ${error.message}. ` +
      `Handlers return a new state instead — { ...s, n: s.n + 1 }, [...s.items, item] — since state is stored only through events or fx.update`,
    { cause: error },
  );
}

/** A decision whose next state is frozen; a handler's change in place is named (`component.handler`). */
export function frozenDecision(component: string, handler: string, decide: () => Decision): Decision {
  try {
    const decision = decide();
    freezeState(decision.next.state);
    return decision;
  } catch (error) {
    throw explainFrozenChange(error, `${component}.${handler}`);
  }
}
