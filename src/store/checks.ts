/**
 * The argument checks every store adapter makes, with the same messages, so that a caller's bug
 * is refused alike whichever adapter runs.
 */
import type { ParkedMessage, TimerCursor, WorkflowFilter } from "./port.ts";

/** Before every timer in (due time, name) order: Store.listTimers's first page. */
export const beforeEveryTimer: TimerCursor = { dueAt: -Infinity, name: "" };

/** A timer's due time is a number (a NaN would never come due, nor sort). */
export function checkDueAt(dueAt: number): void {
  if (typeof dueAt !== "number" || Number.isNaN(dueAt)) throw new TypeError(`a timer's dueAt must be a number, got ${String(dueAt)}`);
}

export function checkTimerStatus(status: string): void {
  if (status !== "pending" && status !== "parked") throw new TypeError(`a timer's status is "pending" or "parked", got "${status}"`);
}

/** A parked message is stored under the consumer it names; one naming another is a caller's bug. */
export function checkParkedConsumer(consumer: string, park: readonly ParkedMessage[]): void {
  for (const p of park) {
    if (p.consumer !== consumer) {
      throw new Error(`commitConsumer: a parked message of consumer "${p.consumer}" given for consumer "${consumer}"`);
    }
  }
}

/**
 * `afterId` pages within one name, or with `afterName` through every name: an id alone has no
 * place in (name, id) order, and `afterName` beside a `name` would page through nothing.
 */
export function checkAfterId(filter: WorkflowFilter): void {
  if (filter.afterId !== undefined && filter.name === undefined && filter.afterName === undefined) {
    throw new Error("listWorkflows: afterId needs a name, or afterName to page through every workflow");
  }
  if (filter.afterName !== undefined && (filter.name !== undefined || filter.afterId === undefined)) {
    throw new Error("listWorkflows: afterName goes with afterId and without a name");
  }
}
