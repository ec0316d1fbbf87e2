/**
 * The SQL of the PostgreSQL store, one named statement per query (prepared once per connection of
 * the pool). Table names are qualified with the store's schema. Text keys are COLLATE "C" in the
 * tables, so every ORDER BY and comparison on them is by code point.
 */
import { createHash } from "node:crypto";
import { checkAfterId } from "../checks.ts";
import type { WorkflowFilter } from "../port.ts";
import { commitSql } from "./postgres-commit-sql.ts";

const FEED_COLUMNS = "position, component, id, seq, type, payload, at";
const PARKED_COLUMNS = `consumer, ${FEED_COLUMNS}, error, attempts, parked_at, blocked_by`;
const TIMER_COLUMNS = "name, generation, due_at, component, id, handler, input, attempts, status, last_error, created_at, trace, call_key";
const WORKFLOW_COLUMNS =
  "name, id, version, status, step, step_input, state, attempt, exec_id, due_at, deadline_at, " +
  "last_error, start_hash, start_reply, created_at, updated_at, trace";

/** A named statement: prepared once per connection of the pool. */
export type Statement = { name: string; text: string };

/** The statements of one schema (`s` quoted, `schemaName` as given; it is in their text: one pool, one schema). */
export function statements(s: string, schemaName: string) {
  const st = (name: string, text: string): Statement => ({ name: `sagaflow_${name}`, text });
  return {
    commit: commitSql(s, schemaName),
    // The snapshot and the events after it, read in one statement (one snapshot of the database).
    loadHistory: st(
      "load_history",
      `WITH snap AS (SELECT seq, state, state_version FROM ${s}.snapshots WHERE component = $1 AND id = $2)
       SELECT true AS is_snapshot, seq, state AS payload, NULL::bigint AS position, NULL::text AS type, NULL::bigint AS at, state_version FROM snap
       UNION ALL
       SELECT false, e.seq, e.payload, e.position, e.type, e.at, NULL FROM ${s}.events e
       WHERE e.component = $1 AND e.id = $2 AND e.kind = 0 AND e.seq > coalesce((SELECT seq FROM snap), 0)
       ORDER BY is_snapshot DESC, seq`,
    ),
    readEvents: st(
      "read_events",
      `SELECT position, seq, type, payload, at FROM ${s}.events
       WHERE component = $1 AND id = $2 AND kind = 0 AND seq > $3 ORDER BY seq LIMIT $4`,
    ),
    loadKv: st("load_kv", `SELECT version, state, deleted FROM ${s}.kv WHERE component = $1 AND id = $2`),
    listKv: st("list_kv", `SELECT id, version, state, deleted FROM ${s}.kv WHERE component = $1 AND id > $2 ORDER BY id LIMIT $3`),
    findDedup: st("find_dedup", `SELECT key, request_hash, reply, at FROM ${s}.dedup WHERE component = $1 AND id = $2 AND key = $3`),
    // Admin reads (the console): an instance's idempotency keys by key; a workflow's states by version, from its feed rows.
    listDedup: st("list_dedup", `SELECT key, request_hash, reply, at FROM ${s}.dedup WHERE component = $1 AND id = $2 AND key > $3 ORDER BY key LIMIT $4`),
    workflowStates: st(
      "workflow_states",
      `SELECT seq, at, payload FROM ${s}.events WHERE component = $1 AND id = $2 AND kind = 2 AND seq > $3 ORDER BY seq LIMIT $4`,
    ),
    loadWorkflow: st("load_workflow", `SELECT ${WORKFLOW_COLUMNS} FROM ${s}.workflows WHERE name = $1 AND id = $2`),
    // The same point reads for many keys at once (./postgres-read-batch.ts): each row carries its
    // key's index n (from 1); a key with nothing stored has no row. Each key is a lateral lookup
    // with a LIMIT, which the planner cannot turn into a join that scans the whole table (as it
    // may for a plain join planned while the table was small).
    readEventsOf: st(
      "read_events_of",
      `SELECT u.n, e.position, e.seq, e.type, e.payload, e.at
       FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) WITH ORDINALITY AS u(c, i, after, lim, n)
       CROSS JOIN LATERAL (
         SELECT position, seq, type, payload, at FROM ${s}.events x
         WHERE x.component = u.c AND x.id = u.i AND x.kind = 0 AND x.seq > u.after ORDER BY x.seq LIMIT u.lim
       ) e
       ORDER BY u.n, e.seq`,
    ),
    loadKvOf: st(
      "load_kv_of",
      `SELECT u.n, k.version, k.state, k.deleted FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(c, i, n)
       CROSS JOIN LATERAL (SELECT version, state, deleted FROM ${s}.kv x WHERE x.component = u.c AND x.id = u.i LIMIT 1) k`,
    ),
    findDedupOf: st(
      "find_dedup_of",
      `SELECT u.n, d.key, d.request_hash, d.reply, d.at FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(c, i, k, n)
       CROSS JOIN LATERAL (SELECT key, request_hash, reply, at FROM ${s}.dedup x WHERE x.component = u.c AND x.id = u.i AND x.key = u.k LIMIT 1) d`,
    ),
    loadWorkflowOf: st(
      "load_workflow_of",
      `SELECT u.n, w.* FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(name, id, n)
       CROSS JOIN LATERAL (SELECT ${WORKFLOW_COLUMNS} FROM ${s}.workflows x WHERE x.name = u.name AND x.id = u.id LIMIT 1) w`,
    ),
    // As SQLite's (sqlite-workflows.ts): one index range per bucket, status and column.
    dueWorkflows: st(
      "due_workflows",
      [
        `SELECT name, id FROM ${s}.workflows WHERE bucket = ANY($3::int4[]) AND name = ANY($4::text[]) AND status = 'running' AND due_at IS NULL`,
        ...["due_at", "deadline_at"].flatMap((column) =>
          ["running", "paused"].map((status) => `SELECT name, id FROM ${s}.workflows WHERE bucket = ANY($3::int4[]) AND name = ANY($4::text[]) AND status = '${status}' AND ${column} <= $1`),
        ),
      ].join(" UNION ALL ") + " LIMIT $2",
    ),
    nextWorkflowDue: st(
      "next_workflow_due",
      `SELECT min(x.t) AS next FROM unnest($2::int4[]) AS b(bucket) CROSS JOIN LATERAL (` +
        ["due_at", "deadline_at"]
          .flatMap((column) =>
            ["running", "paused"].map((status) => `SELECT (SELECT min(${column}) FROM ${s}.workflows WHERE bucket = b.bucket AND status = '${status}' AND ${column} > $1) AS t`),
          )
          .join(" UNION ALL ") +
        `) x`,
    ),
    stepsToRun: st(
      "steps_to_run",
      `SELECT step, count(*)::int AS count, min(id) AS first, max(id) AS last FROM (
         SELECT id, step FROM ${s}.workflows WHERE status IN ('running', 'suspended', 'failed') AND name = $1
         UNION ALL
         SELECT id, step_input::json ->> 'then' FROM ${s}.workflows WHERE status = 'paused' AND name = $1
       ) x WHERE step IS NOT NULL GROUP BY step ORDER BY step`,
    ),
    workflowHistory: st(
      "workflow_history",
      `SELECT version, at, status, step, exec_id, attempt, detail FROM ${s}.workflow_history
       WHERE name = $1 AND id = $2 AND version > $4 ORDER BY version LIMIT $3`,
    ),
    feedAll: st("feed_all", `SELECT ${FEED_COLUMNS}, trace FROM ${s}.events WHERE position > $1 ORDER BY position LIMIT $2`),
    // The first `limit` entries after the offset of each component, merged. Each component's
    // range is written as a range of the events_feed index, (component, position) from
    // (c, after) up to the end of c, and ordered as that index is, so the planner has one cheap
    // plan, even a generic one: "component = c ORDER BY position" lets it scan the primary key
    // and filter instead, reading every other component's entries (it did, once prepared).
    feedOf: st(
      "feed_of",
      `SELECT e.position, e.component, e.id, e.seq, e.type, e.payload, e.at, e.trace
       FROM unnest($1::text[]) AS c(component)
       CROSS JOIN LATERAL (
         SELECT ${FEED_COLUMNS}, trace FROM ${s}.events x
         WHERE (x.component, x.position) > (c.component, $2) AND x.component <= c.component
         ORDER BY x.component, x.position LIMIT $3
       ) e
       ORDER BY e.position LIMIT $3`,
    ),
    feedHead: st("feed_head", `SELECT coalesce(max(position), 0) AS head FROM ${s}.events`),
    loadOffset: st("load_offset", `SELECT position FROM ${s}.offsets WHERE consumer = $1`),
    listOffsets: st("list_offsets", `SELECT consumer, position FROM ${s}.offsets ORDER BY consumer`),
    // One statement, so one atomic change: the removals (less the positions parked again, which
    // the upsert replaces), the parked messages, and the offset, which only ever goes up.
    commitConsumer: st(
      "commit_consumer",
      `WITH
       removed AS (DELETE FROM ${s}.parked WHERE consumer = $1 AND position = ANY($2::int8[])),
       parked AS (
         INSERT INTO ${s}.parked (${PARKED_COLUMNS})
         SELECT $1, * FROM unnest($3::int8[], $4::text[], $5::text[], $6::int8[], $7::text[], $8::text[], $9::int8[],
                                  $10::text[], $11::int8[], $12::int8[], $13::int8[])
         ON CONFLICT (consumer, position) DO UPDATE SET
           component = excluded.component, id = excluded.id, seq = excluded.seq, type = excluded.type,
           payload = excluded.payload, at = excluded.at, error = excluded.error, attempts = excluded.attempts,
           parked_at = excluded.parked_at, blocked_by = excluded.blocked_by
       )
       INSERT INTO ${s}.offsets AS o (consumer, position) VALUES ($1, $14)
       ON CONFLICT (consumer) DO UPDATE SET position = greatest(o.position, excluded.position)`,
    ),
    listParkedAll: st("list_parked_all", `SELECT ${PARKED_COLUMNS} FROM ${s}.parked ORDER BY consumer, position LIMIT $1`),
    listParkedOf: st("list_parked_of", `SELECT ${PARKED_COLUMNS} FROM ${s}.parked WHERE consumer = $1 AND position > $3 ORDER BY position LIMIT $2`),
    removeParked: st("remove_parked", `DELETE FROM ${s}.parked WHERE consumer = $1 AND position = ANY($2::int8[])`),
    // One statement: a new name starts at generation 1, a known one goes on from its generation.
    putTimer: st(
      "put_timer",
      `INSERT INTO ${s}.timers AS t (${TIMER_COLUMNS}, bucket) VALUES ($1, 1, $2, $3, $4, $5, $6, 0, 'pending', NULL, $7, $8, $10, $9)
       ON CONFLICT (name) DO UPDATE SET
         generation = t.generation + 1, due_at = excluded.due_at, component = excluded.component,
         id = excluded.id, handler = excluded.handler, input = excluded.input, attempts = 0,
         status = 'pending', last_error = NULL, created_at = excluded.created_at, trace = excluded.trace,
         call_key = excluded.call_key
       RETURNING ${TIMER_COLUMNS}`,
    ),
    cancelTimer: st("cancel_timer", `DELETE FROM ${s}.timers WHERE name = $1`),
    // Per held bucket, the first `limit` of its index range, then the earliest of those: never
    // more than buckets × limit rows read, however many timers are due.
    dueTimers: st(
      "due_timers",
      `SELECT x.* FROM unnest($3::int4[]) AS b(bucket) CROSS JOIN LATERAL (
         SELECT ${TIMER_COLUMNS} FROM ${s}.timers
         WHERE bucket = b.bucket AND status = 'pending' AND due_at <= $1 ORDER BY due_at, name LIMIT $2
       ) x ORDER BY x.due_at, x.name LIMIT $2`,
    ),
    nextTimerDue: st(
      "next_timer_due",
      `SELECT min(x.due) AS due FROM unnest($1::int4[]) AS b(bucket) CROSS JOIN LATERAL (
         SELECT (SELECT min(due_at) FROM ${s}.timers WHERE bucket = b.bucket AND status = 'pending') AS due
       ) x`,
    ),
    // One statement: every timer still at its generation goes, atomically.
    finishTimers: st(
      "finish_timers",
      `DELETE FROM ${s}.timers t USING unnest($1::text[], $2::int8[]) AS f(name, generation)
       WHERE t.name = f.name AND t.generation = f.generation`,
    ),
    retryTimer: st(
      "retry_timer",
      `UPDATE ${s}.timers SET due_at = $1, attempts = $2, status = $3, last_error = $4 WHERE name = $5 AND generation = $6`,
    ),
    unparkTimer: st(
      "unpark_timer",
      `UPDATE ${s}.timers SET due_at = $2, attempts = 0, status = 'pending' WHERE name = $1 AND status = 'parked' RETURNING ${TIMER_COLUMNS}`,
    ),
    timersOfStatus: st(
      "timers_of_status",
      `SELECT ${TIMER_COLUMNS} FROM ${s}.timers WHERE status = $1 AND (due_at, name) > ($3, $4) ORDER BY due_at, name LIMIT $2`,
    ),
    // Both statuses, one index range each, merged by (due_at, name).
    allTimers: st(
      "all_timers",
      `(SELECT ${TIMER_COLUMNS} FROM ${s}.timers WHERE status = 'pending' AND (due_at, name) > ($2, $3) ORDER BY due_at, name LIMIT $1)
       UNION ALL
       (SELECT ${TIMER_COLUMNS} FROM ${s}.timers WHERE status = 'parked' AND (due_at, name) > ($2, $3) ORDER BY due_at, name LIMIT $1)
       ORDER BY due_at, name LIMIT $1`,
    ),
    pruneDedup: st("prune_dedup", `DELETE FROM ${s}.dedup WHERE at < $1`),
  };
}

