/**
 * The SQL text of a PostgreSQL commit (see ./postgres-commit.ts for the protocol it serves): the
 * instance locks and the state query sent with BEGIN, the one statement of writes and the feed
 * insert, each prepared once per connection.
 */
import pg from "pg";
import { FEED_LOCK_CLASS, lockInstancesSql } from "./postgres-locks.ts";

/** The feed's row kinds (the `kind` column). */
export const KIND_EVENT = 0;
export const KIND_KV = 1;
export const KIND_WORKFLOW = 2;

/** -1 where retention removed workflow (u.c, u.i) and its tombstone lasts, else NULL (the version of a record not there). */
function removedVersion(s: string): string {
  return `(SELECT -1 FROM ${s}.removed_workflows r WHERE r.name = u.c AND r.id = u.i)`;
}

/**
 * The checks of a commit in one round trip (`writeChecked`, `writeFeedChecked`; see `oneTripCommit`
 * in ./postgres-commit.ts), as a CTE `checks` whose one row is `ok` = true, or which fails the
 * statement, so the transaction, keeping nothing: every instance of the batch is as its write
 * expects (highest event seq, key-value and workflow versions; 0 = nothing stored), none of the
 * batch's idempotency keys is taken, every fence's lease has its token, and the rows the commit will
 * update are locked now without waiting (as the state query does: a row another session holds
 * fails the check instead of holding the commit up). The writes' CTEs are gated on it (`gate`), so
 * none of them touches a row before the checks passed. Its parameters, from $`first`: the
 * instances (component, id, expected seq, key-value version and workflow version, each null when
 * the write has none, whether it writes a snapshot), the idempotency keys (component, id, key), the
 * fences (lease, token).
 */
function checksCte(s: string, first: number): string {
  const $ = (k: number) => `$${first + k}`;
  return `checks AS MATERIALIZED (
          SELECT CASE WHEN
            NOT EXISTS (
              SELECT 1 FROM unnest(${$(0)}::text[], ${$(1)}::text[], ${$(2)}::int8[], ${$(3)}::int8[], ${$(4)}::int8[], ${$(5)}::bool[]) AS u(c, i, ev, kv, wf, sn)
              WHERE (u.ev IS NOT NULL AND coalesce((SELECT max(e.seq) FROM ${s}.events e WHERE e.component = u.c AND e.id = u.i AND e.kind = ${KIND_EVENT}), 0) <> u.ev)
                 OR (u.kv IS NOT NULL AND coalesce((SELECT k.version FROM ${s}.kv k WHERE k.component = u.c AND k.id = u.i), 0) <> u.kv)
                 OR (u.wf IS NOT NULL AND coalesce((SELECT w.version FROM ${s}.workflows w WHERE w.name = u.c AND w.id = u.i), ${removedVersion(s)}, 0) <> u.wf)
                 OR (coalesce(u.kv, 0) > 0 AND (SELECT true FROM ${s}.kv k WHERE k.component = u.c AND k.id = u.i FOR NO KEY UPDATE SKIP LOCKED) IS NULL)
                 OR (coalesce(u.wf, 0) > 0 AND (SELECT true FROM ${s}.workflows w WHERE w.name = u.c AND w.id = u.i FOR NO KEY UPDATE SKIP LOCKED) IS NULL)
                 -- Scalar lookups, not EXISTS: the planner may run an EXISTS as a hash of the whole table.
                 OR (u.sn AND (SELECT true FROM ${s}.snapshots p WHERE p.component = u.c AND p.id = u.i FOR UPDATE SKIP LOCKED) IS NULL
                     AND (SELECT true FROM ${s}.snapshots p WHERE p.component = u.c AND p.id = u.i) IS NOT NULL)
            )
            AND NOT EXISTS (
              SELECT 1 FROM unnest(${$(6)}::text[], ${$(7)}::text[], ${$(8)}::text[]) AS dk(c, i, key)
              JOIN ${s}.dedup d ON d.component = dk.c AND d.id = dk.i AND d.key = dk.key
            )
            AND NOT EXISTS (
              SELECT 1 FROM unnest(${$(9)}::text[], ${$(10)}::int8[]) AS f(lease, token)
              WHERE (SELECT x.token FROM ${s}.leases x WHERE x.name = f.lease FOR SHARE SKIP LOCKED) IS DISTINCT FROM f.token
            )
          THEN true
          -- Not a constant, so that the planner cannot fold (and raise) it: the error is raised only here.
          ELSE ('${CHECKS_FAILED} (backend ' || pg_backend_pid() || ')')::bool END AS ok
        )`;
}

