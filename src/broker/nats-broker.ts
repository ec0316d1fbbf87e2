import {
  AckPolicy,
  connect,
  DeliverPolicy,
  headers as natsHeaders,
  nanos,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  type StreamInfo,
} from "nats";
import type { Broker, BrokerMessage, PublishOptions, StreamSpec, SubscribeOptions, TopicSubscription } from "./port.ts";
import { logEvent } from "../observe/log-event.ts";

const defaultDuplicateWindowMs = 2 * 60_000;
/** Pause between two attempts at a first connection. */
const connectRetryMs = 500;
/** One attempt at a first connection gives up after this (a server that accepts and never answers). */
const connectTimeoutMs = 5_000;

/**
 * A NATS broker that connects in the background: it is returned at once, and each call waits for
 * the connection, so a service starts and takes commands while NATS is away. It tries again every
 * half second until it connects or is closed; once closed it tries no more, and calls still
 * waiting for the connection are refused.
 */
export function natsBroker(url: string, log: (line: string) => void = (line) => console.error(line)): Broker {
  const connecting = new AbortController();
  const ready = connectUntilClosed(url, log, connecting.signal);
  ready.catch(() => {});
  let connected: Broker | undefined;
  let closed = false;
  void ready.then((broker) => (connected = broker), () => {});
  return {
    url,
    ensureStream: async (spec) => (await ready).ensureStream(spec),
    streamMaking: async (stream, durable) => (await ready).streamMaking(stream, durable),
    subscribe: async (options) => (await ready).subscribe(options),
    publish: async (subject, data, options) => (await ready).publish(subject, data, options),
    stopConnecting: () => connecting.abort(),
    close: async () => {
      if (closed) return;
      closed = true;
      connecting.abort();
      // Not connected yet: the attempt in progress closes what it gets; nothing waits for NATS.
      await connected?.close();
    },
  };
}

/** Connects, trying again until it succeeds or `closed` is aborted (then it rejects). */
async function connectUntilClosed(url: string, log: (line: string) => void, closed: AbortSignal): Promise<Broker> {
  const refused = () => new Error(`broker ${shownUrl(url)}: closed before it connected`);
  for (let attempt = 1; ; attempt++) {
    if (closed.aborted) throw refused();
    try {
      const broker = await connectNats(url, log, { firstAttemptOnly: true });
      if (!closed.aborted) return broker;
      await broker.close();
      throw refused();
    } catch (error) {
      if (closed.aborted) throw refused();
      // Said once, then every minute or so: an outage at start-up is not a flood of lines.
      if (attempt === 1 || attempt % 120 === 0) log(`sagaflow: broker ${shownUrl(url)}: ${String(error)}; trying again every ${connectRetryMs} ms`);
      await pause(connectRetryMs, closed);
    }
  }
}

function pause(ms: number, closed: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      closed.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    closed.addEventListener("abort", done);
  });
}

/**
 * Connects to a NATS server with JetStream. Once connected it reconnects for ever: an outage only
 * delays work. By default the first connection is awaited for ever too; `firstAttemptOnly` fails
 * at once when no server answers (the caller decides whether to try again).
 */
