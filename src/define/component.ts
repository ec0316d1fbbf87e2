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
  objectPart(`component "${component}"`, part, value);
}

/** A function of a definition (a handler, `initial`, `start`): caught when defined, not when first called. */
export function checkFunctionPart(component: string, part: string, value: unknown): void {
  functionPart(`component "${component}"`, part, value);
}

/** `where` (`component "pay"`, `view "v", table "t"`) names the definition in the error. */
function objectPart(where: string, part: string, value: unknown): void {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) return;
  throw new TypeError(`${where}: ${part} must be an object, got ${described(value)}`);
}

function functionPart(where: string, part: string, value: unknown): void {
  if (typeof value !== "function") throw new TypeError(`${where}: ${part} must be a function, got ${described(value)}`);
}

/** An object of handlers (`commands`, `events`, `steps`…): each of them a function. */
export function checkHandlers(component: string, part: string, handlers: unknown): void {
  checkDefinitionPart(component, part, handlers);
  for (const [name, handler] of Object.entries(handlers as object)) checkFunctionPart(component, `${part}.${name}`, handler);
}

/**
 * What a view's table or a consumer is fed by, as plain JavaScript may get it wrong: a source
 * that is an entity (then `events`, an updater or handler per event type) or a key-value entity
 * or workflow (then `state`). `where` names it in the error (`consumer "audit"`).
 */
export function checkSourceHandlers(where: string, fed: { source?: unknown; events?: unknown; state?: unknown }): void {
  const kind = (fed.source as { kind?: unknown } | undefined)?.kind;
  if (kind !== "entity" && kind !== "key-value" && kind !== "workflow") {
    throw new TypeError(`${where}: its source must be an entity, key-value entity or workflow definition, got ${described(fed.source)}`);
  }
  if (kind === "entity" ? fed.events === undefined : fed.state === undefined) {
    throw new TypeError(`${where}: an entity source needs \`events\`, other sources need \`state\``);
  }
  if (kind !== "entity") {
    functionPart(where, "its state", fed.state);
    return;
  }
  objectPart(where, "its events", fed.events);
  for (const [type, handler] of Object.entries(fed.events as object)) {
    // An event type mapped to undefined is left alone, as one not listed.
    if (handler !== undefined) functionPart(where, `its events.${type}`, handler);
  }
}

/** How a value of the wrong kind is named in a definition error. */
export function described(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
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
