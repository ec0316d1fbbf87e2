/**
 * What several nodes on one database need from it, apart from the core port: a heartbeat per node,
 * leases with fencing tokens, and signals between nodes. An adapter that several processes can
 * share (PostgreSQL) implements it as `store.cluster`; without it the runtime is the only node and
 * holds all the work.
 *
 * Times are the database's (epoch ms): nodes' clocks never have to agree.
 */

/**
 * Proof of holding a lease, passed with a write that only the holder may make. The store checks in
 * the write's own transaction that the lease still has this token: a node that lost its lease
 * (paused, partitioned, slow) cannot commit on it, whatever it believes.
 */
export interface Fence {
  lease: string;
  token: number;
}

export interface NodeRecord {
  id: string;
  startedAt: number;
  heartbeatAt: number;
  /** How long ago the last heartbeat was, by the database's clock. */
  ageMs: number;
  /** What the node says of itself (address, pid, host). */
  info: Record<string, unknown>;
}

export interface LeaseRecord {
  name: string;
  holder: string | null;
  token: number;
  /** Time left, by the database's clock; ≤ 0 once expired. */
  remainingMs: number;
}

/**
 * A workflow a commit wrote: name, id, and whether the commit left it over (1) or not (0), so that
 * a node waiting for its end reads it only when it is. A node of an earlier version sends no third
 * element: unknown, read. A small end nothing can change again comes along (`SignalledEnd`): the
 * waiting node answers from it without reading.
 */
export type SignalledWorkflow = [name: string, id: string, over?: 0 | 1, end?: SignalledEnd];

/**
 * What a caller awaiting a workflow is answered once it is in a lasting status (`isLasting` in
 * ./port.ts, which the receiver checks): status, step, and the state as the store encodes it.
 */
export type SignalledEnd = [status: string, step: string | null, state: string | null];

/**
 * An entity or key-value entity a commit changed, the version the commit left it at (an entity's
 * last event seq, a key-value entity's version) and, when small, what changed: an entity's events
 * the commit appended, a key-value entity's new state as its feed row has it (one `$state` or
 * `$deleted` entry). A node whose cached copy is at that version or later has nothing to do; one
 * that can bring its copy there from what changed does so (an entity's copy must be just before
 * the events); any other knows its copy is behind. (A hint either way: the commit of a write
 * decided on a copy checks its version.) A node of an earlier version sends [component, id] alone:
 * the copy is behind.
 */
export type SignalledInstance = [component: string, id: string, version?: number, events?: SignalledEvent[]];

/** An event as a commit appended it: its type and its payload as the store encodes it (JSON text). */
export type SignalledEvent = [type: string, payload: string | null];

/** What one node's commit tells the others. */
export interface ClusterSignal {
  /** The node that sent it. */
  node: string;
  /** The highest feed position the commit wrote, if any. */
  position?: number;
  /** Workflows the commit wrote. */
  workflows?: SignalledWorkflow[];
  /** Entities and key-value entities the commit changed (absent from nodes of earlier versions). */
  instances?: SignalledInstance[];
  /** A timer was started, due at this time. */
  timerDue?: number;
  /** Its bucket (src/store/buckets.ts): only the node holding that bucket's lease fires it. */
  timerBucket?: number;
  /** A view's projection committed. */
  view?: string;
}

export interface ClusterStore {
  /** Records that `node` is alive (creating its row the first time); resolves with the database's clock (epoch ms) when it did. */
  heartbeat(node: string, startedAt: number, info: Record<string, unknown>): Promise<number>;
  /** Removes a node's row (graceful stop) and those of nodes silent for longer than `forgetAfterMs`. */
  forgetNodes(node: string | undefined, forgetAfterMs: number): Promise<void>;
  listNodes(): Promise<NodeRecord[]>;
  listLeases(): Promise<LeaseRecord[]>;
  /**
   * Takes or renews each lease for `node` for `ttlMs` where it is free, expired or already
   * `node`'s; returns the token of each lease `node` now holds (a new holder gets token + 1).
   */
  acquireLeases(node: string, names: readonly string[], ttlMs: number): Promise<Map<string, number>>;
  /** Gives the leases up at once (their tokens stay, so fenced writes by `node` now fail). */
  releaseLeases(node: string, names: readonly string[]): Promise<void>;
  /**
   * From now on, every commit of this store sends a signal to the other nodes, in the commit's own
   * transaction (so none is lost by a crash after a commit); calls `onSignal` for every signal of
   * another node, and `onReconnect` after the listening connection was lost and found again
   * (signals may have been missed meanwhile). Resolves once listening; the function it resolves
   * to stops listening.
   */
  listen(node: string, onSignal: (signal: ClusterSignal) => void, onReconnect: () => void): Promise<() => Promise<void>>;
}

/** The error a fenced write fails with: the lease it names is no longer the writer's. */
export class LeaseLostError extends Error {
  readonly code = "lease_lost";
  constructor(readonly lease: string) {
    super(`lease "${lease}" is held by another node now: this write is refused`);
  }
}
