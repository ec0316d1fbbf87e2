/** Retention's removals in the memory store (see ../retention-port.ts), over its Maps and arrays. */
import { compareText } from "../collation.ts";
import type { DedupRef, RetentionStore, WorkflowRef, WorkflowTombstone } from "../retention-port.ts";
import type { MemoryFeed } from "./memory-feed.ts";
import type { MemoryTimers } from "./memory-timers.ts";
import type { MemoryWorkflows } from "./memory-workflows.ts";

/** What the memory store lends retention. */
export interface MemoryRetentionParts {
  feed: MemoryFeed;
  workflows: MemoryWorkflows;
  timers: MemoryTimers;
  /** Every instance key (see instanceKey) with its idempotency records. */
  dedup: () => Iterable<[string, Map<string, { at: number }>]>;
  ready: () => void;
}

export class MemoryRetention implements RetentionStore {
  #prunedThrough = 0;
  readonly #tombstones = new Map<string, WorkflowTombstone>();

  constructor(private readonly parts: MemoryRetentionParts) {}

  async pruneFeed(throughPosition: number, before: number, limit: number): Promise<number> {
    this.parts.ready();
    const gone = this.parts.feed.prune(throughPosition, before, limit);
    this.#prunedThrough = Math.max(this.#prunedThrough, ...gone);
    return gone.length;
  }

  async feedPrunedThrough(): Promise<number> {
    return this.#prunedThrough;
  }

  async pruneWorkflows(name: string, before: number, feedFloor: number, limit: number, now: number): Promise<string[]> {
    this.parts.ready();
    const { feed } = this.parts;
    const gone = this.parts.workflows.removeFinished(name, before, limit, (id) => !feed.statesPassed(name, id, feedFloor));
    const states = gone.flatMap((w) => feed.removeStates(name, w.id));
    this.#prunedThrough = Math.max(this.#prunedThrough, ...states);
    for (const w of gone) this.#tombstones.set(JSON.stringify([name, w.id]), { name, id: w.id, status: w.status, endedAt: w.endedAt, removedAt: now });
    return gone.map((w) => w.id);
  }

  async trimHistories(after: WorkflowRef, keepNewest: number, limit: number): Promise<{ removed: number; next: WorkflowRef | undefined }> {
    this.parts.ready();
    return this.parts.workflows.trimHistories(after, keepNewest, limit);
  }

  /** Whether retention removed workflow `name` `id` (its tombstone lasts): a new record there is a conflict. */
  isRemoved(name: string, id: string): boolean {
    return this.#tombstones.has(JSON.stringify([name, id]));
  }

  async removedWorkflow(name: string, id: string): Promise<WorkflowTombstone | undefined> {
    const found = this.#tombstones.get(JSON.stringify([name, id]));
    return found && { ...found };
  }

  async pruneTombstones(before: number, limit: number): Promise<WorkflowRef[]> {
    const gone = [...this.#tombstones].filter(([, t]) => t.removedAt < before).sort(([, a], [, b]) => a.removedAt - b.removedAt).slice(0, Math.max(0, limit));
    for (const [key] of gone) this.#tombstones.delete(key);
    return gone.map(([, t]) => ({ name: t.name, id: t.id }));
  }

  async oldDedup(before: number, after: DedupRef | undefined, limit: number): Promise<DedupRef[]> {
    this.parts.ready();
    const found: DedupRef[] = [];
    for (const [instance, records] of this.parts.dedup()) {
      const { component, id } = splitInstanceKey(instance);
      for (const [key, record] of records) if (record.at < before) found.push({ component, id, key, at: record.at });
    }
    const order = (a: DedupRef, b: DedupRef) => a.at - b.at || compareText(a.component, b.component) || compareText(a.id, b.id) || compareText(a.key, b.key);
    return found
      .filter((r) => after === undefined || order(r, after) > 0)
      .sort(order)
      .slice(0, Math.max(0, limit));
  }

  async deleteDedup(refs: readonly DedupRef[]): Promise<number> {
    this.parts.ready();
    const byInstance = new Map(this.parts.dedup());
    let removed = 0;
    for (const r of refs) if (byInstance.get(`${r.component.length}:${r.component}${r.id}`)?.delete(r.key)) removed++;
    return removed;
  }

  async timerGenerations(names: readonly string[]): Promise<Map<string, number>> {
    const found = new Map<string, number>();
    for (const name of names) {
      const generation = this.parts.timers.generation(name);
      if (generation !== undefined) found.set(name, generation);
    }
    return found;
  }
}

/** The inverse of instanceKey (`{length}:{component}{id}`). */
function splitInstanceKey(key: string): { component: string; id: string } {
  const colon = key.indexOf(":");
  const length = Number(key.slice(0, colon));
  return { component: key.slice(colon + 1, colon + 1 + length), id: key.slice(colon + 1 + length) };
}
