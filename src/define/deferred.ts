import type { DeferredCall, DeferredClient } from "./handlers.ts";

/**
 * Writes down a call to make later, typed like the client: the argument of `timers.start`.
 *
 * @example
 * await ctx.timers.start(`release-${email}`, 10_000, deferred(emailEntity, email).release({ owner }));
 */
export function deferred<D extends { name: string }>(definition: D, id: string): DeferredClient<D> {
  return new Proxy({} as DeferredClient<D>, {
    get(_target, handler) {
      if (typeof handler !== "string") return undefined;
      return (input?: unknown): DeferredCall => ({ component: definition.name, id, handler, input: input ?? {} });
    },
  });
}
