import type { Effect, EntityEffects } from "./effect.ts";
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

/** Event handlers: pure folds `(state, event) => state`, one per event type. */
export type EventHandlers<S> = Record<string, (state: S, event: any) => S>;

/** Event type name → payload type, read off the event handlers. */
export type EventsOf<EH> = {
  [K in keyof EH]: EH[K] extends (state: any, event: infer P) => any ? P : never;
};

export type EntityCommandHandler<S, EH> = (
  state: S,
  input: any,
  fx: EntityEffects<S, EventsOf<EH>>,
) => Effect<unknown>;

/** What the entity is: its initial state and how each event changes it. */
export interface EntityModel<S, EH> {
  /** The state of an instance that has no events yet. */
  initial: () => S;
  events: EH;
  /** Take a snapshot every this many events (default: the runtime's, 100). */
  snapshotEvery?: number;
  /**
   * The version of the state's fold (default 0). Bump it when the event handlers change what old
   * events fold to: snapshots taken under another version are then ignored, and an instance is
   * folded again from all its events when it is next loaded (its next snapshot under the new one).
   */
  stateVersion?: number;
}

/** What the entity does: commands that emit events, queries that only read. */
export interface EntityBehaviour<CM, QM> {
  /** Commands may emit events; they are POSTed. */
  commands: CM;
  /** Queries only read; they may also be called with GET. */
  queries?: QM;
  /** Validators for command and query input (any Standard Schema library). */
  inputs?: InputSchemas<CM & QM>;
  /**
   * What HTTP may call (nothing by default): `access.anyone` for every command and query, or
   * `{ withdraw: rule, balance: rule }` for those only. In-process callers are not affected.
   */
  expose?: NoInfer<Exposure<HandlerNames<CM, QM>>>;
}

export interface EntityDefinition<S = any, EH = any, CM = any, QM = any>
  extends EntityModel<S, EH>,
    EntityBehaviour<CM, QM> {
  readonly kind: "entity";
  readonly name: string;
  readonly queries: QM;
}

/**
 * Defines an event-sourced entity: its state is the fold of its events. The model and the
 * behaviour are two arguments so that TypeScript knows the state and event types before it
 * types the command handlers (`fx.emit` then checks event names and payloads).
 *
 * @example
 * const counter = entity(
 *   "counter",
 *   { initial: () => ({ value: 0 }), events: { added: (s, e: { by: number }) => ({ value: s.value + e.by }) } },
 *   {
 *     commands: { add: (s, c: { by: number }, fx) => fx.emit("added", c).reply((s) => s) },
 *     queries: { get: (s, _: {}, fx) => fx.reply(s) },
 *   },
 * );
 */
export function entity<
  S,
  EH extends EventHandlers<S>,
  CM extends Record<string, EntityCommandHandler<S, EH>>,
  QM extends Record<string, QueryHandler<S>>,
>(
  name: string,
  model: EntityModel<S, EH>,
  behaviour: EntityBehaviour<CM, QM>,
): EntityDefinition<S, EH, CM, QM> {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ initial, events })", model);
  checkFunctionPart(name, "its initial", model.initial);
  checkHandlers(name, "its events", model.events);
  checkDefinitionPart(name, "the third argument ({ commands, queries, expose })", behaviour);
  checkHandlers(name, "its commands", behaviour.commands);
  const queries = (behaviour.queries ?? {}) as QM;
  checkHandlers(name, "its queries", queries);
  checkHandlerNames(name, [behaviour.commands, queries]);
  checkExposure(name, behaviour.expose, [...Object.keys(behaviour.commands), ...Object.keys(queries)]);
  for (const type of Object.keys(model.events)) {
    if (type.startsWith("$")) throw new TypeError(`event type "${type}": "$" is reserved`);
  }
  if (model.stateVersion !== undefined && !(Number.isSafeInteger(model.stateVersion) && model.stateVersion >= 0)) {
    throw new TypeError(`entity "${name}": stateVersion must be a whole number from 0 (got ${JSON.stringify(model.stateVersion)}); bump it when the events fold differently`);
  }
  if (model.snapshotEvery !== undefined && !(Number.isSafeInteger(model.snapshotEvery) && model.snapshotEvery > 0)) {
    throw new TypeError(`entity "${name}": snapshotEvery must be a whole number of events from 1 (got ${JSON.stringify(model.snapshotEvery)})`);
  }
  return { ...model, ...behaviour, queries, kind: "entity", name };
}
