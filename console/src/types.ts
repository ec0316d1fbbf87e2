/** The admin API's answers, as the console reads them (see src/runtime/facades.ts). */
import type { WorkflowShape } from "./lib/graph-layout.ts";

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
  lastError: { code: string; message: string } | null;
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
  workflow: StoredWorkflow & { startedBy: { subject: string | null; issuer: string } | null };
  history: Transition[];
}

export interface Definitions {
  workflows: WorkflowShape[];
  entities: Array<{ name: string; kind: "entity" | "key-value" }>;
}

export interface ConsumerReport {
  name: string;
  source: string;
  offset: number;
  head: number;
  lag: number;
  lagIsAtLeast: boolean;
  parked: number;
}

export interface ParkedMessage {
  consumer: string;
  entry: { position: number; component: string; id: string; seq: number; type: string; payload: unknown; at: number };
  error: { code: string; message: string };
  attempts: number;
  parkedAt: number;
  blockedBy: number | null;
}

export interface ViewGeneration {
  generation: number;
  version: number;
  offset: number;
}

export interface ViewReport {
  name: string;
  version: number;
  head: number;
  active: ViewGeneration | null;
  lag: number | null;
  rebuilding: ViewGeneration | null;
  parked: number;
  lastError: string | null;
}

export interface ParkedViewEntry {
  view: string;
  position: number;
  generation: number;
  component: string;
  id: string;
  type: string;
  error: { code: string; message: string };
  attempts: number;
  parkedAt: number;
}

export interface TimerRecord {
  name: string;
  generation: number;
  dueAt: number;
  component: string;
  id: string;
  handler: string;
  input: unknown;
  attempts: number;
  status: "pending" | "parked";
  lastError: { code: string; message: string } | null;
  createdAt: number;
}

export interface NodesReport {
  self: string;
  clustered: boolean;
  leaseMs: number;
  nodes: Array<{ id: string; alive: boolean; heartbeatAgeMs: number; startedAt: number; info: Record<string, unknown>; leases: string[] }>;
  unheld: string[];
}

export interface ProcessMap {
  workflow: string;
  since: number;
  until: number;
  instances: number;
  truncated: boolean;
  steps: Array<{ step: string; passed: number; now: number; medianMs: number | null; p99Ms: number | null }>;
  edges: Array<{ from: string; to: string; count: number }>;
}

export interface StoredEvent {
  seq: number;
  position: number;
  type: string;
  payload: unknown;
  at: number;
}
