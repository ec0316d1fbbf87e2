/**
 * Retention (Property 9, bounded over time): removes in the background, in small batches, what
 * nothing may need any more, and never what a running workflow or a lagging consumer may:
 *
 * - change feed: states of key-value entities and workflows (never entity events, the source of
 *   truth) older than `feedMs` that every consumer of states, topic producer and view has passed;
 * - workflows that ended or were terminated longer ago than their definition's `retentionMs`
 *   (default `workflowsMs`), with their history, leaving a tombstone; failed ones wait for an operator;
 * - the history of every workflow past its newest `historyKept` transitions (its first, who
 *   started it, stays): a workflow that loops for a year does not keep every transition;
 * - idempotency records older than `idempotencyMs`, except those whose key a workflow not over,
 *   a consumer message not yet passed (or parked), a parked topic message, or a timer still there
 *   may send again, and
 *   `ctx.run` results of a workflow not over (a re-run of its step must find them);
 * - tombstones older than `tombstonesMs`.
 *
 * Snapshots need nothing: every store keeps one per instance, the newest replacing the older.
 * On several nodes, one node at a time runs it (lease `retention`).
 */
import type { ConsumerDefinition } from "../../define/consumer.ts";
import type { TopicProducerDefinition } from "../../define/topic.ts";
import type { ViewDefinition } from "../../define/view.ts";
import type { WorkflowDefinition } from "../../define/workflow.ts";
import type { DedupRef, Store, WorkflowStatus } from "../../store/port.ts";
import type { WorkflowRef } from "../../store/retention-port.ts";
import type { Clock } from "../clock.ts";
import { ownerOfRecord } from "./key-owner.ts";
import { undefinedWorkflows } from "../workflow/undefined-workflows.ts";
import type { ParkedTopicPayload } from "../topics/topic-consumer-runner.ts";

const day = 24 * 60 * 60 * 1000;

/** The pause between runs while a backlog is being removed (a run stopped at its batch budget). */
const backlogPauseMs = 1_000;

/** Retention settings; each period in ms. */
export interface RetentionSettings {
  /** Key-value and workflow states in the change feed, once every consumer and view passed them. Default 7 days; 0 keeps them forever. */
  feedMs: number;
  /** Idempotency records no workflow, consumer or timer can send again. Default 7 days; more than 0. */
  idempotencyMs: number;
  /** Ended and terminated workflows, for definitions without `retentionMs`. Default 7 days; 0 keeps them forever. */
  workflowsMs: number;
  /** Tombstones of removed workflows (what lets the admin API say "removed"). Default 90 days; 0 keeps them forever. */
  tombstonesMs: number;
  /** Transitions each workflow's history keeps, the newest, besides its first. Default 1,000; 0 keeps them all. */
  historyKept: number;
  /** Time between two runs. Default 1 minute. */
  intervalMs: number;
  /** Rows per batch (one short transaction each). Default 500. */
  batchSize: number;
  /** Batches per kind of record in one run, so that a run never holds the store for long. Default 20. */
  maxBatchesPerRun: number;
}

export const defaultRetention: RetentionSettings = {
  feedMs: 7 * day,
  idempotencyMs: 7 * day,
  workflowsMs: 7 * day,
  tombstonesMs: 90 * day,
  historyKept: 1_000,
  intervalMs: 60_000,
  batchSize: 500,
  maxBatchesPerRun: 20,
};

/** What one run removed. */
export interface RetentionRun {
  startedAt: number;
  finishedAt: number;
  removed: { feed: number; workflows: number; idempotency: number; tombstones: number; history: number };
  /** The feed position every consumer of states and every view had passed (entries above it are kept). */
  feedFloor: number;
  /** Who held the floor lowest: `consumer:{name}`, `producer:{name}` or `view:{name}`; null when the feed head did. */
  feedHeldBy: string | null;
  /** Whether every kind of record was gone through (else the next run carries on). */
  complete: boolean;
  error: string | null;
}

/** What GET /retention shows. */
export interface RetentionReport {
  settings: RetentionSettings;
  /** Each workflow's period (0: kept forever). */
  workflows: Array<{ name: string; retentionMs: number }>;
  /** The highest feed position retention removed (a consumer or view build starting below it misses states). */
  feedPrunedThrough: number;
  /** Whether this node runs retention now (several nodes: it holds the lease). */
  runningHere: boolean;
  lastRun: RetentionRun | null;
  /** Removed since this process started. */
  totals: RetentionRun["removed"];
  /** Several nodes: the live ones whose settings differ from this node's (the admin API fills it in). */
  otherSettings?: Array<{ node: string; settings: RetentionSettings }>;
}

