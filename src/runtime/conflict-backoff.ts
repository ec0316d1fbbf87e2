/**
 * Write conflicts only arise when another writer commits the same instance (several nodes on one
 * PostgreSQL schema). The writer that won has the instance cached and commits its next turn at
 * once, while the loser must read it again first: retried immediately, the loser keeps losing for
 * as long as the winner is busy (test/postgres-two-runtimes.test.ts: 6 immediate attempts all lost
 * to a node working through 2,500 queued increments, and 512 commands failed). Hence the first
 * retry is immediate and each later one waits a random 0..min(2^(attempt-1), 64) ms ("full
 * jitter"), with 20 retries (Runtime's conflictRetries): under 1 s of waiting in all, bounded,
 * before a command fails with write_conflict. Two nodes writing one instance without pause can
 * still starve a command (measured: ~0.3% of 2,000 ping-pong increments, against ~10% before);
 * one owner per instance (leases) would end that.
 */
const CONFLICT_BACKOFF_CAP_MS = 64;

/** How long (ms) to wait before retry `attempt` (2, 3, …) of a turn whose commit was a conflict. */
export const conflictBackoffMs = (attempt: number): number => Math.random() * Math.min(2 ** (attempt - 1), CONFLICT_BACKOFF_CAP_MS);
