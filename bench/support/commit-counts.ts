/**
 * Counting a store's commits (transactions) from inside the process that runs it: store.commit
 * is wrapped on the instance, so that the runtime's calls (made at call time) go through it.
 */
import type { InstanceWrite, Store } from "../../src/store/port.ts";
import { SqliteStore } from "../../src/store/sqlite/sqlite-store.ts";
import type { WalIndex } from "./sqlite-wal-index.ts";

export interface CommitCounts {
  commits: number;
  /** Instance writes (one per instance turn) in them. */
  writes: number;
  /** SQLite: time blocked in the transaction, fsync included. PostgreSQL: the commits' latencies added up (pool wait and WAL flush included; they overlap). */
  commitMs: number;
  /** SQLite with a WalIndex: pages appended to the WAL (each a 4 KB frame at the default page size). */
  walFrames: number;
  /** SQLite with a WalIndex: commits during which SQLite's auto-checkpoint ran, and the time they took. */
  checkpoints: number;
  checkpointMs: number;
}

export const newCommitCounts = (): CommitCounts => ({ commits: 0, writes: 0, commitMs: 0, walFrames: 0, checkpoints: 0, checkpointMs: 0 });

/** Counts `store`'s commits into `counts` from now on; `wal` (SQLite) adds the WAL frames and checkpoints. */
export function countCommits(store: Store, counts: CommitCounts, wal?: WalIndex): void {
  const commit = store.commit.bind(store);
  if (store instanceof SqliteStore) {
    // better-sqlite3 is synchronous: the whole transaction, fsync included, runs inside the call.
    store.commit = (writes: InstanceWrite[]) => {
      const t0 = performance.now();
      const result = commit(writes);
      const ms = performance.now() - t0;
      counts.commitMs += ms;
      counts.commits++;
      counts.writes += writes.length;
      const frames = wal?.read();
      counts.walFrames += frames?.appended ?? 0;
      if (frames?.checkpointed) {
        counts.checkpoints++;
        counts.checkpointMs += ms;
      }
      return result;
    };
    return;
  }
  store.commit = (writes: InstanceWrite[]) => {
    const t0 = performance.now();
    counts.commits++;
    counts.writes += writes.length;
    return commit(writes).finally(() => (counts.commitMs += performance.now() - t0));
  };
}
