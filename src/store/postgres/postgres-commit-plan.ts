/**
 * How a commit's transaction begins (steps 2 and 3 of ./postgres-commit.ts): the batch's instances,
 * numbered in order of first write, and the one round trip that opens the transaction with its
 * bounds, locks the instances, reads the fences' lease rows and the instances' stored state; then
 * how to read what that round trip brought back.
 */
import type { QueryResult } from "pg";
import { lockInstancesStatement } from "./postgres-locks.ts";
import { heldAmong, leaseTokensNoWaitStatement, lockedAmong } from "./postgres-fence.ts";
import { quoteIdent } from "./migrations.ts";
import { executeStatement } from "./postgres-literals.ts";
import type { CommitSql } from "./postgres-commit-sql.ts";
import { withMembers, type EncodedWrite } from "./postgres-commit-encode.ts";

/** The bounds a commit's transaction runs with (SET LOCAL: they end with it). */
export interface CommitTimeouts {
  /** The longest one lock may be waited for (lock_timeout): beyond it the commit fails, keeping nothing. */
  lockTimeoutMs: number;
  /** The longest one statement may run (statement_timeout). */
  statementTimeoutMs: number;
}

/** `SET LOCAL` of the bounds, for the start of a transaction (whole numbers of ms, checked by the store). */
export function timeoutStatements(timeouts: CommitTimeouts): string[] {
  return [`SET LOCAL lock_timeout = ${Math.trunc(timeouts.lockTimeoutMs)}`, `SET LOCAL statement_timeout = ${Math.trunc(timeouts.statementTimeoutMs)}`];
}

/**
 * How a commit's transaction begins, in one round trip: BEGIN, the bounds, the plan mode, the
 * instance locks, the lease rows of the batch's fences, then the state query (in that order, the one
 * every commit keeps: a new statement sees every commit of the previous lock holders).
 *
 * The commit's statements have one shape whatever the values (arrays of them), so one generic plan
 * per connection serves them all. Left to itself PostgreSQL plans each execution afresh (a custom
 * plan, since the arrays' sizes make it look cheaper): a generic plan made a one-write commit 13%
 * faster (bench/postgres-commit.ts). SET LOCAL ends with the transaction, so other statements
 * (view queries above all) keep the default.
 *
 * Waiting: the instance locks are only ever held by other Sagaflow commits (short); rows that a
 * session outside Sagaflow may hold locked (lease rows here; key-value, workflow and snapshot rows
 * in the state query) are locked with SKIP LOCKED, and the writes that need a row held elsewhere
 * are answered `locked` instead of holding up the batch, the node's commit slot and its other
 * instances. Anything else that waits (a table lock, a conflicting uncommitted insert) is bounded by
 * lock_timeout and fails the commit as StoreUnavailableError `lock_timeout`.
 */
export function beginCommit(schema: string, sql: CommitSql, encoded: readonly EncodedWrite[], timeouts: CommitTimeouts): CommitPlan {
  const plan = planInstances(encoded);
  const { all, dedupLookup } = plan;
  const fences = encoded.flatMap(withMembers).flatMap((w) => (w.fence ? [w.fence] : []));
  const leases = leaseTokensNoWaitStatement(quoteIdent(schema), fences);
  const readState = executeStatement(sql.readState.name, [
    all.map((i) => i.component), all.map((i) => i.id),
    all.map((i) => i.needsEvents), all.map((i) => i.needsKv), all.map((i) => i.needsWorkflow),
    dedupLookup.components, dedupLookup.ids, dedupLookup.keys, dedupLookup.ns,
    all.map((i) => i.needsSnapshot),
  ]);
  const head = ["BEGIN", ...timeoutStatements(timeouts), "SET LOCAL plan_cache_mode = force_generic_plan", lockInstancesStatement(schema, all)];
  const statements = [...head];
  if (leases !== undefined) statements.push(leases);
  statements.push(readState);
  return {
    ...plan,
    schema,
    head,
    text: statements.join("; "),
    // The lease rows come just before the state query when there are fences.
    fencesHeld: (begun) => (leases === undefined ? new Set() : heldAmong(fences, begun.at(-2)!.rows)),
    fencesLocked: (begun) => (leases === undefined ? new Set() : lockedAmong(begun.at(-2)!.rows)),
    stateRows: (begun) => begun.at(-1)!.rows as StateRow[],
  };
}

