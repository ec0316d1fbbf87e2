import type { Effect, KeyValueEffects } from "./effect.ts";
import { checkExposure, type Exposure, type HandlerNames } from "./exposure.ts";
import {
  checkComponentName,
  checkDefinitionPart,
  checkFunctionPart,
  checkHandlers,
  checkHandlerNames,
  type InputSchemas,
  type QueryHandler,
} from "./component.ts";

export type KeyValueCommandHandler<S> = (
  state: S,
  input: any,
  fx: KeyValueEffects<S>,
) => Effect<unknown>;

export interface KeyValueOptions<S, CM, QM> {
  /** The state of an instance never written. */
  initial: () => S;
  commands: CM;
  queries?: QM;
  inputs?: InputSchemas<CM & QM>;
  /**
   * What HTTP may call (nothing by default): `access.anyone` for every command and query, or
   * `{ register: rule, get: rule }` for those only. In-process callers are not affected.
   */
  expose?: NoInfer<Exposure<HandlerNames<CM, QM>>>;
}

export interface KeyValueDefinition<S = any, CM = any, QM = any>
  extends KeyValueOptions<S, CM, QM> {
  readonly kind: "key-value";
  readonly name: string;
  readonly queries: QM;
}

/**
 * Defines a key-value entity: each instance holds one state value, replaced by its commands.
 *
 * @example
 * const profile = keyValue("profile", {
 *   initial: () => ({ name: "" }),
 *   commands: { rename: (s, c: { name: string }, fx) => fx.update({ name: c.name }).reply((s) => s) },
 *   queries: { get: (s, _: {}, fx) => fx.reply(s) },
 * });
 */
export function keyValue<
  S,
  CM extends Record<string, KeyValueCommandHandler<S>>,
  QM extends Record<string, QueryHandler<S>>,
>(name: string, options: KeyValueOptions<S, CM, QM>): KeyValueDefinition<S, CM, QM> {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ initial, commands, queries, expose })", options);
  checkFunctionPart(name, "its initial", options.initial);
  checkHandlers(name, "its commands", options.commands);
  const queries = (options.queries ?? {}) as QM;
  checkHandlers(name, "its queries", queries);
  checkHandlerNames(name, [options.commands, queries]);
  checkExposure(name, options.expose, [...Object.keys(options.commands), ...Object.keys(queries)]);
  return { ...options, queries, kind: "key-value", name };
}
