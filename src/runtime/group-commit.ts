import type { InstanceWrite, Store, WriteOutcome } from "../store/port.ts";
import { UnstorableValueError } from "../store/unstorable-value.ts";

interface Queued {
  write: InstanceWrite;
  resolve: (outcome: WriteOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: writes submitted during the same turn of the event loop (and those arriving
 * while a commit is in flight) share one transaction and one fsync. One commit runs at a time,
 * so writes reach the store in submission order. A write holding a value JSON cannot hold (a
 * handler's bug) makes the store refuse the whole call before keeping anything: the batch is then
 * split in halves, in order, until that write fails alone, so that no other caller's write fails
 * with it.
 */
export class GroupCommitter {
  private queue: Queued[] = [];
  private scheduled = false;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    /** Told after every successful commit (consumers wake up to read the feed). */
    private readonly onCommitted: () => void = () => {},
    private readonly maxBatch = 1024,
  ) {}

  submit(write: InstanceWrite): Promise<WriteOutcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once everything submitted so far is committed (or failed). */
  async idle(): Promise<void> {
    while (this.inFlight || this.queue.length > 0 || this.scheduled) {
      await (this.inFlight ?? new Promise((r) => setImmediate(r)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this loop turn: every request parsed in
    // this turn has submitted its write by then.
    setImmediate(() => {
      this.scheduled = false;
      this.inFlight = this.flush().finally(() => {
        this.inFlight = undefined;
        if (this.queue.length > 0) this.schedule();
      });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    await this.commitApart(batch);
  }

  private async commitApart(batch: Queued[]): Promise<void> {
    try {
      const outcomes = await this.store.commit(batch.map((q) => q.write));
      batch.forEach((q, i) => q.resolve(outcomes[i]!));
      this.onCommitted();
    } catch (error) {
      if (error instanceof UnstorableValueError && batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await this.commitApart(batch.slice(0, half));
        await this.commitApart(batch.slice(half));
        return;
      }
      for (const q of batch) q.reject(error);
    }
  }
}
