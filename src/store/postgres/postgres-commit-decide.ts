/**
 * Step 4 of ./postgres-commit.ts, in memory between the round trips: each write of the batch
 * decided in order against the instances' state (as stored, or as a one-trip commit expects it)
 * plus the earlier accepted writes, a write's `together` writes with it, all or none; then the one
 * statement that writes what is kept, the signal to the other nodes, and each write's outcome once
 * the statement has run.
 */
import pg, { type QueryResult } from "pg";
import { workflowFeedPayload } from "../feed-payload.ts";
import { workflowBucket } from "../buckets.ts";
import type { EncodedWorkflowRecord } from "../rows.ts";
import type { WorkflowTransition, WriteOutcome } from "../port.ts";
import type { SignalledInstance, SignalledWorkflow } from "../cluster-port.ts";
import { signalledInstance, signalledWorkflow } from "./postgres-cluster.ts";
import { quoteIdent } from "./migrations.ts";
import { executeStatement, type LiteralValue } from "./postgres-literals.ts";
import { KIND_EVENT, KIND_KV, KIND_WORKFLOW, type CommitSql } from "./postgres-commit-sql.ts";
import { withMembers, type EncodedWrite } from "./postgres-commit-encode.ts";
import { instanceKey, instanceOf, type CommitPlan, type InstanceState } from "./postgres-commit-plan.ts";

/** What a commit runs before its COMMIT; a test hook holds the transaction open here. */
export type BeforeCommitHook = (feedPositions: readonly number[]) => Promise<void>;

export interface CommitHooks {
  /** For tests: runs last before COMMIT. */
  beforeCommit?: BeforeCommitHook | undefined;
  /**
   * The statement that tells the other nodes what the commit wrote (its last feed position, given
   * by the SQL expression `positionSql`, the workflows, and the entities it changed); it is sent
   * with COMMIT.
   */
  notify?: ((positionSql: string, workflows: SignalledWorkflow[], instances: SignalledInstance[]) => string | undefined) | undefined;
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

/** A batch decided: the statement writing what it keeps (none: nothing to write), the signal, and the outcomes once written. */
export interface DecidedBatch {
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
export function decideBatch(
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
  const snapshots = new Map<InstanceState, { seq: number; state: string | null; stateVersion: number }>();
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
      // A known key (but one kept only if absent), or the same key twice in one write.
      keys.size !== dedup.length ||
      dedup.some((d) => !d.ifAbsent && state.dedupKeys.has(d.key));
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
      if (d.ifAbsent && state.dedupKeys.has(d.key)) continue;
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
      col(snaps, ([, s]) => s.stateVersion),
      ...(checks ?? []),
    ]);
  }
  // The signal carries the commit's last position: the last one this session drew from the
  // feed's sequence, read when the signal's statement runs (after the writes).
  let signal: string | undefined;
  if (hooks.notify && feed.length > 0) {
    // One entry per workflow, as its last version leaves it (an eager start writes several); and
    // the entities and key-value entities it changed.
    const workflows = new Map<string, SignalledWorkflow>();
    const instances = new Map<string, SignalledInstance>();
    encoded.forEach((w, i) => {
      if (outcomes[i] !== undefined) return;
      for (const m of withMembers(w)) {
        const key = instanceKey(m.component, m.id);
        if (m.workflow) workflows.set(key, signalledWorkflow(m.component, m.id, m.workflow.record));
        else if (m.kv || (m.events && m.events.append.length > 0)) instances.set(key, signalledInstance(instances.get(key), m.component, m.id, m));
      }
    });
    signal = hooks.notify(`currval(${pg.escapeLiteral(`${quoteIdent(plan.schema)}.events_position_seq`)}::regclass)`, [...workflows.values()], [...instances.values()]);
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

/** The positions the write statement gives, in the order of its feed rows ("1,2,3", or "" for none). */
function positionsOf(result: QueryResult | undefined): number[] {
  const text = (result?.rows[0] as { positions?: string } | undefined)?.positions ?? "";
  return text === "" ? [] : text.split(",").map(Number);
}
