// The admin API's own types, shared with the server (type-only: nothing of the server is bundled).
export type { ParkedViewEntry, ViewGeneration } from "../../src/store/view-port.ts";
export type { ConsumerReport, IdempotencyKey, LagHistory, NodesReport, ProcessMap, RatesReport, ViewReport } from "../../src/runtime/facades.ts";
export type { ParkedMessage, TimerRecord, WorkflowStateAt } from "../../src/store/port.ts";
export type { JournalEntry } from "../../src/runtime/workflow/journal-entries.ts";
/** The admin API's answers, as the console reads them (see src/runtime/facades.ts). */
import type { WorkflowShape } from "./lib/graph-layout.ts";
import type { JournalEntry } from "../../src/runtime/workflow/journal-entries.ts";

export type { WorkflowShape };

export interface StoredWorkflow {
  name: string;
  id: string;
  version: number;
  status: string;
  step: string | null;
  state: unknown;
  attempt: number;
  execId: number;
  dueAt: number | null;
  deadlineAt: number | null;
  /** `partial`: an attempt of the current step failed after part of it took effect (kept, not undone). */
  lastError: { code: string; message: string; partial?: true } | null;
  createdAt: number;
  updatedAt: number;
}

export interface Transition {
  version: number;
  at: number;
  status: string;
  step: string | null;
  execId: number;
  attempt: number;
  detail: string;
}

export interface WorkflowDetail {
  /** `undoing`: a saga in its compensations, the step they are undoing (or stopped at). */
  workflow: StoredWorkflow & { startedBy: { subject: string | null; issuer: string } | null; undoing: string | null };
  /** What the admin API accepts now: the actions, and the step a retry may say was undone by hand. */
  operator: { actions: Array<"suspend" | "resume" | "retry" | "cancel" | "terminate">; undoneByHand: string | null; forward: string | null };
  history: Transition[];
  /** What its step executions made durable on their own (calls committed alone, timer changes, ctx.run results). */
  journal: JournalEntry[];
  journalFull?: true;
}

export interface Definitions {
  workflows: WorkflowShape[];
  entities: Array<{ name: string; kind: "entity" | "key-value" }>;
}

export interface StoredEvent {
  seq: number;
  position: number;
  type: string;
  payload: unknown;
  at: number;
}
