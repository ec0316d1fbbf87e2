/**
 * A commit's writes as it sends them (step 1 of ./postgres-commit.ts): every value encoded to JSON
 * text before the transaction starts, so that a value JSON cannot hold rejects the whole call and
 * nothing is sent, and a copy of what the commit keeps of each write and its `together` writes.
 */
import { encode, encodeWorkflowRecord, type EncodedWorkflowRecord } from "../rows.ts";
import type { InstanceWrite, WorkflowTransition } from "../port.ts";
import type { Fence } from "../cluster-port.ts";

/** A write with its values already JSON text. */
export interface EncodedWrite {
  component: string;
  id: string;
  events?: { expectedSeq: number; append: Array<{ type: string; payload: string | null; trace?: string }>; snapshot?: { seq: number; state: string | null; stateVersion: number } };
  kv?: { expectedVersion: number; state: string | null; deleted: boolean };
  workflow?: { expectedVersion: number; record: EncodedWorkflowRecord; transition: WorkflowTransition };
  /** `ifAbsent`: see DedupRecord.ifAbsent (the one-trip commit checks it absent like any; a taken one sends the commit to `writeBatch`, which leaves it out). */
  dedup: Array<{ key: string; requestHash: string; reply: string; at: number; ifAbsent?: true }>;
  fence?: Fence;
  trace?: string;
  /** Writes that commit with this one, all or none, before it (InstanceWrite.together). */
  together?: EncodedWrite[];
}

/** A write's `together` writes, then the write: the order they are decided and written in. */
export function withMembers(w: EncodedWrite): EncodedWrite[] {
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
    dedup: w.dedup.map((d) => ({ key: d.key, requestHash: d.requestHash, reply: encode(d.reply)!, at: d.at, ...(d.ifAbsent ? { ifAbsent: true as const } : {}) })),
  };
  if (w.fence) out.fence = { lease: w.fence.lease, token: w.fence.token };
  if (w.trace) out.trace = w.trace;
  if (w.events) {
    const { expectedSeq, append, snapshot } = w.events;
    out.events = { expectedSeq, append: append.map((e) => (e.trace ? { type: e.type, payload: encode(e.payload), trace: e.trace } : { type: e.type, payload: encode(e.payload) })) };
    if (snapshot) out.events.snapshot = { seq: snapshot.seq, state: encode(snapshot.state), stateVersion: snapshot.stateVersion };
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
