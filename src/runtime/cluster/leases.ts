import { BUCKETS } from "../../store/buckets.ts";

export { workflowBucket, timerBucket } from "../../store/buckets.ts";

/**
 * The shares of work nodes hold leases on. Workflows are split into buckets by a hash of
 * (name, id), so several nodes run them; timers, each consumer and each view are one lease each.
 * The bucket count is fixed (src/store/buckets.ts): every node must agree on it.
 */
export const WORKFLOW_BUCKETS = BUCKETS;
export const leaseNames = {
  workflows: (bucket: number) => `workflows/${bucket}`,
  timers: "timers",
  /** Retention's background removals (src/runtime/retention/): one node at a time. */
  retention: "retention",
  schedules: "schedules",
  consumer: (name: string) => `consumer/${name}`,
  view: (name: string) => `view/${name}`,
};

