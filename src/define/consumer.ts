import { checkComponentName, checkDefinitionPart, checkSourceHandlers } from "./component.ts";
import type { EntityDefinition, EventsOf } from "./entity.ts";
import type { InstanceClient, Timers } from "./handlers.ts";
import type { KeyValueDefinition } from "./key-value.ts";
import type { Component } from "./service.ts";
import type { WorkflowDefinition, WorkflowView } from "./workflow.ts";
import type { StreamSpec } from "../broker/port.ts";

/** How `ctx.publish` labels a message. */
export interface PublishMessageOptions {
  /** The CloudEvents `type` header (default `{consumer}.message`). */
  type?: string;
}

/**
 * `ctx.publish(subject, message)`: sends a JSON message to a subject of the consumer's
 * `publishTo` stream and resolves once the broker stored it (while the broker is away it waits).
 * The message being handled counts as handled only after, so nothing is lost; a redelivery
 * publishes again with the same `Nats-Msg-Id` (`{consumer}:{position or idempotency key}:{n}`),
 * which the stream drops within its duplicate window. Publish in the same order on every delivery.
 */
export type Publish = (subject: string, message: unknown, options?: PublishMessageOptions) => Promise<void>;

/**
 * What a consumer's handler sees. Calls made through `call` carry the key
 * `consumer:{name}:{position}:{n}`: a message delivered again (after a crash, before its offset
 * was stored) gets the stored replies, so targets change once.
 */
export interface ConsumerContext {
  /** The id of the instance whose event or state change this is. */
  readonly id: string;
  /** The message's position in the change feed. */
  readonly position: number;
  call<D extends Component>(definition: D, id: string): InstanceClient<D>;
  readonly timers: Timers;
  /** Publishes the consumer's own message to its `publishTo` stream (see `Publish`). */
  publish: Publish;
}

type Handler<T> = (message: T, ctx: ConsumerContext) => Promise<void> | void;

/** Handlers per event type of an entity source. */
export type EventHandlersFor<EH> = { [K in keyof EventsOf<EH>]?: Handler<EventsOf<EH>[K]> };

export interface RetryOptions {
  /** Deliveries of one message before it is parked. Default 5. */
  maxAttempts?: number;
  /** Back-off before the second delivery; doubles each time. Default 100 ms. */
  initialBackoffMs?: number;
}

interface Common {
  retry?: RetryOptions;
  /**
   * A handler not finished after this long counts as a failed attempt (`handler_timeout`), and its
   * later calls are refused. Default 60,000 ms. Time `ctx.publish` waits for a broker away uses up
   * no attempt.
   */
  timeoutMs?: number;
  /** The broker stream `ctx.publish` sends to (created if missing); needs a broker (`NATS_URL`). */
  publishTo?: StreamSpec;
}

export type ConsumerOptions<Src> = Src extends EntityDefinition<any, infer EH>
  ? Common & {
      source: Src;
      events: EventHandlersFor<EH>;
      /**
       * Skip event types the entity defines but this consumer has no handler for (default: they are
       * failures, and get parked). A type the entity's definition lacks was written by newer code
       * (a rollback, a rolling deploy): never skipped, it waits for code that knows it.
       */
      ignoreUnknown?: boolean;
    }
  : Src extends KeyValueDefinition<infer S>
    ? Common & { source: Src; state: Handler<{ state: S; deleted: boolean }> }
    : Src extends WorkflowDefinition<infer S>
      ? Common & { source: Src; state: Handler<Omit<WorkflowView<S>, "id">> }
      : never;

export interface ConsumerDefinition {
  readonly kind: "consumer";
  readonly name: string;
  readonly source: Component;
  readonly events?: Record<string, Handler<unknown> | undefined>;
  readonly state?: Handler<unknown>;
  readonly ignoreUnknown?: boolean;
  readonly retry?: RetryOptions;
  readonly timeoutMs?: number;
  readonly publishTo?: StreamSpec;
  // Consumers take no commands: these keep them out of the client's types.
  readonly commands: {};
  readonly queries: {};
}

/**
 * Subscribes to one source — an entity's events, or a key-value entity's or workflow's state
 * changes — with at-least-once delivery, in order per source instance. A message that keeps
 * failing is parked (visible, retryable, skippable) and holds back only its own instance.
 *
 * @example
 * const audit = consumer("audit", {
 *   source: wallet,
 *   events: { withdrawn: async (e, ctx) => { await ctx.call(ledger, ctx.id).record(e); } },
 *   ignoreUnknown: true,
 * });
 */
export function consumer<Src extends Component>(name: string, options: ConsumerOptions<Src>): ConsumerDefinition {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ source, events or state, … })", options);
  const o = options as unknown as Omit<ConsumerDefinition, "kind" | "name" | "commands" | "queries">;
  checkSourceHandlers(`consumer "${name}"`, o);
  checkHandlerTimeout(`consumer "${name}"`, o.timeoutMs);
  return { ...o, kind: "consumer", name, commands: {}, queries: {} };
}

/** A handler's `timeoutMs`: a whole number of ms, at least 1. */
export function checkHandlerTimeout(owner: string, timeoutMs: unknown): void {
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && (timeoutMs as number) >= 1)) {
    throw new TypeError(`${owner}: timeoutMs must be a whole number of ms, at least 1, not ${String(timeoutMs)}`);
  }
}
