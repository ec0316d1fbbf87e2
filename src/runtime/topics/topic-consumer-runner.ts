import type { Broker, BrokerMessage, TopicSubscription } from "../../broker/port.ts";
import { isRefusal, SagaflowError } from "../../define/errors.ts";
import type { TopicConsumerDefinition, TopicContext } from "../../define/topic.ts";
import { LeaseLostError, type Fence } from "../../store/cluster-port.ts";
import type { ParkedMessage, Store } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import type { KeyedCall } from "../dispatcher.ts";
import { KeyedCaller } from "../keyed-caller.ts";
import { describeError } from "../workflow/record.ts";
import { parseTopicMessage, type RawTopicMessage } from "./topic-message.ts";
import { MessagePublisher, publishUnavailable } from "./message-publisher.ts";
import { streamEpoch } from "./stream-epoch.ts";
import { logEvent } from "../../observe/log-event.ts";
import { defaultHandlerTimeoutMs, isOutage, runWithHandlerTimeout } from "../handler-timeout.ts";
import { keyedTimers, type StartsTimers } from "../timers/timer-service.ts";

export interface TopicHost {
  store: Store;
  clock: Clock;
  log: (line: string) => void;
  keyedCall: KeyedCall;
  timers: StartsTimers;
  broker: Broker;
}

const defaultMaxInFlight = 256;
const defaultMaxAttempts = 5;
const defaultBackoffMs = 100;
const ackWaitMs = 30_000;
const decoder = new TextDecoder();

/** What a parked topic message keeps: enough to handle it again. */
/** Where a topic consumer stands in its stream. */
type TopicLag = { pending: number; inFlight: number; ackFloor: number; head: number };

/** How long a report waits for the broker before it gives the last figures it had. */
const lagWaitMs = 500;

/** What tells one message at a sequence from another: its stream's epoch (if kept), its subject and text. */
type MessageIdentity = { streamEpoch?: number | undefined; subject: string; text: string };

const identityOfParked = (p: ParkedMessage): MessageIdentity => {
  const stored = p.entry.payload as ParkedTopicPayload;
  return { streamEpoch: stored.streamEpoch, subject: p.entry.type, text: stored.text };
};

/** A message parked before epochs were kept is told by its subject and text alone. */
const isSameMessage = (parked: MessageIdentity, message: MessageIdentity) =>
  (parked.streamEpoch === undefined || parked.streamEpoch === message.streamEpoch) && parked.subject === message.subject && parked.text === message.text;

export interface ParkedTopicPayload {
  text: string;
  headers: Record<string, string>;
  /** Its stream's epoch (see stream-epoch.ts): a retry keeps the message's default idempotency key. */
  streamEpoch?: number;
  /** The key its calls were made with (parked after delivery): retention keeps their records while it is parked. */
  idempotencyKey?: string;
}

/**
 * Delivers one broker stream to a topic consumer. Each message is acknowledged only after the
 * calls it made are committed, or after it is parked (the parked row committed first): a crash
 * in between delivers it again, and its keyed calls return their stored replies. Messages of one
 * key run one at a time in stream order; other keys run in parallel, up to `maxInFlight`.
 */
export class TopicConsumerRunner {
  private subscription: TopicSubscription | undefined;
  private running = false;
  private fence: Fence | undefined;
  private loop: Promise<void> | undefined;
  /** Key → stream sequence of its parked message: later messages of the key are held behind it. */
  private readonly blocked = new Map<string, number>();
  /**
   * Parked sequences, with what was parked there: a redelivery of one is
   * acknowledged and dropped; another message at that sequence (the stream was deleted and made
   * again, so sequences start over) is not the parked one, and is handled.
   */
  private readonly parkedSeqs = new Map<number, MessageIdentity>();
  /** Sequences being handled: a redelivery meanwhile (broker restart) is dropped. */
  private readonly inFlight = new Set<number>();
  /** The tail of each key's queue. */
  private readonly queues = new Map<string, Promise<void>>();
  lastError: string | undefined;
  /** The epoch of the stream subscribed to (see stream-epoch.ts). */
  private streamEpoch = 0;
  /** The broker's latest answer to `lag()`, and when it came. */
  private lastLag: (TopicLag & { at: number }) | undefined;
  private readonly publisher: MessagePublisher | undefined;

  constructor(
    readonly definition: TopicConsumerDefinition,
    private readonly host: TopicHost,
  ) {
    const { publishTo } = definition.options;
    if (publishTo) this.publisher = new MessagePublisher(definition.name, publishTo, host.broker, host.log);
  }

  get streamName(): string {
    return this.definition.options.stream.name;
  }

