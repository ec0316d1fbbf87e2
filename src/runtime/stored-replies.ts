import type { DedupRecord, Store, StoredReply } from "../store/port.ts";
import { isClientKey } from "./ids.ts";
import type { Pending } from "./pending.ts";

/**
 * The idempotency records a turn's keys stand for, and where a refusal decided again by an
 * operator's retry is recorded. A record is never overwritten (an earlier reply stays what it
 * was): a refusal decided again goes under a successor key, `{key}~1`, then `{key}~2`…, which
 * callers cannot send (the runtime's keys are refused to them), and a lookup follows them.
 */

/** What a turn without idempotency keys finds stored. */
export const noneStored: ReadonlyMap<string, DedupRecord> = new Map();

/**
 * The keys of a turn's calls whose records may be stored: all of them, but on a turn's first try
 * (`firstTry`) not those no earlier run sent (Pending.keyUnsent). Empty for most turns.
 */
export function keysToLookUp(turn: readonly Pending[], firstTry: boolean): readonly string[] {
  let keys: string[] | undefined;
  for (const p of turn) if (p.idempotencyKey !== undefined && !(firstTry && p.keyUnsent)) (keys ??= []).push(p.idempotencyKey);
  return keys ?? noKeys;
}

const noKeys: readonly string[] = [];

/** Idempotency records already stored for `keys` of one instance, looked up together (by the key sent). */
export async function storedReplies(store: Store, component: string, id: string, keys: readonly string[]): Promise<Map<string, DedupRecord>> {
  if (keys.length === 1) {
    // A turn's one keyed call, as most are: no Promise.all.
    const record = await latestRecord(store, component, id, keys[0]!);
    return record ? new Map([[keys[0]!, record]]) : new Map();
  }
  const distinct = [...new Set(keys)];
  const records = await Promise.all(distinct.map((key) => latestRecord(store, component, id, key)));
  return new Map(records.flatMap((record, i) => (record ? [[distinct[i]!, record] as const] : [])));
}

/**
 * The reply an earlier run kept under `key` to this same request (`requestHash`), when it was ok:
 * a stored refusal, or another request under the key, is left to the instance's turn (which
 * decides a refusal again for an operator's retry, or refuses the other request).
 */
export async function keptReply(store: Store, component: string, id: string, key: string, requestHash: string): Promise<StoredReply | undefined> {
  const record = await store.findDedup(component, id, key);
  return record?.reply.ok && record.requestHash === requestHash ? record.reply : undefined;
}

/** What a key stands for: its record, or, for a refusal decided again since, the last successor's. */
async function latestRecord(store: Store, component: string, id: string, key: string): Promise<DedupRecord | undefined> {
  let record = await store.findDedup(component, id, key);
  while (record && !record.reply.ok && !isClientKey(key)) {
    const next = await store.findDedup(component, id, refusalSuccessor(key, record.key));
    if (!next) break;
    record = next;
  }
  return record;
}

/**
 * Where a call's reply is recorded when an operator's retry (`decideRefusalAgain`) decides its
 * stored refusal again — the same request, not one decided earlier in this turn: the next
 * successor key. Undefined: the stored record, if any, answers as usual.
 */
export function decidedAgainUnder(
  call: { idempotencyKey: string | undefined; requestHash: string | undefined; decideRefusalAgain?: true },
  found: DedupRecord | undefined,
  decidedInTurn: boolean,
): string | undefined {
  const key = call.idempotencyKey;
  if (key === undefined || found === undefined || found.reply.ok || !call.decideRefusalAgain || decidedInTurn) return undefined;
  return found.requestHash === call.requestHash ? refusalSuccessor(key, found.key) : undefined;
}

/** `{key}~1` after the key itself, `{key}~(n+1)` after `{key}~n`. */
function refusalSuccessor(key: string, latest: string): string {
  return latest === key ? `${key}~1` : `${key}~${Number(latest.slice(key.length + 1)) + 1}`;
}
