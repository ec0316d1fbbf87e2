/**
 * `commit()` on PostgreSQL: one transaction per call, a fixed handful of statements whatever the
 * number of writes (the group committer sends up to 1024 at once).
 *
 * 1. Every value is encoded to JSON text before the transaction starts: a value JSON cannot hold
 *    rejects the whole call and nothing is sent.
 * 2. BEGIN, then transaction-scoped advisory locks covering every instance (component, id) the
 *    batch writes, in one statement sent with BEGIN (`beginCommit`; ./postgres-locks.ts: at most
 *    64 locks, in one global order).
 *    Every Sagaflow writer of an instance holds them from here to COMMIT, on whatever node, so the
 *    checks below are exact: no other writer can change the instance's events, state, record or
 *    idempotency records meanwhile.
 * 3. One statement reads what the checks need, as of now (a new statement sees every commit of the
 *    previous lock holders): per instance the highest event seq, the key-value version, the
 *    workflow version, and which of the batch's idempotency keys are taken.
 * 4. The writes are decided in order in memory, each against the stored state plus the earlier
 *    accepted writes of the batch: a conflicting write is left out whole and reported, the others
 *    go on. A write's `together` writes (a workflow step's calls, with its transition) are decided
 *    just before it, and are left out with it, all of them, when any one of them is refused. This
 *    is "check, then insert under lock" rather than a SAVEPOINT per write: it needs no round trip
 *    per write, and nothing of a refused write is ever sent.
 * 5. One statement (data-modifying CTEs) writes snapshots, key-value states, workflow records and
 *    their history lines, and idempotency records. Updates are made only at the version the check
 *    saw, inserts are plain inserts: should anything have changed anyway (a writer that does not
 *    take the locks), the counts or a unique constraint fail the whole call instead of losing a write.
 * 6. The feed rows (events, then key-value states, then workflow states, write by write) are
 *    inserted last, under the feed lock (`FEED_LOCK_CLASS` in ./postgres-locks.ts: how readers
 *    never skip a position, Property 4). Their UNIQUE (component, id, kind, seq) constraint is the
 *    last line of defence for the events' expected seq.
 * 7. COMMIT, with the signal to the other nodes in the same round trip (delivered at COMMIT, or
 *    never). PostgreSQL's default synchronous_commit=on: it returns once the WAL is flushed.
 *
 * Two round trips in all: 2-3 travel together (`beginCommit`), and 5-7 (one statement for 5 and 6,
 * `commitSql().write`, then the signal and COMMIT); 4 runs in memory between them.
 *
 * Where each step is: 1 in ./postgres-commit-encode.ts, 2-3 in ./postgres-commit-plan.ts, 4 and
 * the values of 5-6 in ./postgres-commit-decide.ts, their SQL in ./postgres-commit-sql.ts; here,
 * the commit in two round trips (`writeBatch`) or, when its writes allow, in one (`oneTripCommit`).
 */
import type { PoolClient, QueryResult } from "pg";
import type { WriteOutcome } from "../port.ts";
import type { Transaction } from "./transaction.ts";
import { CHECKS_FAILED, type CommitSql } from "./postgres-commit-sql.ts";
import { withMembers, type EncodedWrite } from "./postgres-commit-encode.ts";
import { instanceKey, instanceOf, planInstances, type CommitPlan } from "./postgres-commit-plan.ts";
import { decideBatch, type CommitHooks } from "./postgres-commit-decide.ts";

export type { BeforeCommitHook, CommitHooks } from "./postgres-commit-decide.ts";

/** What the caller's transaction gives the commit. */
export interface CommitTransaction {
  /** What the statements sent with BEGIN (`beginCommit`) brought back. */
  begun: readonly QueryResult[];
  /** Sends statements, then COMMIT, in one round trip; their results. */
  commitWith: Transaction["commitWith"];
}

/**
 * Runs one commit in the transaction open on `client`, which the caller began with
 * `plan.text` (BEGIN, the instance locks, the fences, the state query), and commits it: the
 * writes, the signal and COMMIT go in one round trip. With a `beforeCommit` hook (tests), the
 * writes go first, then the hook runs, then the signal and COMMIT. Outcomes in the order of the writes.
 */
export async function writeBatch(
  client: PoolClient,
  sql: CommitSql,
  plan: CommitPlan,
  encoded: EncodedWrite[],
  at: number,
  hooks: CommitHooks,
  transaction: CommitTransaction,
): Promise<WriteOutcome[]> {
  const { begun, commitWith } = transaction;
  const { all } = plan;
  for (const row of plan.stateRows(begun)) {
    const state = all[row.n - 1]!;
    state.maxSeq = row.max_seq ?? 0;
    state.kvVersion = state.kvStored = row.kv_version ?? 0;
    state.workflowVersion = state.workflowStored = row.wf_version ?? 0;
    for (const key of row.taken ?? []) state.dedupKeys.add(key);
    state.locked = row.locked === true;
  }
  const decided = decideBatch(sql, plan, encoded, at, hooks, { held: plan.fencesHeld(begun), locked: plan.fencesLocked(begun) });
  const { statement, signal } = decided;
  let results: QueryResult[];
  if (hooks.beforeCommit) {
    // Tests: the writes, the hook, then the signal and COMMIT.
    results = statement === undefined ? [] : [asResults(await client.query(statement)).at(-1)!];
    await hooks.beforeCommit(decided.positions(results[0]));
    await commitWith(signal === undefined ? [] : [signal]);
  } else {
    results = await commitWith([statement, signal].filter((x) => x !== undefined));
  }
  return decided.outcomes(results[0]);
}

