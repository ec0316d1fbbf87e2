/** The durable timers of the SQLite store: the `timers` table, one row per name. */
import type Database from "better-sqlite3";
import { checkBuckets, timerBucket } from "../buckets.ts";
import { beforeEveryTimer, checkDueAt, checkTimerStatus } from "../checks.ts";
import { compareText } from "../collation.ts";
import type { NewTimer, TimerChange, TimerCursor, TimerRecord } from "../port.ts";
import { toTimer, type TimerRow } from "../rows.ts";
import { encode } from "../rows.ts";

const TIMER_COLUMNS = "name, generation, due_at, component, id, handler, input, attempts, status, last_error, created_at, trace, call_key";

/**
 * The bucket list parameter (a JSON array) as a filter. One node holds every bucket of a SQLite
 * store, so the timers_due index is read in order and the filter drops nothing.
 */
const inBuckets = "+bucket IN (SELECT value FROM json_each(@buckets))";

/** The timer queries. Each reads a range of the timers_due index. */
export const timerSql = {
  dueTimers: `SELECT ${TIMER_COLUMNS} FROM timers INDEXED BY timers_due
    WHERE status = 'pending' AND due_at <= @now AND ${inBuckets} ORDER BY due_at, name LIMIT @limit`,
  timersOfStatus: `SELECT ${TIMER_COLUMNS} FROM timers WHERE status = ? AND (due_at, name) > (?, ?) ORDER BY due_at, name LIMIT ?`,
  nextTimerDue: `SELECT due_at FROM timers INDEXED BY timers_due WHERE status = 'pending' AND ${inBuckets} ORDER BY due_at LIMIT 1`,
} as const;

/** The timer part of the port on `db`, whose tables must exist. */
export function prepareTimers(db: Database.Database) {
  // One statement: a new name starts at generation 1, a known one goes on from its generation.
  const putTimer = db.prepare(
    `INSERT INTO timers (${TIMER_COLUMNS}, bucket) VALUES (?, 1, ?, ?, ?, ?, ?, 0, 'pending', NULL, ?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET
       generation = generation + 1, due_at = excluded.due_at, component = excluded.component,
       id = excluded.id, handler = excluded.handler, input = excluded.input, attempts = 0,
       status = 'pending', last_error = NULL, created_at = excluded.created_at, trace = excluded.trace,
       call_key = excluded.call_key
     RETURNING ${TIMER_COLUMNS}`,
  );
  const cancelTimer = db.prepare("DELETE FROM timers WHERE name = ?");
  const dueTimers = db.prepare(timerSql.dueTimers);
  const nextTimerDue = db.prepare(timerSql.nextTimerDue).pluck();
  const finishTimer = db.prepare("DELETE FROM timers WHERE name = ? AND generation = ?");
  const finishTimers = db.transaction((fired: ReadonlyArray<{ name: string; generation: number }>) => {
    for (const { name, generation } of fired) finishTimer.run(name, generation);
  });
  const retryTimer = db.prepare(
    "UPDATE timers SET due_at = ?, attempts = ?, status = ?, last_error = ? WHERE name = ? AND generation = ?",
  );
  const unparkTimer = db.prepare(
    `UPDATE timers SET due_at = ?, attempts = 0, status = 'pending' WHERE name = ? AND status = 'parked' RETURNING ${TIMER_COLUMNS}`,
  );
  const timersOfStatus = db.prepare(timerSql.timersOfStatus);
  /** Both statuses, merged by (due_at, name), from one state of the file. */
  const allTimers = db.transaction((limit: number, after: TimerCursor): TimerRow[] => {
    const rows = [
      ...(timersOfStatus.all("pending", after.dueAt, after.name, limit) as TimerRow[]),
      ...(timersOfStatus.all("parked", after.dueAt, after.name, limit) as TimerRow[]),
    ];
    return rows.sort((a, b) => a.due_at - b.due_at || compareText(a.name, b.name)).slice(0, limit);
  });

  return {
    put(timer: NewTimer): TimerRecord {
      checkDueAt(timer.dueAt);
      const { name, dueAt, component, id, handler, input, createdAt } = timer;
      return toTimer(putTimer.get(name, dueAt, component, id, handler, encode(input), createdAt, timer.trace ?? null, timer.callKey ?? null, timerBucket(name)) as TimerRow);
    },

    cancel(name: string): boolean {
      return cancelTimer.run(name).changes > 0;
    },

    due(now: number, limit: number, buckets: readonly number[]): TimerRecord[] {
      checkBuckets(buckets);
      if (limit <= 0 || buckets.length === 0) return [];
      return (dueTimers.all({ now, limit, buckets: JSON.stringify(buckets) }) as TimerRow[]).map(toTimer);
    },

    next(buckets: readonly number[]): number | undefined {
      checkBuckets(buckets);
      if (buckets.length === 0) return undefined;
      return (nextTimerDue.get({ buckets: JSON.stringify(buckets) }) as number | undefined) ?? undefined;
    },

    finish(fired: ReadonlyArray<{ name: string; generation: number }>): void {
      finishTimers(fired);
    },

    retry(name: string, generation: number, change: TimerChange): void {
      checkDueAt(change.dueAt);
      checkTimerStatus(change.status);
      const { dueAt, attempts, status, lastError } = change;
      retryTimer.run(dueAt, attempts, status, JSON.stringify(lastError), name, generation);
    },

    unpark(name: string, dueAt: number): TimerRecord | undefined {
      checkDueAt(dueAt);
      const row = unparkTimer.get(dueAt, name) as TimerRow | undefined;
      return row === undefined ? undefined : toTimer(row);
    },

    list(status: "pending" | "parked" | undefined, limit: number, after: TimerCursor = beforeEveryTimer): TimerRecord[] {
      if (status !== undefined) checkTimerStatus(status);
      if (limit <= 0) return [];
      if (status !== undefined) return (timersOfStatus.all(status, after.dueAt, after.name, limit) as TimerRow[]).map(toTimer);
      return allTimers(limit, after).map(toTimer);
    },
  };
}
