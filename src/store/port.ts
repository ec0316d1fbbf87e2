/**
 * The store port: everything the runtime needs from durable storage, and nothing more.
 * Adapters (memory, sqlite, later postgres) implement it and pass one contract suite
 * (`src/store/contract.ts`). The port is asynchronous so that networked databases fit it;
 * it makes no assumption about SQLite.
 */

/** An event as the handler emitted it, before it has a sequence number. */
export interface NewEvent {
  type: string;
  payload: unknown;
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
  | { ok: false; code: string; message: string };

export interface DedupRecord {
  key: string;
  /** Hash of the command name and input: the same key with another request is refused. */
  requestHash: string;
  reply: StoredReply;
  at: number;
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
  dedup: DedupRecord[];
}

export type WriteOutcome =
  | { ok: true; positions: number[] }
  | { ok: false; reason: "conflict" };

export interface Store {
  /** Brings the schema up to the newest version; safe to call on every start. */
  migrate(): Promise<void>;
  schemaVersion(): Promise<number>;

  loadHistory(component: string, id: string): Promise<EntityHistory>;
  /** Events of one instance with `seq > afterSeq`, at most `limit`, in order. */
  readEvents(component: string, id: string, afterSeq: number, limit: number): Promise<StoredEvent[]>;
  loadKv(component: string, id: string): Promise<KvRecord | undefined>;
  findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined>;

  /**
   * Commits all writes in one transaction (one fsync where the adapter is durable).
   * Each write succeeds or fails on its own: a conflicting write is left out and reported,
   * the others are kept. Outcomes are in the order of `writes`. A storage failure rejects the
   * whole call and keeps nothing.
   */
  commit(writes: InstanceWrite[]): Promise<WriteOutcome[]>;

  /** Deletes idempotency records written before `before` (epoch ms); returns how many. */
  pruneDedup(before: number): Promise<number>;

  close(): Promise<void>;
}
