import type { ConsumerContext, ConsumerDefinition } from "../../define/consumer.ts";
import { isRefusal, UnknownEventTypeError } from "../../define/errors.ts";
import type { EntityDefinition } from "../../define/entity.ts";
import type { FeedEntry, ParkedMessage, Store } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import { KeyedCaller } from "../keyed-caller.ts";
import type { Dispatcher } from "../dispatcher.ts";
import { describeError } from "../workflow/record.ts";
import { LeaseLostError, type Fence } from "../../store/cluster-port.ts";
import { SagaflowError } from "../../define/errors.ts";
import { WakeSignal } from "../wake-signal.ts";
import type { Observer } from "../../observe/observer.ts";
import { logEvent } from "../../observe/log-event.ts";
import type { Broker } from "../../broker/port.ts";
import { MessagePublisher, publishUnavailable } from "../topics/message-publisher.ts";
import { defaultHandlerTimeoutMs, isOutage, runWithHandlerTimeout } from "../handler-timeout.ts";
import { keyedTimers, type StartsTimers } from "../timers/timer-service.ts";

export interface ConsumerHost {
  store: Store;
  clock: Clock;
  log: (line: string) => void;
  keyedCall: Dispatcher["keyedCall"];
  timers: StartsTimers;
  /** Traces each delivery, linked to the command that wrote the entry. */
  observer?: Observer;
  /** For `ctx.publish` (consumers with `publishTo`). */
  broker?: Broker | undefined;
}

const batchSize = 256;
/**
 * Entries read but not finished (delivered or parked) at most: one instance backing off holds
 * back only its own entries, but the reader stops this far ahead of the slowest one (Property 5).
 */
const maxInFlight = 1_024;
const idlePollMs = 1_000;
const defaultMaxAttempts = 5;
const defaultBackoffMs = 100;
/** The longest a moved offset waits before it is stored on its own. */
const offsetDelayMs = 20;

type Handler = (message: unknown, ctx: ConsumerContext) => Promise<void> | void;

/**
 * Delivers a source's feed entries to one consumer. Entries are read in position order; each
 * instance's entries go through a queue of their own, one at a time and in order, while other
 * instances' queues run in parallel: a message that fails and backs off holds up only the later
 * messages of its own instance. The offset is the low-water mark: every entry at or below it is
 * delivered or durably parked, so it never passes a message still in hand (a crash redelivers what
 * is above it: at least once, with keyed calls making the targets change once).
 */
export class ConsumerRunner {
  /** Every entry at or below it is delivered or parked (in the store, for parked ones). */
  private offset = 0;
  /** The last position read into the queues. */
  private readPosition = 0;
  private storedOffset = 0;
  private running = false;
  /** The consumer's lease while this node delivers (several nodes). */
  private fence: Fence | undefined;
  private loop: Promise<void> | undefined;
  /** Instance id → position of its parked message: later entries of it are held behind. */
  private readonly blocked = new Map<string, number>();
  /** Positions read and not finished, in ascending order (read order): the first is the lowest. */
  private readonly unfinished = new Set<number>();
  /** Instance id → the end of its queue of work (entries, operator actions), run one at a time. */
  private readonly tails = new Map<string, Promise<void>>();
  /** Bumped when the queues are dropped after a failed commit: work of an older epoch stops. */
  private epoch = 0;
  /** A commit of a queue failed: the loop drops the queues and reads again from the offset. */
  private failure: unknown;
  private offsetTimer: NodeJS.Timeout | undefined;
  private readonly wakeSignal = new WakeSignal();
  /** Ends the waits for code that knows an event type (see waitForNewerCode): a stop cuts them short. */
  private readonly newerCodeWaits = new Set<() => void>();
  /** Positions of the messages whose wait for newer code this process has warned about. */
  private readonly warnedNewer = new Set<number>();
  private readonly publisher: MessagePublisher | undefined;

  constructor(
    readonly definition: ConsumerDefinition,
    private readonly host: ConsumerHost,
  ) {
    const { publishTo } = definition;
    if (publishTo && host.broker) this.publisher = new MessagePublisher(definition.name, publishTo, host.broker, host.log);
  }

