/**
 * Work is shared out among nodes in buckets: a workflow instance's bucket is a hash of (name, id),
 * a timer's a hash of its name. Stores keep the bucket in a column (set once, when the row is
 * inserted), so a node reads only the rows of the buckets it holds, by an index.
 *
 * The count and the hash are fixed: every node, and every row already stored, must agree on them
 * (changing them needs all nodes stopped and the column rewritten).
 */
export const BUCKETS = 16;

/** The bucket of a workflow instance: FNV-1a of "name\0id", stable across nodes and releases. */
export function workflowBucket(name: string, id: string): number {
  return fnv1a(`${name}\u0000${id}`) % BUCKETS;
}

/** The bucket of a timer: FNV-1a of its name. */
export function timerBucket(name: string): number {
  return fnv1a(name) % BUCKETS;
}

/** Every bucket, 0 to BUCKETS - 1. */
export const allBuckets: readonly number[] = Array.from({ length: BUCKETS }, (_, i) => i);

/** Checks a bucket list handed to a store query: whole numbers in range (they go into SQL). */
export function checkBuckets(buckets: readonly number[]): void {
  for (const b of buckets) {
    if (!Number.isInteger(b) || b < 0 || b >= BUCKETS) throw new RangeError(`a bucket is a whole number from 0 to ${BUCKETS - 1}, got ${b}`);
  }
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
