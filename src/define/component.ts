import type { Effect, ReplyEffects, ReplyOf } from "./effect.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";

/** A query: reads the state and answers; it can never change anything (so HTTP GET may call it). */
export type QueryHandler<S> = (state: S, input: any, fx: ReplyEffects) => Effect<unknown>;

/** The input type a handler declares (its second parameter). */
export type InputOf<H> = H extends (state: any, input: infer I, ...rest: any[]) => any ? I : never;

/** The reply type of a handler. */
export type HandlerReply<H> = H extends (...args: any[]) => infer E ? ReplyOf<E> : never;

/** Optional validators per command or query name; each must produce the handler's input type. */
export type InputSchemas<Handlers> = {
  [K in keyof Handlers]?: StandardSchemaV1<unknown, InputOf<Handlers[K]>>;
};

/** What every component definition shares; the runtime dispatches on `kind`. */
export interface ComponentBase {
  readonly kind: string;
  readonly name: string;
}

const namePattern = /^[a-z][a-z0-9-]{0,62}$/;

/** Component names become URL segments and table keys: lower-case, digits and dashes. */
export function checkComponentName(name: string): void {
  if (!namePattern.test(name)) {
    throw new TypeError(
      `invalid component name ${JSON.stringify(name)}: use lower-case letters, digits and "-", starting with a letter`,
    );
  }
}

/** A part of a definition that a JavaScript caller (no type checks) may leave out: an object, or a clear error. */
export function checkDefinitionPart(component: string, part: string, value: unknown): void {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return;
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
  throw new TypeError(`component "${component}": ${part} must be an object, got ${got}`);
}

/** Handler names share the component's namespace: refuse one defined twice or reserved. */
export function checkHandlerNames(component: string, groups: Array<Record<string, unknown>>): void {
  const seen = new Set<string>();
  for (const group of groups) {
    for (const name of Object.keys(group)) {
      if (seen.has(name)) {
        throw new TypeError(`component "${component}" defines "${name}" twice`);
      }
      if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(name)) {
        throw new TypeError(`component "${component}": invalid handler name "${name}"`);
      }
      seen.add(name);
    }
  }
}
