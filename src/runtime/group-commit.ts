import type { InstanceWrite, Store, WriteOutcome } from "../store/port.ts";

interface Queued {
  write: InstanceWrite;
  resolve: (outcome: WriteOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes submitted during the same turn of the event loop (and those arriving
 * while a commit is in flight) share one transaction and one fsync. Up to the store's
 * `commitsInFlight` commits run at once (one on SQLite, whose writer is single; several on
 * PostgreSQL, where a commit waits mostly on round trips and the WAL flush). An instance has at
 * most one write in flight (its next turn waits for the commit), so commits running side by side
 * never hold two writes of one instance.
 */
export class GroupCommitter {
  private queue: Queued[] = [];
  private scheduled = false;
  private running = 0;
  private readonly flushes = new Set<Promise<void>>();
  private readonly maxInFlight: number;

  constructor(
    private readonly store: Store,
    /** Told after every successful commit (consumers wake up to read the feed). */
    private readonly onCommitted: () => void = () => {},
    private readonly maxBatch = 1024,
  ) {
    this.maxInFlight = store.commitsInFlight ?? 1;
  }

  submit(write: InstanceWrite): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far is committed (or failed). */
  async idle(): Promise<void> {
    while (this.flushes.size > 0 || this.queue.length > 0 || this.scheduled) {
      await (this.flushes.size > 0 ? Promise.race(this.flushes) : new Promise((r) => setImmediate(r)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.maxInFlight) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn: every request parsed in
    // this turn has submitted its write by then.
    setImmediate(() => {
      this.scheduled = false;
      this.running++;
      const flush = this.flush().finally(() => {
        this.running--;
        this.flushes.delete(flush);
        if (this.queue.length > 0) this.schedule();
      });
      this.flushes.add(flush);
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    try {
      const outcomes = await this.store.commit(batch.map((q) => q.write));
      batch.forEach((q, i) => q.resolve(outcomes[i]!));
      this.onCommitted();
    } catch (error) {
      for (const q of batch) q.reject(error);
    }
  }
}
