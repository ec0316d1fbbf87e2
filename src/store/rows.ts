/**
 * The rows the SQL stores (SQLite and PostgreSQL) read, and their mapping to port records. Both
 * adapters hand these over with numbers as JS numbers (PostgreSQL's int8 is parsed to a safe
 * integer by the adapter) and values as JSON text, SQL NULL standing for `undefined`.
 */
import type {
  FeedEntry,
  ParkedMessage,
  StoredEvent,
  StoredWorkflow,
  TimerRecord,
  WorkflowRecord,
  WorkflowStateAt,
  WorkflowStatus,
  WorkflowTransition,
} from "./port.ts";
import { jsonText } from "./unstorable-value.ts";

export interface EventRow {
  position: number;
  seq: number;
  type: string;
  payload: string | null;
  at: number;
}

export interface FeedRow extends EventRow {
  component: string;
  id: string;
  /** Absent in parked rows (they keep no trace). */
  trace?: string | null;
}

export interface ParkedRow extends FeedRow {
  consumer: string;
  error: string;
  attempts: number;
  parked_at: number;
  blocked_by: number | null;
}

export interface WorkflowRow {
  name: string;
  id: string;
  version: number;
  status: string;
  step: string | null;
  step_input: string | null;
  state: string | null;
  attempt: number;
  exec_id: number;
  due_at: number | null;
  deadline_at: number | null;
  last_error: string | null;
  start_hash: string;
  start_reply: string | null;
  created_at: number;
  updated_at: number;
  trace: string | null;
}

export interface TransitionRow {
  version: number;
  at: number;
  status: string;
  step: string | null;
  exec_id: number;
  attempt: number;
  detail: string;
}

export interface TimerRow {
  name: string;
  generation: number;
  due_at: number;
  component: string;
  id: string;
  handler: string;
  input: string | null;
  attempts: number;
  status: string;
  last_error: string | null;
  created_at: number;
  trace: string | null;
  call_key: string | null;
}

/**
 * How the SQLite and PostgreSQL stores keep a value: JSON text, SQL NULL standing for `undefined`,
 * so that `null` and "no value" both round-trip. Throws UnstorableValueError on what JSON cannot hold (a BigInt, a cycle).
 */
export function encode(value: unknown): string | null {
  return jsonText(value) ?? null;
}

export function decode(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

export function toEvent(row: EventRow): StoredEvent {
  return { type: row.type, payload: decode(row.payload), seq: row.seq, position: row.position, at: row.at };
}

export function toFeedEntry(row: FeedRow): FeedEntry {
  const entry: FeedEntry = {
    position: row.position,
    component: row.component,
    id: row.id,
    seq: row.seq,
    type: row.type,
    payload: decode(row.payload),
    at: row.at,
  };
  if (row.trace) entry.trace = row.trace;
  return entry;
}

export function toParked(row: ParkedRow): ParkedMessage {
  return {
    consumer: row.consumer,
    entry: toFeedEntry(row),
    error: JSON.parse(row.error) as ParkedMessage["error"],
    attempts: row.attempts,
    parkedAt: row.parked_at,
    blockedBy: row.blocked_by,
  };
}

export function toTimer(row: TimerRow): TimerRecord {
  const timer: TimerRecord = {
    name: row.name,
    generation: row.generation,
    dueAt: row.due_at,
    component: row.component,
    id: row.id,
    handler: row.handler,
    input: decode(row.input),
    attempts: row.attempts,
    status: row.status as TimerRecord["status"],
    lastError: row.last_error === null ? null : (JSON.parse(row.last_error) as TimerRecord["lastError"]),
    createdAt: row.created_at,
  };
  if (row.trace) timer.trace = row.trace;
  if (row.call_key) timer.callKey = row.call_key;
  return timer;
}

export function toWorkflow(row: WorkflowRow): StoredWorkflow {
  const workflow: StoredWorkflow = {
    name: row.name,
    id: row.id,
    version: row.version,
    status: row.status as WorkflowStatus,
    step: row.step,
    stepInput: decode(row.step_input),
    state: decode(row.state),
    attempt: row.attempt,
    execId: row.exec_id,
    dueAt: row.due_at,
    deadlineAt: row.deadline_at,
    lastError: row.last_error === null ? null : (JSON.parse(row.last_error) as WorkflowRecord["lastError"]),
    startHash: row.start_hash,
    startReply: decode(row.start_reply),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
  if (row.trace) workflow.trace = row.trace;
  return workflow;
}

export function toTransition(row: TransitionRow): WorkflowTransition & { version: number } {
  return {
    version: row.version,
    at: row.at,
    status: row.status as WorkflowStatus,
    step: row.step,
    execId: row.exec_id,
    attempt: row.attempt,
    detail: row.detail,
  };
}

/** A workflow record as the stores keep it: values as JSON text, absent fields as null. */
export interface EncodedWorkflowRecord {
  status: WorkflowStatus;
  step: string | null;
  stepInput: string | null;
  state: string | null;
  attempt: number;
  execId: number;
  dueAt: number | null;
  deadlineAt: number | null;
  lastError: string | null;
  startHash: string;
  startReply: string | null;
  createdAt: number;
  updatedAt: number;
  trace: string | null;
}

export function encodeWorkflowRecord(r: WorkflowRecord): EncodedWorkflowRecord {
  return {
    status: r.status,
    step: r.step ?? null,
    stepInput: encode(r.stepInput),
    state: encode(r.state),
    attempt: r.attempt,
    execId: r.execId,
    dueAt: r.dueAt ?? null,
    deadlineAt: r.deadlineAt ?? null,
    lastError: r.lastError == null ? null : JSON.stringify(r.lastError),
    startHash: r.startHash,
    startReply: encode(r.startReply),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    trace: r.trace ?? null,
  };
}

/** A workflow's feed row (`seq` = the record version, payload `{ status, step, state }`) as `Store.workflowStates` answers it. */
export function toWorkflowState(row: { seq: number; at: number; payload: string | null }): WorkflowStateAt {
  const { status, step, state } = decode(row.payload) as { status: WorkflowStatus; step: string | null; state?: unknown };
  return { version: row.seq, at: row.at, status, step, ...(state === undefined ? {} : { state }) };
}