/** The start of the error a commit's failed checks raise (see `checksCte`): the commit is then made in two round trips. */
export const CHECKS_FAILED = "sagaflow commit: the batch is not as its writes expect";

/** A writing CTE's filter on the checks: its rows are written only once they passed. */
function gate(checked: boolean, keyword: "WHERE" | "AND"): string {
  return checked ? ` ${keyword} (SELECT ok FROM checks)` : "";
}

/**
 * The SQL of a commit, with the schema's tables qualified (`s`, quoted; `schemaName` as given).
 * Prepared with SQL `PREPARE` once per connection (`prepare`) and run with `EXECUTE name(literals)`
 * (./postgres-literals.ts), so that each travels in a simple-query round trip with other statements:
 * the state query with BEGIN and the locks, the writes with the signal and COMMIT.
 */
export function commitSql(s: string, schemaName: string) {
  const readState = {
    name: "sagaflow_sql_commit_state",
    // Per instance (n, from 1): what its checks need, each an index lookup; the idempotency keys
    // of the batch that are taken, looked up by primary key and grouped by instance.
    text: `
        WITH taken AS (
          SELECT dk.n, array_agg(d.key) AS keys
          FROM unnest($6::text[], $7::text[], $8::text[], $9::int8[]) AS dk(c, i, key, n)
          JOIN ${s}.dedup d ON d.component = dk.c AND d.id = dk.i AND d.key = dk.key
          GROUP BY dk.n
        )
        SELECT u.n,
          CASE WHEN u.ev THEN (SELECT max(e.seq) FROM ${s}.events e WHERE e.component = u.c AND e.id = u.i AND e.kind = ${KIND_EVENT}) END AS max_seq,
          CASE WHEN u.kv THEN (SELECT k.version FROM ${s}.kv k WHERE k.component = u.c AND k.id = u.i) END AS kv_version,
          -- A workflow retention removed (its tombstone lasts) is at version -1: no new record expects it.
          CASE WHEN u.wf THEN coalesce((SELECT w.version FROM ${s}.workflows w WHERE w.name = u.c AND w.id = u.i), ${removedVersion(s)}) END AS wf_version,
          t.keys AS taken,
          -- Rows this commit will update, locked now without waiting: one that exists but cannot be
          -- locked is held by a session outside Sagaflow (Sagaflow's own writers of the instance are
          -- kept out by the instance lock), and the write is answered "locked".
          (u.kv AND EXISTS (SELECT 1 FROM ${s}.kv k WHERE k.component = u.c AND k.id = u.i)
             AND (SELECT true FROM ${s}.kv k WHERE k.component = u.c AND k.id = u.i FOR NO KEY UPDATE SKIP LOCKED) IS NULL)
          OR (u.wf AND EXISTS (SELECT 1 FROM ${s}.workflows w WHERE w.name = u.c AND w.id = u.i)
             AND (SELECT true FROM ${s}.workflows w WHERE w.name = u.c AND w.id = u.i FOR NO KEY UPDATE SKIP LOCKED) IS NULL)
          OR (u.sn AND EXISTS (SELECT 1 FROM ${s}.snapshots p WHERE p.component = u.c AND p.id = u.i)
             AND (SELECT true FROM ${s}.snapshots p WHERE p.component = u.c AND p.id = u.i FOR UPDATE SKIP LOCKED) IS NULL) AS locked
        FROM unnest($1::text[], $2::text[], $3::bool[], $4::bool[], $5::bool[], $10::bool[]) WITH ORDINALITY AS u(c, i, ev, kv, wf, sn, n)
        LEFT JOIN taken t ON t.n = u.n`,
  };
  const write = (checked: boolean) => ({
    name: checked ? "sagaflow_sql_commit_write_checked" : "sagaflow_sql_commit_write",
    // Every row of the commit in one statement (data-modifying CTEs), feed rows included.
    //
    // The feed rows go in last, under the feed lock (FEED_LOCK_CLASS in ./postgres-locks.ts): the
    // lock is a one-time filter (an InitPlan) of the feed insert, evaluated before it reads a row,
    // so before the sequence draws a position, and only once every other write of the statement
    // has run (the filter counts their rows first): the feed lock stays the last lock a commit
    // takes, and nobody holding it waits for anything but the disk. Not
    // `EXISTS (SELECT pg_advisory_xact_lock(…))`: the planner drops an EXISTS target list, lock and all.
    // Updates are made only at the version the check saw: should a count differ (a writer that
    // does not take the instance locks), the filter fails the statement, so the transaction, before
    // the feed lock is taken. A batch without feed rows takes no feed lock.
    // The positions (the sequence default) are drawn as the sorted rows are inserted, so they
    // ascend in the order given; the last SELECT fails the statement should they not, and gives them
    // in that order, as text ("1,2,3"; int8[] would come back as strings).
    // Parameters: the rows' columns $1-$56, the workflows' buckets $57 and traces $58, the feed
    // rows' traces $59, the snapshots' state versions $60; the checked statement's checks from $61.
    text: `
        WITH${checked ? `\n        ${checksCte(s, 61)},` : ""}
        snap AS (
          INSERT INTO ${s}.snapshots (component, id, seq, state, state_version)
          SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $60::int4[])${gate(checked, "WHERE")}
          ON CONFLICT (component, id) DO UPDATE SET seq = excluded.seq, state = excluded.state, state_version = excluded.state_version
          RETURNING 1
        ),
        kv_new AS (
          INSERT INTO ${s}.kv (component, id, version, state, deleted, at)
          SELECT u.c, u.i, u.v, u.s, u.d, $5 FROM unnest($6::text[], $7::text[], $8::int8[], $9::text[], $10::bool[]) AS u(c, i, v, s, d)${gate(checked, "WHERE")}
          RETURNING 1
        ),
        kv_upd AS (
          UPDATE ${s}.kv k SET version = u.v, state = u.s, deleted = u.d, at = $5
          FROM unnest($11::text[], $12::text[], $13::int8[], $14::text[], $15::bool[], $16::int8[]) AS u(c, i, v, s, d, prev)
          WHERE k.component = u.c AND k.id = u.i AND k.version = u.prev${gate(checked, "AND")}
          RETURNING 1
        ),
        wf_rows AS (
          SELECT * FROM unnest(
            $17::text[], $18::text[], $19::int8[], $20::text[], $21::text[], $22::text[], $23::text[], $24::int8[],
            $25::int8[], $26::int8[], $27::int8[], $28::text[], $29::text[], $30::text[], $31::int8[], $32::int8[], $33::int8[],
            $57::int4[], $58::text[]
          ) AS u(name, id, version, status, step, step_input, state, attempt, exec_id, due_at, deadline_at,
                 last_error, start_hash, start_reply, created_at, updated_at, prev, bucket, trace)${gate(checked, "WHERE")}
        ),
        wf_new AS (
          INSERT INTO ${s}.workflows (name, id, version, status, step, step_input, state, attempt, exec_id, due_at,
                                      deadline_at, last_error, start_hash, start_reply, created_at, updated_at, bucket, trace)
          SELECT name, id, version, status, step, step_input, state, attempt, exec_id, due_at,
                 deadline_at, last_error, start_hash, start_reply, created_at, updated_at, bucket, trace
          FROM wf_rows WHERE prev = 0
          RETURNING 1
        ),
        wf_upd AS (
          UPDATE ${s}.workflows w SET version = u.version, status = u.status, step = u.step, step_input = u.step_input,
            state = u.state, attempt = u.attempt, exec_id = u.exec_id, due_at = u.due_at, deadline_at = u.deadline_at,
            last_error = u.last_error, start_hash = u.start_hash, start_reply = u.start_reply,
            created_at = u.created_at, updated_at = u.updated_at, trace = coalesce(u.trace, w.trace)
          FROM wf_rows u
          WHERE u.prev <> 0 AND w.name = u.name AND w.id = u.id AND w.version = u.prev
          RETURNING 1
        ),
        hist AS (
          INSERT INTO ${s}.workflow_history (name, id, version, at, status, step, exec_id, attempt, detail)
          SELECT * FROM unnest($34::text[], $35::text[], $36::int8[], $37::int8[], $38::text[], $39::text[], $40::int8[], $41::int8[], $42::text[])${gate(checked, "WHERE")}
          RETURNING 1
        ),
        dd AS (
          INSERT INTO ${s}.dedup (component, id, key, request_hash, reply, at)
          SELECT * FROM unnest($43::text[], $44::text[], $45::text[], $46::text[], $47::text[], $48::int8[])${gate(checked, "WHERE")}
          RETURNING 1
        ),
        written AS (
          SELECT (SELECT count(*) FROM snap) + (SELECT count(*) FROM kv_new) + (SELECT count(*) FROM wf_new)
                   + (SELECT count(*) FROM hist) + (SELECT count(*) FROM dd) AS others,
                 (SELECT count(*) FROM kv_upd) AS kv_updated, (SELECT count(*) FROM wf_upd) AS wf_updated${checked ? "\n          FROM checks" : ""}
        ),
        feed AS (
          INSERT INTO ${s}.events (component, id, kind, seq, type, payload, at, trace)
          SELECT u.c, u.i, u.k, u.s, u.t, u.p, $5, u.tr
          FROM unnest($49::text[], $50::text[], $51::int2[], $52::int8[], $53::text[], $54::text[], $59::text[]) WITH ORDINALITY AS u(c, i, k, s, t, p, tr, n)
          WHERE (
            SELECT CASE
              WHEN w.others < 0 THEN false
              WHEN w.kv_updated <> $55::int8 OR w.wf_updated <> $56::int8 THEN
                ('sagaflow commit: a key-value state or workflow record changed under the instance lock '
                  || '(is something other than Sagaflow writing these tables?); nothing of this batch was kept; updated '
                  || w.kv_updated || '/' || $55::int8 || ' key-value states, ' || w.wf_updated || '/' || $56::int8 || ' workflows')::bool
              WHEN cardinality($49::text[]) = 0 THEN true
              ELSE (SELECT true FROM pg_advisory_xact_lock(${FEED_LOCK_CLASS}, hashtext(${pg.escapeLiteral(schemaName)})))
            END
            FROM written w
          )
          ORDER BY u.n
          RETURNING position
        )
        SELECT CASE
          WHEN coalesce(cardinality(f.p), 0) = cardinality($49::text[]) AND f.p IS NOT DISTINCT FROM f.sorted
            THEN coalesce(array_to_string(f.p, ','), '')
          ELSE ('sagaflow commit: feed positions came back out of order (' || coalesce(array_to_string(f.p, ', '), '') || '); nothing of this batch was kept')::bool::text
        END AS positions
        FROM (SELECT array_agg(position) AS p, array_agg(position ORDER BY position) AS sorted FROM feed) f`,
  });
  const writeFeed = (checked: boolean) => ({
    name: checked ? "sagaflow_sql_commit_feed_checked" : "sagaflow_sql_commit_feed",
    // Feed rows alone (events without idempotency keys or snapshots: plain entity commands): the
    // same insert, lock and check as in `write`, without its other tables, whose inserts and
    // updates cost their executor set-up even with no rows (a third of a one-event commit's
    // backend CPU, measured). Same parameters as `write`'s feed rows, from $1 (their traces $8);
    // the checked statement's checks from $9.
    text: `
        WITH${checked ? `\n        ${checksCte(s, 9)},` : ""}
        feed AS (
          INSERT INTO ${s}.events (component, id, kind, seq, type, payload, at, trace)
          SELECT u.c, u.i, u.k, u.s, u.t, u.p, $7, u.tr
          FROM unnest($1::text[], $2::text[], $3::int2[], $4::int8[], $5::text[], $6::text[], $8::text[]) WITH ORDINALITY AS u(c, i, k, s, t, p, tr, n)
          WHERE ${checked
            ? `(SELECT CASE WHEN c.ok THEN (SELECT true FROM pg_advisory_xact_lock(${FEED_LOCK_CLASS}, hashtext(${pg.escapeLiteral(schemaName)}))) END FROM checks c)`
            : `(SELECT true FROM pg_advisory_xact_lock(${FEED_LOCK_CLASS}, hashtext(${pg.escapeLiteral(schemaName)})))`}
          ORDER BY u.n
          RETURNING position
        )
        SELECT CASE
          WHEN coalesce(cardinality(f.p), 0) = cardinality($1::text[]) AND f.p IS NOT DISTINCT FROM f.sorted
            THEN coalesce(array_to_string(f.p, ','), '')
          ELSE ('sagaflow commit: feed positions came back out of order (' || coalesce(array_to_string(f.p, ', '), '') || '); nothing of this batch was kept')::bool::text
        END AS positions
        FROM (SELECT array_agg(position) AS p, array_agg(position ORDER BY position) AS sorted FROM feed) f`,
  });
  const all = {
    lockInstances: lockInstancesSql, readState,
    write: write(false), writeFeed: writeFeed(false), writeChecked: write(true), writeFeedChecked: writeFeed(true),
  };
  return {
    ...all,
    /** Prepares them on a connection (once: prepared statements last as long as the session). */
    prepare: Object.values(all).map((st) => `PREPARE ${st.name} AS ${st.text}`).join(";\n"),
  } as const;
}

export type CommitSql = ReturnType<typeof commitSql>;
