/**
 * The store port: everything the runtime needs from durable storage, and nothing more.
 * Adapters (memory, sqlite, postgres) implement it and pass one contract suite
 * (`src/store/contract.ts`). The port is asynchronous so that networked databases fit it;
 * it makes no assumption about SQLite.
 */

/** An event as the handler emitted it, before it has a sequence number. */
import type { ViewStore } from "./view-port.ts";
import type { ClusterStore, Fence } from "./cluster-port.ts";
import type { StoreStatus } from "./outage.ts";
import type { RetentionStore } from "./retention-port.ts";

export type { StoreStatus } from "./outage.ts";
export type { DedupRef, RetentionStore, WorkflowTombstone } from "./retention-port.ts";
export { StoreUnavailableError, type StoreUnavailableReason } from "../define/errors.ts";

export interface NewEvent {
  type: string;
  payload: unknown;
  /** The W3C `traceparent` of the command that emitted it, kept with its feed entry (tracing only). */
  trace?: string;
}

/** An event as stored: `seq` counts from 1 per instance; `position` orders all events of the store. */
export interface StoredEvent extends NewEvent {
  seq: number;
  position: number;
  at: number;
}

export interface Snapshot {
  seq: number;
  state: unknown;
  /** The entity's `stateVersion` when it was taken (0 when it had none). */
  stateVersion: number;
}

/** What recovery needs: the latest snapshot (if any) and every event after it, in order. */
export interface EntityHistory {
  snapshot: Snapshot | undefined;
  events: StoredEvent[];
}

export interface KvRecord {
  version: number;
  state: unknown;
  deleted: boolean;
}

/** The outcome of a command, as kept for idempotent repeats. */
export type StoredReply =
  | { ok: true; value: unknown }
  | { ok: false; code: string; message: string; /** HTTP status, 4xx; absent means 400. */ status?: number };

export interface DedupRecord {
  key: string;
  /** Hash of the command name and input: the same key with another request is refused. */
  requestHash: string;
  reply: StoredReply;
  at: number;
  /**
   * A record that says something happened rather than answers a request (a workflow journal's
   * mark that a call was kept): a key already taken is left as it is, and is no conflict. A mark
   * left from before, under the key of a call decided now, would otherwise refuse that call's
   * write, and every try of it.
   */
  ifAbsent?: true;
}

/**
 * All that one command turn on one instance changes, committed atomically with the other
 * writes of the same batch. `expectedSeq` / `expectedVersion` is what the writer last saw:
 * if the store holds something newer, the write is refused with `conflict` and nothing of it is kept.
 */
export interface InstanceWrite {
  component: string;
  id: string;
  events?: { expectedSeq: number; append: NewEvent[]; snapshot?: Snapshot };
  kv?: { expectedVersion: number; state: unknown; deleted: boolean };
  /**
   * A workflow's new record (version becomes expectedVersion + 1) and the transition to log.
   * The workflow is (`component` = its name, `id`); `expectedVersion` is 0 for a workflow not
   * stored yet. It is checked like `events` and `kv`: a mismatch makes the whole write a conflict.
   */
  workflow?: { expectedVersion: number; record: WorkflowRecord; transition: WorkflowTransition };
  dedup: DedupRecord[];
  /** Only while this lease is held with this token (see cluster-port.ts); else the outcome is `fenced`. */
  fence?: Fence;
  /**
   * Writes of other instances that commit with this one, all or none (a workflow step's calls to
   * entities, with the step's transition): if any of them or this write is refused, nothing of
   * any is kept and the outcome is that refusal. Only for a store whose `commitsTogether` is true.
   */
  together?: InstanceWrite[];
  /**
   * The W3C `traceparent` of the command that made the write (tracing only): kept with the feed
   * entry of a key-value or workflow state (and with events that carry none of their own).
   */
  trace?: string;
}

export type WorkflowStatus = "running" | "paused" | "suspended" | "ended" | "failed" | "terminated";

