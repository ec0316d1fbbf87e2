/**
 * The store port and its adapters. The runtime depends on the `Store` interface only; pick an
 * adapter when wiring a process together.
 *
 * @example
 * import { SqliteStore } from "./store/index.ts";
 * const store = new SqliteStore({ path: "sagaflow.db" });
 * await store.migrate();
 */
export type {
  DedupRecord,
  EntityHistory,
  FeedEntry,
  InstanceWrite,
  KvRecord,
  NewEvent,
  NewTimer,
  ParkedMessage,
  Snapshot,
  StoredEvent,
  StoredReply,
  Store,
  StoredWorkflow,
  TimerChange,
  TimerRecord,
  WorkflowFilter,
  WorkflowRecord,
  WorkflowStatus,
  WorkflowTransition,
  WriteOutcome,
} from "./port.ts";
export { MemoryStore } from "./memory/memory-store.ts";
export { SqliteStore } from "./sqlite/sqlite-store.ts";
export type { SqliteSettings, SqliteStoreOptions } from "./sqlite/sqlite-store.ts";
export { PostgresStore } from "./postgres/postgres-store.ts";
export type { PostgresSettings, PostgresStoreOptions } from "./postgres/postgres-options.ts";
