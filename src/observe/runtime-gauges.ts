import type { AdminFacade } from "../runtime/facades.ts";
import type { Store, WorkflowCount } from "../store/port.ts";
import type { SagaflowMetrics } from "./metrics.ts";

/** What the scrape-time gauges read: the store, the dispatcher's counts, the admin facade, the leases. */
export interface GaugeSources {
  store: Store;
  /** Instances cached, and commands in flight (waiting in a mailbox or being decided and committed). */
  dispatcher(): { cached: number; inFlight: number };
  admin: Pick<AdminFacade, "consumers" | "views" | "timers">;
  node(): { id: string; leases: number };
  /** How long store-wide counts (workflows, timers) are reused between scrapes. Default 5,000 ms. */
  cacheMs?: number;
}

const timerCountCap = 10_000;

/** Registers the gauges read at scrape time: mailboxes, cache, workflows, consumers, views, timers, leases, pool. */
export function registerRuntimeGauges(metrics: SagaflowMetrics, sources: GaugeSources): void {
  const cacheMs = sources.cacheMs ?? 5_000;
  metrics.gauge("sagaflow_commands_in_flight", "Commands waiting in instance mailboxes or being decided and committed", [], (g) => {
    g.set(sources.dispatcher().inFlight);
  });
  metrics.gauge("sagaflow_instances_cached", "Entity and workflow instances held in memory", [], (g) => {
    g.set(sources.dispatcher().cached);
  });
  const workflows = cached(cacheMs, () => workflowCounts(sources.store));
  metrics.gauge("sagaflow_workflows", "Workflow instances by workflow, status and current step (from the store, cached a few seconds)", ["workflow", "status", "step"], async (g) => {
    for (const row of await workflows()) g.labels(row.name, row.status, row.step ?? "").set(row.count);
  });
  metrics.gauge("sagaflow_consumer_lag", "Feed entries of a consumer's source not handled yet (counted up to 10,000)", ["consumer"], async (g) => {
    for (const c of (await sources.admin.consumers()).consumers) g.labels(c.name).set(c.lag);
  });
  metrics.gauge("sagaflow_consumer_offset", "A consumer's position in the feed", ["consumer"], async (g) => {
    for (const c of (await sources.admin.consumers()).consumers) g.labels(c.name).set(c.offset);
  });
  metrics.gauge("sagaflow_consumer_parked", "Messages a consumer parked (failed, or held behind one that failed)", ["consumer"], async (g) => {
    for (const c of (await sources.admin.consumers()).consumers) g.labels(c.name).set(c.parked);
  });
  metrics.gauge("sagaflow_feed_head", "The latest position of the change feed", [], async (g) => {
    g.set((await sources.admin.consumers()).head);
  });
  metrics.gauge("sagaflow_view_lag", "Feed entries a view has not applied yet", ["view"], async (g) => {
    for (const v of (await sources.admin.views()).views) if (v.lag !== null) g.labels(v.name).set(v.lag);
  });
  metrics.gauge("sagaflow_view_parked", "Feed entries a view could not apply", ["view"], async (g) => {
    for (const v of (await sources.admin.views()).views) g.labels(v.name).set(v.parked);
  });
  const timers = cached(cacheMs, async () => (await sources.admin.timers("pending", timerCountCap)).length);
  metrics.gauge("sagaflow_timers_pending", "Durable timers not fired yet (counted up to 10,000; cached a few seconds)", [], async (g) => {
    g.set(await timers());
  });
  metrics.gauge("sagaflow_leases_held", "Leases (shares of the work) this node holds", ["node"], (g) => {
    const { id, leases } = sources.node();
    g.labels(id).set(leases);
  });
  if (sources.store.poolStats) {
    const pool = () => sources.store.poolStats!();
    metrics.gauge("sagaflow_pg_pool_connections", "PostgreSQL pool connections by state (in_use, idle)", ["state"], (g) => {
      const { total, idle } = pool();
      g.labels("in_use").set(total - idle);
      g.labels("idle").set(idle);
    });
    metrics.gauge("sagaflow_pg_pool_waiting", "Callers waiting for a PostgreSQL pool connection", [], (g) => {
      g.set(pool().waiting);
    });
  }
}

/** The store's grouped count, or (adapters without one: the in-memory store) counted from a listing. */
async function workflowCounts(store: Store): Promise<WorkflowCount[]> {
  if (store.workflowCounts) return store.workflowCounts();
  const counts = new Map<string, WorkflowCount>();
  for (const w of await store.listWorkflows({ limit: 100_000 })) {
    const key = `${w.name}\u0000${w.status}\u0000${w.step ?? ""}`;
    const row = counts.get(key) ?? { name: w.name, status: w.status, step: w.step, count: 0 };
    row.count++;
    counts.set(key, row);
  }
  return [...counts.values()];
}

/** `read`, reused for `ms` after it last answered (a scrape every few seconds costs one query). */
function cached<T>(ms: number, read: () => Promise<T>): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!last || now - last.at > ms) {
      const value = read();
      last = { at: now, value };
      value.catch(() => (last = undefined));
    }
    return last.value;
  };
}