/** The statuses of a workflow that is over: who waits for its end is answered. */
export const finalStatuses: ReadonlySet<WorkflowStatus> = new Set(["ended", "failed", "terminated"]);

/** The statuses no operator action leaves (a `failed` workflow may be retried): an end in them stays. */
export type LastingStatus = "ended" | "terminated";
export const isLasting = (status: string): status is LastingStatus => status === "ended" || status === "terminated";

/** The durable record of a workflow instance: all the engine needs to carry on after a crash. */
export interface WorkflowRecord {
  status: WorkflowStatus;
  /** The current step (the last one, once the workflow is over); null before the first. */
  step: string | null;
  stepInput: unknown;
  state: unknown;
  /** Failed attempts of the current step execution. */
  attempt: number;
  /** Counts step entries; with the call index it keys the step's calls (exactly-once). */
  execId: number;
  /** When the engine must act next (retry back-off, pause timeout); null: now / never. */
  dueAt: number | null;
  /** The workflow-level timeout, if any. */
  deadlineAt: number | null;
  /** The current step execution's last failure; `partial`: part of one of its attempts took effect (StepFailure.partial). */
  lastError: { code: string; message: string; partial?: true } | null;
  /** Hash of the start command's input: a repeat with the same input gets `startReply`. */
  startHash: string;
  startReply: unknown;
  createdAt: number;
  updatedAt: number;
  /**
   * The W3C `traceparent` of the command that started the workflow (tracing only): its steps
   * join that trace, after a restart or on another node too.
   */
  trace?: string;
}

/**
 * Whose due workflows `Store.dueWorkflows` reads: those of the buckets a node holds, of the
 * workflows its code defines (instances of a definition since removed would otherwise fill pages).
 */
export interface DueWorkflowsOf {
  buckets: readonly number[];
  names: readonly string[];
}

/** One group of `Store.stepsToRun`. */
export interface StepsToRun {
  step: string;
  count: number;
  /** Up to 3 ids of the workflows at that step. */
  examples: string[];
}

/** One group of `Store.workflowCounts`. */
export interface WorkflowCount {
  name: string;
  status: WorkflowStatus;
  step: string | null;
  count: number;
}

/** A connection pool's occupancy: open connections, those idle, and callers waiting for one. */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

export interface StoredWorkflow extends WorkflowRecord {
  name: string;
  id: string;
  version: number;
}

/** One line of a workflow's history, written with every record change. */
export interface WorkflowTransition {
  at: number;
  status: WorkflowStatus;
  step: string | null;
  execId: number;
  attempt: number;
  /** What happened, for operators: "started", "step withdraw failed: …", "suspended by operator". */
  detail: string;
}

/** A workflow's record as one version left it (`Store.workflowStates`); `state` is absent when it had none. */
export interface WorkflowStateAt {
  version: number;
  at: number;
  status: WorkflowStatus;
  step: string | null;
  state?: unknown;
}

/**
 * Which workflows `listWorkflows` returns: those matching every field given, ordered by
 * (name, id), at most `limit`. Names and ids compare by Unicode code point (SQLite's BINARY
 * collation; a PostgreSQL adapter needs COLLATE "C").
 */
export interface WorkflowFilter {
  name?: string;
  /** Any of these statuses; an empty list matches nothing. */
  statuses?: WorkflowStatus[];
  step?: string;
  /**
   * Ids after this one (ids ascending), for paging through one workflow's instances: pass the
   * last id of the previous page. Needs `name`, or else `afterName` (the call is refused without
   * either).
   */
  afterId?: string;
  /**
   * Without `name`: workflows after (`afterName`, `afterId`) in (name, id) order, for paging
   * through every workflow: pass the last name and id of the previous page. Needs `afterId`.
   */
  afterName?: string;
  /** 0 or less returns nothing. */
  limit: number;
}

