/**
 * Effects are data: a command handler returns one, the runtime performs it. Builders are
 * immutable, so a handler may branch and return any of several effects.
 */

import type { Principal } from "./access.ts";

declare const replyType: unique symbol;

export interface RefusalOptions {
  /** The HTTP status of the refusal: 400 to 499 (default 400). A refusal is the caller's to fix, never a 5xx. */
  status?: number;
}

/** The reply of a refusal; a status outside 400–499 is a bug in the handler. */
export function refusalSpec(code: string, message: string | undefined, options: RefusalOptions = {}): Extract<ReplySpec, { kind: "error" }> {
  const { status } = options;
  if (status === undefined) return { kind: "error", code, message: message ?? code };
  if (!Number.isInteger(status) || status < 400 || status > 499) {
    throw new TypeError(`fx.error("${code}"): status must be a whole number from 400 to 499, not ${String(status)}`);
  }
  return { kind: "error", code, message: message ?? code, status };
}

/** How a command answers: a fixed value, a value computed from the new state, or an error. */
export type ReplySpec =
  | { kind: "none" }
  | { kind: "value"; value: unknown }
  | { kind: "fromState"; fn: (state: never) => unknown }
  | { kind: "error"; code: string; message: string; status?: number };

/** What a command handler returns. `R` is the reply type, carried for the client's types only. */
export interface Effect<R> {
  readonly [replyType]?: R;
  /** Events to persist (event-sourced entities). */
  readonly events: ReadonlyArray<{ type: string; payload: unknown }>;
  /** The new state (key-value entities), when it changes. */
  readonly newState: { state: unknown } | undefined;
  readonly deletes: boolean;
  readonly replySpec: ReplySpec;
}

/** The reply type of a handler's effect (a union of effects gives the union of replies). */
export type ReplyOf<E> = E extends Effect<infer R> ? R : never;

/** Answers without changing anything: what query handlers and refusals use. */
export interface ReplyEffects {
  /**
   * Who called over HTTP, as a verified token says (read-only), directly or through an endpoint's
   * `client`; undefined for a public route and for other in-process callers (steps, consumers,
   * timers, `app.client`).
   */
  readonly principal: Principal | undefined;
  reply<R>(value: R): Effect<R>;
  /**
   * Refuses the command: nothing changes and the caller gets `code`, over HTTP with `status`
   * (a 4xx; 400 by default), e.g. `fx.error("not_found", "no such wallet", { status: 404 })`.
   */
  error(code: string, message?: string, options?: RefusalOptions): Effect<never>;
}

/** Effects of an event-sourced entity's command. */
export interface EntityEffects<S, Ev extends Record<string, unknown>> extends ReplyEffects {
  emit<K extends keyof Ev & string>(type: K, payload: Ev[K]): Emitting<S, Ev>;
  /** Marks the entity deleted: later commands are refused with `deleted`. */
  delete(): Emitting<S, Ev>;
}

export interface Emitting<S, Ev extends Record<string, unknown>> extends Effect<void> {
  emit<K extends keyof Ev & string>(type: K, payload: Ev[K]): Emitting<S, Ev>;
  delete(): Emitting<S, Ev>;
  /** Replies with a value computed from the state after this command's events. */
  reply<R>(fromState: (state: S) => R): Effect<R>;
  reply<R>(value: R): Effect<R>;
}

/** Effects of a key-value entity's command. */
export interface KeyValueEffects<S> extends ReplyEffects {
  update(state: S): Updating<S>;
  delete(): Updating<S>;
}

export interface Updating<S> extends Effect<void> {
  reply<R>(fromState: (state: S) => R): Effect<R>;
  reply<R>(value: R): Effect<R>;
}

const noReply: ReplySpec = { kind: "none" };

/** The events of an effect, newest first: each emit adds a link, sharing what came before. */
interface EventLink {
  readonly event: { type: string; payload: unknown };
  readonly earlier: EventLink | undefined;
  /** How many events this link ends (itself included). */
  readonly count: number;
}

/**
 * The one implementation behind every effect and builder shape above. Emitting adds a link to a
 * chain shared with the builder it was called on (which stays as it was, so a handler may branch
 * from it), and `events` is made into an array once, when read: a command that emits n events
 * costs O(n), where copying the array on every emit cost O(n²).
 */
class EffectRecord {
  #last: EventLink | undefined;
  #events: ReadonlyArray<{ type: string; payload: unknown }> | undefined;

  constructor(
    last: EventLink | undefined,
    readonly newState: { state: unknown } | undefined,
    readonly deletes: boolean,
    readonly replySpec: ReplySpec,
  ) {
    this.#last = last;
  }

  /** Events to persist, in the order they were emitted. */
  get events(): ReadonlyArray<{ type: string; payload: unknown }> {
    if (this.#events === undefined) {
      const events = new Array<{ type: string; payload: unknown }>(this.#last?.count ?? 0);
      for (let link = this.#last; link !== undefined; link = link.earlier) events[link.count - 1] = link.event;
      this.#events = Object.freeze(events);
    }
    return this.#events;
  }

  emit(type: string, payload: unknown): EffectRecord {
    const link: EventLink = { event: { type, payload }, earlier: this.#last, count: (this.#last?.count ?? 0) + 1 };
    return new EffectRecord(link, this.newState, this.deletes, noReply);
  }

  delete(): EffectRecord {
    return new EffectRecord(this.#last, this.newState, true, noReply);
  }

  reply(valueOrFromState: unknown): EffectRecord {
    const spec: ReplySpec =
      typeof valueOrFromState === "function"
        ? { kind: "fromState", fn: valueOrFromState as (state: never) => unknown }
        : { kind: "value", value: valueOrFromState };
    return new EffectRecord(this.#last, this.newState, this.deletes, spec);
  }
}

const nothing = new EffectRecord(undefined, undefined, false, noReply);

const replyEffects = {
  reply: (value: unknown) => nothing.reply(value),
  error: (code: string, message?: string, options?: RefusalOptions) => new EffectRecord(undefined, undefined, false, refusalSpec(code, message, options)),
};

/** The `fx` handed to event-sourced entity commands (stateless, so shared). */
export const entityEffects = {
  ...replyEffects,
  emit: (type: string, payload: unknown) => nothing.emit(type, payload),
  delete: () => nothing.delete(),
} as unknown as EntityEffects<never, never>;

/** The `fx` handed to key-value entity commands. */
export const keyValueEffects = {
  ...replyEffects,
  update: (state: unknown) => new EffectRecord(undefined, { state }, false, noReply),
  delete: () => nothing.delete(),
} as unknown as KeyValueEffects<never>;

/** The `fx` handed to queries: they can only answer. */
export const queryEffects = replyEffects as unknown as ReplyEffects;

/**
 * The `fx` of one call made on behalf of `principal`: the shared effects with `principal` set
 * (without one, the shared object itself, whose `principal` is undefined).
 */
export function effectsFor<F extends object>(effects: F, principal: Principal | undefined): F {
  if (principal === undefined) return effects;
  return Object.create(effects, { principal: { value: principal, enumerable: true } }) as F;
}

/** Reads an effect returned by user code, refusing anything that is not one. */
export function asEffect(value: unknown): EffectRecord {
  if (value instanceof EffectRecord) return value;
  throw new TypeError(
    "a command handler must return an effect built with fx (fx.emit, fx.update, fx.reply, fx.error)",
  );
}
export type { EffectRecord };
