/**
 * Seeding a view's building generation from current state, before it replays the feed (see
 * RebuildFrom in ./view-runner.ts): what retention removed that a build from the feed alone would
 * need, which sources a seeding reads, a page of a source's current records as the feed entries of
 * their latest states, and their row updates, an instance whose updater throws left out.
 */
import type { ViewDefinition } from "../../define/view.ts";
import type { FeedEntry, Store } from "../../store/port.ts";
import type { ViewGeneration, ViewRowUpdate, ViewStore } from "../../store/view-port.ts";
import { applyEntries } from "./view-apply.ts";

/** A seeding under way: the state sources of the building generation, paged through by id. */
export interface Seeding {
  generation: number;
  sources: Array<{ name: string; kind: string }>;
  /** The source being read, and the last id seeded of it. */
  index: number;
  afterId: string;
}

/** What seeding needs of the runner's host (ViewHost). */
export interface SeedHost {
  views: ViewStore;
  log: (line: string) => void;
}

/**
 * What retention removed that reading the feed on from `offset` (by default, a build from its
 * start) would need, said for people; undefined when nothing (no table fed by states, or no state
 * removed past `offset`).
 */
export async function statesRemoved(definition: ViewDefinition, store: Store, offset = 0): Promise<string | undefined> {
  const stateSources = Object.values(definition.tables).filter((t) => t.source.kind !== "entity").map((t) => t.source.name);
  if (stateSources.length === 0) return undefined;
  const removed = await store.retention.feedPrunedThrough();
  if (removed <= offset) return undefined;
  return `retention removed key-value and workflow states up to position ${removed}, which its tables fed by ${[...new Set(stateSources)].join(", ")} need ` +
    `(entity events are never removed; see GET /retention on the admin API)`;
}

/** The seeding of `generation`: the view's sources that feed it states (key-value entities, workflows); undefined when none does. */
export function seedingOf(definition: ViewDefinition, generation: ViewGeneration): Seeding | undefined {
  const sources = new Map<string, string>();
  for (const table of Object.values(definition.tables)) if (table.source.kind !== "entity") sources.set(table.source.name, table.source.kind);
  if (sources.size === 0) return undefined;
  return { generation: generation.generation, sources: [...sources].map(([name, kind]) => ({ name, kind })), index: 0, afterId: "" };
}

/** Applies seed entries; an instance whose updater throws is left out (its feed entries, if any, still replay), and said. */
export async function applySeed(definition: ViewDefinition, host: SeedHost, generation: number, entries: FeedEntry[]): Promise<ViewRowUpdate[]> {
  try {
    return await applyEntries(definition, host.views, generation, entries);
  } catch {
    const updates: ViewRowUpdate[] = [];
    for (const entry of entries) {
      try {
        updates.push(...(await applyEntries(definition, host.views, generation, [entry])));
      } catch (error) {
        host.log(
          `sagaflow: WARNING: view ${definition.name}: seeding ${entry.component} "${entry.id}" from its current state failed, left out: ` +
            `${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    return updates;
  }
}

/** A page of `source`'s current records after `afterId`, at most `batchSize`, by id, each as the feed entry of its latest state. */
export async function currentStates(store: Store, source: { name: string; kind: string }, afterId: string, batchSize: number): Promise<FeedEntry[]> {
  const entry = (id: string, seq: number, type: string, payload: unknown): FeedEntry => ({ position: 0, component: source.name, id, seq, type, payload, at: 0 });
  if (source.kind === "workflow") {
    const workflows = await store.listWorkflows({ name: source.name, afterId, limit: batchSize });
    return workflows.map((w) => entry(w.id, w.version, "$state", { status: w.status, step: w.step, ...(w.state === undefined ? {} : { state: w.state }) }));
  }
  const records = await store.listKv(source.name, afterId, batchSize);
  return records.map((r) => (r.deleted ? entry(r.id, r.version, "$deleted", null) : entry(r.id, r.version, "$state", r.state)));
}
