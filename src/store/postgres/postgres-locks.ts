/**
 * The advisory locks a commit takes (all transaction-scoped: PostgreSQL releases them at COMMIT or
 * ROLLBACK, after the commit is visible to others), and the one order they are taken in, which is
 * what keeps commits free of deadlocks: instance locks first, in (bucket, level, key) order, the
 * feed lock last.
 *
 * Instance locks make a commit's checks exact across nodes: every writer of an instance
 * (component, id) holds a lock that excludes the others from the start of its transaction to its
 * COMMIT, so what it reads of the instance (highest event seq, key-value and workflow versions,
 * idempotency keys) cannot change before it writes.
 *
 * The number of locks per commit is bounded (at most 64 whatever the batch size), because every
 * advisory lock takes a slot of PostgreSQL's shared lock table (max_locks_per_transaction ×
 * max_connections slots, about 6,400 by default, shared with everyone else): a lock per instance
 * would make a batch of tens of thousands of writes, or a few nodes committing large batches at
 * once, fail with "out of shared memory". So two levels:
 * - every instance hashes to one of `LOCK_BUCKETS` buckets;
 * - a commit of at most `INSTANCE_LOCKS_UP_TO` instances takes, per bucket, the bucket's lock in
 *   SHARED mode and then an exclusive lock per instance: small commits on different instances never
 *   wait for each other, whichever buckets they share;
 * - a larger commit takes its buckets' locks EXCLUSIVE (at most `LOCK_BUCKETS`): it excludes
 *   every other commit touching those buckets, small or large, and needs no instance locks.
 * Two writers of one instance always conflict: both small (the instance lock), small and large (the
 * bucket, shared against exclusive), both large (the bucket). Everyone takes locks in ascending
 * (bucket, bucket before its instances, instance key) order and the feed lock after all of them, so
 * a waiter never holds a lock that comes later in that order than the one it waits for: no cycle.
 * A hash collision only makes two instances wait for each other.
 */
import { hash } from "node:crypto";
import { executeStatement } from "./postgres-literals.ts";

/**
 * Property 4 — consumers never skip an event — on PostgreSQL.
 *
 * A sequence hands out positions when rows are inserted, but transactions become visible when they
 * commit, in whatever order they commit. Left alone, transaction A could take position 10, B take
 * 11, B commit, and a consumer read 11, store offset 11, and never see 10 when A commits a moment
 * later.
 *
 * The choice here: every transaction that writes feed rows first takes one transaction-scoped
 * advisory lock shared by all feed writers of the schema (`pg_advisory_xact_lock(FEED_LOCK_CLASS,
 * hashtext(schema))`), then inserts its feed rows, then commits. PostgreSQL releases a transaction's
 * locks only after its commit is visible to others, so the next feed writer draws its positions
 * after every lower position is committed (or rolled back, leaving a gap nobody fills). Every
 * snapshot therefore sees a gap-free prefix of the feed (up to rolled-back gaps): any position a
 * reader sees has no lower position still to come, and `readFeed` can be a plain ordered read.
 *
 * Why this and not xid tracking (storing pg_current_xact_id() per row and stopping readers at the
 * oldest running transaction): readers stay simple and exact, with no lag (a consumer sees a
 * commit as soon as it is visible), `feedHead()` is exact, and a long transaction elsewhere in the
 * cluster (xids are cluster-wide) cannot stall every consumer. The cost: feed-writing commits are
 * serialised from their feed insert to the end of their COMMIT (its WAL flush included), across
 * all nodes. Everything before (encoding, instance locks, checks, state writes) runs before the
 * feed lock, in parallel as far as the instance locks below allow, and each commit carries a whole
 * group-commit batch, so the serialised part is one insert plus one flush per batch. Should that
 * ever be the bottleneck, xid tracking is the way on.
 *
 * Deadlocks: the feed lock is always the last lock a commit takes, and while holding it a commit
 * only inserts feed rows of instances it holds locks on, so nobody holding it ever waits for
 * anything but the disk.
 */
