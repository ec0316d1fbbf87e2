/**
 * The shares of work nodes hold leases on. Workflows are split into buckets by a hash of
 * (name, id), so several nodes run them; timers, each consumer and each view are one lease each.
 * The bucket count is fixed: every node must agree on it (changing it needs all nodes stopped).
 */
export const WORKFLOW_BUCKETS = 16;

export const leaseNames = {
  workflows: (bucket: number) => `workflows/${bucket}`,
  timers: "timers",
  /** Retention's background removals (src/runtime/retention/): one node at a time. */
  retention: "retention",
  schedules: "schedules",
  consumer: (name: string) => `consumer/${name}`,
  view: (name: string) => `view/${name}`,
};

/** The bucket of a workflow instance: FNV-1a of "name\0id", stable across nodes and releases. */
export function workflowBucket(name: string, id: string): number {
  let hash = 0x811c9dc5;
  const text = `${name}\u0000${id}`;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % WORKFLOW_BUCKETS;
}
