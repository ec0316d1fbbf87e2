import type { ScheduleReport } from "./schedules/schedule-service.ts";
/**
 * What the HTTP layer (and the embedding API) may ask of a running service: two narrow
 * interfaces, so that no route reaches the store, the runners or the membership directly.
 * The composition root (runtime.ts) implements them.
 */
import type { WorkflowView } from "../define/workflow.ts";
import type {
  BackupReport,
  KvRecord,
  ParkedMessage,
  StoredEvent,
  StoredReply,
  StoredWorkflow,
  TimerCursor,
  TimerRecord,
  WorkflowFilter,
  WorkflowStateAt,
  WorkflowTransition,
} from "../store/port.ts";
import type { ParkedViewEntry, ViewGeneration } from "../store/view-port.ts";
import type { StoreStatus } from "../store/outage.ts";
import type { ViewQueryOptions } from "./views/view-service.ts";
import type { RebuildFrom } from "./views/view-runner.ts";
import type { NodesReport } from "./cluster/membership.ts";
import type { Dispatcher } from "./dispatcher.ts";
import type { OperatorAction } from "./workflow/engine.ts";
import type { StartedBy } from "./workflow/started-by.ts";
import type { RetentionReport } from "./retention/retention-service.ts";

import type { Definitions, WorkflowPage, WorkflowSearch } from "./console-queries.ts";
import type { ProcessMap } from "./process-map.ts";
import type { LagHistory, RatesReport } from "./admin-samples.ts";
import type { WaitCancel } from "./workflow/end-waiters.ts";
import type { JournalEntry } from "./workflow/journal-entries.ts";

export type { OperatorAction, NodesReport, ViewQueryOptions, RetentionReport, Definitions, WorkflowPage, WorkflowSearch, ProcessMap, LagHistory, RatesReport, WorkflowStateAt };

/** The service's own HTTP API: commands, queries, workflow results and view queries. */
export interface ServiceFacade extends Pick<Dispatcher, "call" | "callForReply"> {
  /** A cancelled wait (`cancel`: the caller left, the server stops) rejects with its reason at once and the waiter is dropped. */
  workflowResult(name: string, id: string, waitMs?: number, cancel?: WaitCancel): Promise<WorkflowView<unknown>>;
  /** Runs a named view query; `{ <name>: rows, nextPageToken? }` or `{ count }`. */
  queryView(view: string, query: string, params: Record<string, unknown>, options?: ViewQueryOptions): Promise<unknown>;
  /** Calls `listener` after every change of the view; returns the function that stops it. Throws for an unknown view. */
  watchView(view: string, listener: () => void): () => void;
  /** Whether the store answers (`/health`). */
  storeStatus(): StoreStatus;
}

/** A consumer's place in the feed. */
export interface ConsumerReport {
  name: string;
  source: string;
  offset: number;
  head: number;
  /** Entries of its source not handled yet, counted up to a cap (`lagIsAtLeast` then). */
  lag: number;
  lagIsAtLeast: boolean;
  /** Messages parked (failed, or held behind one that failed), counted up to the same cap. */
  parked: number;
  /** Topic producers: commit-to-broker lag of the latest message published (ms). */
  publishLagMs?: number;
  /** Topic consumers and producers: the broker's latest error, while it lasts. */
  lastError?: string;
}

export interface ViewReport {
  name: string;
  version: number;
  head: number;
  active: ViewGeneration | null;
  lag: number | null;
  rebuilding: ViewGeneration | null;
  /** Entries this view could not apply, set aside for an operator. */
  parked: number;
  lastError: string | null;
}

/** An event-sourced entity's latest snapshot and how many events came after it. */
export interface EntitySummary {
  component: string;
  id: string;
  seq: number;
  /** Its state after event `seq`, as this code folds it; absent where that needs too many events replayed. */
  state?: unknown;
  snapshot: unknown;
  eventsSinceSnapshot: number;
}

/** An idempotency record an instance holds: its key, when it was written, and the reply a repeat gets. */
export interface IdempotencyKey {
  key: string;
  at: number;
  reply: StoredReply;
}

/** What operators see and do (the admin API): Property 7, everything durable is visible. */
/** A workflow as `GET /admin/workflows/{name}/{id}` shows it. */
export interface ShownWorkflow {
  workflow: StoredWorkflow & { startedBy: StartedBy | null; undoing: string | null };
  operator: { actions: OperatorAction[]; undoneByHand: string | null; forward: string | null };
  history: Array<WorkflowTransition & { version: number }>;
  historyNext?: number;
  /** What its step executions made durable on their own (journal-entries.ts); `journalFull`: the first 200 only. */
  journal: JournalEntry[];
  journalFull?: true;
}

