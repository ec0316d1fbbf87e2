import type { WorkflowView } from "../../define/workflow.ts";
import type { SignalledEnd } from "../../store/cluster-port.ts";
import { finalStatuses, isLasting, type Store, type WorkflowRecord } from "../../store/port.ts";
import { decode } from "../../store/rows.ts";
import { viewOf } from "./workflow-kind.ts";

/** The key of a workflow instance in the engine's maps. */
export function workflowKey(name: string, id: string): string {
  return `${name}\u0000${id}`;
}

/**
 * How long, and how many, ends other nodes signalled are kept: a caller's `GET ?wait=` that comes
 * right after (a transfer awaited on another node than the one it started on) is answered from it.
 * An end kept is one no action changes again; the limit is for retention, which removes old ones.
 */
const RECENT_END_MS = 10_000;
const RECENT_ENDS = 4_096;

/** One caller waiting for a workflow's end. */
interface Waiter {
  wake(view: WorkflowView<unknown>): void;
  /** Its own read of the workflow is in flight: a signal meanwhile is kept for after it (`signalled`). */
  reading: boolean;
  signalled: boolean;
}

/**
 * What ends a caller's wait early: it left, or the server stops. Not an AbortSignal: adding and
 * removing a listener on one costs microseconds on every long poll, a tenth of a transfer's CPU
 * at 64 in flight (bench:transfers).
 */
export interface WaitCancel {
  /** Why the wait was cancelled (it rejects with this); undefined until it is. */
  readonly reason: Error | undefined;
  /** Calls `cancelled` once, when the wait is cancelled; returns what stops listening. */
  onCancel(cancelled: () => void): () => void;
}

/** A wait that `signal` cancels (an in-process caller's): its reason as an Error, as the wait rejects with it. */
export function cancelledBy(signal: AbortSignal): WaitCancel {
  const reasonOf = () => (signal.reason instanceof Error ? signal.reason : new DOMException(String(signal.reason ?? "aborted"), "AbortError"));
  return {
    get reason() {
      return signal.aborted ? reasonOf() : undefined;
    },
    onCancel(cancelled) {
      signal.addEventListener("abort", cancelled, { once: true });
      return () => signal.removeEventListener("abort", cancelled);
    },
  };
}

/**
 * Who waits for a workflow's end (`GET /{workflow}/{id}?wait=`): answered at once when it is over
 * already, else when a commit on this node or a signal from another says it is over, or after the
 * wait with the record as it then is.
 */
