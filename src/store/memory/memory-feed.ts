/** The change feed, consumer offsets and parked messages of the memory store. */
import { checkParkedConsumer } from "../checks.ts";
import { compareText } from "../collation.ts";
import type { FeedEntry, ParkedMessage, WorkflowStateAt, WorkflowStatus } from "../port.ts";
import { decode, encode, type Json } from "./memory-values.ts";

/** An entry of the change feed; an entity's events are the same objects, kept in its instance too. */
export interface FeedRow {
  position: number;
  component: string;
  id: string;
  seq: number;
  type: string;
  payload: Json;
  at: number;
  /** A key-value or workflow state (retention may remove it), not an entity event. */
  state?: "kv" | "workflow";
  /** The W3C traceparent of the command that wrote it. */
  trace?: string;
}

interface ParkedEntry {
  row: FeedRow;
  /** JSON text of `{ code, message }`. */
  error: string;
  attempts: number;
  parkedAt: number;
  blockedBy: number | null;
}

/** The feed and consumer part of the port, in plain arrays and Maps. */
export class MemoryFeed {
  /** The change feed in position order, and the same rows by component. */
  readonly #rows: FeedRow[] = [];
  readonly #rowsOf = new Map<string, FeedRow[]>();
  readonly #offsets = new Map<string, number>();
  /** Consumer → position → parked message. */
  readonly #parked = new Map<string, Map<number, ParkedEntry>>();
  #lastPosition = 0;

  /** Adds a row at the next position (the store's commit calls this). */
  append(component: string, id: string, seq: number, type: string, payload: Json, at: number, state?: "kv" | "workflow", trace?: string): FeedRow {
    const row: FeedRow = { position: ++this.#lastPosition, component, id, seq, type, payload, at, ...(state ? { state } : {}) };
    if (trace) row.trace = trace;
    this.#rows.push(row);
    const ofComponent = this.#rowsOf.get(component);
    if (ofComponent) ofComponent.push(row);
    else this.#rowsOf.set(component, [row]);
    return row;
  }

  read(afterPosition: number, limit: number, components?: readonly string[]): FeedEntry[] {
    if (limit <= 0) return [];
    if (components === undefined) return after(this.#rows, afterPosition, limit).map(toFeedEntry);
    const rows: FeedRow[] = [];
    for (const c of new Set(components)) rows.push(...after(this.#rowsOf.get(c) ?? [], afterPosition, limit));
    return rows.sort((a, b) => a.position - b.position).slice(0, limit).map(toFeedEntry);
  }

  /** A workflow's state rows with seq (version) above `afterVersion`, at most `limit`: a scan of its name's rows (a test store). */
  workflowStates(name: string, id: string, afterVersion: number, limit: number): WorkflowStateAt[] {
    const found: WorkflowStateAt[] = [];
    for (const row of this.#rowsOf.get(name) ?? []) {
      if (found.length >= limit) break;
      if (row.state !== "workflow" || row.id !== id || row.seq <= afterVersion) continue;
      const { status, step, state } = decode(row.payload) as { status: WorkflowStatus; step: string | null; state?: unknown };
      found.push({ version: row.seq, at: row.at, status, step, ...(state === undefined ? {} : { state }) });
    }
    return found;
  }

  head(): number {
    return this.#lastPosition;
  }

  /** Retention: removes at most `limit` state rows at or below `through` written before `before`; returns their positions. */
  prune(through: number, before: number, limit: number): number[] {
    const gone = new Set<number>();
    for (const row of this.#rows) {
      if (gone.size >= limit || row.position > through || row.position >= this.#lastPosition) break;
      if (row.state && row.at < before) gone.add(row.position);
    }
    if (gone.size === 0) return [];
    const keep = (rows: FeedRow[]) => rows.filter((r) => !gone.has(r.position));
    this.#rows.splice(0, this.#rows.length, ...keep(this.#rows));
    for (const [component, rows] of this.#rowsOf) this.#rowsOf.set(component, keep(rows));
    return [...gone];
  }

  /** Whether every state of instance `id` of `component` is at or below `floor` and none is the feed's newest entry. */
  statesPassed(component: string, id: string, floor: number): boolean {
    return (this.#rowsOf.get(component) ?? []).every((r) => !r.state || r.id !== id || (r.position <= floor && r.position < this.#lastPosition));
  }

  /** Retention, with a removed workflow: removes the states of instance `id` of `component`; returns their positions. */
  removeStates(component: string, id: string): number[] {
    const gone = new Set((this.#rowsOf.get(component) ?? []).filter((r) => r.state && r.id === id).map((r) => r.position));
    if (gone.size === 0) return [];
    const keep = (rows: FeedRow[]) => rows.filter((r) => !gone.has(r.position));
    this.#rows.splice(0, this.#rows.length, ...keep(this.#rows));
    for (const [c, rows] of this.#rowsOf) this.#rowsOf.set(c, keep(rows));
    return [...gone];
  }

  loadOffset(consumer: string): number {
    return this.#offsets.get(consumer) ?? 0;
  }

  listOffsets(): Array<{ consumer: string; position: number }> {
    return [...this.#offsets]
      .sort(([a], [b]) => compareText(a, b))
      .map(([consumer, position]) => ({ consumer, position }));
  }

  commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[]): void {
    // Check and encode everything before changing anything, as a rolled-back transaction would.
    checkParkedConsumer(consumer, park);
    const entries = park.map((p): [number, ParkedEntry] => [p.entry.position, toParkedEntry(p)]);
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

  listParked(consumer: string | undefined, limit: number, afterPosition = 0): ParkedMessage[] {
    if (limit <= 0) return [];
    const consumers = consumer === undefined ? [...this.#parked.keys()].sort(compareText) : [consumer];
    const found: ParkedMessage[] = [];
    for (const c of consumers) {
      const parked = this.#parked.get(c);
      if (!parked) continue;
      for (const position of [...parked.keys()].sort((a, b) => a - b)) {
        if (consumer !== undefined && position <= afterPosition) continue;
        found.push(toParked(c, parked.get(position)!));
        if (found.length === limit) return found;
      }
    }
    return found;
  }

  removeParked(consumer: string, positions: readonly number[]): void {
    const parked = this.#parked.get(consumer);
    if (!parked) return;
    for (const position of positions) parked.delete(position);
    if (parked.size === 0) this.#parked.delete(consumer);
  }
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

function toFeedEntry({ state: _state, ...r }: FeedRow): FeedEntry {
  return { ...r, payload: decode(r.payload) };
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
