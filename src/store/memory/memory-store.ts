import type {
  DedupRecord,
  StepsToRun,
  DueWorkflowsOf,
  EntityHistory,
  FeedEntry,
  InstanceWrite,
  KvRecord,
  NewTimer,
  ParkedMessage,
  StoredEvent,
  StoredReply,
  StoredWorkflow,
  Store,
  TimerChange,
  TimerCursor,
  TimerRecord,
  WorkflowFilter,
  WorkflowStateAt,
  WorkflowTransition,
  WriteOutcome,
} from "../port.ts";
import { compareText } from "../collation.ts";
import { MemoryFeed, type FeedRow } from "./memory-feed.ts";
import { MemoryRetention } from "./memory-retention.ts";
import { MemoryTimers } from "./memory-timers.ts";
import { decode, encode, instanceKey, type Json } from "./memory-values.ts";
import { MemoryWorkflows, planWorkflow, type PlannedWorkflow } from "./memory-workflows.ts";

/** The schema version the memory store claims once migrated; it has no schema to change. */
const MEMORY_SCHEMA_VERSION = 1;

interface DedupEntry {
  requestHash: string;
  reply: string;
  at: number;
}

interface Instance {
  /** `events[i].seq === i + 1`: an instance's events are never removed. Key-value and workflow feed rows are not here. */
  events: FeedRow[];
  snapshot: { seq: number; state: Json; stateVersion: number } | undefined;
  kv: { version: number; state: Json; deleted: boolean } | undefined;
  dedup: Map<string, DedupEntry>;
}

/** One accepted write of a batch, encoded and checked, waiting to be applied. */
interface Plan {
  key: string;
  component: string;
  id: string;
  events: { type: string; payload: Json; trace?: string }[];
  firstSeq: number;
  trace: string | undefined;
  snapshot: Instance["snapshot"];
  kv: Instance["kv"];
  dedup: [string, DedupEntry][];
  workflow: PlannedWorkflow | undefined;
}

/** What earlier writes of the same batch will have changed, so later ones are checked against it. */
interface Pending {
  seq: number | undefined;
  version: number | undefined;
  workflowVersion: number | undefined;
  keys: Set<string>;
}

/**
 * A store in plain Maps, for unit tests and the testkit. It keeps nothing across restarts but
 * otherwise behaves like the SQLite store in every way the contract suite checks. Entity,
 * key-value and idempotency state and the commit are here; the workflow, feed and timer parts
 * in ./memory-workflows.ts, ./memory-feed.ts and ./memory-timers.ts.
 *
 * @example
 * const store = new MemoryStore();
 * await store.migrate();
 */
