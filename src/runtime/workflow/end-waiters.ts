import type { WorkflowView } from "../../define/workflow.ts";
import { finalStatuses, type Store, type WorkflowRecord } from "../../store/port.ts";
import { viewOf } from "./workflow-kind.ts";

/** The key of a workflow instance in the engine's maps. */
export function workflowKey(name: string, id: string): string {
  return `${name}\u0000${id}`;
}

/** One caller waiting for a workflow's end. */
interface Waiter {
  wake(record: WorkflowRecord): void;
  /** Its own read of the workflow is in flight: a signal meanwhile is kept for after it (`signalled`). */
  reading: boolean;
  signalled: boolean;
}

/**
 * Who waits for a workflow's end (`GET /{workflow}/{id}?wait=`): answered at once when it is over
 * already, else when a commit on this node or a signal from another says it is over, or after the
 * wait with the record as it then is.
 */
export class EndWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();

  constructor(
    private readonly store: Store,
    /** The record as this node last committed it, when that may be read without the store (Dispatcher.trustedState). */
    private readonly trusted: ((name: string, id: string) => WorkflowRecord | undefined) | undefined,
  ) {}

  /** This node committed `record`: who waits is answered if it is over. */
  committed(name: string, id: string, record: WorkflowRecord): void {
    if (!finalStatuses.has(record.status)) return;
    for (const waiter of this.waiting.get(workflowKey(name, id)) ?? []) waiter.wake(record);
  }

  /**
   * Another node committed it: read it, unless its signal says the commit did not leave it over
   * (`over` 0). Waiters whose own read is in flight are not read for: that read may find it over
   * already (it usually does: the signal trails the commit that a caller was answered after).
   */
  remoteChange(name: string, id: string, over: 0 | 1 | undefined): void {
    if (over === 0) return;
    let read = false;
    for (const waiter of this.waiting.get(workflowKey(name, id)) ?? []) {
      if (waiter.reading) waiter.signalled = true;
      else read = true;
    }
    if (read) void this.store.loadWorkflow(name, id).then((record) => record && this.committed(name, id, record), () => {});
  }

  /** Resolves when the workflow is over, or after `waitMs` with the record as it then is; undefined if it was never started. */
  async waitForEnd(name: string, id: string, waitMs: number): Promise<WorkflowView<unknown> | undefined> {
    // Over already, as this node committed it: no store read (a transfer's `GET ?wait=` after its start).
    const trusted = this.trusted?.(name, id);
    if (trusted && finalStatuses.has(trusted.status)) return viewOf(id, trusted);
    const key = workflowKey(name, id);
    let ended: WorkflowRecord | undefined;
    // Listen before reading, so an end committed in between is not missed.
    const waiter: Waiter = { wake: (record) => (ended = record), reading: true, signalled: false };
    const set = this.waiting.get(key) ?? new Set();
    this.waiting.set(key, set.add(waiter));
    try {
      let current = await this.store.loadWorkflow(name, id);
      waiter.reading = false;
      // A signal came while reading, and the read may have been sent before that commit: again.
      if (current && !ended && !finalStatuses.has(current.status) && waiter.signalled) current = await this.store.loadWorkflow(name, id);
      if (!current) return undefined;
      if (ended) return viewOf(id, ended);
      if (finalStatuses.has(current.status) || waitMs <= 0) return viewOf(id, current);
      const record = await new Promise<WorkflowRecord | undefined>((resolve) => {
        // Real time: a caller's wait is not part of the workflow's virtual time.
        const timer = setTimeout(() => resolve(undefined), waitMs);
        waiter.wake = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
      });
      if (record) return viewOf(id, record);
      const latest = await this.store.loadWorkflow(name, id);
      return viewOf(id, latest ?? current);
    } finally {
      set.delete(waiter);
      if (set.size === 0) this.waiting.delete(key);
    }
  }
}
