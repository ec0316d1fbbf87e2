/**
 * The workflow records of the SQLite store: the `workflows` table (one row per instance, at
 * its latest version) and `workflow_history` (one row per version). Records are written by the
 * commit transaction (./sqlite-statements.ts), through `write`.
 */
import type Database from "better-sqlite3";
import { checkAfterId } from "../checks.ts";
import { workflowFeedPayload } from "../feed-payload.ts";
import type { InstanceWrite, StoredWorkflow, WorkflowFilter, WorkflowTransition } from "../port.ts";
import { encodeWorkflowRecord, toTransition, toWorkflow, type TransitionRow, type WorkflowRow } from "../rows.ts";

const WORKFLOW_COLUMNS =
  "name, id, version, status, step, step_input, state, attempt, exec_id, due_at, deadline_at, " +
  "last_error, start_hash, start_reply, created_at, updated_at, trace";

/** The workflow part of the port on `db`, whose tables must exist. */
export function prepareWorkflows(db: Database.Database) {
  const loadWorkflow = db.prepare(`SELECT ${WORKFLOW_COLUMNS} FROM workflows WHERE name = ? AND id = ?`);
  /** Listing statements by SQL text: one per filter shape (see workflowListQuery), prepared on first use. */
  const listWorkflows = new Map<string, Database.Statement>();
  // UNION: a workflow both due and past its deadline is named once. NULLs never compare <= ?.
  const dueWorkflows = db.prepare(dueWorkflowsSql);
  const workflowHistory = db.prepare(
    `SELECT version, at, status, step, exec_id, attempt, detail FROM workflow_history
     WHERE name = ? AND id = ? ORDER BY version LIMIT ?`,
  );
  // The write statements check the expected version as they write (no read first): a new
  // record is inserted only where none exists, an existing one updated only at the version the
  // writer saw. No row changed means a conflict. Both take the record's values in WORKFLOW_COLUMNS order.
  const insertWorkflow = db.prepare(
    `INSERT INTO workflows (${WORKFLOW_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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

    due(now: number, limit: number): Array<{ name: string; id: string }> {
      if (limit <= 0) return [];
      return dueWorkflows.all({ now, limit }) as Array<{ name: string; id: string }>;
    },

    history(name: string, id: string, limit: number): Array<WorkflowTransition & { version: number }> {
      if (limit <= 0) return [];
      return (workflowHistory.all(name, id, limit) as TransitionRow[]).map(toTransition);
    },

    /**
     * Writes the record if it is at the expected version and returns its feed row's seq and
     * payload (written by the caller, after the events); false (and nothing written) if not.
     * Only inside the commit transaction.
     */
    write(name: string, id: string, wf: NonNullable<InstanceWrite["workflow"]>): { version: number; payload: string } | false {
      const { expectedVersion, record, transition: t } = wf;
      const version = expectedVersion + 1;
      const r = encodeWorkflowRecord(record);
      // The columns after (name, id).
      const values = [
        version, r.status, r.step, r.stepInput, r.state, r.attempt, r.execId,
        r.dueAt, r.deadlineAt, r.lastError, r.startHash, r.startReply, r.createdAt, r.updatedAt, r.trace,
      ];
      const changed = expectedVersion === 0
        ? insertWorkflow.run(name, id, ...values).changes
        : updateWorkflow.run(...values, name, id, expectedVersion).changes;
      if (changed === 0) return false;
      insertTransition.run(name, id, version, t.at, t.status, t.step ?? null, t.execId, t.attempt, t.detail);
      return { version, payload: workflowFeedPayload(r.status, r.step, r.state) };
    },
  };
}

/** Running or paused workflows due or past their deadline at `now` (exported for the plan test). */
export const dueWorkflowsSql = ["due_at", "deadline_at"]
  .flatMap((column) => ["running", "paused"].map((status) => `SELECT name, id FROM workflows WHERE status = '${status}' AND ${column} <= @now`))
  .join(" UNION ") + " LIMIT @limit";

/**
 * The SQL and parameters listing the workflows a filter selects, or undefined when it selects
 * none (a limit of 0 or less, an empty `statuses`). The SQL text depends only on which filter
 * fields are set and on the number of statuses, so a few statements serve every call. Exported
 * for the tests, which check the query plans.
 */
export function workflowListQuery(filter: WorkflowFilter): { sql: string; params: unknown[] } | undefined {
  const { name, step, afterId, limit } = filter;
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
  if (afterId !== undefined) {
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
