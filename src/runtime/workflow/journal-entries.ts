import type { DedupRecord, Store, WorkflowTransition } from "../../store/port.ts";
import { journalComponent, type KeptEffect } from "./journal.ts";
import { workflowKeysPrefix } from "./step-context.ts";

/**
 * One thing a workflow's step execution made durable on its own, apart from its transition: a
 * call committed alone, a timer change, or a `ctx.run` result. A step that failed after these
 * keeps them; an operator undoing such a step by hand reads what to undo here.
 */
export type JournalEntry = {
  /** The step execution (a transition's `execId` in the history). */
  execution: number;
  /** Its step; null when neither the entry nor the history read with it says. */
  step: string | null;
  at: number;
  /** What it is kept under: a call's idempotency key (as its target holds it), a timer change's, a ctx.run's. */
  key: string;
} & (KeptEffect | { run: { name: string; result: unknown } } | { effect: "unnamed" });

/** At most this many entries are read: a workflow's journal is bounded by its steps' calls. */
export const journalLimit = 200;

/**
 * The journal of workflow `name` `id`, oldest execution first; `history` (transitions read with
 * it) names the step of an entry that does not (a `ctx.run` result). `full`: there may be more.
 */
export async function journalOf(store: Store, name: string, id: string, history: WorkflowTransition[]): Promise<{ entries: JournalEntry[]; full: boolean }> {
  const records = await store.listDedup(journalComponent, `${name}/${id}`, "", journalLimit);
  const prefix = workflowKeysPrefix(name, id);
  const stepOf = new Map(history.map((t) => [t.execId, t.step]));
  const entries = records.flatMap((record) => {
    const entry = entryOf(record, prefix, stepOf);
    return entry ? [entry] : [];
  });
  entries.sort((a, b) => a.execution - b.execution || a.at - b.at);
  return { entries, full: records.length === journalLimit };
}

/** `record` read as an entry; undefined for a key not under this workflow's (never written so). */
function entryOf(record: DedupRecord, prefix: string, stepOf: Map<number, string | null>): JournalEntry | undefined {
  if (!record.key.startsWith(prefix)) return undefined;
  const rest = record.key.slice(prefix.length);
  const execution = Number(rest.slice(0, rest.indexOf(":")));
  if (!Number.isInteger(execution)) return undefined;
  const value = record.reply.ok ? record.reply.value : undefined;
  const base = { execution, at: record.at, key: record.key };
  if (record.requestHash === "kept") {
    // Under the key of what it marks: a call's is the idempotency key its target holds.
    const marked = { ...base, key: record.key.replace(/:kept$/, "") };
    // Marks written before they said what they marked carry null.
    const mark = value as ({ step: string } & KeptEffect) | null;
    if (mark && ("call" in mark || "timer" in mark)) return { ...mark, ...marked, step: mark.step };
    return { ...marked, step: stepOf.get(execution) ?? null, effect: "unnamed" };
  }
  // A ctx.run result: `{stepKey}:run:{name}:{occurrence}`.
  const run = rest.slice(rest.indexOf(":") + 1);
  const name = run.startsWith("run:") ? run.slice("run:".length, run.lastIndexOf(":")) : run;
  return { ...base, step: stepOf.get(execution) ?? null, run: { name, result: value } };
}