export class EndWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  /** Ends signalled by other nodes, oldest first (see RECENT_END_MS). */
  private readonly recentEnds = new Map<string, { view: WorkflowView<unknown>; at: number }>();

  constructor(
    private readonly store: Store,
    /** The record as this node last committed it, when that may be read without the store (Dispatcher.trustedState). */
    private readonly trusted: ((name: string, id: string) => WorkflowRecord | undefined) | undefined,
  ) {}

  /** This node committed `record`: who waits is answered if it is over. */
  committed(name: string, id: string, record: WorkflowRecord): void {
    if (!finalStatuses.has(record.status)) return;
    this.wake(workflowKey(name, id), viewOf(id, record));
  }

  /**
   * Another node committed it: read it, unless its signal says the commit did not leave it over
   * (`over` 0) or brings its end (`end`). Waiters whose own read is in flight are not read for:
   * that read may find it over already (it usually does: the signal trails the commit that a
   * caller was answered after).
   */
  remoteChange(name: string, id: string, over: 0 | 1 | undefined, end?: SignalledEnd): void {
    if (over === 0) return;
    const key = workflowKey(name, id);
    const view = end && endView(id, end);
    if (view) {
      this.remember(key, view);
      this.wake(key, view);
      return;
    }
    let read = false;
    for (const waiter of this.waiting.get(key) ?? []) {
      if (waiter.reading) waiter.signalled = true;
      else read = true;
    }
    if (read) void this.store.loadWorkflow(name, id).then((record) => record && this.committed(name, id, record), () => {});
  }

  /** Callers waiting now (for tests and operators). */
  get size(): number {
    let count = 0;
    for (const set of this.waiting.values()) count += set.size;
    return count;
  }

  /**
   * Resolves when the workflow is over, or after `waitMs` with the record as it then is; undefined
   * if it was never started. A cancelled wait (`cancel`) rejects with its reason at once and drops
   * the waiter, reading nothing more (a caller that left must not hold memory for its whole wait).
   */
  async waitForEnd(name: string, id: string, waitMs: number, cancel?: WaitCancel): Promise<WorkflowView<unknown> | undefined> {
    if (cancel?.reason) throw cancel.reason;
    // Over already, as this node committed it: no store read (a transfer's `GET ?wait=` after its start).
    const trusted = this.trusted?.(name, id);
    if (trusted && finalStatuses.has(trusted.status)) return viewOf(id, trusted);
    const key = workflowKey(name, id);
    const signalled = this.recentEnd(key);
    if (signalled) return signalled;
    let ended: WorkflowView<unknown> | undefined;
    // Listen before reading, so an end committed in between is not missed. Still running as this
    // node committed it a moment ago (`trusted`): the store holds the same, so the wait starts from it.
    const waiter: Waiter = { wake: (view) => (ended = view), reading: trusted === undefined, signalled: false };
    const set = this.waiting.get(key) ?? new Set();
    this.waiting.set(key, set.add(waiter));
    try {
      let current = trusted ?? (await this.store.loadWorkflow(name, id));
      waiter.reading = false;
      // A signal came while reading, and the read may have been sent before that commit: again.
      if (current && !ended && !finalStatuses.has(current.status) && waiter.signalled) current = await this.store.loadWorkflow(name, id);
      if (!current) return undefined;
      if (ended) return ended;
      if (finalStatuses.has(current.status) || waitMs <= 0) return viewOf(id, current);
      if (cancel?.reason) throw cancel.reason;
      const view = await new Promise<WorkflowView<unknown> | undefined>((resolve, reject) => {
        // Real time: a caller's wait is not part of the workflow's virtual time.
        const timer = setTimeout(() => {
          stopListening?.();
          resolve(undefined);
        }, waitMs);
        const stopListening = cancel?.onCancel(() => {
          clearTimeout(timer);
          reject(cancel.reason ?? new Error("the wait was cancelled"));
        });
        waiter.wake = (v) => {
          clearTimeout(timer);
          stopListening?.();
          resolve(v);
        };
      });
      if (view) return view;
      const latest = await this.store.loadWorkflow(name, id);
      return viewOf(id, latest ?? current);
    } finally {
      set.delete(waiter);
      if (set.size === 0) this.waiting.delete(key);
    }
  }

  private wake(key: string, view: WorkflowView<unknown>): void {
    for (const waiter of this.waiting.get(key) ?? []) waiter.wake(view);
  }

  private remember(key: string, view: WorkflowView<unknown>): void {
    this.recentEnds.delete(key);
    this.recentEnds.set(key, { view, at: Date.now() });
    for (const oldest of this.recentEnds.keys()) {
      if (this.recentEnds.size <= RECENT_ENDS) break;
      this.recentEnds.delete(oldest);
    }
  }

  private recentEnd(key: string): WorkflowView<unknown> | undefined {
    const kept = this.recentEnds.get(key);
    if (!kept) return undefined;
    if (Date.now() - kept.at <= RECENT_END_MS) return kept.view;
    this.recentEnds.delete(key);
    return undefined;
  }
}

/** The view a signalled end gives; undefined if it is not one this version understands (it reads instead). */
function endView(id: string, end: SignalledEnd): WorkflowView<unknown> | undefined {
  const [status, step, state] = Array.isArray(end) ? end : [];
  if (typeof status !== "string" || !isLasting(status) || (step !== null && typeof step !== "string") || (state !== null && typeof state !== "string")) return undefined;
  try {
    return { id, status, step, state: decode(state) };
  } catch {
    return undefined;
  }
}
