import { checkComponentName, checkDefinitionPart, checkFunctionPart } from "./component.ts";
import { checkHandlerTimeout, type Publish, type RetryOptions } from "./consumer.ts";
import type { InstanceClient, Timers } from "./handlers.ts";
import type { Component } from "./service.ts";
import type { StandardSchemaV1 } from "./standard-schema.ts";
import type { StreamSpec } from "../broker/port.ts";

export type { StreamSpec } from "../broker/port.ts";

/** Where a topic message came from. */
export interface TopicMessageInfo {
  stream: string;
  /** The message's stream sequence. */
  seq: number;
  subject: string;
  headers: Readonly<Record<string, string>>;
}

/**
 * What a topic consumer's handler sees. Calls made through `call` carry the key
 * `topic:{name}:{idempotencyKey}:{n}` (the idempotency key defaults to the stream sequence, `{seq}@{epoch}` once the stream was made again):
 * a message delivered again gets the stored replies, so targets change once.
 */
export interface TopicContext extends TopicMessageInfo {
  /** The ordering key: messages with the same key are handled one at a time, in stream order. */
  readonly key: string;
  readonly idempotencyKey: string;
  call<D extends Component>(definition: D, id: string): InstanceClient<D>;
  readonly timers: Timers;
  /** Publishes the consumer's own message to its `publishTo` stream, keyed by `idempotencyKey` (see `Publish`). */
  publish: Publish;
}

/** How a message's ordering key is found: a subject token (0-based), a header, or a function of the body. */
export type TopicKey<T> = { subjectToken: number } | { header: string } | ((body: T, message: TopicMessageInfo) => string);

export interface TopicConsumerOptions<T> {
  /** The stream to read (created if missing) and, optionally, the subject to filter on. */
  stream: StreamSpec;
  filterSubject?: string;
  /** Validates the JSON body; a message that fails it is parked. */
  schema?: StandardSchemaV1<unknown, T>;
  /** The ordering key (default: the subject). */
  key?: TopicKey<T>;
  /** The key calls are made with (default: the stream sequence; `{seq}@{epoch}` once the stream was deleted and made again): two messages with one key change targets once. */
  idempotencyKey?: (body: T, message: TopicMessageInfo) => string;
  handle: (body: T, ctx: TopicContext) => Promise<void> | void;
  /** Messages delivered and not acknowledged at most. Default 256. */
  maxInFlight?: number;
  retry?: RetryOptions;
  /** A handler not finished after this long counts as a failed attempt (`handler_timeout`). Default 60,000 ms. */
  timeoutMs?: number;
  /** The broker stream `ctx.publish` sends to (created if missing). */
  publishTo?: StreamSpec;
}

export interface TopicConsumerDefinition {
  readonly kind: "topic-consumer";
  readonly name: string;
  readonly options: TopicConsumerOptions<any>;
  readonly commands: {};
  readonly queries: {};
}

/**
 * Consumes a broker stream (NATS JetStream) with a durable consumer and explicit acks: a message
 * is acknowledged once the calls it caused are committed (or it is parked), in order per key,
 * other keys in parallel. Bad JSON, a failed schema and handlers that keep failing park the
 * message (`sagaflow parked`), holding back only its key.
 *
 * @example
 * const deposits = topicConsumer("deposits", {
 *   stream: { name: "BANK_DEPOSITS", subjects: ["bank.deposits"] },
 *   schema: depositSchema,
 *   key: (d) => d.wallet,
 *   idempotencyKey: (d) => d.ref,
 *   handle: async (d, ctx) => { await ctx.call(wallet, d.wallet).deposit({ amount: d.amount }); },
 * });
 */
export function topicConsumer<T>(name: string, options: TopicConsumerOptions<T>): TopicConsumerDefinition {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ stream, handle, … })", options);
  if (typeof options.handle !== "function") throw new TypeError(`topic consumer "${name}" needs a \`handle\` function`);
  checkHandlerTimeout(`topic consumer "${name}"`, options.timeoutMs);
  return { kind: "topic-consumer", name, options, commands: {}, queries: {} };
}

/** A change of the source, as the producer sees it. */
export interface ProducedChange {
  /** The source instance's id. */
  id: string;
  /** The event type, or "$state" / "$deleted" for state changes. */
  type: string;
  /** The event, or the new state (a workflow's is `{ status, step, state }`). */
  payload: unknown;
  /** Its change-feed position. */
  position: number;
  at: number;
}

export interface TopicProducerOptions {
  source: Component;
  stream: StreamSpec;
  /** The subject to publish a change to. */
  subject: (change: ProducedChange) => string;
  /** The message body; `undefined` publishes nothing for this change. */
  message: (change: ProducedChange) => unknown;
  /** The CloudEvents `type` header (default `{source}.{type}`). */
  eventType?: (change: ProducedChange) => string;
}

export interface TopicProducerDefinition {
  readonly kind: "topic-producer";
  readonly name: string;
  readonly options: TopicProducerOptions;
  readonly commands: {};
  readonly queries: {};
}

/**
 * Publishes a component's events or state changes from the change feed (an outbox): only what
 * was committed, nothing committed lost, in per-instance order, each with `Nats-Msg-Id`
 * `{name}:{position}` so the stream drops a re-publish after a crash.
 */
export function topicProducer(name: string, options: TopicProducerOptions): TopicProducerDefinition {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ source, stream, subject, message })", options);
  checkFunctionPart(name, "its subject", options.subject);
  checkFunctionPart(name, "its message", options.message);
  return { kind: "topic-producer", name, options, commands: {}, queries: {} };
}