  get delivering(): boolean {
    return this.running;
  }

  async begin(fence?: Fence): Promise<void> {
    this.fence = fence;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.subscription?.close().catch(() => {});
    await this.loop;
    await Promise.all(this.queues.values());
  }

  /** Messages not acknowledged yet (pending and in flight), from the broker. */
  /**
   * Where the consumer stands in its stream, as the broker says; while the broker does not answer
   * within `lagWaitMs`, the figures it last gave, with when (`asOf`): an outage must neither stall
   * GET /consumers and /metrics nor report a lag of 0 that silences alerts.
   */
  async lag(): Promise<(TopicLag & { asOf?: number }) | undefined> {
    const asked = this.subscription?.lag();
    let timer: NodeJS.Timeout | undefined;
    const fresh = asked && (await Promise.race([asked.catch(() => undefined), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), lagWaitMs)))]));
    clearTimeout(timer);
    if (fresh) {
      this.lastLag = { ...fresh, at: Date.now() };
      return fresh;
    }
    if (!this.lastLag) return undefined;
    const { at, ...figures } = this.lastLag;
    return { ...figures, asOf: at };
  }

  private async run(): Promise<void> {
    const { options } = this.definition;
    while (this.running) {
      try {
        await this.host.broker.ensureStream(options.stream);
        this.blocked.clear();
        this.parkedSeqs.clear();
        for (const parked of await this.host.store.listParked(this.definition.name, 100_000)) {
          this.parkedSeqs.set(parked.entry.position, identityOfParked(parked));
          if (parked.blockedBy === null && !parked.entry.id.startsWith("$")) this.blocked.set(parked.entry.id, parked.entry.position);
        }
        const durable = `sagaflow-${this.definition.name}`;
        this.streamEpoch = await streamEpoch(this.host.broker, this.host.store, this.definition.name, options.stream.name, durable, this.fence);
        this.subscription = await this.host.broker.subscribe({
          stream: options.stream.name,
          durable,
          ...(options.filterSubject === undefined ? {} : { filterSubject: options.filterSubject }),
          maxInFlight: options.maxInFlight ?? defaultMaxInFlight,
          ackWaitMs,
        });
        for await (const message of this.subscription.messages()) {
          if (!this.running) break;
          if (this.inFlight.has(message.seq)) continue;
          const parkedThere = this.parkedSeqs.get(message.seq);
          if (parkedThere !== undefined) {
            if (isSameMessage(parkedThere, { streamEpoch: this.streamEpoch, subject: message.subject, text: decoder.decode(message.data) })) {
              message.ack();
              continue;
            }
            this.warnRecreated(message.seq);
          }
          this.accept(message);
        }
        // Ended (stopping, or the broker came back): finish what is in hand, then subscribe again.
        await Promise.all(this.queues.values());
      } catch (error) {
        if (!this.running) break;
        this.lastError = String(error);
        this.host.log(`sagaflow: topic consumer ${this.definition.name}: ${String(error)}; retrying`);
        await Promise.all(this.queues.values());
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
  }

  private accept(message: BrokerMessage): void {
    this.inFlight.add(message.seq);
    const raw: RawTopicMessage = {
      stream: message.stream,
      seq: message.seq,
      streamEpoch: this.streamEpoch,
      subject: message.subject,
      headers: message.headers,
      text: decoder.decode(message.data),
      ack: () => message.ack(),
      working: () => message.working(),
    };
    // The key is in the body: parse first (in arrival order), then queue behind the key.
    const parsed = parseTopicMessage(this.definition.options, this.definition.name, raw);
    void this.enqueueParsed(raw, parsed).finally(() => this.inFlight.delete(message.seq));
  }

  private enqueueParsed(raw: RawTopicMessage, parsed: ReturnType<typeof parseTopicMessage>): Promise<void> {
    // A schema may check asynchronously: keys are taken in arrival order all the same.
    const previous = this.queues.get("$parse") ?? Promise.resolve();
    const queued = previous.then(async () => {
      const p = await parsed;
      const key = p.key ?? `$unkeyed:${raw.seq}`;
      return { done: this.enqueue(key, () => this.handle(raw, p, key)) };
    });
    const tail = queued.then(() => {}, () => {});
    this.queues.set("$parse", tail);
    void tail.then(() => {
      if (this.queues.get("$parse") === tail) this.queues.delete("$parse");
    });
    return queued.then((q) => q.done);
  }

  /** Runs `work` after the key's earlier work; resolves when it is done (it never rejects). */
  private enqueue(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const next = previous.then(work).catch((error: unknown) => {
      this.host.log(`sagaflow: topic consumer ${this.definition.name}: ${String(error)}`);
    });
    this.queues.set(key, next);
    void next.then(() => {
      if (this.queues.get(key) === next) this.queues.delete(key);
    });
    return next;
  }

  /** Handles one message of `key` (its queue's turn): delivers it, or parks it, then acknowledges it. */
  private async handle(raw: RawTopicMessage, parsed: Awaited<ReturnType<typeof parseTopicMessage>>, key: string): Promise<void> {
    // Stopped (the lease moved, or the node stops): leave what was queued unacknowledged. The
    // holder of the lease delivers it again; handling it here too would only repeat that work
    // (keyed calls change nothing twice, but a handler may do more than calls).
    if (!this.running) return;
    const park = await this.outcome(raw, parsed, key);
    if (park === "leave") return;
    if (park) {
      try {
        await this.host.store.commitConsumer(this.definition.name, 0, [park], [], this.fence);
      } catch (error) {
        if (error instanceof LeaseLostError) this.running = false;
        if (park.blockedBy === null && this.blocked.get(key) === raw.seq) this.blocked.delete(key);
        // Unacknowledged: delivered again after the ack wait.
        throw error;
      }
      this.parkedSeqs.set(raw.seq, { streamEpoch: raw.streamEpoch, subject: raw.subject, text: raw.text });
      this.report([park]);
    }
    raw.ack();
  }

  /** Undefined: handled. A parked message: park it. "leave": neither (stopping): it comes again. */
  /** `decideRefusalAgain`: an operator's retry of a parked message (see Pending.decideRefusalAgain). */
  private async outcome(raw: RawTopicMessage, parsed: Awaited<ReturnType<typeof parseTopicMessage>>, key: string, decideRefusalAgain = false): Promise<ParkedMessage | undefined | "leave"> {
    const head = this.blocked.get(key);
    if (head !== undefined && head !== raw.seq) {
      return this.parkedMessage(raw, key, { code: "held", message: `waiting behind parked message at sequence ${head}` }, 0, head);
    }
    if (!parsed.ok) {
      if (parsed.key !== undefined) this.blocked.set(key, raw.seq);
      return this.parkedMessage(raw, key, parsed.error, 0, null);
    }
    const failure = await this.deliverWithRetries(raw, parsed.body, key, parsed.idempotencyKey, decideRefusalAgain);
    if (failure === "leave") return "leave";
    if (!failure) return undefined;
    this.blocked.set(key, raw.seq);
    return this.parkedMessage(raw, key, describeError(failure.error, "handler"), failure.attempts, null, parsed.idempotencyKey);
  }

  private async deliverWithRetries(raw: RawTopicMessage, body: unknown, key: string, idempotencyKey: string, decideRefusalAgain: boolean): Promise<{ error: unknown; attempts: number } | undefined | "leave"> {
    const retry = this.definition.options.retry;
    const maxAttempts = retry?.maxAttempts ?? defaultMaxAttempts;
    const backoff = retry?.initialBackoffMs ?? defaultBackoffMs;
    let attempts = 0;
    for (;;) {
      if (!this.running) return "leave";
      try {
        const caller = new KeyedCaller(`topic:${this.definition.name}:${idempotencyKey}`, this.host.keyedCall, undefined, decideRefusalAgain);
        let abandoned = false;
        const ctx: TopicContext = {
          stream: raw.stream,
          seq: raw.seq,
          subject: raw.subject,
          headers: raw.headers,
          key,
          idempotencyKey,
          call: (definition, id) => caller.call(definition, id),
          // Keyed by the message, as its calls: a redelivery starting them again changes their targets once.
          timers: keyedTimers(this.host.timers, `topic:${this.definition.name}:${idempotencyKey}`),
          publish: this.publisher ? this.publisher.forMessage(idempotencyKey, () => this.running && !abandoned) : publishUnavailable(this.definition.name),
        };
        const abandon = () => {
          abandoned = true;
          caller.close();
        };
        const timeoutMs = this.definition.options.timeoutMs ?? defaultHandlerTimeoutMs;
        await runWithHandlerTimeout(timeoutMs, `topic consumer ${this.definition.name}'s handler (sequence ${raw.seq})`, abandon, () => this.definition.options.handle(body, ctx));
        return undefined;
      } catch (error) {
        // The database out of reach is not the handler's fault: no attempt used, never parked.
        const outage = isOutage(error, this.publisher);
        if (!this.running && (outage || !isRefusal(error))) return "leave";
        if (!outage) attempts++;
        if (attempts >= maxAttempts || isRefusal(error)) return { error, attempts };
        raw.working();
        await new Promise<void>((resolve) => this.host.clock.schedule(backoff * 2 ** Math.max(0, attempts - 1), resolve));
      }
    }
  }

  /** Handles a parked message again (`retry`) or drops it (`skip`), then those held behind it. */
  release(seq: number, action: "retry" | "skip"): Promise<{ delivered: number; parked: number }> {
    if (!this.running) {
      throw new SagaflowError("not_here", `topic consumer "${this.definition.name}" is delivered by another node (see \`sagaflow nodes\`)`, { status: 409 });
    }
    return new Promise((resolve, reject) => {
      void (async () => {
        const all = await this.host.store.listParked(this.definition.name, 100_000);
        const head = all.find((p) => p.entry.position === seq && p.blockedBy === null);
        if (!head) throw new SagaflowError("not_found", `topic consumer "${this.definition.name}" has no parked message at sequence ${seq}`, { status: 404 });
        const key = head.entry.id;
        await this.enqueue(key, async () => {
          try {
            resolve(await this.releaseInQueue(head, all.filter((p) => p.blockedBy === seq), action));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      })().catch(reject);
    });
  }

  private async releaseInQueue(head: ParkedMessage, behind: ParkedMessage[], action: "retry" | "skip"): Promise<{ delivered: number; parked: number }> {
    const key = head.entry.id;
    if (this.blocked.get(key) === head.entry.position) this.blocked.delete(key);
    const entries = [...(action === "skip" ? [] : [head]), ...behind];
    const park: ParkedMessage[] = [];
    for (const p of entries) {
      const stored = p.entry.payload as ParkedTopicPayload;
      const raw: RawTopicMessage = {
        stream: p.entry.component,
        seq: p.entry.position,
        ...(stored.streamEpoch === undefined ? {} : { streamEpoch: stored.streamEpoch }),
        subject: p.entry.type,
        headers: stored.headers,
        text: stored.text,
        ack: () => {},
        working: () => {},
      };
      const parsed = await parseTopicMessage(this.definition.options, this.definition.name, raw);
      const outcome = await this.outcome(raw, parsed, key, true);
      if (outcome === "leave") throw new SagaflowError("stopping", "the service is stopping", { status: 503 });
      if (outcome) park.push(outcome);
    }
    const removed = [head.entry.position, ...behind.map((p) => p.entry.position)];
    await this.host.store.commitConsumer(this.definition.name, 0, park, removed, this.fence);
    for (const position of removed) this.parkedSeqs.delete(position);
    for (const p of park) this.parkedSeqs.set(p.entry.position, identityOfParked(p));
    this.report(park);
    return { delivered: entries.length - park.length, parked: park.length };
  }

  /** Said once per process: sequences that repeat mean the stream was made again. */
  private recreatedWarned = false;

  private warnRecreated(seq: number): void {
    if (this.recreatedWarned) return;
    this.recreatedWarned = true;
    this.host.log(
      `sagaflow: WARNING: topic consumer ${this.definition.name}: stream ${this.streamName} holds another message at sequence ${seq} than the one parked there: ` +
        `the stream was deleted and made again, so its sequences start over. The new messages are handled; the parked ones of the old stream stay until skipped.`,
    );
  }

  private parkedMessage(raw: RawTopicMessage, key: string, error: { code: string; message: string }, attempts: number, blockedBy: number | null, idempotencyKey?: string): ParkedMessage {
    const payload: ParkedTopicPayload = {
      text: raw.text,
      headers: { ...raw.headers },
      ...(raw.streamEpoch === undefined ? {} : { streamEpoch: raw.streamEpoch }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    };
    return {
      consumer: this.definition.name,
      entry: { position: raw.seq, component: raw.stream, id: key, seq: 0, type: raw.subject, payload, at: this.host.clock.now() },
      error,
      attempts,
      parkedAt: this.host.clock.now(),
      blockedBy,
    };
  }

  private report(park: ParkedMessage[]): void {
    for (const p of park) {
      if (p.blockedBy !== null) continue;
      const fields = { event: "message_parked", consumer: this.definition.name, position: p.entry.position, stream: p.entry.component, key: p.entry.id, subject: p.entry.type, attempts: p.attempts, error_code: p.error.code, error_message: p.error.message };
      logEvent(this.host.log, "warn", fields,
        `sagaflow: WARNING: topic consumer ${this.definition.name} parked ${p.entry.type} #${p.entry.position} (key "${p.entry.id}") ` +
          `after ${p.attempts} attempt(s): ${p.error.code}: ${p.error.message}; see \`sagaflow parked ${this.definition.name}\``,
      );
    }
  }
}