export interface RetentionHost {
  store: Store;
  clock: Clock;
  log: (line: string) => void;
  workflows: readonly WorkflowDefinition[];
  consumers: readonly ConsumerDefinition[];
  /** Topic producers read the feed like consumers: what one has not published yet stays. */
  producers: readonly TopicProducerDefinition[];
  views: readonly ViewDefinition[];
  /** Retention removed this workflow instance: drop any copy held in memory. */
  forget: (name: string, id: string) => void;
}

const over: ReadonlySet<WorkflowStatus> = new Set(["ended", "terminated"]);
const beforeFirstWorkflow: WorkflowRef = { name: "", id: "" };

/** Checks settings given by a user: whole ms, in range. */
export function retentionSettings(given: Partial<RetentionSettings> = {}): RetentionSettings {
  const settings = { ...defaultRetention, ...given };
  for (const [name, value] of Object.entries(settings)) {
    const min = name === "idempotencyMs" || name === "intervalMs" || name === "batchSize" || name === "maxBatchesPerRun" ? 1 : 0;
    if (!Number.isSafeInteger(value) || value < min) {
      throw new TypeError(`retention.${name} must be a whole number, ${min} or more (got ${String(value)})`);
    }
  }
  return settings;
}

export class RetentionService {
  readonly settings: RetentionSettings;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private active = false;
  private lastRun: RetentionRun | null = null;
  private readonly totals = { feed: 0, workflows: 0, idempotency: 0, tombstones: 0, history: 0 };
  /** Where the trimming of histories stopped (it carries on there next run). */
  private historyCursor: WorkflowRef = beforeFirstWorkflow;
  /** Where the scan of old idempotency records stopped (it carries on there next run). */
  private dedupCursor: DedupRef | undefined;
  /** When the last scan of idempotency records that reached the end began: records older than its cutoff are gone where allowed. */
  private dedupSweptAt: number | undefined;
  private dedupScanStartedAt: number | undefined;
  /** Runs one after the other (the timer's and a test's or operator's). */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: RetentionHost,
    settings: Partial<RetentionSettings> = {},
  ) {
    this.settings = retentionSettings(settings);
  }

  /**
   * Runs now and then every `intervalMs` (this node holds the lease). A run that removed rows and
   * stopped at its batch budget left a backlog: the next follows after `backlogPauseMs`, not a
   * whole interval, or a service writing faster than one budget an interval would outgrow it.
   */
  begin(): void {
    if (this.active) return;
    this.active = true;
    const next = (run: RetentionRun | undefined) => {
      if (!this.active) return;
      // A backlog: the run stopped at its budget having removed at least a batch's worth. A run that
      // scans many records it must keep and removes a few is not one (once an interval is enough).
      const removed = run ? Object.values(run.removed).reduce((a, b) => a + b, 0) : 0;
      const backlog = run !== undefined && run.error === null && !run.complete && removed >= this.settings.batchSize;
      this.timer = setTimeout(tick, backlog ? backlogPauseMs : this.settings.intervalMs);
      this.timer.unref();
    };
    const tick = () => {
      if (!this.active) return;
      this.running = this.runOnce().then(next, () => next(undefined));
    };
    tick();
  }

  async stop(): Promise<void> {
    this.active = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  async report(): Promise<RetentionReport> {
    return {
      settings: { ...this.settings },
      workflows: this.host.workflows.map((w) => ({ name: w.name, retentionMs: this.workflowRetention(w) })),
      feedPrunedThrough: await this.host.store.retention.feedPrunedThrough(),
      runningHere: this.active,
      lastRun: this.lastRun && { ...this.lastRun, removed: { ...this.lastRun.removed } },
      totals: { ...this.totals },
    };
  }

  private workflowRetention(definition: WorkflowDefinition): number {
    return definition.retentionMs ?? this.settings.workflowsMs;
  }

  /** One run (after any run in progress): idempotency records, the feed, then workflows (which wait for both), tombstones. */
  runOnce(): Promise<RetentionRun> {
    const run = this.chain.then(() => this.run());
    this.chain = run.catch(() => {});
    return run;
  }

  private async run(): Promise<RetentionRun> {
    const startedAt = this.host.clock.now();
    const run: RetentionRun = {
      startedAt,
      finishedAt: startedAt,
      removed: { feed: 0, workflows: 0, idempotency: 0, tombstones: 0, history: 0 },
      feedFloor: 0,
      feedHeldBy: null,
      complete: true,
      error: null,
    };
    try {
      run.complete = (await this.pruneDedup(startedAt, run)) && run.complete;
      run.complete = (await this.pruneFeed(startedAt, run)) && run.complete;
      run.complete = (await this.pruneWorkflows(startedAt, run)) && run.complete;
      run.complete = (await this.pruneTombstones(startedAt, run)) && run.complete;
      run.complete = (await this.trimHistories(run)) && run.complete;
    } catch (error) {
      run.error = String(error);
      run.complete = false;
      this.host.log(`sagaflow: retention: ${String(error)}; trying again at the next run`);
    }
    run.finishedAt = this.host.clock.now();
    for (const kind of ["feed", "workflows", "idempotency", "tombstones", "history"] as const) this.totals[kind] += run.removed[kind];
    this.lastRun = run;
    return run;
  }

  /** Batches until `work` says it is done or the run's budget is spent; false when not done. */
  private async batches(work: () => Promise<boolean>): Promise<boolean> {
    for (let i = 0; i < this.settings.maxBatchesPerRun; i++) {
      if (await work()) return true;
    }
    return false;
  }

  private async pruneDedup(now: number, run: RetentionRun): Promise<boolean> {
    const { store } = this.host;
    const cutoff = now - this.settings.idempotencyMs;
    this.dedupScanStartedAt ??= now;
    const workflows = new Map<string, WorkflowStatus | undefined>();
    const offsets = new Map<string, number>();
    const parked = new Map<string, Set<number>>();
    const parkedTopicKeys = new Map<string, Set<string>>();
    return this.batches(async () => {
      const page = await store.retention.oldDedup(cutoff, this.dedupCursor, this.settings.batchSize);
      if (page.length === 0) {
        // A whole scan is over: everything older than its cutoff that could go is gone.
        this.dedupSweptAt = this.dedupScanStartedAt;
        this.dedupScanStartedAt = undefined;
        this.dedupCursor = undefined;
        return true;
      }
      this.dedupCursor = page.at(-1);
      const owners = page.map((ref) => ownerOfRecord(ref));
      const timerNames = owners.flatMap((o) => (o.kind === "timer" ? [o.name] : []));
      const timers = timerNames.length > 0 ? await store.retention.timerGenerations(timerNames) : new Map<string, number>();
      const gone: DedupRef[] = [];
      for (const [i, ref] of page.entries()) {
        const owner = owners[i]!;
        let keep = false;
        if (owner.kind === "workflow") {
          // A workflow not over (running, paused, suspended, failed) may run its step again.
          const key = JSON.stringify([owner.name, owner.id]);
          if (!workflows.has(key)) workflows.set(key, (await store.loadWorkflow(owner.name, owner.id))?.status);
          const status = workflows.get(key);
          keep = status !== undefined && !over.has(status);
        } else if (owner.kind === "consumer") {
          // A message not yet passed is delivered again; a parked one may be retried.
          if (!offsets.has(owner.name)) {
            offsets.set(owner.name, await store.loadOffset(owner.name));
            parked.set(owner.name, new Set((await store.listParked(owner.name, 100_000)).map((p) => p.entry.position)));
          }
          keep = owner.position > offsets.get(owner.name)! || parked.get(owner.name)!.has(owner.position);
        } else if (owner.kind === "topic") {
          // A parked topic message may be retried: its calls must find their replies.
          if (!parkedTopicKeys.has(owner.name)) {
            const messages = await store.listParked(owner.name, 100_000);
            parkedTopicKeys.set(owner.name, new Set(messages.flatMap((p) => {
              const key = (p.entry.payload as ParkedTopicPayload | null)?.idempotencyKey;
              return typeof key === "string" ? [key] : [];
            })));
          }
          keep = parkedTopicKeys.get(owner.name)!.has(owner.idempotencyKey);
        } else if (owner.kind === "timer") {
          // A timer still there at that generation may fire again (a parked one, when retried).
          keep = timers.get(owner.name) === owner.generation;
        }
        if (!keep) gone.push(ref);
      }
      run.removed.idempotency += await store.retention.deleteDedup(gone);
      return false;
    });
  }

  private async pruneWorkflows(now: number, run: RetentionRun): Promise<boolean> {
    // A removed id may be started again, from execution 1 and version 1: its old idempotency
    // records must be gone first, or its calls would get the old replies. They are, for workflows
    // over before the cutoff of the last full scan of idempotency records. Its states in the feed
    // go with it once every reader has passed them (the store checks), or its versions would collide.
    if (this.dedupSweptAt === undefined) return false;
    const sweptBefore = this.dedupSweptAt - this.settings.idempotencyMs;
    // Workflows this code no longer defines (a deploy removed them) are kept as long as the default says.
    const defined = new Set(this.host.workflows.map((w) => w.name));
    const removedFromCode = await undefinedWorkflows(this.host.store, defined, [...over]);
    const kept = [
      ...this.host.workflows.map((w) => ({ name: w.name, keepMs: this.workflowRetention(w) })),
      ...[...removedFromCode.keys()].map((name) => ({ name, keepMs: this.settings.workflowsMs })),
    ];
    let complete = true;
    for (const { name, keepMs } of kept) {
      if (keepMs === 0) continue;
      const before = Math.min(now - keepMs, sweptBefore);
      complete =
        (await this.batches(async () => {
          const removed = await this.host.store.retention.pruneWorkflows(name, before, run.feedFloor, this.settings.batchSize, now);
          for (const id of removed) this.host.forget(name, id);
          run.removed.workflows += removed.length;
          return removed.length < this.settings.batchSize;
        })) && complete;
    }
    return complete;
  }

  /**
   * The position every reader of states has passed, and who holds it lowest. A reader has passed
   * its offset and whatever follows it up to its next unread entry of its sources: a consumer of a
   * component that rarely changes does not hold every other component's states for ever.
   */
  private async feedFloor(): Promise<{ floor: number; heldBy: string | null }> {
    const { store } = this.host;
    const head = await store.feedHead();
    let floor = head;
    let heldBy: string | null = null;
    const lower = (position: number, who: string) => {
      if (position < floor) {
        floor = position;
        heldBy = who;
      }
    };
    /** Just below the next entry of `sources` after `offset`, or the head when there is none. */
    const passed = async (offset: number, sources: readonly string[]) => {
      const [next] = await store.readFeed(offset, 1, sources);
      return next ? next.position - 1 : head;
    };
    for (const consumer of this.host.consumers) {
      if (consumer.source.kind === "entity") continue; // reads entity events only, which stay
      lower(await passed(await store.loadOffset(consumer.name), [consumer.source.name]), `consumer:${consumer.name}`);
    }
    for (const producer of this.host.producers) {
      if (producer.options.source.kind === "entity") continue;
      lower(await passed(await store.loadOffset(producer.name), [producer.options.source.name]), `producer:${producer.name}`);
    }
    for (const view of this.host.views) {
      if (Object.values(view.tables).every((t) => t.source.kind === "entity")) continue; // events only
      const sources = [...new Set(Object.values(view.tables).map((t) => t.source.name))];
      const views = store.views;
      if (!views) {
        lower(await passed(0, sources), `view:${view.name}`);
        continue;
      }
      const meta = await views.viewMeta(view.name);
      // Not built yet, or building: it reads from where it stands (a build from the start).
      lower(await passed(meta?.active?.offset ?? 0, sources), `view:${view.name}`);
      if (meta?.building) lower(await passed(meta.building.offset, sources), `view:${view.name}`);
      // A parked entry is read again from the feed when retried.
      const [firstParked] = await views.listViewParked(view.name, 1);
      if (firstParked) lower(firstParked.position - 1, `view:${view.name}`);
    }
    return { floor, heldBy };
  }

  private async pruneFeed(now: number, run: RetentionRun): Promise<boolean> {
    // The floor is wanted even when states are kept: a removed workflow's states go with it.
    const { floor, heldBy } = await this.feedFloor();
    run.feedFloor = floor;
    run.feedHeldBy = heldBy;
    if (this.settings.feedMs === 0) return true;
    return this.batches(async () => {
      const removed = await this.host.store.retention.pruneFeed(floor, now - this.settings.feedMs, this.settings.batchSize);
      run.removed.feed += removed;
      return removed < this.settings.batchSize;
    });
  }

  /** Goes on through the workflows from where the last run stopped; each run goes at most its budget. */
  private async trimHistories(run: RetentionRun): Promise<boolean> {
    if (this.settings.historyKept === 0) return true;
    return this.batches(async () => {
      const { removed, next } = await this.host.store.retention.trimHistories(this.historyCursor, this.settings.historyKept, this.settings.batchSize);
      run.removed.history += removed;
      this.historyCursor = next ?? beforeFirstWorkflow;
      return next === undefined;
    });
  }

  private async pruneTombstones(now: number, run: RetentionRun): Promise<boolean> {
    if (this.settings.tombstonesMs === 0) return true;
    return this.batches(async () => {
      const removed = await this.host.store.retention.pruneTombstones(now - this.settings.tombstonesMs, this.settings.batchSize);
      // A cached instance may still say "removed": its id may be started again now.
      for (const w of removed) this.host.forget(w.name, w.id);
      run.removed.tombstones += removed.length;
      return removed.length < this.settings.batchSize;
    });
  }
}