export interface AdminFacade {
  listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]>;
  /** `listWorkflows` with the console's extra filters (id prefix, creation time, outcome), a page and the cursor of the next. */
  searchWorkflows(search: WorkflowSearch): Promise<WorkflowPage>;
  /** What the service declares: workflows with their steps (a saga's compensations), entities. */
  definitions(): Promise<Definitions>;
  /** Counts and times per step and transition of one workflow over a time window (epoch ms). */
  processMap(workflow: string, since: number, until: number): Promise<ProcessMap>;
  /** An event-sourced entity's state right after its event `seq`. */
  entityStateAt(component: string, id: string, seq: number): Promise<{ component: string; id: string; seq: number; state: unknown }>;
  /** Retention's settings, its last run and what it removed (GET /retention). */
  retention(): Promise<RetentionReport>;
  /**
   * The record (with who started it over HTTP, `startedBy`) and its history of transitions;
   * `not_found` (404) if it was never started, `workflow_removed` (410) if retention removed it
   * (while its tombstone lasts). `workflow.undoing`: a saga in its compensations, the step they are
   * undoing (or stopped at); `operator`: what an operator may do to it now (operatorChoices).
   */
  showWorkflow(name: string, id: string, historyAfter?: number): Promise<ShownWorkflow>;
  operateWorkflow(name: string, id: string, action: OperatorAction, options?: { undoneByHand?: string; forward?: boolean }): Promise<unknown>;
  /** A key-value entity's record, or an event-sourced entity's summary. */
  entity(component: string, id: string): Promise<EntitySummary | ({ component: string; id: string } & KvRecord)>;
  entityEvents(component: string, id: string, after: number, limit: number): Promise<{ component: string; id: string; events: StoredEvent[] }>;
  /** The idempotency records an entity instance holds, by key after `after`; `next` is the `after` of the next page. */
  idempotencyKeys(component: string, id: string, after: string, limit: number): Promise<{ component: string; id: string; keys: IdempotencyKey[]; next: string | null }>;
  /** A workflow's state at each version after `after` that the change feed still keeps; `next` is the `after` of the next page. */
  workflowStates(name: string, id: string, after: number, limit: number): Promise<{ name: string; id: string; states: WorkflowStateAt[]; next: number | null }>;
  /** A consumer's lag over the last minutes (sampled by the service), the lag now last. */
  consumerLag(name: string): Promise<LagHistory>;
  /** Commands and commits per second now and over the last minutes. */
  rates(): Promise<RatesReport>;
  consumers(): Promise<{ head: number; consumers: ConsumerReport[] }>;
  parked(consumer: string, limit: number, afterPosition?: number): Promise<ParkedMessage[]>;
  /** Re-delivers (`retry`) or drops (`skip`) a parked message, then delivers what waited behind it. */
  releaseParked(consumer: string, position: number, action: "retry" | "skip"): Promise<{ delivered: number; parked: number }>;
  timers(status: "pending" | "parked" | undefined, limit: number, after?: TimerCursor): Promise<TimerRecord[]>;
  /** A parked timer pending again, due now, its attempts from zero (once the cause is fixed); 404 unless parked. */
  retryTimer(name: string): Promise<{ name: string; status: "pending" }>;
  /** Removes a timer, pending or parked; 404 when there is none. */
  cancelTimer(name: string): Promise<{ name: string; cancelled: true }>;
  /** Cron schedules: their state, last and next tick. */
  schedules(): Promise<{ schedules: ScheduleReport[] }>;
  /** Pauses or resumes a schedule; ticks while paused are skipped. */
  setSchedulePaused(name: string, paused: boolean): Promise<ScheduleReport>;
  views(): Promise<{ head: number; views: ViewReport[] }>;
  /**
   * Starts a rebuild: from the feed, or (`current`) seeded from the entities' current state first.
   * From the feed is refused (409 `feed_entries_removed`) when retention removed states it needs.
   */
  rebuildView(name: string, from?: RebuildFrom): Promise<ViewGeneration>;
  viewParked(view: string, limit: number): Promise<ParkedViewEntry[]>;
  /** Applies again (`retry`) or drops (`skip`) an entry a view parked. */
  releaseViewParked(view: string, position: number, action: "retry" | "skip"): Promise<{ applied: number; parked: number }>;
  /** Whether the store answers (`/health`). */
  storeStatus(): StoreStatus;
  nodes(): Promise<NodesReport>;
  /**
   * A consistent online copy of the store in one SQLite file at `path` (absolute, new); commands
   * go on meanwhile. Refused (409 `backup_unsupported`) where the store has its own tools (PostgreSQL).
   */
  backup(path: string): Promise<BackupReport>;
  /** Every metric in the Prometheus text format (`GET /metrics`), with its content type. */
  metrics(): Promise<{ contentType: string; text: string }>;
}