/**
 * `conflict`: the instance moved on since the writer loaded it (reload and decide again).
 * `fenced`: the write's lease is no longer held with its token. `locked`: a row the write needs is
 * locked by a session outside Sagaflow (an operator's `SELECT … FOR UPDATE`, a tool): nothing of
 * the write was kept and the commit did not wait for it; the same write may be sent again later.
 */
export type WriteOutcome =
  | { ok: true; positions: number[]; /** Of each `together` write, in its order. */ together?: number[][] }
  | { ok: false; reason: "conflict" | "fenced" | "locked" };

/**
 * An entry of the change feed, ordered by `position` across the whole store: an entity event,
 * or a new state of a key-value entity or workflow. Adapters write feed entries in the same
 * commit as the change itself: entity events are feed entries as they are; a key-value write
 * adds `{ type: "$state", seq: version, payload: state }` (`payload` null and type "$deleted" when
 * deleted); a workflow write adds `{ type: "$state", seq: version, payload: { status, step, state } }`.
 */
export interface FeedEntry {
  position: number;
  component: string;
  id: string;
  seq: number;
  type: string;
  payload: unknown;
  at: number;
  /** The W3C `traceparent` of the command that wrote it, when it was traced: deliveries link to it. */
  trace?: string;
}

/** A consumer message that failed too often, or one held behind such a message of the same instance. */
export interface ParkedMessage {
  consumer: string;
  entry: FeedEntry;
  error: { code: string; message: string };
  attempts: number;
  parkedAt: number;
  /** Null for the message that failed; else the position of the parked message it waits behind. */
  blockedBy: number | null;
}

/** A durable timer: at `dueAt`, call `component/id/handler(input)` with key `timer:{name}:{generation}`. */
/** Where a page of timers ends: its last timer's due time and name (Store.listTimers). */
export interface TimerCursor {
  dueAt: number;
  name: string;
}

export interface TimerRecord {
  name: string;
  /** Bumped each time the name is (re)started, so an old firing cannot finish a new timer. */
  generation: number;
  dueAt: number;
  component: string;
  id: string;
  handler: string;
  input: unknown;
  attempts: number;
  status: "pending" | "parked";
  lastError: { code: string; message: string } | null;
  createdAt: number;
  /** The W3C `traceparent` of the work that started the timer, when it was traced: its firing links to it. */
  trace?: string;
  /**
   * The idempotency key its call carries, when the code that started it has one of its own (a
   * workflow step's execution, a consumer's message): that code running again starts the timer
   * again — a new timer if the first already fired — and the target still changes once. Else the
   * key is the timer's own (`timer:{name}:{createdAt}:{generation}`).
   */
  callKey?: string;
}

export type NewTimer = Pick<TimerRecord, "name" | "dueAt" | "component" | "id" | "handler" | "input" | "createdAt" | "trace" | "callKey">;

/** A failed firing, as `retryTimer` records it: the new due time, the attempts so far, the status, the error. */
export interface TimerChange {
  dueAt: number;
  attempts: number;
  status: "pending" | "parked";
  lastError: { code: string; message: string };
}

/** What `Store.backup` made. */
export interface BackupReport {
  /** The file written. */
  path: string;
  bytes: number;
  /** Database pages copied, and in how many steps (commands ran between steps). */
  pages: number;
  steps: number;
  durationMs: number;
}

/**
 * Every method rejects with `StoreUnavailableError` (src/define/errors.ts) when the store cannot
 * do the work for a reason that passes (the database out of reach, the disk full, a lock or a
 * statement that took too long), having kept nothing of that work; adapters turn their own error
 * codes into it, so nothing above them knows a database's codes.
 */
export interface Store {
  /** View storage, where the adapter serves views. */
  readonly views?: ViewStore;
  /**
   * Where several nodes can share the store (PostgreSQL): heartbeats, leases, signals. Adapters
   * without it serve one node, which holds all the work; they are never given a `fence`.
   */
  readonly cluster?: ClusterStore;
  /** Removals for retention (src/runtime/retention/); every adapter has it. */
  readonly retention: RetentionStore;

