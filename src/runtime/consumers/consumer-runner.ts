import type { ConsumerContext, ConsumerDefinition } from "../../define/consumer.ts";
import { isRefusal, isStoreUnavailable } from "../../define/errors.ts";
import type { Timers } from "../../define/handlers.ts";
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

export interface ConsumerHost {
  store: Store;
  clock: Clock;
  log: (line: string) => void;
  keyedCall: Dispatcher["keyedCall"];
  timers: Timers;
  /** Traces each delivery, linked to the command that wrote the entry. */
  observer?: Observer;
}

const batchSize = 256;
const idlePollMs = 1_000;
const defaultMaxAttempts = 5;
const defaultBackoffMs = 100;
/** The longest a handled batch's offset waits before it is stored on its own. */
const offsetDelayMs = 20;

type Handler = (message: unknown, ctx: ConsumerContext) => Promise<void> | void;

/**
 * Delivers a source's feed entries to one consumer. Entries are read in position order, in
 * batches; within a batch, instances run in parallel and each instance's entries in order. The
 * offset is stored after the batch (with any parked messages, in one transaction), so a crash
 * redelivers the batch: at least once, with keyed calls making the targets change once.
 */
export class ConsumerRunner {
  private offset = 0;
  private storedOffset = 0;
  private offsetStoredAt = 0;
  private running = false;
  /** The consumer's lease while this node delivers (several nodes). */
  private fence: Fence | undefined;
  private loop: Promise<void> | undefined;
  /** Instance id → position of its parked message: later entries of it are held behind. */
  private readonly blocked = new Map<string, number>();
  private readonly wakeSignal = new WakeSignal();
  /** Serialises batches and operator actions, which both change offsets and parked messages. */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly definition: ConsumerDefinition,
    private readonly host: ConsumerHost,
  ) {}

  /** Starts delivering (on several nodes: this node holds the consumer's lease, with `fence`). */
  async begin(fence?: Fence): Promise<void> {
    this.fence = fence;
    this.offset = await this.host.store.loadOffset(this.definition.name);
    this.storedOffset = this.offset;
    this.blocked.clear();
    for (const parked of await this.parked()) {
      if (parked.blockedBy === null) this.blocked.set(parked.entry.id, parked.entry.position);
    }
    this.running = true;
    this.loop = this.run();
  }

  /** New entries may be there: read now instead of at the next poll. */
  wake(): void {
    this.wakeSignal.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    await this.lock;
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
    return this.exclusive(() => this.release(position, false));
  }

  /** Drops a parked message for good and delivers those held behind it. */
  skip(position: number): Promise<{ delivered: number; parked: number }> {
    this.checkRunningHere();
    return this.exclusive(() => this.release(position, true));
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

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.lock.then(async () => {
      const blocked = new Map(this.blocked);
      try {
        return await work();
      } catch (error) {
        // Nothing of the work was stored (the commit failed): its holds must go too, or a redone
        // batch would hold a message behind itself, or behind one that is not parked.
        this.blocked.clear();
        for (const [id, position] of blocked) this.blocked.set(id, position);
        throw error;
      }
    });
    this.lock = result.catch(() => {});
    return result;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const entries = await this.host.store.readFeed(this.offset, batchSize, [this.definition.source.name]);
        if (entries.length === 0) {
          await this.storeOffset();
          await this.wakeSignal.sleep(idlePollMs);
          continue;
        }
        await this.exclusive(async () => {
          const park = (await Promise.all(groupById(entries).map((group) => this.deliverInOrder(group)))).flat();
          const last = entries.at(-1)!.position;
          // Parked messages are stored with the offset at once. A bare offset may wait a little
          // (a crash only redelivers, and keyed calls make that harmless): this saves a commit
          // and an fsync per batch when messages trickle in one at a time.
          if (park.length > 0 || Date.now() - this.offsetStoredAt >= offsetDelayMs) {
            await this.host.store.commitConsumer(this.definition.name, last, park, [], this.fence);
            this.reportParked(park);
            this.offsetStoredAt = Date.now();
            this.storedOffset = last;
          }
          this.offset = last;
        });
      } catch (error) {
        if (error instanceof LeaseLostError) {
          // Another node delivers now, from the stored offset; keyed calls make overlap harmless.
          this.host.log(`sagaflow: consumer ${this.definition.name}: ${error.message}; stopping here`);
          this.running = false;
          return;
        }
        this.host.log(`sagaflow: consumer ${this.definition.name}: ${String(error)}; retrying`);
        await this.wakeSignal.sleep(idlePollMs);
      }
    }
  }

  /** Stores the offset if it moved since it was last stored. */
  private async storeOffset(): Promise<void> {
    if (this.storedOffset === this.offset) return;
    await this.exclusive(async () => {
      await this.host.store.commitConsumer(this.definition.name, this.offset, [], [], this.fence);
      this.storedOffset = this.offset;
      this.offsetStoredAt = Date.now();
    });
  }

  /** Delivers one instance's entries in order; returns what must be parked. */
  private async deliverInOrder(entries: FeedEntry[]): Promise<ParkedMessage[]> {
    const parked: ParkedMessage[] = [];
    for (const entry of entries) {
      const head = this.blocked.get(entry.id);
      if (head !== undefined) {
        const error = { code: "held", message: `waiting behind parked message at position ${head}` };
        parked.push(this.parkedMessage(entry, error, 0, head));
        continue;
      }
      const failure = await this.deliverWithRetries(entry);
      if (failure) {
        parked.push(this.parkedMessage(entry, describeError(failure.error), failure.attempts, null));
        this.blocked.set(entry.id, entry.position);
      }
    }
    return parked;
  }

  private async deliverWithRetries(entry: FeedEntry): Promise<{ error: unknown; attempts: number } | undefined> {
    const maxAttempts = this.definition.retry?.maxAttempts ?? defaultMaxAttempts;
    const backoff = this.definition.retry?.initialBackoffMs ?? defaultBackoffMs;
    let attempts = 0;
    for (;;) {
      try {
        await (this.host.observer ? this.host.observer.delivery(this.definition.name, entry.position, () => this.deliver(entry)) : this.deliver(entry));
        return undefined;
      } catch (error) {
        // The database out of reach is not the handler's failure: try again, using up no attempt
        // (an outage must not park messages). The batch's commit would fail anyway meanwhile.
        const outage = isStoreUnavailable(error);
        // Stopping: leave it unstored, to be delivered again (parking it would blame the handler).
        if (outage && !this.running) throw error;
        if (!outage) attempts++;
        // A refusal will not change by trying again: park it at once.
        if (attempts >= maxAttempts || isRefusal(error) || !this.running) return { error, attempts };
        await new Promise<void>((resolve) => this.host.clock.schedule(backoff * 2 ** Math.max(0, attempts - 1), resolve));
      }
    }
  }

  private async deliver(entry: FeedEntry): Promise<void> {
    const caller = new KeyedCaller(`consumer:${this.definition.name}:${entry.position}`, this.host.keyedCall);
    const ctx: ConsumerContext = {
      id: entry.id,
      position: entry.position,
      call: (definition, id) => caller.call(definition, id),
      timers: this.host.timers,
    };
    const { definition } = this;
    if (definition.source.kind === "entity") {
      if (entry.type.startsWith("$")) return; // the deletion marker
      const handler = definition.events?.[entry.type] as Handler | undefined;
      if (!handler) {
        if (definition.ignoreUnknown) return;
        throw new Error(`consumer "${definition.name}" has no handler for event type "${entry.type}" (set ignoreUnknown to skip such events)`);
      }
      await handler(entry.payload, ctx);
    } else if (definition.source.kind === "key-value") {
      await (definition.state as Handler)({ state: entry.payload, deleted: entry.type === "$deleted" }, ctx);
    } else {
      await (definition.state as Handler)(entry.payload, ctx);
    }
  }

  private async release(position: number, skipHead: boolean): Promise<{ delivered: number; parked: number }> {
    const all = await this.parked();
    const head = all.find((p) => p.entry.position === position && p.blockedBy === null);
    if (!head) throw new Error(`consumer "${this.definition.name}" has no parked message at position ${position}`);
    const behind = all.filter((p) => p.blockedBy === position);
    const entries = [...(skipHead ? [] : [head.entry]), ...behind.map((p) => p.entry)];
    this.blocked.delete(head.entry.id);
    const park = await this.deliverInOrder(entries);
    // The old rows go and any new ones come in one transaction: nothing is lost if we crash.
    await this.host.store.commitConsumer(this.definition.name, this.offset, park, [position, ...behind.map((p) => p.entry.position)], this.fence);
    this.reportParked(park);
    return { delivered: entries.length - park.length, parked: park.length };
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

function groupById(entries: FeedEntry[]): FeedEntry[][] {
  const groups = new Map<string, FeedEntry[]>();
  for (const entry of entries) {
    const group = groups.get(entry.id);
    if (group) group.push(entry);
    else groups.set(entry.id, [entry]);
  }
  return [...groups.values()];
}
