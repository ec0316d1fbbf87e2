/**
 * The workflow records of the SQLite store: the `workflows` table (one row per instance, at
 * its latest version) and `workflow_history` (one row per version). Records are written by the
 * commit transaction (./sqlite-statements.ts), through `write`.
 */
import type Database from "better-sqlite3";
import { checkBuckets, workflowBucket } from "../buckets.ts";
import { checkAfterId } from "../checks.ts";
import { workflowFeedPayload } from "../feed-payload.ts";
import type { DueWorkflowsOf, InstanceWrite, StepsToRun, StoredWorkflow, WorkflowFilter, WorkflowTransition } from "../port.ts";
import { encode, encodeWorkflowRecord, toTransition, toWorkflow, type TransitionRow, type WorkflowRow } from "../rows.ts";

const WORKFLOW_COLUMNS =
  "name, id, version, status, step, step_input, state, attempt, exec_id, due_at, deadline_at, " +
  "last_error, start_hash, start_reply, created_at, updated_at, trace";

/** The workflow part of the port on `db`, whose tables must exist. */
export function prepareWorkflows(db: Database.Database) {
  const loadWorkflow = db.prepare(`SELECT ${WORKFLOW_COLUMNS} FROM workflows WHERE name = ? AND id = ?`);
  /** Listing statements by SQL text: one per filter shape (see workflowListQuery), prepared on first use. */
  const listWorkflows = new Map<string, Database.Statement>();
  const dueWorkflows = db.prepare(dueWorkflowsSql);
  const nextWorkflowDue = db.prepare(nextWorkflowDueSql);
  const stepsToRun = db.prepare(stepsToRunSql);
  const workflowHistory = db.prepare(
    `SELECT version, at, status, step, exec_id, attempt, detail FROM workflow_history
     WHERE name = ? AND id = ? AND version > ? ORDER BY version LIMIT ?`,
  );
  // The write statements check the expected version as they write (no read first): a new
  // record is inserted only where none exists, nor a tombstone (retention removed an instance of
  // that id: a repeated start must not run it again), an existing one updated only at the version
  // the writer saw. No row changed means a conflict. Both take the record's values in WORKFLOW_COLUMNS order.
  const insertWorkflow = db.prepare(
    `INSERT INTO workflows (${WORKFLOW_COLUMNS}, bucket) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
     WHERE NOT EXISTS (SELECT 1 FROM removed_workflows WHERE name = ? AND id = ?)
     ON CONFLICT (name, id) DO NOTHING`,
  );
  const updateWorkflow = db.prepare(
    `UPDATE workflows SET version = ?, status = ?, step = ?, step_input = ?, state = ?, attempt = ?,
       exec_id = ?, due_at = ?, deadline_at = ?, last_error = ?, start_hash = ?, start_reply = ?,
       created_at = ?, updated_at = ?, trace = coalesce(?, trace)
     WHERE name = ? AND id = ? AND version = ?`,
  );
  // A plain INSERT: the record's version was just claimed, so a clash here is a bug and aborts.
  const insertTransition = db.prepare(
    `INSERT INTO workflow_history (name, id, version, at, status, step, exec_id, attempt, detail)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );

  return {
    load(name: string, id: string): StoredWorkflow | undefined {
      const row = loadWorkflow.get(name, id) as WorkflowRow | undefined;
      return row && toWorkflow(row);
    },

    list(filter: WorkflowFilter): StoredWorkflow[] {
      const query = workflowListQuery(filter);
      if (!query) return [];
      let statement = listWorkflows.get(query.sql);
      if (!statement) {
        statement = db.prepare(query.sql);
        listWorkflows.set(query.sql, statement);
      }
      return (statement.all(...query.params) as WorkflowRow[]).map(toWorkflow);
    },

    due(now: number, limit: number, { buckets, names }: DueWorkflowsOf): Array<{ name: string; id: string }> {
      checkBuckets(buckets);
      if (limit <= 0 || buckets.length === 0 || names.length === 0) return [];
      return dueWorkflows.all({ now, limit, buckets: JSON.stringify(buckets), names: JSON.stringify(names) }) as Array<{ name: string; id: string }>;
    },

    nextDue(now: number, buckets: readonly number[]): number | undefined {
      checkBuckets(buckets);
      if (buckets.length === 0) return undefined;
      const row = nextWorkflowDue.get({ now, buckets: JSON.stringify(buckets) }) as { next: number | null };
      return row.next ?? undefined;
    },

    stepsToRun(name: string): StepsToRun[] {
      const rows = stepsToRun.all({ name }) as Array<{ step: string; count: number; first: string; last: string }>;
      return rows.map(({ step, count, first, last }) => ({ step, count, examples: first === last ? [first] : [first, last] }));
    },

    history(name: string, id: string, limit: number, afterVersion: number): Array<WorkflowTransition & { version: number }> {
      if (limit <= 0) return [];
      return (workflowHistory.all(name, id, afterVersion, limit) as TransitionRow[]).map(toTransition);
    },

    /**
     * Writes consecutive versions of one record (one, or an eager start's several, each expecting
     * the one before) if the first is at its expected version: the row once, with the last
     * record, and a transition per version. Returns each version's feed row seq and payload
     * (written by the caller, after the events); false (and nothing written) if not at that
     * version. Only inside the commit transaction.
     */
    write(name: string, id: string, versions: ReadonlyArray<NonNullable<InstanceWrite["workflow"]>>): Array<{ version: number; payload: string }> | false {
      const { expectedVersion } = versions[0]!;
      const version = expectedVersion + versions.length;
      // The row keeps the last record; of the earlier ones (an eager start's), only the feed's state.
      const r = encodeWorkflowRecord(versions.at(-1)!.record);
      const feedStates = versions.map((wf, i) => (i === versions.length - 1 ? r.state : encode(wf.record.state)));
      // The columns after (name, id).
      const values = [
        version, r.status, r.step, r.stepInput, r.state, r.attempt, r.execId,
        r.dueAt, r.deadlineAt, r.lastError, r.startHash, r.startReply, r.createdAt, r.updatedAt, r.trace,
      ];
      const changed = expectedVersion === 0
        ? insertWorkflow.run(name, id, ...values, workflowBucket(name, id), name, id).changes
        : updateWorkflow.run(...values, name, id, expectedVersion).changes;
      if (changed === 0) return false;
      return versions.map(({ transition: t }, i) => {
        insertTransition.run(name, id, expectedVersion + i + 1, t.at, t.status, t.step ?? null, t.execId, t.attempt, t.detail);
        const { status, step } = versions[i]!.record;
        return { version: expectedVersion + i + 1, payload: workflowFeedPayload(status, step ?? null, feedStates[i]) };
      });
    },
  };
}

/** The bucket list parameter (a JSON array) as a set SQLite iterates, one index range per bucket. */
// The names only filter (`+name`: never an index of their own; the primary key by name would read
// every instance of a name, ended or not).
const inBuckets = "bucket IN (SELECT value FROM json_each(@buckets)) AND +name IN (SELECT value FROM json_each(@names))";

/**
 * Workflows of the buckets with something to do at `now` (exported for the plan test): one index
 * range per bucket, status and column, read only as far as the limit. UNION ALL: a UNION would
 * sort every range whole to drop duplicates (a workflow both due and past its deadline, named
 * twice here). NULLs never compare <= @now; running with no due time is its own range.
 */
export const dueWorkflowsSql = [
  `SELECT name, id FROM workflows INDEXED BY workflows_due WHERE ${inBuckets} AND status = 'running' AND due_at IS NULL`,
  ...(["due", "deadline"] as const).flatMap((time) =>
    ["running", "paused"].map(
      (status) => `SELECT name, id FROM workflows INDEXED BY workflows_${time} WHERE ${inBuckets} AND status = '${status}' AND ${time}_at <= @now`,
    ),
  ),
].join(" UNION ALL ") + " LIMIT @limit";

/**
 * The earliest due time or deadline after `now` (exported for the plan test): per bucket, status
 * and column, the first entry of an index range (a correlated min() reads one row).
 */
export const nextWorkflowDueSql =
  "SELECT min(t) AS next FROM (" +
  ["due_at", "deadline_at"]
    .flatMap((column) =>
      ["running", "paused"].map(
        (status) => `SELECT (SELECT min(${column}) FROM workflows WHERE bucket = b.value AND status = '${status}' AND ${column} > @now) AS t FROM json_each(@buckets) b`,
      ),
    )
    .join(" UNION ALL ") +
  ")";

/**
 * The steps the workflows of @name not over will run next, grouped: the current step of running,
 * suspended and failed ones, the timeout step (`then`) of paused ones. By the status index.
 */
const stepsToRunSql = `
  SELECT step, count(*) AS count, min(id) AS first, max(id) AS last FROM (
    SELECT id, step FROM workflows WHERE status IN ('running', 'suspended', 'failed') AND name = @name
    UNION ALL
    SELECT id, json_extract(step_input, '$.then') FROM workflows WHERE status = 'paused' AND name = @name
  ) WHERE step IS NOT NULL GROUP BY step ORDER BY step`;

/**
 * The SQL and parameters listing the workflows a filter selects, or undefined when it selects
 * none (a limit of 0 or less, an empty `statuses`). The SQL text depends only on which filter
 * fields are set and on the number of statuses, so a few statements serve every call. Exported
 * for the tests, which check the query plans.
 */
export function workflowListQuery(filter: WorkflowFilter): { sql: string; params: unknown[] } | undefined {
  const { name, step, afterId, afterName, limit } = filter;
  checkAfterId(filter);
  const statuses = filter.statuses && [...new Set(filter.statuses)];
  // SQLite reads a negative LIMIT as "no limit".
  if (limit <= 0 || statuses?.length === 0) return undefined;
  const where: string[] = [];
  const params: unknown[] = [];
  if (name !== undefined) {
    where.push("name = ?");
    params.push(name);
  }
  if (statuses) {
    where.push(`status IN (${statuses.map(() => "?").join(", ")})`);
    params.push(...statuses);
  }
  if (step !== undefined) {
    where.push("step = ?");
    params.push(step);
  }
  if (afterName !== undefined) {
    where.push("(name, id) > (?, ?)");
    params.push(afterName, afterId);
  } else if (afterId !== undefined) {
    where.push("id > ?");
    params.push(afterId);
  }
  params.push(limit);
  // With statuses, always the status index: without statistics the planner prefers the primary
  // key for `name = ?` (it saves a sort), which reads every instance of the name, ended or not.
  const sql =
    `SELECT ${WORKFLOW_COLUMNS} FROM workflows${statuses ? " INDEXED BY workflows_status" : ""}` +
    (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
    " ORDER BY name, id LIMIT ?";
  return { sql, params };
}
