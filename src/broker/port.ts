/**
 * The broker port: what topic consumers and producers need from a message broker, and nothing
 * more. The NATS JetStream adapter (nats-broker.ts) implements it; a Kafka adapter would map a
 * stream to a topic, `seq` to a partition offset, a durable to a consumer group and the ack
 * floor to the group's committed offset (see docs/site/guides/message-brokers.md, "Kafka").
 */

/** A stream and the subjects it stores; created if missing. */
export interface StreamSpec {
  name: string;
  subjects: string[];
  /** How long the broker remembers a message id to drop a re-publish. Default 2 minutes. */
  duplicateWindowMs?: number;
}

/** A message as a durable subscription delivers it. */
export interface BrokerMessage {
  stream: string;
  /** The message's position in its stream: unique, increasing. */
  seq: number;
  subject: string;
  headers: Record<string, string>;
  data: Uint8Array;
  /** Delivered before (and not acknowledged). */
  redelivered: boolean;
  /** Done with it: it is never delivered again. */
  ack(): void;
  /** Still working on it: postpones redelivery. */
  working(): void;
}

export interface SubscribeOptions {
  stream: string;
  /** The durable consumer's name: its acknowledgements outlive this process. */
  durable: string;
  /** Only subjects matching this (a subject of the stream, wildcards allowed). */
  filterSubject?: string;
  /** At most this many messages delivered and not acknowledged. */
  maxInFlight: number;
  /** A message not acknowledged within this is delivered again. */
  ackWaitMs: number;
}

export interface TopicSubscription {
  /**
   * Messages in stream order, until the subscription is closed or the connection was lost and
   * came back (then subscribe again). Every message above the ack floor (the highest sequence below
   * which all are acknowledged) is delivered again after a restart, in stream order.
   */
  messages(): AsyncIterable<BrokerMessage>;
  /** Messages not delivered yet, delivered and not acknowledged, and the ack floor. */
  lag(): Promise<{ pending: number; inFlight: number; ackFloor: number; head: number }>;
  close(): Promise<void>;
}

export interface PublishOptions {
  /** The broker drops a second message with this id within the stream's duplicate window. */
  msgId: string;
  headers?: Record<string, string>;
}

export interface Broker {
  /** Names the broker in logs and the admin API, e.g. `nats://127.0.0.1:4222`. */
  readonly url: string;
  ensureStream(spec: StreamSpec): Promise<void>;
  /**
   * When `stream` was made (ms since the epoch) and whether its durable consumer `durable` is there:
   * a stream deleted and made again starts its sequences over, and comes without the consumer.
   */
  streamMaking(stream: string, durable: string): Promise<{ created: number; consumerExists: boolean }>;
  subscribe(options: SubscribeOptions): Promise<TopicSubscription>;
  /** Resolves once the broker stored the message (or dropped it as a duplicate). */
  publish(subject: string, data: Uint8Array, options: PublishOptions): Promise<{ seq: number; duplicate: boolean }>;
  /**
   * For a broker that connects in the background: makes no more attempts at a first connection and
   * refuses the calls waiting for one; a connection already made is kept until close(). A service
   * that stops calls it first, so runners waiting for a broker never reached can end.
   */
  stopConnecting?(): void;
  close(): Promise<void>;
}
