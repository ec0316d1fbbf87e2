import type { Store } from "../../store/port.ts";
import type { Clock } from "../clock.ts";
import { WORKFLOW_BUCKETS } from "../cluster/leases.ts";

/** What the sweep needs of the engine (WorkflowEngine). */
export interface SweepHost {
  clock: Clock;
  store: Store;
  log: (line: string) => void;
  /** Milliseconds between sweeps. */
  sweepMs: number;
  /** The names of the workflows this code defines. */
  names(): string[];
  holds(bucket: number): boolean;
  /** How many workflows are being acted on here. */
  acting(): number;
  /**
   * Acts on the workflow if this node runs it and nothing acts on it already; the key it acts
   * under (see `ended`), or undefined when it was skipped.
   */
  poke(name: string, id: string): string | undefined;
  /** Whether the act under `key` is still going on. */
  actingOn(key: string): boolean;
  /** Resolves when some act ends (or the engine stops). */
  actEnded(): Promise<void>;
  stopped(): boolean;
}

/** Due workflows acted on per sweep; more wait for the next one. */
const sweepBatch = 1_000;

/**
 * The store's side of waking workflows: a sweep every `sweepMs` acts on the workflows of this
 * node's buckets whose due time or deadline has passed by the store's record, and one wake-up,
 * on the clock, at the earliest future due time in the store. The safety net under the engine's
 * own timers: a lost wake-up delays a workflow by at most the interval, and a workflow whose due
 * time is far off waits here, not in memory.
 */
export class DueSweep {
  private sweeper: NodeJS.Timeout | undefined;
  /** The sweep in progress, and whether another was asked for meanwhile. */
  private sweeping: Promise<void> | undefined;
  private again = false;
  /** The one wake-up at the earliest future due time in the store (of this node's buckets). */
  private nextDue: { at: number; handle: { cancel(): void } } | undefined;

  constructor(private readonly host: SweepHost) {}

  /** Starts the periodic sweep (real time, like the lease rounds: it watches the clock rather than being part of its time). */
  start(): void {
    if (this.sweeper || this.host.stopped()) return;
    this.sweeper = setInterval(() => void this.request(), this.host.sweepMs);
    this.sweeper.unref();
  }

  /** Sweeps now, or again once the sweep in progress is done (it may have read before the change). */
  request(): Promise<void> {
    if (this.sweeping) {
      this.again = true;
      return this.sweeping;
    }
    this.sweeping = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.rounds())
      .catch((error: unknown) => this.host.log(`sagaflow: looking for due workflows failed: ${String(error)}`))
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  /** Makes sure the store wake-up comes by `at` (a wall-clock due time). */
  wakeBy(at: number): void {
    if (this.host.stopped() || (this.nextDue && this.nextDue.at <= at)) return;
    this.arm(at);
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.nextDue?.handle.cancel();
  }

  /**
   * Reads the due workflows of this node's buckets a page at a time and acts on each: after a
   * start or a takeover that is the whole backlog, so it goes on while pages come back full,
   * waiting each time for half of a page's acts to end (memory and concurrency stay bounded by a
   * page, not by the backlog). Then it arms one wake-up at the earliest future due time.
   */
  private async rounds(): Promise<void> {
    let readAt = this.host.clock.now();
    do {
      this.again = false;
      if (this.host.stopped()) return;
      // Past the ones acting here already, at least a page of others (if there are that many).
      const limit = sweepBatch + this.host.acting();
      readAt = this.host.clock.now();
      const due = await this.host.store.dueWorkflows(readAt, limit, { buckets: this.heldBuckets(), names: this.host.names() });
      const poked: string[] = [];
      for (const { name, id } of due) {
        if (this.host.stopped()) break;
        const key = this.host.poke(name, id);
        if (key !== undefined) poked.push(key);
      }
      if (due.length >= limit && poked.length > 0) {
        await this.halfEnded(poked);
        this.again = true;
      }
    } while (this.again);
    await this.armNextDue(readAt);
  }

  /** Resolves once at most half of `keys` are still acting (or the engine stops). */
  private async halfEnded(keys: string[]): Promise<void> {
    const left = () => keys.reduce((n, key) => n + (this.host.actingOn(key) ? 1 : 0), 0);
    while (!this.host.stopped() && left() > keys.length / 2) await this.host.actEnded();
  }

  /**
   * One wake-up, in the clock's time, at the earliest due time of this node's buckets after
   * `since` (when the sweep last read what was due): one that fell due while it acted wakes it
   * again at once, so a workflow left to the store wake-up is never skipped.
   */
  private async armNextDue(since: number): Promise<void> {
    const at = await this.host.store.nextWorkflowDue(since, this.heldBuckets());
    if (this.host.stopped() || at === undefined || (this.nextDue && this.nextDue.at <= at && this.nextDue.at > this.host.clock.now())) return;
    this.arm(at);
  }

  private arm(at: number): void {
    this.nextDue?.handle.cancel();
    const handle = this.host.clock.schedule(Math.max(0, at - this.host.clock.now()), () => {
      this.nextDue = undefined;
      void this.request();
    });
    this.nextDue = { at, handle };
  }

  private heldBuckets(): number[] {
    const held: number[] = [];
    for (let bucket = 0; bucket < WORKFLOW_BUCKETS; bucket++) if (this.host.holds(bucket)) held.push(bucket);
    return held;
  }
}