  /** Starts delivering (on several nodes: this node holds the consumer's lease, with `fence`). */
  async begin(fence?: Fence): Promise<void> {
    this.fence = fence;
    this.offset = await this.host.store.loadOffset(this.definition.name);
    this.storedOffset = this.offset;
    await this.resetQueues();
    await this.warnIfStatesRemoved();
    this.running = true;
    this.loop = this.run();
    void this.retryNowHandled().catch((error: unknown) => this.host.log(`sagaflow: consumer ${this.definition.name}: retrying parked messages it now has handlers for failed: ${String(error)}`));
  }

  /**
   * Messages parked for an event type this consumer had no handler for, which this code has (a
   * rolling deploy: an older node met the newer event type first): retried at once, with those held
   * behind them, rather than left for an operator.
   */
  private async retryNowHandled(): Promise<void> {
    const handlers = this.definition.source.kind === "entity" ? this.definition.events : undefined;
    if (!handlers) return;
    const heads = (await this.parked()).filter((p) => p.blockedBy === null && p.error.code === "no_event_handler" && handlers[p.entry.type] !== undefined);
    for (const head of heads) {
      if (!this.running) return;
      const { delivered, parked } = await this.retry(head.entry.position);
      this.host.log(`sagaflow: consumer ${this.definition.name}: the message parked at position ${head.entry.position} for want of a handler for "${head.entry.type}", which this code has, retried: ${delivered} delivered, ${parked} parked`);
    }
  }

  /** A consumer of states starting below what retention removed misses those states: said loud at start. */
  private async warnIfStatesRemoved(): Promise<void> {
    const { source, name } = this.definition;
    if (source.kind === "entity") return; // entity events are never removed
    const removed = await this.host.store.retention.feedPrunedThrough();
    if (this.offset >= removed) return;
    this.host.log(
      `sagaflow: WARNING: consumer ${name} starts at position ${this.offset}, but retention removed states of ` +
        `key-value entities and workflows up to position ${removed}: it gets the ${source.name} states written since, ` +
        `not the ones removed (each instance's current state reaches it when the instance next changes). See GET /retention.`,
    );
  }

  /** New entries may be there: read now instead of at the next poll. */
  wake(): void {
    this.wakeSignal.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    for (const end of [...this.newerCodeWaits]) end();
    await this.loop;
    await this.settled();
    if (this.offsetTimer) clearTimeout(this.offsetTimer);
    this.offsetTimer = undefined;
    await this.storeOffset().catch((error: unknown) => {
      if (!(error instanceof LeaseLostError)) throw error;
    });
  }

  get position(): number {
    return this.offset;
  }

  /** Re-delivers a parked message and those held behind it, in order. */
  retry(position: number): Promise<{ delivered: number; parked: number }> {
    this.checkRunningHere();
    return this.release(position, false);
  }

  /** Drops a parked message for good and delivers those held behind it. */
  skip(position: number): Promise<{ delivered: number; parked: number }> {
    this.checkRunningHere();
    return this.release(position, true);
  }

  /** Where the consumer stands: this node's offset while it delivers, else the one the delivering node stored last. */
  currentOffset(): Promise<number> {
    return this.running ? Promise.resolve(this.offset) : this.host.store.loadOffset(this.definition.name);
  }

  /** Whether this node delivers this consumer's messages now. */
  get delivering(): boolean {
    return this.running;
  }

  /** Operator actions change what the delivering node holds in memory: only it may make them. */
  private checkRunningHere(): void {
    if (this.running) return;
    throw new SagaflowError(
      "not_here",
      `consumer "${this.definition.name}" is delivered by another node: send this to the node holding lease consumer/${this.definition.name} (see \`sagaflow nodes\`)`,
      { status: 409 },
    );
  }

