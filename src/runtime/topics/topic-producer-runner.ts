import type { Broker } from "../../broker/port.ts";
import type { ProducedChange, TopicProducerDefinition } from "../../define/topic.ts";
import { LeaseLostError, type Fence } from "../../store/cluster-port.ts";
import type { FeedEntry, Store } from "../../store/port.ts";
import { WakeSignal } from "../wake-signal.ts";

export interface ProducerHost {
  store: Store;
  log: (line: string) => void;
  broker: Broker;
}

const batchSize = 256;
const idlePollMs = 1_000;
const maxBackoffMs = 2_000;
const encoder = new TextEncoder();

/**
 * The outbox: reads the source's committed changes from the feed and publishes them, then
 * stores its offset. A crash between publishing and storing the offset publishes again with
 * the same `Nats-Msg-Id` (`{name}:{position}`), which the stream drops within its duplicate
 * window. One instance's changes are published one after another (each waits for the broker's
 * ack), so their order holds; instances go in parallel. While the broker is away publishing
 * waits and tries again; commands are not held up (they only write the feed).
 */
export class TopicProducerRunner {
  private offset = 0;
  private running = false;
  private fence: Fence | undefined;
  private loop: Promise<void> | undefined;
  private readonly wakeSignal = new WakeSignal();
  /** Commit-to-broker lag of the latest message published (ms), for the admin API and benchmark. */
  lastPublishLagMs: number | undefined;
  published = 0;
  lastError: string | undefined;

  constructor(
    readonly definition: TopicProducerDefinition,
    private readonly host: ProducerHost,
  ) {}

  get position(): number {
    return this.offset;
  }

  get delivering(): boolean {
    return this.running;
  }

  async begin(fence?: Fence): Promise<void> {
    this.fence = fence;
    this.offset = await this.host.store.loadOffset(this.definition.name);
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    this.wakeSignal.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { options } = this.definition;
    let ensured = false;
    let backoff = 100;
    while (this.running) {
      try {
        if (!ensured) {
          await this.host.broker.ensureStream(options.stream);
          ensured = true;
        }
        const entries = await this.host.store.readFeed(this.offset, batchSize, [options.source.name]);
        if (entries.length === 0) {
          await this.wakeSignal.sleep(idlePollMs);
          continue;
        }
        await Promise.all(groupById(entries).map((group) => this.publishInOrder(group)));
        if (!this.running) return; // part of the batch may be unpublished: do not store past it
        const last = entries.at(-1)!.position;
        await this.host.store.commitConsumer(this.definition.name, last, [], [], this.fence);
        this.offset = last;
        backoff = 100;
        this.lastError = undefined;
      } catch (error) {
        if (error instanceof LeaseLostError) {
          this.host.log(`sagaflow: topic producer ${this.definition.name}: ${error.message}; stopping here`);
          this.running = false;
          return;
        }
        if (this.lastError === undefined) this.host.log(`sagaflow: topic producer ${this.definition.name}: ${String(error)}; retrying`);
        this.lastError = String(error);
        await this.wakeSignal.sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
  }

  /** Publishes one instance's changes in order; each is retried until the broker takes it. */
  private async publishInOrder(entries: FeedEntry[]): Promise<void> {
    for (const entry of entries) {
      const change: ProducedChange = { id: entry.id, type: entry.type, payload: entry.payload, position: entry.position, at: entry.at };
      const body = this.definition.options.message(change);
      if (body === undefined) continue;
      const subject = this.definition.options.subject(change);
      const id = `${this.definition.name}:${entry.position}`;
      const headers = {
        "ce-specversion": "1.0",
        "ce-type": this.definition.options.eventType?.(change) ?? `${entry.component}.${entry.type.replace(/^\$/, "")}`,
        "ce-source": `sagaflow/${entry.component}/${entry.id}`,
        "ce-id": id,
        "ce-time": new Date(entry.at).toISOString(),
        "content-type": "application/json",
      };
      let backoff = 100;
      for (;;) {
        if (!this.running) return;
        try {
          await this.host.broker.publish(subject, encoder.encode(JSON.stringify(body)), { msgId: id, headers });
          this.published++;
          this.lastPublishLagMs = Date.now() - entry.at;
          break;
        } catch (error) {
          if (this.lastError === undefined) this.host.log(`sagaflow: topic producer ${this.definition.name}: publishing failed: ${String(error)}; retrying`);
          this.lastError = String(error);
          await new Promise((resolve) => setTimeout(resolve, backoff));
          backoff = Math.min(backoff * 2, maxBackoffMs);
        }
      }
    }
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
