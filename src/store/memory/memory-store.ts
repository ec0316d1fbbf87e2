import type {
  DedupRecord,
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
  TimerRecord,
  WorkflowFilter,
  WorkflowRecord,
  WorkflowStatus,
  WorkflowTransition,
  WriteOutcome,
} from "../port.ts";

/** The schema version the memory store claims once migrated; it has no schema to change. */
const MEMORY_SCHEMA_VERSION = 1;

// Values are kept as JSON text, exactly as the SQLite store keeps them: callers get the same
// round-trip (Dates become strings, BigInt is refused, `undefined` fields vanish) and can never
// reach stored state through a reference, in or out.
type Json = string | undefined;

/** An entry of the change feed; an entity's events are the same objects, kept in its instance too. */
interface FeedRow {
  position: number;
  component: string;
  id: string;
  seq: number;
  type: string;
  payload: Json;
  at: number;
}

interface ParkedEntry {
  row: FeedRow;
  /** JSON text of `{ code, message }`. */
  error: string;
  attempts: number;
  parkedAt: number;
  blockedBy: number | null;
}

interface TimerEntry {
  name: string;
  generation: number;
  dueAt: number;
  component: string;
  id: string;
  handler: string;
  input: Json;
  attempts: number;
  status: TimerRecord["status"];
  /** JSON text, or null for no error. */
  lastError: string | null;
  createdAt: number;
}

type TimerChange = Parameters<Store["retryTimer"]>[2];

interface DedupEntry {
  requestHash: string;
  reply: string;
  at: number;
}

interface Instance {
  /** `events[i].seq === i + 1`: an instance's events are never removed. Key-value and workflow feed rows are not here. */
  events: FeedRow[];
  snapshot: { seq: number; state: Json } | undefined;
  kv: { version: number; state: Json; deleted: boolean } | undefined;
  dedup: Map<string, DedupEntry>;
}

/** A workflow record as kept: the port's record with its values as JSON text. */
interface WorkflowEntry {
  name: string;
  id: string;
  version: number;
  status: WorkflowStatus;
  step: string | null;
  stepInput: Json;
  state: Json;
  attempt: number;
  execId: number;
  dueAt: number | null;
  deadlineAt: number | null;
  /** JSON text, or null for no error. */
  lastError: string | null;
  startHash: string;
  startReply: Json;
  createdAt: number;
  updatedAt: number;
  /** `history[i].version === i + 1`. */
  history: (WorkflowTransition & { version: number })[];
}

/** One accepted write of a batch, encoded and checked, waiting to be applied. */
interface Plan {
  key: string;
  component: string;
  id: string;
  events: { type: string; payload: Json }[];
  firstSeq: number;
  snapshot: Instance["snapshot"];
  kv: Instance["kv"];
  dedup: [string, DedupEntry][];
  /** The new record (without history), its transition and its feed payload. */
  workflow:
    | { entry: Omit<WorkflowEntry, "history">; transition: WorkflowTransition & { version: number }; feed: string }
    | undefined;
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
 * otherwise behaves like the SQLite store in every way the contract suite checks.
 *
 * @example
 * const store = new MemoryStore();
 * await store.migrate();
 */
export class MemoryStore implements Store {
  readonly #instances = new Map<string, Instance>();
  /** Keyed like #instances; a workflow shares its (name, id) idempotency records with the instance there. */
  readonly #workflows = new Map<string, WorkflowEntry>();
  /** The change feed in position order, and the same rows by component. */
  readonly #feed: FeedRow[] = [];
  readonly #feedOf = new Map<string, FeedRow[]>();
  readonly #offsets = new Map<string, number>();
  /** Consumer → position → parked message. */
  readonly #parked = new Map<string, Map<number, ParkedEntry>>();
  readonly #timers = new Map<string, TimerEntry>();
  #lastPosition = 0;
  #version = 0;
  #closed = false;

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
      snapshot: snap && { seq: snap.seq, state: decode(snap.state) },
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

  async loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined> {
    this.#ready();
    const entry = this.#workflows.get(instanceKey(name, id));
    return entry && toWorkflow(entry);
  }

  async listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]> {
    this.#ready();
    const { name, step, afterId, limit } = filter;
    if (afterId !== undefined && name === undefined) {
      throw new Error("listWorkflows: afterId needs a name (it pages through the ids of one workflow)");
    }
    const statuses = filter.statuses && new Set(filter.statuses);
    if (limit <= 0 || statuses?.size === 0) return [];
    const found: WorkflowEntry[] = [];
    for (const entry of this.#workflows.values()) {
      if (name !== undefined && entry.name !== name) continue;
      if (statuses && !statuses.has(entry.status)) continue;
      if (step !== undefined && entry.step !== step) continue;
      if (afterId !== undefined && compareText(entry.id, afterId) <= 0) continue;
      found.push(entry);
    }
    found.sort((a, b) => compareText(a.name, b.name) || compareText(a.id, b.id));
    return found.slice(0, limit).map(toWorkflow);
  }

