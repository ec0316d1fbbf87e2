/**
 * What the PostgreSQL store tests share: the SAGAFLOW_POSTGRES_URL switch, fresh schemas dropped
 * after the run, a raw connection, and builders of writes.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { InstanceWrite, WorkflowRecord, WriteOutcome } from "../port.ts";
import type { PostgresStoreOptions } from "./postgres-options.ts";
import { PostgresStore } from "./postgres-store.ts";

/** Calls `register` with the URL when PostgreSQL tests are asked for; else says how to ask. */
export function whenPostgresAsked(register: (connectionString: string) => void): void {
  const url = process.env.SAGAFLOW_POSTGRES_URL;
  if (!url) {
    process.stderr.write(
      "PostgreSQL store tests not asked for: set SAGAFLOW_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run them\n",
    );
  } else {
    register(url);
  }
}

export interface Testbed {
  /** A schema name of this run, dropped by dropSchemas. */
  freshSchema(): string;
  newStore(options?: Partial<PostgresStoreOptions>): PostgresStore;
  rawClient(): Promise<pg.Client>;
  dropSchemas(): Promise<void>;
  withStore(fn: (store: PostgresStore) => Promise<void>, options?: Partial<PostgresStoreOptions>): Promise<void>;
}

export function testbed(connectionString: string): Testbed {
  const schemas: string[] = [];
  let counter = 0;
  const run = randomBytes(3).toString("hex");
  const freshSchema = (): string => {
    const schema = `sagaflow_test_${run}_${++counter}`;
    schemas.push(schema);
    return schema;
  };
  const newStore = (options: Partial<PostgresStoreOptions> = {}): PostgresStore =>
    new PostgresStore({ connectionString, schema: freshSchema(), poolSize: 4, ...options });

  /** A connection of the test's own, outside any store. */
  async function rawClient(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString });
    await client.connect();
    return client;
  }

  async function dropSchemas(): Promise<void> {
    const client = await rawClient();
    try {
      for (const schema of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    } finally {
      await client.end();
    }
  }

  async function withStore(fn: (store: PostgresStore) => Promise<void>, options: Partial<PostgresStoreOptions> = {}): Promise<void> {
    const store = newStore(options);
    try {
      await store.migrate();
      await fn(store);
    } finally {
      await store.close();
    }
  }

  return { freshSchema, newStore, rawClient, dropSchemas, withStore };
}

export function eventsWrite(component: string, id: string, expectedSeq: number, ...payloads: unknown[]): InstanceWrite {
  return { component, id, events: { expectedSeq, append: payloads.map((payload) => ({ type: "x", payload })) }, dedup: [] };
}

export function kvWrite(component: string, id: string, expectedVersion: number, state: unknown): InstanceWrite {
  return { component, id, kv: { expectedVersion, state, deleted: false }, dedup: [] };
}

export function workflowWrite(name: string, id: string, expectedVersion: number, n: number): InstanceWrite {
  const record: WorkflowRecord = {
    status: "running", step: "s", stepInput: n, state: { n }, attempt: 0, execId: 1, dueAt: null, deadlineAt: null,
    lastError: null, startHash: "h", startReply: null, createdAt: 1000, updatedAt: 1000,
  };
  const transition = { at: 1000, status: record.status, step: record.step, execId: 1, attempt: 0, detail: `by ${n}` };
  return { component: name, id, workflow: { expectedVersion, record, transition }, dedup: [] };
}

export function dedupRecord(key: string, n: number) {
  return { key, requestHash: `h${n}`, reply: { ok: true as const, value: n }, at: 1000 + n };
}

export async function commitOk(store: PostgresStore, writes: InstanceWrite[]): Promise<WriteOutcome[]> {
  const outcomes = await store.commit(writes);
  outcomes.forEach((o, i) => assert.ok(o.ok, `write ${i} (${writes[i]?.component}/${writes[i]?.id}) was refused`));
  return outcomes;
}

export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