export type Statements = ReturnType<typeof statements>;

/**
 * The statement and parameters listing the workflows a filter selects, or undefined when it selects
 * none (a limit of 0 or less, an empty `statuses`). The SQL text depends only on which filter
 * fields are set, so a few named statements serve every call. Ordering is by code point: the key
 * columns are COLLATE "C".
 */
export function workflowListQuery(
  schema: string,
  filter: WorkflowFilter,
): { statement: Statement; params: unknown[] } | undefined {
  const { name, step, afterId, afterName, limit } = filter;
  checkAfterId(filter);
  const statuses = filter.statuses && [...new Set(filter.statuses)];
  if (limit <= 0 || statuses?.length === 0) return undefined;
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (name !== undefined) where.push(`name = ${param(name)}`);
  if (statuses) where.push(`status = ANY(${param(statuses)}::text[])`);
  if (step !== undefined) where.push(`step = ${param(step)}`);
  if (afterName !== undefined) where.push(`(name, id) > (${param(afterName)}, ${param(afterId)})`);
  else if (afterId !== undefined) where.push(`id > ${param(afterId)}`);
  const text =
    `SELECT ${WORKFLOW_COLUMNS} FROM ${schema}.workflows` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    ` ORDER BY name, id LIMIT ${param(limit)}`;
  const shape = createHash("sha256").update(text).digest("hex").slice(0, 16);
  return { statement: { name: `sagaflow_list_workflows_${shape}`, text }, params };
}