export class MemoryStore implements Store {
  readonly #instances = new Map<string, Instance>();
  readonly #workflows = new MemoryWorkflows();
  readonly #feed = new MemoryFeed();
  readonly #timers = new MemoryTimers();
  /** Retention's removals (./memory-retention.ts). */
  readonly retention: MemoryRetention = new MemoryRetention({
    feed: this.#feed,
    workflows: this.#workflows,
    timers: this.#timers,
    dedup: () => [...this.#instances].map(([key, inst]) => [key, inst.dedup] as [string, Map<string, { at: number }>]),
    ready: () => void this.#ready(),
  });
  #version = 0;
  #closed = false;
  /** A write's `together` writes are planned with it and kept only if all of them pass. */
  readonly commitsTogether = true;

  async migrate(): Promise<void> {
    this.#open();
    this.#version = MEMORY_SCHEMA_VERSION;
  }

  async schemaVersion(): Promise<number> {
    this.#open();
    return this.#version;
  }

  async loadHistory(component: string, id: string): Promise<EntityHistory> {
    const inst = this.#ready(component, id);
    if (!inst) return { snapshot: undefined, events: [] };
    const snap = inst.snapshot;
    const after = snap ? Math.max(0, snap.seq) : 0;
    return {
      snapshot: snap && { seq: snap.seq, state: decode(snap.state), stateVersion: snap.stateVersion },
      events: inst.events.slice(after).map(toEvent),
    };
  }

  async readEvents(component: string, id: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    const inst = this.#ready(component, id);
    if (!inst || limit <= 0) return [];
    const from = Math.max(0, afterSeq);
    return inst.events.slice(from, from + limit).map(toEvent);
  }

  async loadKv(component: string, id: string): Promise<KvRecord | undefined> {
    const kv = this.#ready(component, id)?.kv;
    return kv && { version: kv.version, state: decode(kv.state), deleted: kv.deleted };
  }

  async listKv(component: string, afterId: string, limit: number): Promise<Array<KvRecord & { id: string }>> {
    this.#ready();
    if (limit <= 0) return [];
    const prefix = instanceKey(component, "");
    const found: Array<KvRecord & { id: string }> = [];
    for (const [key, inst] of this.#instances) {
      if (!inst.kv || !key.startsWith(prefix)) continue;
      const id = key.slice(prefix.length);
      if (compareText(id, afterId) > 0) found.push({ id, version: inst.kv.version, state: decode(inst.kv.state), deleted: inst.kv.deleted });
    }
    return found.sort((a, b) => compareText(a.id, b.id)).slice(0, limit);
  }

  async findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined> {
    const entry = this.#ready(component, id)?.dedup.get(key);
    return entry && toDedup(key, entry);
  }

  async listDedup(component: string, id: string, afterKey: string, limit: number): Promise<DedupRecord[]> {
    const records = this.#ready(component, id)?.dedup;
    if (!records || limit <= 0) return [];
    const keys = [...records.keys()].filter((key) => compareText(key, afterKey) > 0).sort(compareText).slice(0, limit);
    return keys.map((key) => toDedup(key, records.get(key)!));
  }

  async workflowStates(name: string, id: string, afterVersion: number, limit: number): Promise<WorkflowStateAt[]> {
    this.#ready();
    return limit <= 0 ? [] : this.#feed.workflowStates(name, id, afterVersion, limit);
  }

  async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    this.#ready();
    const at = Date.now();
    // Check and encode everything first and change nothing until all of it succeeded, so that a
    // value JSON refuses rejects the whole batch, as a rolled-back transaction would.
    const pending = new Map<string, Pending>();
    const plans: (Plan[] | undefined)[] = writes.map((w) => this.#planTogether(w, pending));
    return plans.map((group): WriteOutcome => {
      if (!group) return conflict();
      const positions = group.map((plan) => this.#apply(plan, at));
      const main = positions.pop()!;
      return group.length > 1 ? { ok: true, positions: main, together: positions } : { ok: true, positions: main };
    });
  }

  /** A write after its `together` writes, planned on a copy of `pending` that is kept only if all pass. */
  #planTogether(w: InstanceWrite, pending: Map<string, Pending>): Plan[] | undefined {
    if (!w.together) {
      const plan = this.#plan(w, pending);
      return plan && [plan];
    }
    const trial = new Map([...pending].map(([key, p]) => [key, { ...p, keys: new Set(p.keys) }]));
    const plans: Plan[] = [];
    for (const member of [...w.together, w]) {
      const plan = this.#plan(member, trial);
      if (!plan) return undefined;
      plans.push(plan);
    }
    pending.clear();
    for (const [key, p] of trial) pending.set(key, p);
    return plans;
  }

  async pruneDedup(before: number): Promise<number> {
    this.#ready();
    let removed = 0;
    for (const inst of this.#instances.values()) {
      for (const [key, entry] of inst.dedup) {
        if (entry.at < before) {
          inst.dedup.delete(key);
          removed++;
        }
      }
    }
    return removed;
  }

  async loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined> {
    this.#ready();
    return this.#workflows.load(name, id);
  }

  async listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]> {
    this.#ready();
    return this.#workflows.list(filter);
  }

  async dueWorkflows(now: number, limit: number, of: DueWorkflowsOf): Promise<Array<{ name: string; id: string }>> {
    this.#ready();
    return this.#workflows.due(now, limit, of);
  }

