import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { ServiceComponent } from "../define/service.ts";
import type { Store } from "../store/port.ts";

/**
 * Where a service keeps its data: made by `sqlite()`, `postgres()` or `memoryStore()` and given
 * to `createSagaflow`, which opens it on `start()`. Opaque: the database driver is only loaded
 * then, so a program that only imports definitions loads neither better-sqlite3 nor pg.
 */
export interface StoreDescriptor {
  readonly kind: "sqlite" | "postgres" | "memory";
  /** Where the data lives, for messages: the SQLite file, the PostgreSQL schema, or "memory". */
  readonly location: string;
}

type Opener = (components: readonly ServiceComponent[]) => Promise<Store>;
const openers = new WeakMap<StoreDescriptor, Opener>();

function descriptor(kind: StoreDescriptor["kind"], location: string, open: Opener): StoreDescriptor {
  const made = Object.freeze({ kind, location });
  openers.set(made, open);
  return made;
}

/** Opens the store a descriptor names (the composition root does this, once). */
export function openStore(store: StoreDescriptor, components: readonly ServiceComponent[]): Promise<Store> {
  const open = openers.get(store);
  if (!open) throw new TypeError("store must come from sqlite(), postgres() or memoryStore()");
  return open(components);
}

export interface SqliteOptions {
  /**
   * How hard each commit waits for the disk (the journal is always WAL). `FULL` (default): fsync
   * on every commit, nothing acknowledged is lost even on power failure. `NORMAL`: survives a
   * process crash, but the last commits may be lost on power loss. `OFF`: throwaway data only.
   */
  synchronous?: "FULL" | "NORMAL" | "OFF";
}

/** An embedded SQLite database file (created with its folder if missing), or ":memory:". */
export function sqlite(path: string, options: SqliteOptions = {}): StoreDescriptor {
  const file = path === ":memory:" ? path : resolve(path);
  return descriptor("sqlite", file, async () => {
    if (file !== ":memory:") await makeDataFolder(dirname(file));
    const { SqliteStore } = await import("../store/sqlite/sqlite-store.ts");
    return new SqliteStore({ path: file, ...(options.synchronous ? { synchronous: options.synchronous } : {}) });
  });
}

export interface PostgresOptions {
  /** The schema holding every table (created if missing). Default "sagaflow". Several nodes may share one. */
  schema?: string;
  /** Connections kept. Default 10. */
  poolSize?: number;
  /** How long the server lets a transaction sit idle before ending it (a frozen process). Default 4,000 ms (below the lease). */
  idleInTransactionTimeoutMs?: number;
  /** How long a write waits for a row locked outside Sagaflow before 503 `lock_timeout`. Default 2,000 ms. */
  lockTimeoutMs?: number;
  /** The longest one statement may run (PostgreSQL's statement_timeout). Default 30,000 ms. */
  statementTimeoutMs?: number;
}

/** A PostgreSQL database, e.g. `postgres://sagaflow@db:5432/sagaflow`; several nodes may serve one schema. */
export function postgres(connectionString: string, options: PostgresOptions = {}): StoreDescriptor {
  return descriptor("postgres", options.schema ?? "sagaflow", async () => {
    const { PostgresStore } = await import("../store/postgres/postgres-store.ts");
    return new PostgresStore({
      connectionString,
      ...(options.schema === undefined ? {} : { schema: options.schema }),
      ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
      ...(options.idleInTransactionTimeoutMs === undefined ? {} : { idleInTransactionTimeoutMs: options.idleInTransactionTimeoutMs }),
      ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
      ...(options.statementTimeoutMs === undefined ? {} : { statementTimeoutMs: options.statementTimeoutMs }),
    });
  });
}

/**
 * Everything in memory, gone on stop: for tests and trials. A service with views gets an
 * in-memory SQLite database instead (view queries run in SQL).
 */
export function memoryStore(): StoreDescriptor {
  return descriptor("memory", "memory", async (components) => {
    if (components.some((c) => c.kind === "view")) {
      const { SqliteStore } = await import("../store/sqlite/sqlite-store.ts");
      return new SqliteStore({ path: ":memory:" });
    }
    const { MemoryStore } = await import("../store/memory/memory-store.ts");
    return new MemoryStore();
  });
}

/** Creates the data folder if missing; one it cannot create is said as such (not a bare EACCES). */
async function makeDataFolder(folder: string): Promise<void> {
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot create the data folder ${folder} (${detail}): create it writable for this user, or choose another with --data`, { cause: error });
  }
}