  /**
   * How long (ms) a write answered `locked` is sent again before its commands fail with
   * `StoreUnavailableError` reason `lock_timeout`. Only adapters that answer `locked` set it.
   */
  readonly lockTimeoutMs?: number;
  /** Whether `commit` honours `InstanceWrite.together` (all or none); absent: it does not, never pass it. */
  readonly commitsTogether?: boolean;
  /** Whether the store is taking work (shown by `/health` and the admin API); absent: always ok. */
  status?(): StoreStatus;
  /** How many workflows stand at each (name, status, step): one grouped read, for `/metrics`. Absent: listed page by page. */
  workflowCounts?(): Promise<WorkflowCount[]>;
  /** Connections of the adapter's pool (PostgreSQL), for `/metrics`. */
  poolStats?(): PoolStats;

  /** Brings the schema up to the newest version; safe to call on every start. */
  migrate(): Promise<void>;
  schemaVersion(): Promise<number>;

  loadHistory(component: string, id: string): Promise<EntityHistory>;
  /** Events of one instance with `seq > afterSeq`, at most `limit`, in order. */
  readEvents(component: string, id: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  loadKv(component: string, id: string): Promise<KvRecord | undefined>;
  /**
   * The current records of key-value entity `component` (deleted ones included) with an id after
   * `afterId` (code-point order; "" for the first), at most `limit`, by id: a view rebuilt from
   * current state pages through them, however many instances there are.
   */
  listKv(component: string, afterId: string, limit: number): Promise<Array<KvRecord & { id: string }>>;
  findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined>;
  /** An instance's idempotency records with a key after `afterKey` (code-point order; "" for the first), at most `limit`, by key. */
  listDedup(component: string, id: string, afterKey: string, limit: number): Promise<DedupRecord[]>;

  loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined>;
  /** Workflows matching the filter, ordered by (name, id). */
  listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]>;
  /**
   * Workflows named in `of.names` in `of.buckets` (src/store/buckets.ts) with something to do at `now`: running with no
   * due time (a step to run now, or in flight when the process stopped) or one at or before
   * `now`, paused with a due time at or before `now`, or either past its deadline. At most
   * `limit`, in no particular order (one both due and past its deadline may be named twice). The engine takes over its buckets with it, in pages, and
   * sweeps with it for a lost wake-up; served by an index on (bucket, status, time), so it reads
   * only what it returns, however many workflows wait.
   */
  dueWorkflows(now: number, limit: number, of: DueWorkflowsOf): Promise<Array<{ name: string; id: string }>>;
  /**
   * The earliest due time or deadline after `now` of a running or paused workflow of `buckets`;
   * undefined when none has one. A few index lookups per bucket.
   */
  nextWorkflowDue(now: number, buckets: readonly number[]): Promise<number | undefined>;
  /**
   * For the start-up check of definitions: the steps the workflows of `name` that are not over
   * will run next (a paused one's is the step its timeout runs, `stepInput.then`), each with
   * how many stand there and a few of their ids. One grouped read.
   */
  stepsToRun(name: string): Promise<StepsToRun[]>;
  /**
   * A workflow's first `limit` transitions after version `afterVersion` (0: from the first), oldest
   * first (`version` is the record version it produced, so they count 1, 2, 3, …); empty for an
   * unknown workflow.
   */
  workflowHistory(name: string, id: string, limit: number, afterVersion?: number): Promise<Array<WorkflowTransition & { version: number }>>;
  /**
   * A workflow's states at versions after `afterVersion`, at most `limit`, oldest first: read from
   * the change feed, which keeps one entry per record version until retention prunes it (so
   * versions may be missing; `version` says which each is).
   */
  workflowStates(name: string, id: string, afterVersion: number, limit: number): Promise<WorkflowStateAt[]>;

