/**
 * The workflow records of the memory store: each record at its latest version with its
 * transitions. Records are written by the store's commit, as `planWorkflow` encodes them.
 */
import { checkBuckets, workflowBucket } from "../buckets.ts";
import { checkAfterId } from "../checks.ts";
import { compareText } from "../collation.ts";
import { workflowFeedPayload } from "../feed-payload.ts";
import type { DueWorkflowsOf, InstanceWrite, StepsToRun, StoredWorkflow, WorkflowFilter, WorkflowRecord, WorkflowTransition } from "../port.ts";
import { decode, encodeWorkflowRecord, type EncodedWorkflowRecord } from "../rows.ts";
import type { WorkflowRef } from "../retention-port.ts";
import { instanceKey } from "./memory-values.ts";

/** A workflow record as kept: encoded as the SQL stores keep it (values as JSON text). */
interface WorkflowEntry extends EncodedWorkflowRecord {
  name: string;
  id: string;
  version: number;
  /** Oldest first; retention may have trimmed versions between the first and the newest kept. */
  history: (WorkflowTransition & { version: number })[];
}

/** A workflow write, encoded: the new record (without history), its transition and its feed payload. */
export interface PlannedWorkflow {
  entry: Omit<WorkflowEntry, "history">;
  transition: WorkflowTransition & { version: number };
  feed: string;
}

/** The workflow part of the port, in a Map. */
export class MemoryWorkflows {
  /** Keyed by `instanceKey(name, id)`, like the store's instances (a workflow shares its idempotency records with the instance there). */
  readonly #entries = new Map<string, WorkflowEntry>();

  load(name: string, id: string): StoredWorkflow | undefined {
    const entry = this.#entries.get(instanceKey(name, id));
    return entry && toWorkflow(entry);
  }

  list(filter: WorkflowFilter): StoredWorkflow[] {
    const { name, step, afterId, afterName, limit } = filter;
    checkAfterId(filter);
    const statuses = filter.statuses && new Set(filter.statuses);
    if (limit <= 0 || statuses?.size === 0) return [];
    const found: WorkflowEntry[] = [];
    for (const entry of this.#entries.values()) {
      if (name !== undefined && entry.name !== name) continue;
      if (statuses && !statuses.has(entry.status)) continue;
      if (step !== undefined && entry.step !== step) continue;
      if (afterId !== undefined) {
        const order = afterName === undefined ? 0 : compareText(entry.name, afterName);
        if (order < 0 || (order === 0 && compareText(entry.id, afterId) <= 0)) continue;
      }
      found.push(entry);
    }
    found.sort((a, b) => compareText(a.name, b.name) || compareText(a.id, b.id));
    return found.slice(0, limit).map(toWorkflow);
  }

  due(now: number, limit: number, { buckets, names }: DueWorkflowsOf): Array<{ name: string; id: string }> {
    checkBuckets(buckets);
    const held = new Set(buckets);
    const known = new Set(names);
    const found: Array<{ name: string; id: string }> = [];
    for (const entry of this.#entries.values()) {
      if (found.length >= limit) break;
      if (entry.status !== "running" && entry.status !== "paused") continue;
      if (!held.has(workflowBucket(entry.name, entry.id)) || !known.has(entry.name)) continue;
      const runNow = entry.status === "running" && entry.dueAt === null;
      if (runNow || (entry.dueAt !== null && entry.dueAt <= now) || (entry.deadlineAt !== null && entry.deadlineAt <= now)) {
        found.push({ name: entry.name, id: entry.id });
      }
    }
    return found;
  }