export async function connectNats(url: string, log: (line: string) => void = (line) => console.error(line), options: { firstAttemptOnly?: boolean } = {}): Promise<Broker> {
  const connection = await connect({
    servers: url.split(","),
    name: "sagaflow",
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: connectTimeoutMs,
    waitOnFirstConnect: !options.firstAttemptOnly,
  });
  let broker: NatsBroker;
  try {
    broker = new NatsBroker(url, connection, await connection.jetstreamManager(), connection.jetstream());
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  const shown = shownUrl(url);
  logEvent(log, "info", { event: "broker_connected", broker: shown }, `sagaflow: broker ${shown}: connected`);
  void (async () => {
    for await (const status of connection.status()) {
      // One line per change, with an event an operator can alert on (as store_unavailable).
      if (status.type === "disconnect") logEvent(log, "warn", { event: "broker_disconnected", broker: shown }, `sagaflow: broker ${shown}: disconnected; publishing and consuming wait for it`);
      if (status.type === "reconnect") {
        logEvent(log, "info", { event: "broker_reconnected", broker: shown }, `sagaflow: broker ${shown}: reconnected`);
        broker.reconnected();
      }
    }
  })().catch(() => {});
  return broker;
}

/** The servers of a NATS URL list without user names or passwords (which a log must not hold). */
function shownUrl(url: string): string {
  return url.replace(/\/\/[^@/,]*@/g, "//");
}

/** The broker port over NATS JetStream (the official `nats` client). */
export class NatsBroker implements Broker {
  /** Subscriptions to end when the connection comes back (their subscribers subscribe again). */
  private readonly onReconnect = new Set<() => void>();

  constructor(
    readonly url: string,
    private readonly connection: NatsConnection,
    private readonly manager: JetStreamManager,
    private readonly client: JetStreamClient,
  ) {}

  /**
   * Messages delivered before the server went away are redelivered only after their ack wait:
   * ending the subscriptions makes their runners subscribe again at the ack floor at once.
   */
  reconnected(): void {
    for (const end of this.onReconnect) end();
  }

  async ensureStream(spec: StreamSpec): Promise<void> {
    const existing = await this.streamInfo(spec.name);
    if (existing) return this.addSubjects(spec, existing);
    try {
      await this.manager.streams.add({ name: spec.name, subjects: spec.subjects, duplicate_window: nanos(spec.duplicateWindowMs ?? defaultDuplicateWindowMs) });
    } catch (error) {
      // Made meanwhile by another caller (a consumer and a producer of it starting together, or
      // another node): JetStream may refuse the second add as "subjects overlap". Use it as it is.
      const made = await this.streamInfo(spec.name);
      if (!made) throw error;
      await this.addSubjects(spec, made);
    }
  }

  /** The stream's info, or undefined when there is no such stream. */
  private async streamInfo(name: string): Promise<StreamInfo | undefined> {
    try {
      return await this.manager.streams.info(name);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Adds to an existing stream the subjects of `spec` it lacks. */
  private async addSubjects(spec: StreamSpec, info: StreamInfo): Promise<void> {
    const missing = spec.subjects.filter((s) => !info.config.subjects.includes(s));
    if (missing.length > 0) await this.manager.streams.update(spec.name, { subjects: [...info.config.subjects, ...missing] });
  }

  async streamMaking(stream: string, durable: string): Promise<{ created: number; consumerExists: boolean }> {
    const created = Date.parse((await this.manager.streams.info(stream)).created);
    try {
      await this.manager.consumers.info(stream, durable);
      return { created, consumerExists: true };
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return { created, consumerExists: false };
    }
  }

  async subscribe(options: SubscribeOptions): Promise<TopicSubscription> {
    // JetStream redelivers unacknowledged messages only once their ack wait passes, after newer
    // ones: a consumer recreated at its ack floor delivers them again first, in stream order
    // (per-key order survives a crash). Acknowledged messages above the floor come again too;
    // the runner's keyed calls make them change nothing.
    let ackFloor = 0;
    try {
      ackFloor = floorOf(await this.manager.consumers.info(options.stream, options.durable));
      await this.manager.consumers.delete(options.stream, options.durable);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const config: Partial<ConsumerConfig> = {
      durable_name: options.durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(options.ackWaitMs),
      max_ack_pending: options.maxInFlight,
      ...(ackFloor > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: ackFloor + 1 } : { deliver_policy: DeliverPolicy.All }),
      ...(options.filterSubject === undefined ? {} : { filter_subject: options.filterSubject }),
    };
    await this.manager.consumers.add(options.stream, config);
    const consumer = await this.client.consumers.get(options.stream, options.durable);
    // A consumer deleted under us (its stream deleted, perhaps made again) ends the iterator with
    // an error, rather than wait in silence for a consumer that is not coming back: the runner then
    // subscribes again, to the stream as it is now.
    const iterator = await consumer.consume({ max_messages: options.maxInFlight, abort_on_missing_resource: true });
    const manager = this.manager;
    const onReconnect = this.onReconnect;
    let ended = false;
    // stop(), not close(): close() waits on the pull, and never settles for an iterator left early
    // or never iterated.
    const end = () => iterator.stop();
    onReconnect.add(end);
    return {
      async *messages() {
        try {
          for await (const m of iterator) yield toMessage(options.stream, m);
        } finally {
          ended = true;
          onReconnect.delete(end);
        }
      },
      async lag() {
        const info = await manager.consumers.info(options.stream, options.durable);
        return {
          pending: info.num_pending,
          inFlight: info.num_ack_pending,
          ackFloor: floorOf(info),
          head: info.num_pending + info.delivered.stream_seq,
        };
      },
      async close() {
        onReconnect.delete(end);
        if (!ended) iterator.stop();
      },
    };
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions): Promise<{ seq: number; duplicate: boolean }> {
    const h = natsHeaders();
    for (const [name, value] of Object.entries(options.headers ?? {})) h.set(name, value);
    const ack = await this.client.publish(subject, data, { msgID: options.msgId, headers: h, timeout: 5_000 });
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  async close(): Promise<void> {
    // Draining waits for the server: with NATS away, give up on it after a moment.
    const drained = this.connection.drain().catch(() => {});
    const late = new Promise<"late">((resolve) => setTimeout(() => resolve("late"), 2_000).unref());
    if ((await Promise.race([drained, late])) === "late") await this.connection.close().catch(() => {});
  }
}

function toMessage(stream: string, m: JsMsg): BrokerMessage {
  const headers: Record<string, string> = {};
  if (m.headers) for (const [name, values] of m.headers) headers[name] = values[0] ?? "";
  return {
    stream,
    seq: m.seq,
    subject: m.subject,
    headers,
    data: m.data,
    redelivered: m.redelivered,
    ack: () => m.ack(),
    working: () => m.working(),
  };
}

/**
 * The highest stream sequence below which all are acknowledged. A consumer created at a start
 * sequence reports 0 until it acknowledges one: its floor is then just below where it started.
 */
function floorOf(info: ConsumerInfo): number {
  return Math.max(info.ack_floor.stream_seq, (info.config.opt_start_seq ?? 1) - 1);
}

function isNotFound(error: unknown): boolean {
  const e = error as { code?: string | number; api_error?: { code?: number } };
  return e?.api_error?.code === 404 || e?.code === "404" || e?.code === 404 || /not found/i.test(String(error));
}
