/** The durable timers of the memory store: one entry per name. */
import { checkBuckets, timerBucket } from "../buckets.ts";
import { beforeEveryTimer, checkDueAt, checkTimerStatus } from "../checks.ts";
import { compareText } from "../collation.ts";
import type { NewTimer, TimerChange, TimerCursor, TimerRecord } from "../port.ts";
import { decode, encode, type Json } from "./memory-values.ts";

/** A timer as kept: the port's record with its input and error as JSON text. */
interface TimerEntry extends Omit<TimerRecord, "input" | "lastError"> {
  input: Json;
  /** JSON text, or null for no error. */
  lastError: string | null;
}

/** The timer part of the port, in a Map. */
export class MemoryTimers {
  readonly #timers = new Map<string, TimerEntry>();

  /** The current generation of timer `name`, if it exists. */
  generation(name: string): number | undefined {
    return this.#timers.get(name)?.generation;
  }

  put(timer: NewTimer): TimerRecord {
    checkDueAt(timer.dueAt);
    const entry: TimerEntry = {
      name: timer.name,
      generation: (this.#timers.get(timer.name)?.generation ?? 0) + 1,
      dueAt: timer.dueAt,
      component: timer.component,
      id: timer.id,
      handler: timer.handler,
      input: encode(timer.input),
      attempts: 0,
      status: "pending",
      lastError: null,
      createdAt: timer.createdAt,
    };
    if (timer.trace) entry.trace = timer.trace;
    if (timer.callKey) entry.callKey = timer.callKey;
    this.#timers.set(entry.name, entry);
    return toTimer(entry);
  }

  cancel(name: string): boolean {
    return this.#timers.delete(name);
  }

  due(now: number, limit: number, buckets: readonly number[]): TimerRecord[] {
    const held = heldBuckets(buckets);
    if (limit <= 0) return [];
    return this.#sorted((t) => t.status === "pending" && t.dueAt <= now && held.has(timerBucket(t.name))).slice(0, limit).map(toTimer);
  }

  next(buckets: readonly number[]): number | undefined {
    const held = heldBuckets(buckets);
    let next: number | undefined;
    for (const t of this.#timers.values()) {
      if (t.status === "pending" && held.has(timerBucket(t.name)) && (next === undefined || t.dueAt < next)) next = t.dueAt;
    }
    return next;
  }

  finish(fired: ReadonlyArray<{ name: string; generation: number }>): void {
    for (const { name, generation } of fired) {
      if (this.#timers.get(name)?.generation === generation) this.#timers.delete(name);
    }
  }

  retry(name: string, generation: number, change: TimerChange): void {
    checkDueAt(change.dueAt);
    checkTimerStatus(change.status);
    const lastError = JSON.stringify(change.lastError);
    const entry = this.#timers.get(name);
    if (entry?.generation !== generation) return;
    this.#timers.set(name, { ...entry, dueAt: change.dueAt, attempts: change.attempts, status: change.status, lastError });
  }

  unpark(name: string, dueAt: number): TimerRecord | undefined {
    checkDueAt(dueAt);
    const entry = this.#timers.get(name);
    if (entry?.status !== "parked") return undefined;
    const pending: TimerEntry = { ...entry, dueAt, attempts: 0, status: "pending" };
    this.#timers.set(name, pending);
    return toTimer(pending);
  }

  list(status: "pending" | "parked" | undefined, limit: number, after: TimerCursor = beforeEveryTimer): TimerRecord[] {
    if (status !== undefined) checkTimerStatus(status);
    if (limit <= 0) return [];
    const isAfter = (t: TimerEntry) => t.dueAt > after.dueAt || (t.dueAt === after.dueAt && compareText(t.name, after.name) > 0);
    return this.#sorted((t) => (status === undefined || t.status === status) && isAfter(t)).slice(0, limit).map(toTimer);
  }

  /** Timers passing `keep`, ordered by (due time, name), as the SQLite store orders them. */
  #sorted(keep: (t: TimerEntry) => boolean): TimerEntry[] {
    return [...this.#timers.values()].filter(keep).sort((a, b) => a.dueAt - b.dueAt || compareText(a.name, b.name));
  }
}

function heldBuckets(buckets: readonly number[]): Set<number> {
  checkBuckets(buckets);
  return new Set(buckets);
}

function toTimer(t: TimerEntry): TimerRecord {
  return {
    ...t,
    input: decode(t.input),
    lastError: t.lastError === null ? null : (JSON.parse(t.lastError) as TimerRecord["lastError"]),
  };
}