  /** Queues `work` behind everything queued for instance `id`; it runs when they have. */
  private onInstance<T>(id: string, work: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(id) ?? Promise.resolve()).then(work);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.tails.set(id, tail);
    void tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return result;
  }

  /** Waits until every instance's queue has run out. */
  private async settled(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }

  /** Drops what is queued (after a failed commit, or at start): the store's parked messages say who is held. */
  private async resetQueues(): Promise<void> {
    this.epoch++;
    await this.settled();
    this.unfinished.clear();
    this.readPosition = this.offset;
    this.failure = undefined;
    this.blocked.clear();
    for (const parked of await this.parked()) {
      if (parked.blockedBy === null) this.blocked.set(parked.entry.id, parked.entry.position);
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (this.failure !== undefined) {
          const failure = this.failure;
          // Nothing of the failed work was stored: read again from the offset, with the holds the store knows.
          await this.resetQueues();
          throw failure instanceof Error ? failure : new Error(String(failure));
        }
        const room = maxInFlight - this.unfinished.size;
        if (room <= 0) {
          await this.wakeSignal.sleep(idlePollMs);
          continue;
        }
        const entries = await this.host.store.readFeed(this.readPosition, Math.min(batchSize, room), [this.definition.source.name]);
        if (entries.length === 0) {
          if (this.unfinished.size === 0) await this.storeOffset();
          await this.wakeSignal.sleep(idlePollMs);
          continue;
        }
        const epoch = this.epoch;
        for (const entry of entries) {
          this.unfinished.add(entry.position);
          void this.onInstance(entry.id, () => this.handle(entry, epoch));
        }
        this.readPosition = entries.at(-1)!.position;
      } catch (error) {
        if (error instanceof LeaseLostError) {
          // Another node delivers now, from the stored offset; keyed calls make overlap harmless.
          this.lostLease(error);
          return;
        }
        this.host.log(`sagaflow: consumer ${this.definition.name}: ${String(error)}; retrying`);
        await this.wakeSignal.sleep(idlePollMs);
      }
    }
  }

  private lostLease(error: LeaseLostError): void {
    if (!this.running) return;
    this.host.log(`sagaflow: consumer ${this.definition.name}: ${error.message}; stopping here`);
    this.running = false;
    this.wake();
  }

  /**
   * Delivers (or parks) one entry of an instance's queue. Not begun once the runner stops: a stop
   * waits for the messages in hand, not for every one queued behind them (the offset stays below
   * those, so the next start delivers them).
   */
  private async handle(entry: FeedEntry, epoch: number): Promise<void> {
    if (epoch !== this.epoch || this.failure !== undefined || !this.running) return;
    try {
      const park = await this.deliverInOrder([entry]);
      if (epoch !== this.epoch) return;
      if (park.length > 0) {
        // Durable before the offset may pass it; stored with the offset as it stands (below it).
        await this.host.store.commitConsumer(this.definition.name, this.offset, park, [], this.fence);
        this.storedOffset = Math.max(this.storedOffset, this.offset);
        this.reportParked(park);
      }
      this.finish(entry.position);
    } catch (error) {
      if (epoch !== this.epoch) return;
      if (error instanceof LeaseLostError) {
        this.lostLease(error);
        return;
      }
      this.failure = error;
      this.epoch++;
      this.wake();
    }
  }

  /** The entry at `position` is delivered or parked: the offset moves up to the lowest unfinished one. */
  private finish(position: number): void {
    this.unfinished.delete(position);
    const lowest = this.unfinished.values().next();
    this.offset = lowest.done ? this.readPosition : lowest.value - 1;
    if (this.unfinished.size < maxInFlight / 2) this.wake();
    if (this.offsetTimer === undefined && this.offset !== this.storedOffset) {
      this.offsetTimer = setTimeout(() => {
        this.offsetTimer = undefined;
        this.storeOffset().catch((error: unknown) => {
          if (error instanceof LeaseLostError) this.lostLease(error);
          else this.host.log(`sagaflow: consumer ${this.definition.name}: storing the offset failed: ${String(error)}; trying again later`);
        });
      }, offsetDelayMs);
      this.offsetTimer.unref();
    }
  }

  /** Stores the offset if it moved since it was last stored. */
  private async storeOffset(): Promise<void> {
    const offset = this.offset;
    if (this.storedOffset >= offset) return;
    await this.host.store.commitConsumer(this.definition.name, offset, [], [], this.fence);
    this.storedOffset = Math.max(this.storedOffset, offset);
  }

  /** Delivers one instance's entries in order; returns what must be parked. */
  private async deliverInOrder(entries: FeedEntry[], decideRefusalAgain = false): Promise<ParkedMessage[]> {
    const parked: ParkedMessage[] = [];
    for (const entry of entries) {
      const head = this.blocked.get(entry.id);
      if (head !== undefined) {
        const error = { code: "held", message: `waiting behind parked message at position ${head}` };
        parked.push(this.parkedMessage(entry, error, 0, head));
        continue;
      }
      const failure = await this.deliverWithRetries(entry, decideRefusalAgain);
      if (failure) {
        parked.push(this.parkedMessage(entry, describeError(failure.error, "handler"), failure.attempts, null));
        this.blocked.set(entry.id, entry.position);
      }
    }
    return parked;
  }

  /** `decideRefusalAgain`: an operator's retry of a parked message (see Pending.decideRefusalAgain). */
  private async deliverWithRetries(entry: FeedEntry, decideRefusalAgain: boolean): Promise<{ error: unknown; attempts: number } | undefined> {
    const maxAttempts = this.definition.retry?.maxAttempts ?? defaultMaxAttempts;
    const backoff = this.definition.retry?.initialBackoffMs ?? defaultBackoffMs;
    let attempts = 0;
    for (;;) {
      try {
        await (this.host.observer ? this.host.observer.delivery(this.definition.name, entry, () => this.deliver(entry, decideRefusalAgain)) : this.deliver(entry, decideRefusalAgain));
        return undefined;
      } catch (error) {
        // The database out of reach is not the handler's failure: try again, using up no attempt
        // (an outage must not park messages). The batch's commit would fail anyway meanwhile.
        const outage = isOutage(error, this.publisher);
        // Stopping: leave it unstored, to be delivered again at the next start, with all its
        // attempts (parking it would blame the handler for the shutdown, or for a broker that
        // `ctx.publish` was waiting out). A refusal is an answer, and is parked.
        if (!this.running && !isRefusal(error)) throw error;
        if (error instanceof UnknownEventTypeError) {
          // Data newer than this node's code: an operator's retry here is answered at once (503,
          // the message stays parked); otherwise the instance waits, using up no attempt.
          if (decideRefusalAgain) throw error;
          await this.waitForNewerCode(entry, error);
          if (!this.running) throw error; // stopping: delivered again at the next start
          continue;
        }
        if (!outage) attempts++;
        // A refusal will not change by trying again: park it at once.
        if (attempts >= maxAttempts || isRefusal(error)) return { error, attempts };
        await new Promise<void>((resolve) => this.host.clock.schedule(backoff * 2 ** Math.max(0, attempts - 1), resolve));
      }
    }
  }

  /**
   * The message holds (or its handler met) an event type this node's code does not define: newer
   * code wrote it (a rolling deploy, or a rollback). Neither skipped nor parked: its instance's
   * queue waits — other instances go on — and tries again every few seconds until code that knows
   * the type delivers it (this node's, or the node that holds the consumer next). Said once per message.
   */
  private async waitForNewerCode(entry: FeedEntry, error: UnknownEventTypeError): Promise<void> {
    if (!this.warnedNewer.has(entry.position)) {
      if (this.warnedNewer.size >= 10_000) this.warnedNewer.clear();
      this.warnedNewer.add(entry.position);
      this.host.log(
        `sagaflow: WARNING: consumer ${this.definition.name}: the message at position ${entry.position} (${entry.component} "${entry.id}" ${entry.type}) ` +
          `waits for code that knows its event type: ${error.message} ${entry.component} "${entry.id}"'s later messages wait behind it ` +
          `(tried again every ${error.retryAfterSeconds} s, using up no attempt; nothing skipped or parked); other instances go on.`,
      );
    }
    await new Promise<void>((resolve) => {
      const end = () => {
        handle.cancel();
        this.newerCodeWaits.delete(end);
        resolve();
      };
      const handle = this.host.clock.schedule(error.retryAfterSeconds * 1_000, end);
      this.newerCodeWaits.add(end);
      if (!this.running) end();
    });
  }

  private async deliver(entry: FeedEntry, decideRefusalAgain: boolean): Promise<void> {
    const caller = new KeyedCaller(`consumer:${this.definition.name}:${entry.position}`, this.host.keyedCall, undefined, decideRefusalAgain);
    let abandoned = false;
    const ctx: ConsumerContext = {
      id: entry.id,
      position: entry.position,
      call: (definition, id) => caller.call(definition, id),
      // Keyed by the message: a redelivery starting them again changes their targets once.
      timers: keyedTimers(this.host.timers, `consumer:${this.definition.name}:${entry.position}`),
      publish: this.publisher ? this.publisher.forMessage(String(entry.position), () => this.running && !abandoned) : publishUnavailable(this.definition.name),
    };
    const abandon = () => {
      abandoned = true;
      caller.close();
    };
    const timeoutMs = this.definition.timeoutMs ?? defaultHandlerTimeoutMs;
    await runWithHandlerTimeout(timeoutMs, `consumer ${this.definition.name}'s handler (position ${entry.position})`, abandon, () => this.runHandler(entry, ctx));
  }

  private async runHandler(entry: FeedEntry, ctx: ConsumerContext): Promise<void> {
    const { definition } = this;
    if (definition.source.kind === "entity") {
      if (entry.type.startsWith("$")) return; // the deletion marker
      const handler = definition.events?.[entry.type] as Handler | undefined;
      if (!handler) {
        // A type the entity's own definition lacks was written by newer code: not one this
        // consumer chose to leave out (ignoreUnknown), and no failure of it. It waits for code that knows it.
        const source = definition.source as EntityDefinition;
        if (!Object.hasOwn(source.events as object, entry.type)) throw new UnknownEventTypeError(source.name, entry.type);
        if (definition.ignoreUnknown) return;
        // Trying again cannot help: parked at once (a refusal), not after its retries.
        throw new SagaflowError("no_event_handler", `consumer "${definition.name}" has no handler for event type "${entry.type}" (set ignoreUnknown to skip such events)`);
      }
      await handler(entry.payload, ctx);
    } else if (definition.source.kind === "key-value") {
      await (definition.state as Handler)({ state: entry.payload, deleted: entry.type === "$deleted" }, ctx);
    } else {
      await (definition.state as Handler)(entry.payload, ctx);
    }
  }

  /** The parked message at `position` that heads its instance's; `held` (409) for one waiting behind another, else `not_found`. */
  private parkedHead(all: ParkedMessage[], position: number): ParkedMessage {
    const found = all.find((p) => p.entry.position === position);
    if (found && found.blockedBy === null) return found;
    if (found) {
      throw new SagaflowError("held", `the message at position ${position} is held behind the parked message at position ${found.blockedBy} of the same instance: retry or skip that one; this one follows it`, { status: 409 });
    }
    throw new SagaflowError("not_found", `consumer "${this.definition.name}" has no parked message at position ${position}`, { status: 404 });
  }

  /** Runs in the instance's queue, so that it is never interleaved with that instance's new entries. */
  private async release(position: number, skipHead: boolean): Promise<{ delivered: number; parked: number }> {
    const found = this.parkedHead(await this.parked(), position);
    const id = found.entry.id;
    return this.onInstance(id, async () => {
      const all = await this.parked();
      const head = this.parkedHead(all, position);
      const behind = all.filter((p) => p.blockedBy === position);
      const entries = [...(skipHead ? [] : [head.entry]), ...behind.map((p) => p.entry)];
      this.blocked.delete(id);
      try {
        const park = await this.deliverInOrder(entries, true);
        // The old rows go and any new ones come in one transaction: nothing is lost if we crash.
        await this.host.store.commitConsumer(this.definition.name, this.offset, park, [position, ...behind.map((p) => p.entry.position)], this.fence);
        this.reportParked(park);
        return { delivered: entries.length - park.length, parked: park.length };
      } catch (error) {
        // Nothing of it was stored: the store still holds the instance behind its parked message.
        this.blocked.set(id, position);
        throw error;
      }
    });
  }

  private async parked(): Promise<ParkedMessage[]> {
    return this.host.store.listParked(this.definition.name, 100_000);
  }

  /** One warning line per message parked for its own failure (those held behind it are counted). */
  private reportParked(park: ParkedMessage[]): void {
    for (const message of park) {
      if (message.blockedBy !== null) continue;
      const { entry, error } = message;
      const held = park.filter((p) => p.blockedBy === entry.position).length;
      const fields = { event: "message_parked", consumer: this.definition.name, position: entry.position, component: entry.component, id: entry.id, type: entry.type, attempts: message.attempts, error_code: error.code, error_message: error.message, held_behind: held };
      logEvent(this.host.log, "warn", fields,
        `sagaflow: WARNING: consumer ${this.definition.name} parked the message at position ${entry.position} ` +
          `(${entry.component} "${entry.id}" ${entry.type}) after ${message.attempts} attempt(s): ${error.code}: ${error.message}` +
          `${held > 0 ? `; ${held} later message(s) of "${entry.id}" wait behind it` : ""}; see \`sagaflow parked ${this.definition.name}\``,
      );
    }
  }

  private parkedMessage(entry: FeedEntry, error: { code: string; message: string }, attempts: number, blockedBy: number | null): ParkedMessage {
    return { consumer: this.definition.name, entry, error, attempts, parkedAt: this.host.clock.now(), blockedBy };
  }
}
