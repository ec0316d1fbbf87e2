/**
 * What retention (Property 9, bounded over time) needs from a store: removals in small batches,
 * each its own short transaction, off the commit path. The runtime's retention service
 * (src/runtime/retention/) decides what may go; the store removes only what it is told, and never
 * an entity event (the source of truth).
 */

/** What is left of a workflow instance removed by retention: enough to say "removed", not "never existed". */
export interface WorkflowTombstone {
  name: string;
  id: string;
  /** The status it ended in. */
  status: "ended" | "terminated";
  /** When it ended (its last update). */
  endedAt: number;
  removedAt: number;
}

/** An idempotency record, as retention pages through them: oldest first, then by (component, id, key). */
export interface DedupRef {
  component: string;
  id: string;
  key: string;
  at: number;
}

/** A workflow instance, as `trimHistories` goes through them in (name, id) order; `{ name: "", id: "" }` is before the first. */
export interface WorkflowRef {
  name: string;
  id: string;
}

export interface RetentionStore {
  /**
   * Removes at most `limit` feed entries of key-value entities and workflows (never entity events)
   * with position ≤ `throughPosition` and `at` < `before`, oldest positions first, and never the
   * newest entry of the feed (the feed head stays where it is). Returns how many went.
   */
  pruneFeed(throughPosition: number, before: number, limit: number): Promise<number>;
  /** The highest position `pruneFeed` or `pruneWorkflows` ever removed; 0 when none. */
  feedPrunedThrough(): Promise<number>;
  /**
   * Removes at most `limit` instances of workflow `name` that ended or were terminated before
   * `before` (their last update) and whose states in the feed are all at or below `feedFloor`
   * (passed by every reader) and not the feed's newest entry: with their history and those states,
   * leaving a tombstone stamped `now` and raising the pruned-through mark; one transaction. Returns
   * the ids removed. (A run started again under a removed id writes versions from 1: an old state
   * left in the feed would collide with them.)
   */
  pruneWorkflows(name: string, before: number, feedFloor: number, limit: number, now: number): Promise<string[]>;
  /**
   * Trims the history of the workflow instances after `after`, in (name, id) order: at most
   * `limit` instances and `limit` transitions in all. Each keeps its first transition (who
   * started it) and its newest `keepNewest`. Returns how many went and where to go on: undefined
   * once past the last instance (an instance cut short by the limit is gone through again).
   */
  trimHistories(after: WorkflowRef, keepNewest: number, limit: number): Promise<{ removed: number; next: WorkflowRef | undefined }>;
  /** The tombstone of a removed workflow instance; while it lasts, no new record of that id is stored (a commit of one is a conflict). */
  removedWorkflow(name: string, id: string): Promise<WorkflowTombstone | undefined>;
  /** Removes at most `limit` tombstones written before `before`; returns the workflows they were of (their ids may be started again). */
  pruneTombstones(before: number, limit: number): Promise<WorkflowRef[]>;
  /** At most `limit` idempotency records written before `before`, after `after` in (at, component, id, key) order. */
  oldDedup(before: number, after: DedupRef | undefined, limit: number): Promise<DedupRef[]>;
  /** Removes these idempotency records (one transaction); returns how many went. */
  deleteDedup(refs: readonly DedupRef[]): Promise<number>;
  /** The current generation of each of these timers that exists (pending or parked). */
  timerGenerations(names: readonly string[]): Promise<Map<string, number>>;
}
