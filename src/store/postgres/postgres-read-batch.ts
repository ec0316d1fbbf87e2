/**
 * Point reads of one kind (a workflow record, a key-value state, an idempotency record, the events
 * after a seq) that are asked for while earlier ones are in flight, sent together as one statement.
 *
 * Why: under load every command turn of a node serving several nodes' schema reads its instance's
 * version first (the runtime's staleness check), and a workflow step's calls look their keys up:
 * about 8 reads per bank transfer against 3 commits, each a round trip and an execution on a
 * backend of its own, while the group committer already carries many writes per commit. Sent one
 * by one they took the pool's connections from the commits and most of PostgreSQL's CPU.
 *
 * A read is never older than it would be alone: it is sent after it was asked for (with the next
 * batch, once one of at most `maxInFlight` batches of its kind came back), so it sees every commit
 * that was acknowledged before. A batch of one runs the plain statement; a batch fails as a whole,
 * and each read in it with that error.
 */
export class ReadBatcher<K, R> {
  private queue: Array<{ key: K; resolve: (value: R) => void; reject: (error: unknown) => void }> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /** Reads `keys` (one or more) in one statement; the results in their order. */
    private readonly run: (keys: K[]) => Promise<R[]>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 256,
  ) {}

  read(key: K): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ key, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    // After this turn of the event loop's I/O callbacks: the reads its replies lead to join in.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= this.maxInFlight) return;
    const batch = this.queue.splice(0, this.maxBatch);
    if (batch.length === 0) return;
    this.inFlight++;
    try {
      const results = await this.run(batch.map((b) => b.key));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch (error) {
      for (const b of batch) b.reject(error);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}

/** `rows` (each with its key's index `n`, from 1) grouped per key, in key order. */
export function rowsByKey<R extends { n: number }>(count: number, rows: readonly R[]): R[][] {
  const grouped: R[][] = Array.from({ length: count }, () => []);
  for (const row of rows) grouped[row.n - 1]!.push(row);
  return grouped;
}
