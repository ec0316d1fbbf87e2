import type { Decision } from "./decide.ts";

/**
 * An instance's state as handlers get it: frozen, all the way down. A handler that changes it in
 * place — rather than return a new state — fails at once with a clear error, instead of changing
 * the cached state without storing it (lost at the next restart), or, for a key-value entity's
 * `fx.update(s)` of the same object, having its write taken for no change and never stored.
 * Parts already frozen (shared with the previous state) are not walked again.
 */
export function freezeState<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  // On the commit path: no array of the values is made, and primitives are not called on.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const part: unknown = value[i];
      if (typeof part === "object" && part !== null) freezeState(part);
    }
  } else {
    for (const key in value) {
      const part: unknown = value[key];
      if (typeof part === "object" && part !== null) freezeState(part);
    }
  }
  return value;
}

/** A handler's TypeError from changing a frozen state, said in the user's terms; other errors as they are. */
function explainFrozenChange(error: unknown, where: string): unknown {
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