  async workflowHistory(name: string, id: string, limit: number): Promise<Array<WorkflowTransition & { version: number }>> {
    this.#ready();
    const entry = this.#workflows.get(instanceKey(name, id));
    if (!entry || limit <= 0) return [];
    return entry.history.slice(0, limit).map((t) => ({ ...t }));
  }

  async readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    this.#ready();
    if (limit <= 0) return [];
    if (components === undefined) return after(this.#feed, afterPosition, limit).map(toFeedEntry);
    const rows: FeedRow[] = [];
    for (const c of new Set(components)) rows.push(...after(this.#feedOf.get(c) ?? [], afterPosition, limit));
    return rows.sort((a, b) => a.position - b.position).slice(0, limit).map(toFeedEntry);
  }

  async feedHead(): Promise<number> {
    this.#ready();
    return this.#lastPosition;
  }

  async loadOffset(consumer: string): Promise<number> {
    this.#ready();
    return this.#offsets.get(consumer) ?? 0;
  }

  async listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    this.#ready();
    return [...this.#offsets]
      .sort(([a], [b]) => compareText(a, b))
      .map(([consumer, position]) => ({ consumer, position }));
  }

  async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = []): Promise<void> {
    this.#ready();
    // Check and encode everything before changing anything, as a rolled-back transaction would.
    const entries = park.map((p): [number, ParkedEntry] => {
      if (p.consumer !== consumer) {
        throw new Error(`commitConsumer: a parked message of consumer "${p.consumer}" given for consumer "${consumer}"`);
      }
      return [p.entry.position, toParkedEntry(p)];
    });
    let parked = this.#parked.get(consumer);
    for (const position of remove) parked?.delete(position);
    if (entries.length > 0) {
      if (!parked) {
        parked = new Map();
        this.#parked.set(consumer, parked);
      }
      // Parking a position parked before replaces it.
      for (const [position, entry] of entries) parked.set(position, entry);
    }
    if (parked?.size === 0) this.#parked.delete(consumer);
    this.#offsets.set(consumer, Math.max(this.#offsets.get(consumer) ?? offset, offset));
  }

  async listParked(consumer: string | undefined, limit: number): Promise<ParkedMessage[]> {
    this.#ready();
    if (limit <= 0) return [];
    const consumers = consumer === undefined ? [...this.#parked.keys()].sort(compareText) : [consumer];
    const found: ParkedMessage[] = [];
    for (const c of consumers) {
      const parked = this.#parked.get(c);
      if (!parked) continue;
      for (const position of [...parked.keys()].sort((a, b) => a - b)) {
        found.push(toParked(c, parked.get(position)!));
        if (found.length === limit) return found;
      }
    }
    return found;
  }

  async removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    this.#ready();
    const parked = this.#parked.get(consumer);
    if (!parked) return;
    for (const position of positions) parked.delete(position);
    if (parked.size === 0) this.#parked.delete(consumer);
  }

  async putTimer(timer: NewTimer): Promise<TimerRecord> {
    this.#ready();
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
    this.#timers.set(entry.name, entry);
    return toTimer(entry);
  }

  async cancelTimer(name: string): Promise<boolean> {
    this.#ready();
    return this.#timers.delete(name);
  }

  async dueTimers(now: number, limit: number): Promise<TimerRecord[]> {
    this.#ready();
    if (limit <= 0) return [];
    return this.#sortedTimers((t) => t.status === "pending" && t.dueAt <= now).slice(0, limit).map(toTimer);
  }

  async nextTimerDue(): Promise<number | undefined> {
    this.#ready();
    let next: number | undefined;
    for (const t of this.#timers.values()) if (t.status === "pending" && (next === undefined || t.dueAt < next)) next = t.dueAt;
    return next;
  }

  async finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>): Promise<void> {
    this.#ready();
    for (const { name, generation } of fired) {
      if (this.#timers.get(name)?.generation === generation) this.#timers.delete(name);
    }
  }

  async retryTimer(name: string, generation: number, change: TimerChange): Promise<void> {
    this.#ready();
    checkDueAt(change.dueAt);
    checkTimerStatus(change.status);
    const lastError = JSON.stringify(change.lastError);
    const entry = this.#timers.get(name);
    if (entry?.generation !== generation) return;
    this.#timers.set(name, { ...entry, dueAt: change.dueAt, attempts: change.attempts, status: change.status, lastError });
  }

  async listTimers(status: "pending" | "parked" | undefined, limit: number): Promise<TimerRecord[]> {
    this.#ready();
    if (status !== undefined) checkTimerStatus(status);
    if (limit <= 0) return [];
    return this.#sortedTimers((t) => status === undefined || t.status === status).slice(0, limit).map(toTimer);
  }

  async findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined> {
    const entry = this.#ready(component, id)?.dedup.get(key);
    return entry && toDedup(key, entry);
  }

  async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    this.#ready();
    const at = Date.now();
    // Check and encode everything first and change nothing until all of it succeeded, so that a
    // value JSON refuses rejects the whole batch, as a rolled-back transaction would.
    const pending = new Map<string, Pending>();
    const plans: (Plan | undefined)[] = writes.map((w) => this.#plan(w, pending));
    return plans.map((plan) => (plan ? { ok: true, positions: this.#apply(plan, at) } : conflict()));
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

  async close(): Promise<void> {
    this.#closed = true;
  }

  #plan(w: InstanceWrite, pending: Map<string, Pending>): Plan | undefined {
    const key = instanceKey(w.component, w.id);
    const inst = this.#instances.get(key);
    const seen = pending.get(key);
    const currentSeq = seen?.seq ?? inst?.events.length ?? 0;
    const currentVersion = seen?.version ?? inst?.kv?.version ?? 0;
    const currentWorkflowVersion = seen?.workflowVersion ?? this.#workflows.get(key)?.version ?? 0;
    if (w.events && w.events.expectedSeq !== currentSeq) return undefined;
    if (w.kv && w.kv.expectedVersion !== currentVersion) return undefined;
    if (w.workflow && w.workflow.expectedVersion !== currentWorkflowVersion) return undefined;
    const keys = new Set<string>();
    for (const d of w.dedup) {
      if (keys.has(d.key) || seen?.keys.has(d.key) || inst?.dedup.has(d.key)) return undefined;
      keys.add(d.key);
    }

    const plan: Plan = {
      key,
      component: w.component,
      id: w.id,
      events: (w.events?.append ?? []).map((e) => ({ type: e.type, payload: encode(e.payload) })),
      firstSeq: (w.events?.expectedSeq ?? 0) + 1,
      snapshot: w.events?.snapshot && { seq: w.events.snapshot.seq, state: encode(w.events.snapshot.state) },
      kv: w.kv && { version: w.kv.expectedVersion + 1, state: encode(w.kv.state), deleted: w.kv.deleted },
      dedup: w.dedup.map((d) => [d.key, { requestHash: d.requestHash, reply: JSON.stringify(d.reply), at: d.at }]),
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
    plan.events.forEach((e, i) => {
      const row = this.#appendFeed(component, id, plan.firstSeq + i, e.type, e.payload, at);
      inst.events.push(row);
      positions.push(row.position);
    });
    if (plan.snapshot) inst.snapshot = plan.snapshot;
    if (plan.kv) {
      const { version, state, deleted } = plan.kv;
      inst.kv = plan.kv;
      const row = deleted
        ? this.#appendFeed(component, id, version, "$deleted", "null", at)
        : this.#appendFeed(component, id, version, "$state", state, at);
      positions.push(row.position);
    }
    for (const [key, entry] of plan.dedup) inst.dedup.set(key, entry);
    if (plan.workflow) {
      const { entry, transition, feed } = plan.workflow;
      const history = this.#workflows.get(plan.key)?.history ?? [];
      history.push(transition);
      this.#workflows.set(plan.key, { ...entry, history });
      positions.push(this.#appendFeed(component, id, entry.version, "$state", feed, at).position);
    }
    return positions;
  }

  #appendFeed(component: string, id: string, seq: number, type: string, payload: Json, at: number): FeedRow {
    const row: FeedRow = { position: ++this.#lastPosition, component, id, seq, type, payload, at };
    this.#feed.push(row);
    const ofComponent = this.#feedOf.get(component);
    if (ofComponent) ofComponent.push(row);
    else this.#feedOf.set(component, [row]);
    return row;
  }

  /** Timers passing `keep`, ordered by (due time, name), as the SQLite store orders them. */
  #sortedTimers(keep: (t: TimerEntry) => boolean): TimerEntry[] {
    return [...this.#timers.values()].filter(keep).sort((a, b) => a.dueAt - b.dueAt || compareText(a.name, b.name));
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

/** Length-prefixed so that no (component, id) pair can collide with another. */
function instanceKey(component: string, id: string): string {
  return `${component.length}:${component}${id}`;
}

function conflict(): WriteOutcome {
  return { ok: false, reason: "conflict" };
}

function encode(value: unknown): Json {
  return JSON.stringify(value);
}

function decode(text: Json): unknown {
  return text === undefined ? undefined : JSON.parse(text);
}

function toEvent(e: FeedRow): StoredEvent {
  return { type: e.type, payload: decode(e.payload), seq: e.seq, position: e.position, at: e.at };
}

function toFeedEntry(r: FeedRow): FeedEntry {
  return { position: r.position, component: r.component, id: r.id, seq: r.seq, type: r.type, payload: decode(r.payload), at: r.at };
}

/** The first `limit` rows with position > `afterPosition` of rows in position order. */
function after(rows: readonly FeedRow[], afterPosition: number, limit: number): FeedRow[] {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid]!.position <= afterPosition) lo = mid + 1;
    else hi = mid;
  }
  return rows.slice(lo, lo + limit);
}

/**
 * A workflow's feed payload, `{ status, step, state }`, around the state's JSON text, as the
 * SQLite store builds it. A state of `undefined` is left out, as JSON.stringify would.
 */
function workflowFeedPayload(status: WorkflowStatus, step: string | null, state: Json): string {
  const head = `{"status":${JSON.stringify(status)},"step":${JSON.stringify(step)}`;
  return state === undefined ? `${head}}` : `${head},"state":${state}}`;
}

function toParkedEntry(p: ParkedMessage): ParkedEntry {
  const e = p.entry;
  return {
    row: { position: e.position, component: e.component, id: e.id, seq: e.seq, type: e.type, payload: encode(e.payload), at: e.at },
    error: JSON.stringify(p.error),
    attempts: p.attempts,
    parkedAt: p.parkedAt,
    blockedBy: p.blockedBy ?? null,
  };
}

function toParked(consumer: string, p: ParkedEntry): ParkedMessage {
  return {
    consumer,
    entry: toFeedEntry(p.row),
    error: JSON.parse(p.error) as ParkedMessage["error"],
    attempts: p.attempts,
    parkedAt: p.parkedAt,
    blockedBy: p.blockedBy,
  };
}

function toTimer(t: TimerEntry): TimerRecord {
  return {
    name: t.name,
    generation: t.generation,
    dueAt: t.dueAt,
    component: t.component,
    id: t.id,
    handler: t.handler,
    input: decode(t.input),
    attempts: t.attempts,
    status: t.status,
    lastError: t.lastError === null ? null : (JSON.parse(t.lastError) as TimerRecord["lastError"]),
    createdAt: t.createdAt,
  };
}

function checkDueAt(dueAt: number): void {
  if (typeof dueAt !== "number" || Number.isNaN(dueAt)) throw new TypeError(`a timer's dueAt must be a number, got ${String(dueAt)}`);
}

function checkTimerStatus(status: string): void {
  if (status !== "pending" && status !== "parked") throw new TypeError(`a timer's status is "pending" or "parked", got "${status}"`);
}

/** Encodes a workflow write as the SQLite store stores it (absent nullable fields become null). */
function planWorkflow(name: string, id: string, wf: NonNullable<InstanceWrite["workflow"]>): NonNullable<Plan["workflow"]> {
  const { record: r, transition: t } = wf;
  const version = wf.expectedVersion + 1;
  const state = encode(r.state);
  return {
    feed: workflowFeedPayload(r.status, r.step ?? null, state),
    entry: {
      name,
      id,
      version,
      status: r.status,
      step: r.step ?? null,
      stepInput: encode(r.stepInput),
      state,
      attempt: r.attempt,
      execId: r.execId,
      dueAt: r.dueAt ?? null,
      deadlineAt: r.deadlineAt ?? null,
      lastError: r.lastError == null ? null : JSON.stringify(r.lastError),
      startHash: r.startHash,
      startReply: encode(r.startReply),
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    },
    transition: { version, at: t.at, status: t.status, step: t.step ?? null, execId: t.execId, attempt: t.attempt, detail: t.detail },
  };
}

function toWorkflow(e: WorkflowEntry): StoredWorkflow {
  return {
    name: e.name,
    id: e.id,
    version: e.version,
    status: e.status,
    step: e.step,
    stepInput: decode(e.stepInput),
    state: decode(e.state),
    attempt: e.attempt,
    execId: e.execId,
    dueAt: e.dueAt,
    deadlineAt: e.deadlineAt,
    lastError: e.lastError === null ? null : (JSON.parse(e.lastError) as WorkflowRecord["lastError"]),
    startHash: e.startHash,
    startReply: decode(e.startReply),
    createdAt: e.createdAt,
    updatedAt: e.updatedAt,
  };
}

/**
 * Orders text as SQLite's BINARY collation does (UTF-8 bytes, that is code points), which is
 * not JavaScript's UTF-16 order: a character above U+FFFF (a surrogate pair) sorts after U+E000–U+FFFF.
 */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  return unit >= 0xd800 && unit <= 0xdfff ? unit + 0x10000 : unit;
}

function toDedup(key: string, e: DedupEntry): DedupRecord {
  return { key, requestHash: e.requestHash, reply: JSON.parse(e.reply) as StoredReply, at: e.at };
}
