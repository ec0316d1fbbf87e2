/**
 * Fencing on PostgreSQL: a fenced write checks, inside its own transaction, that its lease still
 * has the writer's token. The check reads the lease row FOR SHARE: a node taking the lease over
 * (an UPDATE of that row) waits until the fenced transaction has committed, so the new holder
 * starts from a state that includes it, and no fenced write commits after the lease changed hands.
 */
import type { PoolClient } from "pg";
import { LeaseLostError, type Fence } from "../cluster-port.ts";

/** The leases among `fences` still at their token (each checked once). Call inside a transaction. */
export async function fencesHeld(client: Pick<PoolClient, "query">, schema: string, fences: readonly Fence[]): Promise<Set<string>> {
  const held = new Set<string>();
  if (fences.length === 0) return held;
  const names = [...new Set(fences.map((f) => f.lease))].sort();
  const { rows } = await client.query<{ name: string; token: number }>(
    `SELECT name, token FROM ${schema}.leases WHERE name = ANY($1::text[]) ORDER BY name FOR SHARE`,
    [names],
  );
  const tokens = new Map(rows.map((r) => [r.name, Number(r.token)]));
  for (const fence of fences) if (tokens.get(fence.lease) === fence.token) held.add(fence.lease);
  return held;
}

/** Throws LeaseLostError unless `fence` (if given) is still held. Call inside a transaction. */
export async function checkFence(client: Pick<PoolClient, "query">, schema: string, fence: Fence | undefined): Promise<void> {
  if (fence === undefined) return;
  const held = await fencesHeld(client, schema, [fence]);
  if (!held.has(fence.lease)) throw new LeaseLostError(fence.lease);
}
