import { BUCKETS } from "../../store/buckets.ts";

export { workflowBucket, timerBucket } from "../../store/buckets.ts";

/**
 * The shares of work nodes hold leases on. Workflows are split into buckets by a hash of
 * (name, id), timers by a hash of their name, so several nodes run them; each consumer and each
 * view is one lease.
 * The bucket count is fixed (src/store/buckets.ts): every node must agree on it.
 */
export const WORKFLOW_BUCKETS = BUCKETS;
export const TIMER_BUCKETS = BUCKETS;
export const leaseNames = {
  workflows: (bucket: number) => `workflows/${bucket}`,
  /**
   * Timer buckets have leases of their own rather than riding on the workflow buckets': timers
   * serve services with no workflow at all (deferred calls of entities and consumers), a
   * timer's bucket hashes another key than a workflow's (nothing to gain by holding both), and
   * each lease keeps one holder with one start and stop.
   */
  timers: (bucket: number) => `timers/${bucket}`,
  /** Retention's background removals (src/runtime/retention/): one node at a time. */
  retention: "retention",
  schedules: "schedules",
  consumer: (name: string) => `consumer/${name}`,
  view: (name: string) => `view/${name}`,
};

