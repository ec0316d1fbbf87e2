/**
 * The durable timers of the PostgreSQL store: the `timers` table, one row per name, each in the
 * bucket its name hashes to (../buckets.ts). On several nodes the holder of a timer's bucket is told
 * of a new one, and firing or retrying one is fenced by its bucket's lease.
 */
import type { NewTimer, TimerChange, TimerCursor, TimerRecord } from "../port.ts";
import { beforeEveryTimer, checkDueAt, checkTimerStatus } from "../checks.ts";
import { checkBuckets, timerBucket } from "../buckets.ts";
import type { Fence } from "../cluster-port.ts";
import { encode, toTimer, type TimerRow } from "../rows.ts";
import type { PostgresCluster } from "./postgres-cluster.ts";
import type { PostgresConnections } from "./postgres-connections.ts";
import { fencesHeld } from "./postgres-fence.ts";
import type { Statements } from "./postgres-statements.ts";

export interface PostgresTimersOptions {
  db: PostgresConnections;
  sql: Statements;
  /** The store's schema, quoted. */
  schema: string;
  cluster: PostgresCluster;
}

export class PostgresTimers {
  readonly #db: PostgresConnections;
  readonly #sql: Statements;
  readonly #schema: string;
  readonly #cluster: PostgresCluster;

  constructor(options: PostgresTimersOptions) {
    this.#db = options.db;
    this.#sql = options.sql;
    this.#schema = options.schema;
    this.#cluster = options.cluster;
  }

  async putTimer(timer: NewTimer): Promise<TimerRecord> {
    await this.#db.ready();
    checkDueAt(timer.dueAt);
    const { name, dueAt, component, id, handler, input, createdAt } = timer;
    const bucket = timerBucket(name);
    const values = [name, dueAt, component, id, handler, encode(input), createdAt, timer.trace ?? null, bucket, timer.callKey ?? null];
    if (this.#cluster.signallingAs === undefined) return toTimer((await this.#db.rows<TimerRow>(this.#sql.putTimer, values))[0]!);
    // Several nodes: the holder of the timer's bucket may be another node; tell it, in the same transaction.
    return this.#db.transaction(async (client, { sendWithCommit }) => {
      const { rows } = await client.query<TimerRow>({ ...this.#sql.putTimer, values });
      sendWithCommit(this.#cluster.notifyStatement({ timerDue: dueAt, timerBucket: bucket }));
      return toTimer(rows[0]!);
    });
  }

  async cancelTimer(name: string): Promise<boolean> {
    return (await this.#db.query(this.#sql.cancelTimer, [name])).rowCount! > 0;
  }

  async dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]> {
    checkBuckets(buckets);
    await this.#db.ready();
    if (limit <= 0 || buckets.length === 0) return [];
    return (await this.#db.rows<TimerRow>(this.#sql.dueTimers, [now, limit, buckets])).map(toTimer);
  }

  async nextTimerDue(buckets: readonly number[]): Promise<number | undefined> {
    checkBuckets(buckets);
    if (buckets.length === 0) return undefined;
    const [row] = await this.#db.rows<{ due: number | null }>(this.#sql.nextTimerDue, [buckets]);
    return row?.due ?? undefined;
  }

  async finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>, fences?: ReadonlyMap<number, Fence>): Promise<number[]> {
    await this.#db.ready();
    if (fired.length === 0) return [];
    const columns = (list: ReadonlyArray<{ name: string; generation: number }>) => [list.map((f) => f.name), list.map((f) => f.generation)];
    const fenceOf = (name: string) => fences?.get(timerBucket(name));
    const checked = [...new Set(fired.map((f) => fenceOf(f.name)).filter((f) => f !== undefined))];
    if (checked.length === 0) {
      await this.#db.query(this.#sql.finishTimers, columns(fired));
      return [];
    }
    // One transaction: each bucket's lease checked (and held FOR SHARE), then the timers of the
    // buckets still held removed; a lost bucket's timers stay for its new holder to fire.
    return this.#db.transaction(async (client) => {
      const held = await fencesHeld(client, this.#schema, checked);
      const lost = new Set<number>();
      const kept = fired.filter((f) => {
        const fence = fenceOf(f.name);
        if (fence === undefined || held.has(fence.lease)) return true;
        lost.add(timerBucket(f.name));
        return false;
      });
      if (kept.length > 0) await client.query({ name: this.#sql.finishTimers.name, text: this.#sql.finishTimers.text, values: columns(kept) });
      return [...lost].sort((a, b) => a - b);
    });
  }

  async retryTimer(name: string, generation: number, change: TimerChange, fence?: Fence): Promise<void> {
    await this.#db.ready();
    checkDueAt(change.dueAt);
    checkTimerStatus(change.status);
    const { dueAt, attempts, status, lastError } = change;
    await this.#db.fenced(fence, this.#sql.retryTimer, [dueAt, attempts, status, JSON.stringify(lastError), name, generation]);
  }

  async unparkTimer(name: string, dueAt: number): Promise<TimerRecord | undefined> {
    await this.#db.ready();
    checkDueAt(dueAt);
    if (this.#cluster.signallingAs === undefined) {
      const [row] = await this.#db.rows<TimerRow>(this.#sql.unparkTimer, [name, dueAt]);
      return row === undefined ? undefined : toTimer(row);
    }
    // Several nodes: tell the holder of its bucket, in the same transaction, as putTimer does.
    return this.#db.transaction(async (client, { sendWithCommit }) => {
      const { rows: [row] } = await client.query<TimerRow>({ ...this.#sql.unparkTimer, values: [name, dueAt] });
      if (row === undefined) return undefined;
      sendWithCommit(this.#cluster.notifyStatement({ timerDue: dueAt, timerBucket: timerBucket(name) }));
      return toTimer(row);
    });
  }

  async listTimers(status: "pending" | "parked" | undefined, limit: number, after: TimerCursor = beforeEveryTimer): Promise<TimerRecord[]> {
    await this.#db.ready();
    if (status !== undefined) checkTimerStatus(status);
    if (limit <= 0) return [];
    const rows = status === undefined
      ? await this.#db.rows<TimerRow>(this.#sql.allTimers, [limit, after.dueAt, after.name])
      : await this.#db.rows<TimerRow>(this.#sql.timersOfStatus, [status, limit, after.dueAt, after.name]);
    return rows.map(toTimer);
  }
}
