import type { QueryResultRow } from "pg";
import { ReadBatcher, rowsByKey } from "./postgres-read-batch.ts";
import type { Statement, Statements } from "./postgres-statements.ts";
import type { EventRow, WorkflowRow } from "../rows.ts";

export interface KvRow {
  version: number;
  state: string | null;
  deleted: boolean;
}

export interface DedupRow {
  key: string;
  request_hash: string;
  reply: string;
  at: number;
}

type Key = { component: string; id: string };
type Rows = <R extends QueryResultRow>(statement: Statement, values: unknown[]) => Promise<R[]>;

/**
 * The point reads a node makes for every command turn and step call, batched while others of
 * their kind are in flight (./postgres-read-batch.ts): one statement for one read, as before;
 * one for many under load. `sql` is read at each batch (the statements are the store's).
 */
export function pointReads(sql: () => Statements, rows: Rows) {
  const many = async <R extends QueryResultRow & { n: number }>(statement: Statement, count: number, values: unknown[]) =>
    rowsByKey(count, await rows<R>(statement, values));
  const firstOf = <R>(found: R[][]): Array<R | undefined> => found.map((r) => r[0]);
  return {
    events: new ReadBatcher<Key & { afterSeq: number; limit: number }, EventRow[]>(async (keys) => {
      if (keys.length === 1) {
        const [k] = keys as [Key & { afterSeq: number; limit: number }];
        return [await rows<EventRow>(sql().readEvents, [k.component, k.id, k.afterSeq, k.limit])];
      }
      return many<EventRow & { n: number }>(sql().readEventsOf, keys.length, [
        keys.map((k) => k.component), keys.map((k) => k.id), keys.map((k) => k.afterSeq), keys.map((k) => k.limit),
      ]);
    }),
    kv: new ReadBatcher<Key, KvRow | undefined>(async (keys) => {
      if (keys.length === 1) return [(await rows<KvRow>(sql().loadKv, [keys[0]!.component, keys[0]!.id]))[0]];
      return firstOf(await many<KvRow & { n: number }>(sql().loadKvOf, keys.length, [keys.map((k) => k.component), keys.map((k) => k.id)]));
    }),
    dedup: new ReadBatcher<Key & { key: string }, DedupRow | undefined>(async (keys) => {
      if (keys.length === 1) return [(await rows<DedupRow>(sql().findDedup, [keys[0]!.component, keys[0]!.id, keys[0]!.key]))[0]];
      return firstOf(await many<DedupRow & { n: number }>(sql().findDedupOf, keys.length, [
        keys.map((k) => k.component), keys.map((k) => k.id), keys.map((k) => k.key),
      ]));
    }),
    workflow: new ReadBatcher<Key, WorkflowRow | undefined>(async (keys) => {
      if (keys.length === 1) return [(await rows<WorkflowRow>(sql().loadWorkflow, [keys[0]!.component, keys[0]!.id]))[0]];
      return firstOf(await many<WorkflowRow & { n: number }>(sql().loadWorkflowOf, keys.length, [keys.map((k) => k.component), keys.map((k) => k.id)]));
    }),
  };
}