  async nextWorkflowDue(now: number, buckets: readonly number[]): Promise<number | undefined> {
    this.#ready();
    return this.#workflows.nextDue(now, buckets);
  }

  async stepsToRun(name: string): Promise<StepsToRun[]> {
    this.#ready();
    return this.#workflows.stepsToRun(name);
  }

  async workflowHistory(name: string, id: string, limit: number, afterVersion = 0): Promise<Array<WorkflowTransition & { version: number }>> {
    this.#ready();
    return this.#workflows.history(name, id, limit, afterVersion);
  }

  async readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    this.#ready();
    return this.#feed.read(afterPosition, limit, components);
  }

  async feedHead(): Promise<number> {
    this.#ready();
    return this.#feed.head();
  }

  async loadOffset(consumer: string): Promise<number> {
    this.#ready();
    return this.#feed.loadOffset(consumer);
  }

  async listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    this.#ready();
    return this.#feed.listOffsets();
  }

  async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = []): Promise<void> {
    this.#ready();
    this.#feed.commitConsumer(consumer, offset, park, remove);
  }

  async listParked(consumer: string | undefined, limit: number, afterPosition = 0): Promise<ParkedMessage[]> {
    this.#ready();
    return this.#feed.listParked(consumer, limit, afterPosition);
  }

  async removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    this.#ready();
    this.#feed.removeParked(consumer, positions);
  }

  async putTimer(timer: NewTimer): Promise<TimerRecord> {
    this.#ready();
    return this.#timers.put(timer);
  }

  async cancelTimer(name: string): Promise<boolean> {
    this.#ready();
    return this.#timers.cancel(name);
  }

  async dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]> {
    this.#ready();
    return this.#timers.due(now, limit, buckets);
  }

  async nextTimerDue(buckets: readonly number[]): Promise<number | undefined> {
    this.#ready();
    return this.#timers.next(buckets);
  }

  async finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>): Promise<number[]> {
    this.#ready();
    this.#timers.finish(fired);
    return [];
  }

  async retryTimer(name: string, generation: number, change: TimerChange): Promise<void> {
    this.#ready();
    this.#timers.retry(name, generation, change);
  }

  async unparkTimer(name: string, dueAt: number): Promise<TimerRecord | undefined> {
    this.#ready();
    return this.#timers.unpark(name, dueAt);
  }

  async listTimers(status: "pending" | "parked" | undefined, limit: number, after?: TimerCursor): Promise<TimerRecord[]> {
    this.#ready();
    return this.#timers.list(status, limit, after);
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #plan(w: InstanceWrite, pending: Map<string, Pending>): Plan | undefined {
    const key = instanceKey(w.component, w.id);
    const inst = this.#instances.get(key);
    const seen = pending.get(key);
    const currentSeq = seen?.seq ?? inst?.events.length ?? 0;
    const currentVersion = seen?.version ?? inst?.kv?.version ?? 0;
    // A removed workflow's tombstone counts as a version no new record expects (see SqliteStore's insertWorkflow).
    const removed = w.workflow?.expectedVersion === 0 && this.#workflows.version(key) === 0 && this.retention.isRemoved(w.component, w.id);
    const currentWorkflowVersion = seen?.workflowVersion ?? (removed ? -1 : this.#workflows.version(key));
    if (w.events && w.events.expectedSeq !== currentSeq) return undefined;
    if (w.kv && w.kv.expectedVersion !== currentVersion) return undefined;
    if (w.workflow && w.workflow.expectedVersion !== currentWorkflowVersion) return undefined;
    const keys = new Set<string>();
    // A key already taken: a conflict, unless the record is kept only if absent (DedupRecord.ifAbsent).
    const taken = (key: string) => seen?.keys.has(key) === true || inst?.dedup.has(key) === true;
    for (const d of w.dedup) {
      if (keys.has(d.key) || (!d.ifAbsent && taken(d.key))) return undefined;
      keys.add(d.key);
    }

    const plan: Plan = {
      key,
      component: w.component,
      id: w.id,
      events: (w.events?.append ?? []).map((e) => (e.trace ? { type: e.type, payload: encode(e.payload), trace: e.trace } : { type: e.type, payload: encode(e.payload) })),
      trace: w.trace,
      firstSeq: (w.events?.expectedSeq ?? 0) + 1,
      snapshot: w.events?.snapshot && { seq: w.events.snapshot.seq, state: encode(w.events.snapshot.state), stateVersion: w.events.snapshot.stateVersion },
      kv: w.kv && { version: w.kv.expectedVersion + 1, state: encode(w.kv.state), deleted: w.kv.deleted },
      dedup: w.dedup.filter((d) => !(d.ifAbsent && taken(d.key))).map((d) => [d.key, { requestHash: d.requestHash, reply: encode(d.reply)!, at: d.at }]),
      workflow: w.workflow && planWorkflow(w.component, w.id, w.workflow),
    };
    const next: Pending = seen ?? { seq: undefined, version: undefined, workflowVersion: undefined, keys: new Set() };
    if (w.events) next.seq = w.events.expectedSeq + plan.events.length;
    if (plan.kv) next.version = plan.kv.version;
    if (plan.workflow) next.workflowVersion = plan.workflow.entry.version;
    for (const k of keys) next.keys.add(k);
    pending.set(key, next);
    return plan;
  }

  #apply(plan: Plan, at: number): number[] {
    let inst = this.#instances.get(plan.key);
    if (!inst) {
      inst = { events: [], snapshot: undefined, kv: undefined, dedup: new Map() };
      this.#instances.set(plan.key, inst);
    }
    // Feed rows in this order: the events, the key-value state, the workflow state.
    const positions: number[] = [];
    const { component, id } = plan;
    const feed = this.#feed;
    plan.events.forEach((e, i) => {
      const row = feed.append(component, id, plan.firstSeq + i, e.type, e.payload, at, undefined, e.trace ?? plan.trace);
      inst.events.push(row);
      positions.push(row.position);
    });
    if (plan.snapshot) inst.snapshot = plan.snapshot;
    if (plan.kv) {
      const { version, state, deleted } = plan.kv;
      inst.kv = plan.kv;
      const row = deleted
        ? feed.append(component, id, version, "$deleted", "null", at, "kv", plan.trace)
        : feed.append(component, id, version, "$state", state, at, "kv", plan.trace);
      positions.push(row.position);
    }
    for (const [key, entry] of plan.dedup) inst.dedup.set(key, entry);
    if (plan.workflow) {
      this.#workflows.apply(plan.key, plan.workflow);
      const trace = plan.trace ?? plan.workflow.entry.trace ?? undefined;
      positions.push(feed.append(component, id, plan.workflow.entry.version, "$state", plan.workflow.feed, at, "workflow", trace).position);
    }
    return positions;
  }

  #open(): void {
    if (this.#closed) throw new Error("the store is closed");
  }

  /** Guards every data call the way the SQLite store does: open, and migrated. */
  #ready(component?: string, id?: string): Instance | undefined {
    this.#open();
    if (this.#version !== MEMORY_SCHEMA_VERSION) {
      throw new Error(`store schema is at version ${this.#version}, expected ${MEMORY_SCHEMA_VERSION}: call migrate() first`);
    }
    return component === undefined || id === undefined ? undefined : this.#instances.get(instanceKey(component, id));
  }
}

function conflict(): WriteOutcome {
  return { ok: false, reason: "conflict" };
}

function toEvent(e: FeedRow): StoredEvent {
  return { type: e.type, payload: decode(e.payload), seq: e.seq, position: e.position, at: e.at };
}

function toDedup(key: string, e: DedupEntry): DedupRecord {
  return { key, requestHash: e.requestHash, reply: JSON.parse(e.reply) as StoredReply, at: e.at };
}
