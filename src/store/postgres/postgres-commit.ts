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
 */
import pg, { type PoolClient, type QueryResult } from "pg";
import { workflowFeedPayload } from "../feed-payload.ts";
import { workflowBucket } from "../buckets.ts";
import { encode, encodeWorkflowRecord, type EncodedWorkflowRecord } from "../rows.ts";
import { lockInstancesStatement } from "./postgres-locks.ts";
import type { InstanceWrite, WorkflowTransition, WriteOutcome } from "../port.ts";
import type { Fence } from "../cluster-port.ts";
import { heldAmong, leaseTokensNoWaitStatement, lockedAmong } from "./postgres-fence.ts";
import { quoteIdent } from "./migrations.ts";
import { executeStatement, type LiteralValue } from "./postgres-literals.ts";
import type { Transaction } from "./transaction.ts";
import { CHECKS_FAILED, KIND_EVENT, KIND_KV, KIND_WORKFLOW, type CommitSql } from "./postgres-commit-sql.ts";

/** What a commit runs before its COMMIT; a test hook holds the transaction open here. */
export type BeforeCommitHook = (feedPositions: readonly number[]) => Promise<void>;

export interface CommitHooks {
  /** For tests: runs last before COMMIT. */
  beforeCommit?: BeforeCommitHook | undefined;
  /**
   * The statement that tells the other nodes what the commit wrote (its last feed position, given
   * by the SQL expression `positionSql`, and the workflows); it is sent with COMMIT.
   */
  notify?: ((positionSql: string, workflows: Array<[string, string]>) => string | undefined) | undefined;
}


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
function planInstances(encoded: readonly EncodedWrite[]): Pick<CommitPlan, "instances" | "all" | "dedupLookup"> {
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

function instanceOf(instances: Map<string, InstanceState>, component: string, id: string): InstanceState {
  const key = JSON.stringify([component, id]);
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


/** A write with its values already JSON text. */
interface EncodedWrite {
  component: string;
  id: string;
  events?: { expectedSeq: number; append: Array<{ type: string; payload: string | null; trace?: string }>; snapshot?: { seq: number; state: string | null } };
  kv?: { expectedVersion: number; state: string | null; deleted: boolean };
  workflow?: { expectedVersion: number; record: EncodedWorkflowRecord; transition: WorkflowTransition };
  dedup: Array<{ key: string; requestHash: string; reply: string; at: number }>;
  fence?: Fence;
  trace?: string;
  /** Writes that commit with this one, all or none, before it (InstanceWrite.together). */
  together?: EncodedWrite[];
}

/** A write's `together` writes, then the write: the order they are decided and written in. */
function withMembers(w: EncodedWrite): EncodedWrite[] {
  return w.together ? [...w.together, w] : [w];
}

/** Encodes every value of the batch, and copies what the commit keeps: throws before anything is sent. */
export function encodeWrites(writes: readonly InstanceWrite[]): EncodedWrite[] {
  return writes.map((w) => {
    const out = encodeWrite(w);
    if (w.together) {
      out.together = w.together.map((member) => {
        if (member.together) throw new TypeError("commit: a write's together writes cannot have together writes of their own");
        return encodeWrite(member);
      });
    }
    return out;
  });
}

function encodeWrite(w: InstanceWrite): EncodedWrite {
  const out: EncodedWrite = {
    component: w.component,
    id: w.id,
    dedup: w.dedup.map((d) => ({ key: d.key, requestHash: d.requestHash, reply: JSON.stringify(d.reply), at: d.at })),
  };
  if (w.fence) out.fence = { lease: w.fence.lease, token: w.fence.token };
  if (w.trace) out.trace = w.trace;
  if (w.events) {
    const { expectedSeq, append, snapshot } = w.events;
    out.events = { expectedSeq, append: append.map((e) => (e.trace ? { type: e.type, payload: encode(e.payload), trace: e.trace } : { type: e.type, payload: encode(e.payload) })) };
    if (snapshot) out.events.snapshot = { seq: snapshot.seq, state: encode(snapshot.state) };
  }
  if (w.kv) out.kv = { expectedVersion: w.kv.expectedVersion, state: encode(w.kv.state), deleted: w.kv.deleted };
  if (w.workflow) {
    const { expectedVersion, record: r, transition: t } = w.workflow;
    out.workflow = {
      expectedVersion,
      record: encodeWorkflowRecord(r),
      transition: { at: t.at, status: t.status, step: t.step ?? null, execId: t.execId, attempt: t.attempt, detail: t.detail },
    };
  }
  return out;
}

/** One instance as the batch sees it: the stored values, then the accepted writes of the batch on top. */
interface InstanceState {
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

interface FeedRow {
  component: string;
  id: string;
  kind: number;
  seq: number;
  type: string;
  payload: string | null;
  /** The W3C traceparent of the command that wrote it. */
  trace: string | null;
  /** The write it belongs to: its index in the batch, and `.m` for its m-th together write. */
  slot: string;
}

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
 * stored. Undefined when the batch does not qualify.
 */
export function oneTripCommit(sql: CommitSql, plan: CommitPlan, encoded: EncodedWrite[], at: number, hooks: CommitHooks): OneTripCommit | undefined {
  const writes = encoded.flatMap(withMembers);
  if (writes.some((w) => new Set(w.dedup.map((d) => d.key)).size !== w.dedup.length)) return undefined;
  // Per instance, what it is expected to hold: for events, key-value and workflow record, what the
  // batch's first write of each expects (its later ones, such as an eager start's start and first
  // transition, expect what the earlier ones leave, and are decided against that).
  const expected = new Map<string, { w: EncodedWrite; ev: number | null; kv: number | null; wf: number | null; sn: boolean }>();
  for (const w of writes) {
    const key = JSON.stringify([w.component, w.id]);
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

/** A batch decided: the statement writing what it keeps (none: nothing to write), the signal, and the outcomes once written. */
interface DecidedBatch {
  statement: string | undefined;
  signal: string | undefined;
  /** No write was refused. */
  allKept: boolean;
  /** The feed positions the statement gave (checked against the rows sent). */
  positions(result: QueryResult | undefined): number[];
  outcomes(result: QueryResult | undefined): WriteOutcome[];
}

/**
 * Decides each write in order (a write's `together` writes first, all or none) against the states
 * of `plan` (stored ones, or as expected by a one-trip commit, which passes its `checks` values:
 * the checked statements are used then) and the fences; builds the statement of what is kept.
 */
function decideBatch(
  sql: CommitSql,
  plan: CommitPlan,
  encoded: EncodedWrite[],
  at: number,
  hooks: CommitHooks,
  fences: { held: Set<string>; locked: Set<string> },
  checks?: LiteralValue[],
): DecidedBatch {
  const { instances } = plan;
  const heldFences = fences.held;
  const lockedFences = fences.locked;
  // What the accepted writes add, in order.
  const outcomes: Array<WriteOutcome | undefined> = [];
  const feed: FeedRow[] = [];
  const snapshots = new Map<InstanceState, { seq: number; state: string | null }>();
  const kvFinal = new Map<InstanceState, { version: number; state: string | null; deleted: boolean }>();
  const workflowFinal = new Map<InstanceState, { version: number; record: EncodedWorkflowRecord }>();
  const history: Array<{ name: string; id: string; version: number; t: WorkflowTransition }> = [];
  const dedupRows: Array<{ component: string; id: string } & EncodedWrite["dedup"][number]> = [];
  /** Decides `w` on top of what is accepted so far and, when it passes, adds what it writes; else its refusal. */
  const decide = (w: EncodedWrite, slot: string): WriteOutcome | undefined => {
    const state = instanceOf(instances, w.component, w.id);
    const { events, kv, workflow, dedup } = w;
    if (state.locked || (w.fence && lockedFences.has(w.fence.lease))) return { ok: false, reason: "locked" };
    if (w.fence && !heldFences.has(w.fence.lease)) return { ok: false, reason: "fenced" };
    const keys = new Set(dedup.map((d) => d.key));
    const refused =
      (events !== undefined && state.maxSeq !== events.expectedSeq) ||
      (kv !== undefined && state.kvVersion !== kv.expectedVersion) ||
      (workflow !== undefined && state.workflowVersion !== workflow.expectedVersion) ||
      // A known key, or the same key twice in one write.
      keys.size !== dedup.length ||
      dedup.some((d) => state.dedupKeys.has(d.key));
    if (refused) return { ok: false, reason: "conflict" };
    const { component, id } = w;
    const trace = w.trace ?? null;
    if (events) {
      for (const e of events.append) {
        feed.push({ component, id, kind: KIND_EVENT, seq: ++state.maxSeq, type: e.type, payload: e.payload, trace: e.trace ?? trace, slot });
      }
      if (events.snapshot) snapshots.set(state, events.snapshot);
    }
    if (kv) {
      const version = ++state.kvVersion;
      kvFinal.set(state, { version, state: kv.state, deleted: kv.deleted });
      feed.push({
        component, id, kind: KIND_KV, seq: version,
        type: kv.deleted ? "$deleted" : "$state", payload: kv.deleted ? "null" : kv.state, trace, slot,
      });
    }
    if (workflow) {
      const version = ++state.workflowVersion;
      const r = workflow.record;
      workflowFinal.set(state, { version, record: r });
      history.push({ name: component, id, version, t: workflow.transition });
      feed.push({
        component, id, kind: KIND_WORKFLOW, seq: version, type: "$state",
        payload: workflowFeedPayload(r.status, r.step, r.state), trace: trace ?? r.trace, slot,
      });
    }
    for (const d of dedup) {
      state.dedupKeys.add(d.key);
      dedupRows.push({ component, id, ...d });
    }
    return undefined;
  };

  // Decide each write in order (a write's `together` writes first, all or none); collect what the accepted ones write.
  encoded.forEach((w, index) => {
    if (!w.together) {
      outcomes.push(decide(w, `${index}`));
      return;
    }
    // Should one of the group be refused, what the others added is taken back.
    const undo = markFor(withMembers(w).map((m) => instanceOf(instances, m.component, m.id)));
    let refusal: WriteOutcome | undefined;
    w.together.forEach((member, m) => (refusal ??= decide(member, `${index}.${m}`)));
    refusal ??= decide(w, `${index}`);
    if (refusal) undo();
    outcomes.push(refusal);
  });

  /** Restores the decisions' state (these instances, the rows collected) to what it is now. */
  function markFor(touched: InstanceState[]): () => void {
    const lengths = [feed.length, history.length, dedupRows.length] as const;
    const saved = [...new Set(touched)].map((state) => ({
      state, maxSeq: state.maxSeq, kvVersion: state.kvVersion, workflowVersion: state.workflowVersion, dedupKeys: new Set(state.dedupKeys),
      snapshot: snapshots.get(state), kv: kvFinal.get(state), workflow: workflowFinal.get(state),
    }));
    const restore = <K, V>(map: Map<K, V>, key: K, value: V | undefined) => (value === undefined ? map.delete(key) : map.set(key, value));
    return () => {
      feed.length = lengths[0];
      history.length = lengths[1];
      dedupRows.length = lengths[2];
      for (const s of saved) {
        Object.assign(s.state, { maxSeq: s.maxSeq, kvVersion: s.kvVersion, workflowVersion: s.workflowVersion, dedupKeys: s.dedupKeys });
        restore(snapshots, s.state, s.snapshot);
        restore(kvFinal, s.state, s.kv);
        restore(workflowFinal, s.state, s.workflow);
      }
    };
  }

  let statement: string | undefined;
  const col = <T, R>(list: readonly T[], f: (x: T) => R): R[] => list.map(f);
  if (snapshots.size + kvFinal.size + workflowFinal.size + dedupRows.length === 0 && feed.length > 0) {
    statement = executeStatement(checks ? sql.writeFeedChecked.name : sql.writeFeed.name, [
      col(feed, (f) => f.component), col(feed, (f) => f.id), col(feed, (f) => f.kind), col(feed, (f) => f.seq),
      col(feed, (f) => f.type), col(feed, (f) => f.payload), at, col(feed, (f) => f.trace),
      ...(checks ?? []),
    ]);
  } else if (snapshots.size + kvFinal.size + workflowFinal.size + dedupRows.length + feed.length > 0) {
    const snaps = [...snapshots];
    const kvs = [...kvFinal];
    const kvNew = kvs.filter(([i]) => i.kvStored === 0);
    const kvUpd = kvs.filter(([i]) => i.kvStored !== 0);
    const wfs = [...workflowFinal];
    statement = executeStatement(checks ? sql.writeChecked.name : sql.write.name, [
      col(snaps, ([i]) => i.component), col(snaps, ([i]) => i.id), col(snaps, ([, s]) => s.seq), col(snaps, ([, s]) => s.state),
      at,
      col(kvNew, ([i]) => i.component), col(kvNew, ([i]) => i.id), col(kvNew, ([, k]) => k.version),
      col(kvNew, ([, k]) => k.state), col(kvNew, ([, k]) => k.deleted),
      col(kvUpd, ([i]) => i.component), col(kvUpd, ([i]) => i.id), col(kvUpd, ([, k]) => k.version),
      col(kvUpd, ([, k]) => k.state), col(kvUpd, ([, k]) => k.deleted), col(kvUpd, ([i]) => i.kvStored),
      col(wfs, ([i]) => i.component), col(wfs, ([i]) => i.id), col(wfs, ([, w]) => w.version),
      col(wfs, ([, w]) => w.record.status), col(wfs, ([, w]) => w.record.step), col(wfs, ([, w]) => w.record.stepInput),
      col(wfs, ([, w]) => w.record.state), col(wfs, ([, w]) => w.record.attempt), col(wfs, ([, w]) => w.record.execId),
      col(wfs, ([, w]) => w.record.dueAt), col(wfs, ([, w]) => w.record.deadlineAt), col(wfs, ([, w]) => w.record.lastError),
      col(wfs, ([, w]) => w.record.startHash), col(wfs, ([, w]) => w.record.startReply), col(wfs, ([, w]) => w.record.createdAt),
      col(wfs, ([, w]) => w.record.updatedAt), col(wfs, ([i]) => i.workflowStored),
      col(history, (h) => h.name), col(history, (h) => h.id), col(history, (h) => h.version), col(history, (h) => h.t.at),
      col(history, (h) => h.t.status), col(history, (h) => h.t.step), col(history, (h) => h.t.execId),
      col(history, (h) => h.t.attempt), col(history, (h) => h.t.detail),
      col(dedupRows, (d) => d.component), col(dedupRows, (d) => d.id), col(dedupRows, (d) => d.key),
      col(dedupRows, (d) => d.requestHash), col(dedupRows, (d) => d.reply), col(dedupRows, (d) => d.at),
      col(feed, (f) => f.component), col(feed, (f) => f.id), col(feed, (f) => f.kind), col(feed, (f) => f.seq),
      col(feed, (f) => f.type), col(feed, (f) => f.payload),
      kvUpd.length, wfs.filter(([i]) => i.workflowStored !== 0).length,
      col(wfs, ([i]) => workflowBucket(i.component, i.id)),
      col(wfs, ([, w]) => w.record.trace), col(feed, (f) => f.trace),
      ...(checks ?? []),
    ]);
  }
  // The signal carries the commit's last position: the last one this session drew from the
  // feed's sequence, read when the signal's statement runs (after the writes).
  let signal: string | undefined;
  if (hooks.notify && feed.length > 0) {
    const workflows: Array<[string, string]> = [];
    encoded.forEach((w, i) => {
      if (outcomes[i] !== undefined) return;
      for (const m of withMembers(w)) if (m.workflow) workflows.push([m.component, m.id]);
    });
    signal = hooks.notify(`currval(${pg.escapeLiteral(`${quoteIdent(plan.schema)}.events_position_seq`)}::regclass)`, workflows);
  }

  const positions = (result: QueryResult | undefined): number[] => {
    const found = statement === undefined ? [] : positionsOf(result);
    if (found.length !== feed.length) throw new Error(`commit: ${found.length} feed positions came back for ${feed.length} rows`);
    return found;
  };
  return {
    statement,
    signal,
    allKept: outcomes.every((o) => o === undefined),
    positions,
    outcomes(result) {
      const positionList = positions(result);
      const bySlot = new Map<string, number[]>();
      feed.forEach((f, i) => {
        let list = bySlot.get(f.slot);
        if (!list) bySlot.set(f.slot, (list = []));
        list.push(positionList[i]!);
      });
      return outcomes.map((o, i): WriteOutcome => {
        if (o) return o;
        const positions = bySlot.get(`${i}`) ?? [];
        const together = encoded[i]!.together;
        return together ? { ok: true, positions, together: together.map((_, m) => bySlot.get(`${i}.${m}`) ?? []) } : { ok: true, positions };
      });
    },
  };
}

/** A simple query's results: one result for one statement, an array for several. */
export function asResults(result: QueryResult | QueryResult[]): QueryResult[] {
  return Array.isArray(result) ? result : [result];
}

/** The positions the write statement gives, in the order of its feed rows ("1,2,3", or "" for none). */
function positionsOf(result: QueryResult | undefined): number[] {
  const text = (result?.rows[0] as { positions?: string } | undefined)?.positions ?? "";
  return text === "" ? [] : text.split(",").map(Number);
}
