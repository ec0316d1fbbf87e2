import type {
  DedupRecord,
  EntityHistory,
  InstanceWrite,
  KvRecord,
  StoredEvent,
  StoredReply,
  Store,
  WriteOutcome,
} from "../port.ts";

/** The schema version the memory store claims once migrated; it has no schema to change. */
const MEMORY_SCHEMA_VERSION = 1;

// Values are kept as JSON text, exactly as the SQLite store keeps them: callers get the same
// round-trip (Dates become strings, BigInt is refused, `undefined` fields vanish) and can never
// reach stored state through a reference, in or out.
type Json = string | undefined;

interface EventEntry {
  seq: number;
  position: number;
  type: string;
  payload: Json;
  at: number;
}

interface DedupEntry {
  requestHash: string;
  reply: string;
  at: number;
}

interface Instance {
  /** `events[i].seq === i + 1`: an instance's events are never removed. */
  events: EventEntry[];
  snapshot: { seq: number; state: Json } | undefined;
  kv: { version: number; state: Json; deleted: boolean } | undefined;
  dedup: Map<string, DedupEntry>;
}

/** One accepted write of a batch, encoded and checked, waiting to be applied. */
interface Plan {
  key: string;
  events: { type: string; payload: Json }[];
  firstSeq: number;
  snapshot: Instance["snapshot"];
  kv: Instance["kv"];
  dedup: [string, DedupEntry][];
}

/** What earlier writes of the same batch will have changed, so later ones are checked against it. */
interface Pending {
  seq: number | undefined;
  version: number | undefined;
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
    if (w.events && w.events.expectedSeq !== currentSeq) return undefined;
    if (w.kv && w.kv.expectedVersion !== currentVersion) return undefined;
    const keys = new Set<string>();
    for (const d of w.dedup) {
      if (keys.has(d.key) || seen?.keys.has(d.key) || inst?.dedup.has(d.key)) return undefined;
      keys.add(d.key);
    }

    const plan: Plan = {
      key,
      events: (w.events?.append ?? []).map((e) => ({ type: e.type, payload: encode(e.payload) })),
      firstSeq: (w.events?.expectedSeq ?? 0) + 1,
      snapshot: w.events?.snapshot && { seq: w.events.snapshot.seq, state: encode(w.events.snapshot.state) },
      kv: w.kv && { version: w.kv.expectedVersion + 1, state: encode(w.kv.state), deleted: w.kv.deleted },
      dedup: w.dedup.map((d) => [d.key, { requestHash: d.requestHash, reply: JSON.stringify(d.reply), at: d.at }]),
    };
    const next: Pending = seen ?? { seq: undefined, version: undefined, keys: new Set() };
    if (w.events) next.seq = w.events.expectedSeq + plan.events.length;
    if (plan.kv) next.version = plan.kv.version;
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
    const positions: number[] = [];
    plan.events.forEach((e, i) => {
      const position = ++this.#lastPosition;
      inst.events.push({ seq: plan.firstSeq + i, position, type: e.type, payload: e.payload, at });
      positions.push(position);
    });
    if (plan.snapshot) inst.snapshot = plan.snapshot;
    if (plan.kv) inst.kv = plan.kv;
    for (const [key, entry] of plan.dedup) inst.dedup.set(key, entry);
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

function toEvent(e: EventEntry): StoredEvent {
  return { type: e.type, payload: decode(e.payload), seq: e.seq, position: e.position, at: e.at };
}

function toDedup(key: string, e: DedupEntry): DedupRecord {
  return { key, requestHash: e.requestHash, reply: JSON.parse(e.reply) as StoredReply, at: e.at };
}
