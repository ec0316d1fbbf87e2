/**
 * Retention's removals on PostgreSQL (see ../retention-port.ts): each call one short transaction
 * statement over at most `limit` rows. Several nodes never run them at once (the retention
 * lease); workflow rows a commit holds are skipped (SKIP LOCKED), not waited for.
 */
import type { DedupRef, RetentionStore, WorkflowRef, WorkflowTombstone } from "../retention-port.ts";
import type { QueryResultRow } from "pg";

const FEED_MARK = "feed_pruned_through";

export interface PostgresRetentionOptions {
  /** The store's schema, quoted. */
  schema: string;
  /** Runs one statement (its own transaction), with the store's error translation. */
  query: <R extends QueryResultRow>(text: string, values: unknown[]) => Promise<R[]>;
}

export class PostgresRetention implements RetentionStore {
  readonly #s: string;
  readonly #query: PostgresRetentionOptions["query"];

  constructor(options: PostgresRetentionOptions) {
    this.#s = options.schema;
    this.#query = options.query;
  }

  async pruneFeed(throughPosition: number, before: number, limit: number): Promise<number> {
    if (limit <= 0) return 0;
    const s = this.#s;
    // One statement: the deletion and the mark commit together.
    const rows = await this.#query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM ${s}.events WHERE position IN (
           SELECT position FROM ${s}.events
           WHERE kind > 0 AND position <= $1 AND at < $2 AND position < (SELECT max(position) FROM ${s}.events)
           ORDER BY position LIMIT $3)
         RETURNING position),
       marked AS (
         INSERT INTO ${s}.retention_marks (name, value) SELECT $4, max(position) FROM gone HAVING count(*) > 0
         ON CONFLICT (name) DO UPDATE SET value = greatest(${s}.retention_marks.value, excluded.value))
       SELECT count(*)::float8 AS n FROM gone`,
      [throughPosition, before, limit, FEED_MARK],
    );
    return rows[0]?.n ?? 0;
  }

  async feedPrunedThrough(): Promise<number> {
    const rows = await this.#query<{ v: number }>(`SELECT value::float8 AS v FROM ${this.#s}.retention_marks WHERE name = $1`, [FEED_MARK]);
    return rows[0]?.v ?? 0;
  }

  async pruneWorkflows(name: string, before: number, feedFloor: number, limit: number, now: number): Promise<string[]> {
    if (limit <= 0) return [];
    const s = this.#s;
    const rows = await this.#query<{ id: string }>(
      `WITH gone AS (
         DELETE FROM ${s}.workflows WHERE name = $1 AND id IN (
           SELECT id FROM ${s}.workflows
           WHERE name = $1 AND status IN ('ended', 'terminated') AND updated_at < $2
             AND NOT EXISTS (SELECT 1 FROM ${s}.events e WHERE e.component = $1 AND e.id = workflows.id AND e.kind > 0
                             AND (e.position > $5 OR e.position = (SELECT max(position) FROM ${s}.events)))
           ORDER BY updated_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         AND status IN ('ended', 'terminated')
         RETURNING id, status, updated_at),
       history AS (
         DELETE FROM ${s}.workflow_history h USING gone WHERE h.name = $1 AND h.id = gone.id),
       states AS (
         DELETE FROM ${s}.events e USING gone WHERE e.component = $1 AND e.id = gone.id AND e.kind > 0 RETURNING e.position),
       marked AS (
         INSERT INTO ${s}.retention_marks (name, value) SELECT $6, max(position) FROM states HAVING count(*) > 0
         ON CONFLICT (name) DO UPDATE SET value = greatest(${s}.retention_marks.value, excluded.value)),
       tombstones AS (
         INSERT INTO ${s}.removed_workflows (name, id, status, ended_at, removed_at)
         SELECT $1, id, status, updated_at, $4 FROM gone
         ON CONFLICT (name, id) DO UPDATE SET status = excluded.status, ended_at = excluded.ended_at, removed_at = excluded.removed_at)
       SELECT id FROM gone`,
      [name, before, limit, now, feedFloor, FEED_MARK],
    );
    return rows.map((r) => r.id);
  }

  async trimHistories(after: WorkflowRef, keepNewest: number, limit: number): Promise<{ removed: number; next: WorkflowRef | undefined }> {
    if (limit <= 0) return { removed: 0, next: after };
    const s = this.#s;
    const page = await this.#query<WorkflowRef & { version: number }>(
      `SELECT name, id, version::float8 AS version FROM ${s}.workflows WHERE (name, id) > ($1, $2) ORDER BY name, id LIMIT $3`,
      [after.name, after.id, limit],
    );
    let removed = 0;
    let next = after;
    for (const w of page) {
      let gone = 0;
      if (w.version - keepNewest > 1) {
        // Oldest first, never version 1 (who started it); rows only a commit inserts, none it updates.
        const rows = await this.#query<{ n: number }>(
          `WITH gone AS (
             DELETE FROM ${s}.workflow_history WHERE name = $1 AND id = $2 AND version IN (
               SELECT version FROM ${s}.workflow_history WHERE name = $1 AND id = $2 AND version > 1 AND version <= $3 ORDER BY version LIMIT $4)
             RETURNING 1)
           SELECT count(*)::float8 AS n FROM gone`,
          [w.name, w.id, w.version - keepNewest, limit - removed],
        );
        gone = rows[0]?.n ?? 0;
      }
      removed += gone;
      // Cut short: this instance is gone through again next time.
      if (removed >= limit && gone > 0) return { removed, next };
      next = { name: w.name, id: w.id };
    }
    return { removed, next: page.length < limit ? undefined : next };
  }

  async removedWorkflow(name: string, id: string): Promise<WorkflowTombstone | undefined> {
    const rows = await this.#query<{ name: string; id: string; status: "ended" | "terminated"; endedAt: number; removedAt: number }>(
      `SELECT name, id, status, ended_at::float8 AS "endedAt", removed_at::float8 AS "removedAt"
       FROM ${this.#s}.removed_workflows WHERE name = $1 AND id = $2`,
      [name, id],
    );
    return rows[0];
  }

  async pruneTombstones(before: number, limit: number): Promise<WorkflowRef[]> {
    if (limit <= 0) return [];
    const s = this.#s;
    return this.#query<WorkflowRef>(
      `DELETE FROM ${s}.removed_workflows WHERE (name, id) IN (
         SELECT name, id FROM ${s}.removed_workflows WHERE removed_at < $1 ORDER BY removed_at LIMIT $2)
       RETURNING name, id`,
      [before, limit],
    );
  }

  async oldDedup(before: number, after: DedupRef | undefined, limit: number): Promise<DedupRef[]> {
    if (limit <= 0) return [];
    const a = after ?? { at: -1, component: "", id: "", key: "" };
    return this.#query<DedupRef>(
      `SELECT component, id, key, at::float8 AS at FROM ${this.#s}.dedup
       WHERE at < $1 AND (at, component, id, key) > ($2, $3, $4, $5)
       ORDER BY at, component, id, key LIMIT $6`,
      [before, a.at, a.component, a.id, a.key, limit],
    );
  }

  async deleteDedup(refs: readonly DedupRef[]): Promise<number> {
    if (refs.length === 0) return 0;
    const rows = await this.#query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM ${this.#s}.dedup d USING unnest($1::text[], $2::text[], $3::text[]) AS r(c, i, k)
         WHERE d.component = r.c AND d.id = r.i AND d.key = r.k RETURNING 1)
       SELECT count(*)::float8 AS n FROM gone`,
      [refs.map((r) => r.component), refs.map((r) => r.id), refs.map((r) => r.key)],
    );
    return rows[0]?.n ?? 0;
  }

  async timerGenerations(names: readonly string[]): Promise<Map<string, number>> {
    if (names.length === 0) return new Map();
    const rows = await this.#query<{ name: string; generation: number }>(
      `SELECT name, generation::float8 AS generation FROM ${this.#s}.timers WHERE name = ANY($1::text[])`,
      [[...new Set(names)]],
    );
    return new Map(rows.map((r) => [r.name, r.generation]));
  }
}