/** A commit's instances, and how to read what its first round trip (`beginCommit`) brought back. */
export interface CommitPlan {
  /** The schema's name, as given. */
  schema: string;
  /** BEGIN and everything sent with it. */
  text: string;
  /** BEGIN, the bounds, the plan mode and the instance locks: how a one-trip commit begins. */
  head: string[];
  instances: Map<string, InstanceState>;
  all: InstanceState[];
  dedupLookup: { components: string[]; ids: string[]; keys: string[]; ns: number[] };
  /** The fenced leases still held. */
  fencesHeld(begun: readonly QueryResult[]): Set<string>;
  /** The fenced leases whose row another session holds locked. */
  fencesLocked(begun: readonly QueryResult[]): Set<string>;
  stateRows(begun: readonly QueryResult[]): StateRow[];
}

interface StateRow {
  n: number;
  max_seq: number | null;
  kv_version: number | null;
  wf_version: number | null;
  taken: string[] | null;
  locked: boolean | null;
}

/** One state per instance (component, id) of the batch, numbered from 1 in order of first write. */
export function planInstances(encoded: readonly EncodedWrite[]): Pick<CommitPlan, "instances" | "all" | "dedupLookup"> {
  const instances = new Map<string, InstanceState>();
  const dedupLookup: CommitPlan["dedupLookup"] = { components: [], ids: [], keys: [], ns: [] };
  for (const w of encoded.flatMap(withMembers)) {
    const state = instanceOf(instances, w.component, w.id);
    if (w.events) state.needsEvents = true;
    if (w.events?.snapshot) state.needsSnapshot = true;
    if (w.kv) state.needsKv = true;
    if (w.workflow) state.needsWorkflow = true;
    for (const d of w.dedup) {
      dedupLookup.components.push(w.component);
      dedupLookup.ids.push(w.id);
      dedupLookup.keys.push(d.key);
      dedupLookup.ns.push(state.n);
    }
  }
  return { instances, all: [...instances.values()], dedupLookup };
}

/** An instance's key in a batch's maps (no component name holds a NUL). */
export function instanceKey(component: string, id: string): string {
  return `${component}\u0000${id}`;
}

/** The state of instance (component, id), added with the next number when the batch has none yet. */
export function instanceOf(instances: Map<string, InstanceState>, component: string, id: string): InstanceState {
  const key = instanceKey(component, id);
  let state = instances.get(key);
  if (!state) {
    state = {
      component, id, n: instances.size + 1, needsEvents: false, needsKv: false, needsWorkflow: false, needsSnapshot: false, locked: false,
      maxSeq: 0, kvVersion: 0, kvStored: 0, workflowVersion: 0, workflowStored: 0, dedupKeys: new Set(),
    };
    instances.set(key, state);
  }
  return state;
}

/** One instance as the batch sees it: the stored values, then the accepted writes of the batch on top. */
export interface InstanceState {
  component: string;
  id: string;
  /** Its index (from 1) in the state query. */
  n: number;
  needsEvents: boolean;
  needsKv: boolean;
  needsWorkflow: boolean;
  needsSnapshot: boolean;
  /** A row the write needs is locked by another session (see beginCommit). */
  locked: boolean;
  maxSeq: number;
  kvVersion: number;
  /** The version stored before the batch: updates are made only at this version. */
  kvStored: number;
  workflowVersion: number;
  workflowStored: number;
  dedupKeys: Set<string>;
}