  /**
   * Commits all writes in one transaction (one fsync where the adapter is durable).
   * Each write succeeds or fails on its own: a conflicting write is left out and reported,
   * the others are kept. Outcomes are in the order of `writes`. A storage failure rejects the
   * whole call and keeps nothing.
   */
  commit(writes: InstanceWrite[]): Promise<WriteOutcome[]>;

  /** Feed entries with position > afterPosition, ascending, at most `limit`; only of `components` if given. */
  readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]>;
  /** The highest position written so far (0 when none). */
  feedHead(): Promise<number>;

  /** A consumer's offset: every entry at or below it is handled or parked. 0 when never stored. */
  loadOffset(consumer: string): Promise<number>;
  listOffsets(): Promise<Array<{ consumer: string; position: number }>>;
  /**
   * In one transaction: removes the parked messages at positions `remove` (if given), then stores
   * `park`, and raises the offset to `offset` (never lowers it).
   */
  commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove?: readonly number[], fence?: Fence): Promise<void>;
  /** Parked messages, ordered by (consumer, position); of one consumer, those after position `afterPosition` (default 0). */
  listParked(consumer: string | undefined, limit: number, afterPosition?: number): Promise<ParkedMessage[]>;
  /** Removes parked messages (after a successful retry, or a skip). */
  removeParked(consumer: string, positions: readonly number[]): Promise<void>;

  /** Starts a timer, replacing one of the same name (generation becomes the old one + 1). */
  putTimer(timer: NewTimer): Promise<TimerRecord>;
  /** Removes a timer whatever its state; false when there was none. */
  cancelTimer(name: string): Promise<boolean>;
  /**
   * Pending timers of `buckets` (a timer's bucket is `timerBucket(name)`, src/store/buckets.ts)
   * due at or before `now`, earliest first (equal due times by name), at most `limit`.
   */
  dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]>;
  /** The earliest due time of a pending timer of `buckets`; undefined when none. */
  nextTimerDue(buckets: readonly number[]): Promise<number | undefined>;
  /**
   * In one transaction, removes each timer that is still at the given generation (they fired).
   * On several nodes `fences` holds the lease of each bucket the caller fires (by bucket): the
   * timers of a bucket whose lease is no longer held at its token are left for the new holder,
   * and those buckets are returned (the others' timers are removed all the same). Adapters
   * without `cluster` are never given fences and return [].
   */
  finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>, fences?: ReadonlyMap<number, Fence>): Promise<number[]>;
  /** Records a failed firing if the timer is still at `generation`: new due time, attempts, status. */
  retryTimer(name: string, generation: number, change: TimerChange, fence?: Fence): Promise<void>;
  /**
   * An operator's retry: the parked timer `name` becomes pending, due at `dueAt`, with no attempts
   * (its last error kept). Returns it, or undefined when no timer of that name is parked. On
   * several nodes the holder of its bucket is told, as by `putTimer`.
   */
  unparkTimer(name: string, dueAt: number): Promise<TimerRecord | undefined>;
  /** Timers ordered by (due time, name), optionally only one status; with `after`, those after that timer in that order (a page's last). */
  listTimers(status: "pending" | "parked" | undefined, limit: number, after?: TimerCursor): Promise<TimerRecord[]>;

  /**
   * Deletes every idempotency record written before `before` (epoch ms); returns how many. The
   * runtime does not use it: retention keeps the records a workflow, consumer or timer may still
   * send again (`retention.oldDedup` / `deleteDedup`).
   */
  pruneDedup(before: number): Promise<number>;

  /**
   * A consistent copy of the whole store in one file at `path` (absolute, not existing), taken
   * while the store serves. Only adapters that can (SQLite) have it; PostgreSQL has its own tools.
   */
  backup?(path: string): Promise<BackupReport>;

  close(): Promise<void>;
}
