/**
 * Retention's removals on SQLite (see ../retention-port.ts): each call one short IMMEDIATE
 * transaction over at most `limit` rows, so that commands wait for it a few milliseconds at most.
 */
import type Database from "better-sqlite3";
import type { DedupRef, WorkflowRef, WorkflowTombstone } from "../retention-port.ts";

const FEED_MARK = "feed_pruned_through";

/** The retention part of the port on `db`, whose tables must exist (schema 7). */
export function prepareRetention(db: Database.Database) {
  // kind > 0: key-value and workflow states only; the partial index events_states serves it.
  const pruneFeed = db.prepare(
    `DELETE FROM events WHERE position IN (
       SELECT position FROM events INDEXED BY events_states
       WHERE kind > 0 AND position <= ? AND at < ? AND position < (SELECT max(position) FROM events)
       ORDER BY position LIMIT ?)
     RETURNING position`,
  ).pluck();
  const raiseMark = db.prepare(
    `INSERT INTO retention_marks (name, value) VALUES (?, ?)
     ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`,
  );
  const mark = db.prepare("SELECT value FROM retention_marks WHERE name = ?").pluck();
  // Workflows whose states no reader still needs (kind 2: see deleteStates).
  const finished = db.prepare(
    `SELECT id, status, updated_at FROM workflows INDEXED BY workflows_finished
     WHERE name = ? AND status IN ('ended', 'terminated') AND updated_at < ?
       AND NOT EXISTS (SELECT 1 FROM events WHERE component = workflows.name AND id = workflows.id AND kind = 2
                       AND (position > ? OR position = (SELECT max(position) FROM events)))
     ORDER BY updated_at LIMIT ?`,
  );
  // A workflow's states are its kind 2 feed rows, found through the unique key (a partial index:
  // the query names kind 2 literally, or SQLite would not use it; see migration 13).
  const deleteStates = db.prepare("DELETE FROM events WHERE component = ? AND id = ? AND kind = 2 RETURNING position").pluck();
  const deleteWorkflow = db.prepare("DELETE FROM workflows WHERE name = ? AND id = ?");
  const deleteHistory = db.prepare("DELETE FROM workflow_history WHERE name = ? AND id = ?");
  const putTombstone = db.prepare(
    `INSERT INTO removed_workflows (name, id, status, ended_at, removed_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (name, id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at, removed_at = excluded.removed_at`,
  );
  const tombstone = db.prepare("SELECT name, id, status, ended_at, removed_at FROM removed_workflows WHERE name = ? AND id = ?");
  const pruneTombstones = db.prepare(
    `DELETE FROM removed_workflows WHERE (name, id) IN (
       SELECT name, id FROM removed_workflows WHERE removed_at < ? ORDER BY removed_at LIMIT ?)
     RETURNING name, id`,
  );
  const oldDedup = db.prepare(
    `SELECT component, id, key, at FROM dedup INDEXED BY dedup_at
     WHERE at < ? AND (at, component, id, key) > (?, ?, ?, ?)
     ORDER BY at, component, id, key LIMIT ?`,
  );
  const deleteDedup = db.prepare("DELETE FROM dedup WHERE component = ? AND id = ? AND key = ?");
  const instancesAfter = db.prepare("SELECT name, id, version FROM workflows WHERE (name, id) > (?, ?) ORDER BY name, id LIMIT ?");
  // Oldest first, never version 1 (who started it), in the primary key's order.
  const trimOldest = db.prepare(
    `DELETE FROM workflow_history WHERE name = ? AND id = ? AND version IN (
       SELECT version FROM workflow_history WHERE name = ? AND id = ? AND version > 1 AND version <= ? ORDER BY version LIMIT ?)`,
  );
  const timerGeneration = db.prepare("SELECT generation FROM timers WHERE name = ?").pluck();

  const pruneFeedTx = db.transaction((through: number, before: number, limit: number): number => {
    const removed = pruneFeed.all(through, before, limit) as number[];
    if (removed.length > 0) raiseMark.run(FEED_MARK, Math.max(...removed));
    return removed.length;
  });
  const pruneWorkflowsTx = db.transaction((name: string, before: number, feedFloor: number, limit: number, now: number): string[] => {
    const rows = finished.all(name, before, feedFloor, limit) as Array<{ id: string; status: string; updated_at: number }>;
    const states: number[] = [];
    for (const row of rows) {
      deleteWorkflow.run(name, row.id);
      deleteHistory.run(name, row.id);
      states.push(...(deleteStates.all(name, row.id) as number[]));
      putTombstone.run(name, row.id, row.status, row.updated_at, now);
    }
    if (states.length > 0) raiseMark.run(FEED_MARK, Math.max(...states));
    return rows.map((row) => row.id);
  });
  const trimHistoriesTx = db.transaction((after: WorkflowRef, keepNewest: number, limit: number) => {
    const page = instancesAfter.all(after.name, after.id, limit) as Array<WorkflowRef & { version: number }>;
    let removed = 0;
    let next = after;
    for (const w of page) {
      const gone = w.version - keepNewest > 1 ? trimOldest.run(w.name, w.id, w.name, w.id, w.version - keepNewest, limit - removed).changes : 0;
      removed += gone;
      // Cut short: this instance is gone through again next time.
      if (removed >= limit && gone > 0) return { removed, next };
      next = { name: w.name, id: w.id };
    }
    return { removed, next: page.length < limit ? undefined : next };
  });
  const deleteDedupTx = db.transaction((refs: readonly DedupRef[]): number => {
    let removed = 0;
    for (const r of refs) removed += deleteDedup.run(r.component, r.id, r.key).changes;
    return removed;
  });

  return {
    pruneFeed(through: number, before: number, limit: number): number {
      return limit <= 0 ? 0 : pruneFeedTx.immediate(through, before, limit);
    },
    feedPrunedThrough(): number {
      return (mark.get(FEED_MARK) as number | undefined) ?? 0;
    },
    pruneWorkflows(name: string, before: number, feedFloor: number, limit: number, now: number): string[] {
      return limit <= 0 ? [] : pruneWorkflowsTx.immediate(name, before, feedFloor, limit, now);
    },
    removedWorkflow(name: string, id: string): WorkflowTombstone | undefined {
      const row = tombstone.get(name, id) as { name: string; id: string; status: "ended" | "terminated"; ended_at: number; removed_at: number } | undefined;
      return row && { name: row.name, id: row.id, status: row.status, endedAt: row.ended_at, removedAt: row.removed_at };
    },
    trimHistories(after: WorkflowRef, keepNewest: number, limit: number): { removed: number; next: WorkflowRef | undefined } {
      return limit <= 0 ? { removed: 0, next: after } : trimHistoriesTx.immediate(after, keepNewest, limit);
    },
    pruneTombstones(before: number, limit: number): WorkflowRef[] {
      return limit <= 0 ? [] : (pruneTombstones.all(before, limit) as WorkflowRef[]);
    },
    oldDedup(before: number, after: DedupRef | undefined, limit: number): DedupRef[] {
      if (limit <= 0) return [];
      const a = after ?? { at: -Infinity, component: "", id: "", key: "" };
      return oldDedup.all(before, a.at, a.component, a.id, a.key, limit) as DedupRef[];
    },
    deleteDedup(refs: readonly DedupRef[]): number {
      return refs.length === 0 ? 0 : deleteDedupTx.immediate(refs);
    },
    timerGenerations(names: readonly string[]): Map<string, number> {
      const found = new Map<string, number>();
      for (const name of new Set(names)) {
        const generation = timerGeneration.get(name) as number | undefined;
        if (generation !== undefined) found.set(name, generation);
      }
      return found;
    },
  };
}
