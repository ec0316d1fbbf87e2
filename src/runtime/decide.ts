import type { Fence } from "../store/cluster-port.ts";
import type { HeldWrite } from "./held-writes.ts";
import { asEffect, effectsFor, entityEffects, keyValueEffects, queryEffects } from "../define/effect.ts";
import type { Principal } from "../define/access.ts";
import type { EffectRecord } from "../define/effect.ts";
import type { EntityDefinition } from "../define/entity.ts";
import type { KeyValueDefinition } from "../define/key-value.ts";
import type { NewEvent, StoredReply } from "../store/port.ts";
import { UnknownEventTypeError } from "../define/errors.ts";

/** An instance as a handler sees it. */
export interface Current {
  state: unknown;
  deleted: boolean;
}

/** What one command did: its reply, the events it emitted and the instance after it. */
export interface Decision {
  reply: StoredReply;
  events: NewEvent[];
  next: Current;
  /** True when the state must be written (key-value update or delete, entity events). */
  changed: boolean;
  /** A line for the instance's history (workflows keep one). */
  note?: string;
  /** Commit only while this lease is held (a workflow step, run by its bucket's holder). */
  fence?: Fence;
  /** A step's call's write, held until now: committed with this decision, all or none. */
  held?: HeldWrite;
}

type AnyHandler = (state: unknown, input: unknown, fx: unknown) => unknown;

/** Folds events into an entity's state with its event handlers. */
export function foldEvents(
  definition: EntityDefinition,
  state: unknown,
  events: ReadonlyArray<NewEvent>,
): unknown {
  let folded = state;
  for (const event of events) {
    const apply = (definition.events as Record<string, AnyHandler | undefined>)[event.type];
    if (apply === undefined) throw new UnknownEventTypeError(definition.name, event.type);
    folded = apply(folded, event.payload, undefined);
  }
  return folded;
}

function replyFrom(effect: EffectRecord, state: unknown): StoredReply {
  const spec = effect.replySpec;
  switch (spec.kind) {
    case "error":
      return spec.status === undefined
        ? { ok: false, code: spec.code, message: spec.message }
        : { ok: false, code: spec.code, message: spec.message, status: spec.status };
    case "none":
      return { ok: true, value: undefined };
    case "value":
      return { ok: true, value: spec.value };
    case "fromState":
      return { ok: true, value: (spec.fn as (s: unknown) => unknown)(state) };
  }
}

/**
 * Runs the command or query `handler` of `definition` against `current`: a query gets the reply
 * effects only, a command `commandEffects` (the effects of its kind of component).
 */
function runHandler(
  definition: { commands: unknown; queries: unknown },
  commandEffects: object,
  current: Current,
  handler: string,
  input: unknown,
  isQuery: boolean,
  principal: Principal | undefined,
): EffectRecord {
  const handlers = (isQuery ? definition.queries : definition.commands) as Record<string, AnyHandler>;
  return asEffect(handlers[handler]!(current.state, input, effectsFor(isQuery ? queryEffects : commandEffects, principal)));
}

function refused(effect: EffectRecord, current: Current): Decision | undefined {
  return effect.replySpec.kind === "error"
    ? { reply: replyFrom(effect, current.state), events: [], next: current, changed: false }
    : undefined;
}

/** Runs one entity command or query against `current`. Pure: user code may throw, nothing else. */
export function decideEntity(
  definition: EntityDefinition,
  current: Current,
  handler: string,
  input: unknown,
  isQuery: boolean,
  principal?: Principal,
): Decision {
  const effect = runHandler(definition, entityEffects, current, handler, input, isQuery, principal);
  const refusal = refused(effect, current);
  if (refusal) return refusal;
  const events = effect.events.map((e) => ({ type: e.type, payload: e.payload }));
  const state = foldEvents(definition, current.state, events);
  const next = { state, deleted: effect.deletes };
  return { reply: replyFrom(effect, state), events, next, changed: events.length > 0 || effect.deletes };
}

/** Runs one key-value command or query against `current`. */
export function decideKeyValue(
  definition: KeyValueDefinition,
  current: Current,
  handler: string,
  input: unknown,
  isQuery: boolean,
  principal?: Principal,
): Decision {
  const effect = runHandler(definition, keyValueEffects, current, handler, input, isQuery, principal);
  const refusal = refused(effect, current);
  if (refusal) return refusal;
  const state = effect.newState ? effect.newState.state : current.state;
  const next = { state: effect.deletes ? definition.initial() : state, deleted: effect.deletes };
  return {
    reply: replyFrom(effect, next.state),
    events: [],
    next,
    changed: effect.newState !== undefined || effect.deletes,
  };
}
