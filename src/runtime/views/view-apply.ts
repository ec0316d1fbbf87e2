/**
 * How feed entries change a view's rows: each table's updaters run over the entries of its source,
 * on top of the stored rows (read once per table and batch) and of what the batch's earlier entries
 * made of them; and the record kept of an entry the view could not apply (a parked entry).
 */
import type { UpdateContext, ViewDefinition, ViewTable } from "../../define/view.ts";
import type { FeedEntry } from "../../store/port.ts";
import { SagaflowError } from "../../define/errors.ts";
import { physicalTable, type ParkedViewEntry, type ViewRowUpdate, type ViewStore } from "../../store/view-port.ts";

type Updater = (row: unknown, message: unknown, ctx: UpdateContext) => unknown;

/** The row updates `entries` make in `generation` of the view (one per row, its last state). */
export async function applyEntries(definition: ViewDefinition, views: ViewStore, generation: number, entries: FeedEntry[]): Promise<ViewRowUpdate[]> {
  const rows = new Map<string, unknown>(); // `${physical}\0${id}` → row (undefined: absent)
  const updates = new Map<string, ViewRowUpdate>();
  for (const [tableName, table] of Object.entries(definition.tables) as Array<[string, ViewTable]>) {
    const physical = physicalTable(definition.name, tableName, generation);
    const mine = entries.filter((e) => e.component === table.source.name);
    if (mine.length === 0) continue;
    const stored = await views.getRows(physical, [...new Set(mine.map((e) => e.id))]);
    for (const entry of mine) {
      const key = `${physical}\u0000${entry.id}`;
      const before = rows.has(key) ? rows.get(key) : stored.get(entry.id);
      const after = updateRow(definition.name, tableName, table, before ?? undefined, entry);
      if (after === undefined) continue;
      rows.set(key, after);
      updates.set(key, { table: physical, id: entry.id, row: after });
    }
  }
  return [...updates.values()];
}

function updateRow(view: string, tableName: string, table: ViewTable, row: unknown, entry: FeedEntry): unknown {
  const ctx: UpdateContext = { id: entry.id, position: entry.position };
  if (table.source.kind === "entity") {
    if (entry.type.startsWith("$")) return undefined;
    const updater = table.events?.[entry.type] as Updater | undefined;
    return updater ? checkedRow(updater(row, entry.payload, ctx), `the updater of view ${view} table ${tableName} for event "${entry.type}"`) : undefined;
  }
  return checkedRow((table.state as Updater)(row, entry.type === "$deleted" ? null : entry.payload, ctx), `the updater of view ${view} table ${tableName}`);
}

/**
 * What an updater returned, if it is something an updater may return: a row (an object), null
 * (delete the row) or undefined (leave it). Anything else throws, which parks the entry as a
 * throwing updater's is: stored, a Promise (an `async` updater) would become `{}` and a string or
 * an array a row that no WHERE matches, silently.
 */
function checkedRow(value: unknown, updater: string): unknown {
  if (value === undefined || value === null) return value;
  if (typeof value === "object" || typeof value === "function") {
    const then = (value as { then?: unknown }).then;
    if (typeof then === "function") {
      // Its rejection, if it comes, is nobody's to handle: not an unhandled rejection of the node.
      then.call(value, undefined, () => {});
      throw new TypeError(`${updater} returned a Promise — updaters are synchronous (no async, no await): return the row itself`);
    }
  }
  if (typeof value === "object" && !Array.isArray(value)) return value;
  throw new TypeError(`${updater} returned ${Array.isArray(value) ? "an array" : `a ${typeof value}`}, not an object (a row), null (delete the row) or undefined (leave it)`);
}

/** An entry `view` could not apply after `attempts`, as it is parked (the error cleaned for the store). */
export function parkedEntry(view: string, generation: number, entry: FeedEntry, error: unknown, attempts: number): ParkedViewEntry {
  const described = error instanceof SagaflowError
    ? { code: error.code, message: error.message }
    : { code: "update_failed", message: error instanceof Error ? error.message : String(error) };
  // Stores keep text without U+0000 (PostgreSQL); an error may quote the very value that failed.
  const clean = (text: string) => text.replaceAll("\u0000", "\\u0000").slice(0, 2_000);
  return {
    view,
    position: entry.position,
    generation,
    component: entry.component,
    id: entry.id,
    type: entry.type,
    error: { code: clean(described.code), message: clean(described.message) },
    attempts,
    parkedAt: Date.now(),
  };
}
