/**
 * What the parts of the store contract share (./contract.ts, ./contract-workflows.ts,
 * ./contract-feed.ts, ./contract-timers.ts): the `withStore` they are given, and building and
 * committing writes through the port.
 */
import assert from "node:assert/strict";
import type { DedupRecord, InstanceWrite, NewEvent, Store, StoredReply, WorkflowRecord, WorkflowTransition, WriteOutcome } from "./port.ts";

/** Runs `fn` on a fresh, migrated store and closes it afterwards. */
export type WithStore = (fn: (store: Store) => Promise<void>) => Promise<void>;

export const conflictOutcome: WriteOutcome = { ok: false, reason: "conflict" };

export function ev(type: string, payload: unknown): NewEvent {
  return { type, payload };
}

export function eventsWrite(component: string, id: string, expectedSeq: number, ...append: NewEvent[]): InstanceWrite {
  return { component, id, events: { expectedSeq, append }, dedup: [] };
}

export function kvWrite(component: string, id: string, expectedVersion: number, state: unknown, deleted = false): InstanceWrite {
  return { component, id, kv: { expectedVersion, state, deleted }, dedup: [] };
}

export function dedup(key: string, at: number, reply: StoredReply = { ok: true, value: key }): DedupRecord {
  return { key, requestHash: `hash-of-${key}`, reply, at };
}

/** The transition the engine would log for moving to `rec`. */
export function transitionOf(rec: WorkflowRecord, detail: string): WorkflowTransition {
  return { at: rec.updatedAt, status: rec.status, step: rec.step, execId: rec.execId, attempt: rec.attempt, detail };
}

export function workflowWrite(name: string, id: string, expectedVersion: number, rec: WorkflowRecord, detail = "t"): InstanceWrite {
  return { component: name, id, workflow: { expectedVersion, record: rec, transition: transitionOf(rec, detail) }, dedup: [] };
}

/** Commits and asserts that every write was accepted. */
export async function commitOk(store: Store, writes: InstanceWrite[]): Promise<{ ok: true; positions: number[] }[]> {
  const outcomes = await store.commit(writes);
  assert.equal(outcomes.length, writes.length);
  return outcomes.map((o, i) => {
    assert.ok(o.ok, `write ${i} (${writes[i]?.component}/${writes[i]?.id}) was refused`);
    return o;
  });
}