  nextDue(now: number, buckets: readonly number[]): number | undefined {
    checkBuckets(buckets);
    const held = new Set(buckets);
    let next: number | undefined;
    for (const entry of this.#entries.values()) {
      if (entry.status !== "running" && entry.status !== "paused") continue;
      if (!held.has(workflowBucket(entry.name, entry.id))) continue;
      for (const at of [entry.dueAt, entry.deadlineAt]) if (at !== null && at > now && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  stepsToRun(name: string): StepsToRun[] {
    const groups = new Map<string, string[]>();
    for (const entry of this.#entries.values()) {
      if (entry.name !== name) continue;
      let step: string | null = null;
      if (entry.status === "running" || entry.status === "suspended" || entry.status === "failed") step = entry.step;
      else if (entry.status === "paused") step = (decode(entry.stepInput) as { then?: string } | null)?.then ?? null;
      if (step !== null) groups.set(step, [...(groups.get(step) ?? []), entry.id]);
    }
    return [...groups]
      .sort(([a], [b]) => compareText(a, b))
      .map(([step, ids]) => {
        const sorted = ids.sort(compareText);
        return { step, count: ids.length, examples: sorted.length === 1 ? [sorted[0]!] : [sorted[0]!, sorted.at(-1)!] };
      });
  }

  history(name: string, id: string, limit: number, afterVersion: number): Array<WorkflowTransition & { version: number }> {
    const entry = this.#entries.get(instanceKey(name, id));
    if (!entry || limit <= 0) return [];
    const from = entry.history.findIndex((t) => t.version > afterVersion);
    return from < 0 ? [] : entry.history.slice(from, from + limit).map((t) => ({ ...t }));
  }

  /** Retention: see RetentionStore.trimHistories. */
  trimHistories(after: WorkflowRef, keepNewest: number, limit: number): { removed: number; next: WorkflowRef | undefined } {
    const order = (a: WorkflowRef, b: WorkflowRef) => compareText(a.name, b.name) || compareText(a.id, b.id);
    const page = [...this.#entries.values()].filter((e) => order(e, after) > 0).sort(order).slice(0, Math.max(0, limit));
    let removed = 0;
    let next = after;
    for (const entry of page) {
      const newestGone = entry.version - keepNewest;
      const gone = entry.history.filter((t) => t.version > 1 && t.version <= newestGone).slice(0, limit - removed);
      if (gone.length > 0) entry.history = entry.history.filter((t) => !gone.includes(t));
      removed += gone.length;
      if (removed >= limit && gone.length > 0) return { removed, next };
      next = { name: entry.name, id: entry.id };
    }
    return { removed, next: page.length < limit ? undefined : next };
  }

  /** Retention: removes at most `limit` instances of `name` that ended or were terminated before `before`, none `held`. */
  removeFinished(
    name: string,
    before: number,
    limit: number,
    held: (id: string) => boolean,
  ): Array<{ id: string; status: "ended" | "terminated"; endedAt: number }> {
    const found = [...this.#entries.entries()]
      .filter(([, e]) => e.name === name && (e.status === "ended" || e.status === "terminated") && e.updatedAt < before && !held(e.id))
      .sort(([, a], [, b]) => a.updatedAt - b.updatedAt)
      .slice(0, Math.max(0, limit));
    for (const [key] of found) this.#entries.delete(key);
    return found.map(([, e]) => ({ id: e.id, status: e.status as "ended" | "terminated", endedAt: e.updatedAt }));
  }

  /** The stored version of the workflow under `key`; 0 when there is none. */
  version(key: string): number {
    return this.#entries.get(key)?.version ?? 0;
  }

  /** Stores a planned write (checked against `version` by the caller) and logs its transition. */
  apply(key: string, planned: PlannedWorkflow): void {
    const stored = this.#entries.get(key);
    const history = stored?.history ?? [];
    history.push(planned.transition);
    // A trace, once kept, stays (as the SQL stores' coalesce does).
    this.#entries.set(key, { ...planned.entry, trace: planned.entry.trace ?? stored?.trace ?? null, history });
  }
}

/** Encodes a workflow write as the SQL stores do (absent values become null). */
export function planWorkflow(name: string, id: string, wf: NonNullable<InstanceWrite["workflow"]>): PlannedWorkflow {
  const { record, transition: t } = wf;
  const version = wf.expectedVersion + 1;
  const encoded = encodeWorkflowRecord(record);
  return {
    feed: workflowFeedPayload(encoded.status, encoded.step, encoded.state),
    entry: { name, id, version, ...encoded },
    transition: { version, at: t.at, status: t.status, step: t.step ?? null, execId: t.execId, attempt: t.attempt, detail: t.detail },
  };
}

function toWorkflow({ history: _history, trace, ...e }: WorkflowEntry): StoredWorkflow {
  const workflow: StoredWorkflow = {
    ...e,
    stepInput: decode(e.stepInput),
    state: decode(e.state),
    lastError: e.lastError === null ? null : (JSON.parse(e.lastError) as WorkflowRecord["lastError"]),
    startReply: decode(e.startReply),
  };
  if (trace) workflow.trace = trace;
  return workflow;
}
