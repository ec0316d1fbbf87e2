/** What the SQLite store's tests share: fresh database files, writes to commit, a second connection. */
import { after } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { InstanceWrite, WorkflowRecord } from "../port.ts";

/** A folder removed after the tests of the file; `freshPath()` names a new database file in it. */
export function tempDatabases(prefix: string): { freshPath: () => string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return { freshPath: () => join(dir, `test-${++n}.db`) };
}

/** One entity event of component "c" at `expectedSeq`. */
export function write(id: string, expectedSeq: number, payload: unknown): InstanceWrite {
  return { component: "c", id, events: { expectedSeq, append: [{ type: "x", payload }] }, dedup: [] };
}

/** A transfer workflow's record at `expectedVersion` + 1, with its transition. */
export function workflowWrite(id: string, expectedVersion: number, over: Partial<WorkflowRecord> = {}): InstanceWrite {
  const record: WorkflowRecord = {
    status: "running", step: "withdraw", stepInput: { amount: 5 }, state: { n: expectedVersion }, attempt: 0, execId: 1,
    dueAt: null, deadlineAt: null, lastError: null, startHash: "h", startReply: { id }, createdAt: 1000, updatedAt: 1000 + expectedVersion,
    ...over,
  };
  const transition = { at: record.updatedAt, status: record.status, step: record.step, execId: record.execId, attempt: record.attempt, detail: "t" };
  return { component: "transfer", id, workflow: { expectedVersion, record, transition }, dedup: [] };
}

/** Runs `fn` on a connection of its own to the file at `path`, closed afterwards. */
export function withFile<T>(path: string, options: Database.Options, fn: (db: Database.Database) => T): T {
  const db = new Database(path, options);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** The rows of `table` in the file at `path`. */
export function count(path: string, table: string): number {
  return withFile(path, { readonly: true }, (db) => db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number);
}