export const FEED_LOCK_CLASS = 0x53464601;
/** Bucket locks are `(BUCKET_LOCK_CLASS, schema hash + bucket)`; instance locks use the one-bigint key space. */
const BUCKET_LOCK_CLASS = 0x53464201;
export const LOCK_BUCKETS = 64;
export const INSTANCE_LOCKS_UP_TO = 32;

/** Lock modes in the statement below. */
const BUCKET_SHARED = 0;
const BUCKET_EXCLUSIVE = 1;
const INSTANCE_EXCLUSIVE = 2;

/**
 * The statement that takes the locks of one commit, one row after the other in the order given (a
 * function scan yields the rows of unnest in array order). Prepared with the commit's statements
 * (./postgres-commit-sql.ts), so its plan is made once per connection, not at every commit.
 */
export const lockInstancesSql = {
  name: "sagaflow_sql_lock_instances",
  text: `
  SELECT CASE u.m
    WHEN ${BUCKET_SHARED} THEN pg_advisory_xact_lock_shared(u.c, u.o)
    WHEN ${BUCKET_EXCLUSIVE} THEN pg_advisory_xact_lock(u.c, u.o)
    ELSE pg_advisory_xact_lock(u.k)
  END
  FROM unnest($1::int2[], $2::int4[], $3::int4[], $4::int8[]) AS u(m, c, o, k)`,
};

/**
 * `EXECUTE` of {@link lockInstancesSql} for the locks of `instances`: its values are written into
 * the text as literals, not bound, which lets it travel with BEGIN in one round trip (a simple
 * query takes no parameters).
 */
export function lockInstancesStatement(schema: string, instances: ReadonlyArray<{ component: string; id: string }>): string {
  return executeStatement(lockInstancesSql.name, instanceLocks(schema, instances));
}

/** The schema's part of its bucket locks' keys: the first 4 bytes of its SHA-256, signed (computed once per schema). */
const schemaHashes = new Map<string, number>();
function schemaHashOf(schema: string): number {
  let known = schemaHashes.get(schema);
  if (known === undefined) schemaHashes.set(schema, (known = Number.parseInt(hash("sha256", schema, "hex").slice(0, 8), 16) | 0));
  return known;
}

/** Modes, classes, objects and keys of the locks of one commit, in the order they are taken. */
function instanceLocks(
  schema: string,
  instances: ReadonlyArray<{ component: string; id: string }>,
): [number[], Array<number | null>, Array<number | null>, Array<string | null>] {
  const schemaHash = schemaHashOf(schema);
  const byBucket = new Map<number, Set<bigint>>();
  for (const { component, id } of instances) {
    // Hex of the SHA-256 (one call, no Hash object): bytes 0–7 are the instance's key, 8–11 its bucket.
    const digest = hash("sha256", JSON.stringify([schema, component, id]), "hex");
    const bucket = Number.parseInt(digest.slice(16, 24), 16) % LOCK_BUCKETS;
    let keys = byBucket.get(bucket);
    if (!keys) byBucket.set(bucket, (keys = new Set()));
    keys.add(BigInt.asIntN(64, BigInt(`0x${digest.slice(0, 16)}`)));
  }
  const small = instances.length <= INSTANCE_LOCKS_UP_TO;
  const modes: number[] = [];
  const classes: Array<number | null> = [];
  const objects: Array<number | null> = [];
  const keys: Array<string | null> = [];
  for (const bucket of [...byBucket.keys()].sort((a, b) => a - b)) {
    modes.push(small ? BUCKET_SHARED : BUCKET_EXCLUSIVE);
    classes.push(BUCKET_LOCK_CLASS);
    objects.push((schemaHash + bucket) | 0);
    keys.push(null);
    if (!small) continue;
    for (const key of [...byBucket.get(bucket)!].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      modes.push(INSTANCE_EXCLUSIVE);
      classes.push(null);
      objects.push(null);
      keys.push(String(key));
    }
  }
  return [modes, classes, objects, keys];
}
