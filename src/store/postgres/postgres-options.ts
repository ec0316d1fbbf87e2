/** The PostgreSQL store's options, their defaults and checks, and how its pool reads BIGINT columns. */
import { types } from "pg";
import type { BeforeCommitHook } from "./postgres-commit.ts";

export interface PostgresStoreOptions {
  /** e.g. `postgres://sagaflow@db.internal:5432/sagaflow`; connection parameters in it win over the store's own defaults. */
  connectionString: string;
  /**
   * The PostgreSQL schema holding every table of this store, created by `migrate()` if missing.
   * Default "sagaflow". Letters, digits and _ only.
   */
  schema?: string;
  /** Connections kept by this store. Default 10. */
  poolSize?: number;
  /**
   * How long the server lets one of this store's transactions sit idle before it ends the session.
   * Sagaflow's transactions send their statements back to back, so only a stuck or frozen process
   * (a SIGSTOP, a network partition) gets there, and the locks it holds (the feed lock stops every
   * writer) go with the session. Meanwhile every node's commits wait for those locks: the default,
   * 4,000 ms, is below the default lease (5 s), so a frozen node holds the others up for less than
   * the time its work takes to move; it leaves room for a large batch's encoding between a commit's
   * two round trips on a loaded machine.
   */
  idleInTransactionTimeoutMs?: number;
  /**
   * The longest a write waits for a lock held by another database session before its commands are
   * answered 503 `store_unavailable` (reason `lock_timeout`, with Retry-After). Rows such a session
   * may hold (key-value, workflow, snapshot and lease rows) are never waited for inside a commit: the
   * write is sent again, apart, until this much time has passed, and the node's other writes go on
   * meanwhile. Anything else a transaction of this store waits for (PostgreSQL's lock_timeout) is
   * bounded by it too. Default 2,000 ms.
   */
  lockTimeoutMs?: number;
  /** The longest one statement of this store's transactions may run (PostgreSQL's statement_timeout). Default 30,000 ms. */
  statementTimeoutMs?: number;
  /**
   * For tests only: `beforeCommit` runs inside every commit's transaction after its feed rows are
   * written (with their positions) and before COMMIT, so a test can hold a commit open.
   */
  testHooks?: { beforeCommit?: BeforeCommitHook };
}

/** What the store's connections run with, read back from the server. */
export interface PostgresSettings {
  schema: string;
  /** "on" (PostgreSQL's default) makes every COMMIT wait for the WAL flush: nothing acknowledged is lost. */
  synchronousCommit: string;
  fsync: string;
  serverVersion: string;
}

export const DEFAULT_SCHEMA = "sagaflow";
export const DEFAULT_POOL_SIZE = 10;
/**
 * A connection is replaced after this long (when next given back to the pool), so that the plans
 * it keeps for its prepared statements are made again for the tables as they are now. A generic
 * plan made while a fresh schema's tables were nearly empty looks a workflow up through the index
 * on (name, status, updated_at), reading every workflow of that name, and joins the idempotency
 * and workflow tables by scanning them whole: kept, it made each commit and read cost more as the
 * tables grew (in the bench, backends' CPU per transfer rose from run to run), until autovacuum
 * happened to renew the tables' statistics. Until a table holds about 1,000 rows and has never
 * been analyzed, the planner sees the two workflow indexes as equally good; past that, a new plan
 * takes the primary key. A new connection costs its backend a few ms and one round trip of PREPAREs.
 * The store now renews those statistics itself as its tables grow (./postgres-analyze.ts), and
 * the index is partial; PostgreSQL plans a prepared statement again once the statistics of a
 * table it uses are renewed. The lifetime stays as a bound on any plan the statistics make wrong,
 * at 60 s rather than 10: each new connection costs its backend about 14 ms of CPU (startup, the
 * PREPAREs, the first plans), and two nodes at 64 transfers in flight spent a fifth of
 * PostgreSQL's CPU on replacing their connections every 10 s (bench: 1.15 → 0.90 ms per transfer).
 */
export const CONNECTION_LIFETIME_S = 60;
/** Finite waits by default: connecting, and a transaction left open by a stuck process (its locks). */
export const CONNECT_TIMEOUT_MS = 10_000;
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 4_000;
export const LOCK_TIMEOUT_MS = 2_000;
export const STATEMENT_TIMEOUT_MS = 30_000;

export function positiveMs(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`PostgresStore: ${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * BIGINT columns (positions, seqs, versions, epoch-ms times) come back as numbers rather than
 * strings: every value the store writes is a JS number, so it fits; one that does not is an error,
 * never a silently rounded number. Set on this store's pool only, not globally.
 */
export const TYPES = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === types.builtins.INT8 && format !== "binary") return parseInt8;
    return types.getTypeParser(oid, format);
  }) as typeof types.getTypeParser,
};

function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`PostgresStore: ${text} is beyond what a JS number holds exactly`);
  return n;
}