/**
 * The commit in one round trip, when its writes can be decided without reading first: each
 * instance appears once in the batch (together writes included) and none repeats an idempotency
 * key. The writes are decided as if everything were as they expect, and the checked write
 * statement (`checksCte` in ./postgres-commit-sql.ts) verifies that under the same locks, and fails
 * otherwise: BEGIN, the locks, the checked writes, the signal and COMMIT travel together. The
 * caller sends `text`; if the checks failed (`checksFailed`), nothing was kept, and the commit is
 * made in two round trips (`beginCommit`, `writeBatch`), which decide each write against what is
 * stored; the aborted transaction's ROLLBACK travels with the first of them (`oneTrip` in
 * ./postgres-connections.ts). Undefined when the batch does not qualify.
 */
export function oneTripCommit(sql: CommitSql, plan: CommitPlan, encoded: EncodedWrite[], at: number, hooks: CommitHooks): OneTripCommit | undefined {
  const writes = encoded.flatMap(withMembers);
  if (writes.some((w) => new Set(w.dedup.map((d) => d.key)).size !== w.dedup.length)) return undefined;
  // Per instance, what it is expected to hold: for events, key-value and workflow record, what the
  // batch's first write of each expects (its later ones, such as an eager start's start and first
  // transition, expect what the earlier ones leave, and are decided against that).
  const expected = new Map<string, { w: EncodedWrite; ev: number | null; kv: number | null; wf: number | null; sn: boolean }>();
  for (const w of writes) {
    const key = instanceKey(w.component, w.id);
    const e = expected.get(key) ?? { w, ev: null, kv: null, wf: null, sn: false };
    expected.set(key, e);
    if (w.events && e.ev === null) e.ev = w.events.expectedSeq;
    if (w.kv && e.kv === null) e.kv = w.kv.expectedVersion;
    if (w.workflow && e.wf === null) e.wf = w.workflow.expectedVersion;
    if (w.events?.snapshot !== undefined) e.sn = true;
  }
  const firsts = [...expected.values()];
  if (firsts.length !== plan.all.length) return undefined;
  // Fresh states, as the writes expect them (the plan's stay for the two-trip commit).
  const assumed: CommitPlan = { ...plan, ...planInstances(encoded) };
  for (const { w, ev, kv, wf } of firsts) {
    const state = instanceOf(assumed.instances, w.component, w.id);
    if (ev !== null) state.maxSeq = ev;
    if (kv !== null) state.kvVersion = state.kvStored = kv;
    if (wf !== null) state.workflowVersion = state.workflowStored = wf;
  }
  const fences = writes.flatMap((w) => (w.fence ? [w.fence] : []));
  const checks = [
    firsts.map((e) => e.w.component), firsts.map((e) => e.w.id),
    firsts.map((e) => e.ev), firsts.map((e) => e.kv), firsts.map((e) => e.wf), firsts.map((e) => e.sn),
    writes.flatMap((w) => w.dedup.map(() => w.component)), writes.flatMap((w) => w.dedup.map(() => w.id)), writes.flatMap((w) => w.dedup.map((d) => d.key)),
    fences.map((f) => f.lease), fences.map((f) => f.token),
  ];
  const decided = decideBatch(sql, assumed, encoded, at, hooks, { held: new Set(fences.map((f) => f.lease)), locked: new Set() }, checks);
  const { statement, signal } = decided;
  if (statement === undefined || !decided.allKept) return undefined;
  const statements = [...plan.head, statement, ...(signal === undefined ? [] : [signal]), "COMMIT"];
  return { text: statements.join(";\n"), outcomes: (results) => decided.outcomes(results[plan.head.length]) };
}

export interface OneTripCommit {
  /** BEGIN to COMMIT, one simple query. */
  text: string;
  /** The outcomes, from the results of `text`. */
  outcomes(results: readonly QueryResult[]): WriteOutcome[];
}

/** Whether `error` is the failure of a one-trip commit's checks (nothing was kept; commit in two trips). */
export function checksFailed(error: unknown): boolean {
  return error instanceof Error && error.message.includes(CHECKS_FAILED);
}

/** A simple query's results: one result for one statement, an array for several. */
export function asResults(result: QueryResult | QueryResult[]): QueryResult[] {
  return Array.isArray(result) ? result : [result];
}
