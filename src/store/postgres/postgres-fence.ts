/**
 * Fencing on PostgreSQL: a fenced write checks, inside its own transaction, that its lease still
 * has the writer's token. The check reads the lease row FOR SHARE: a node taking the lease over
 * (an UPDATE of that row) waits until the fenced transaction has committed, so the new holder
 * starts from a state that includes it, and no fenced write commits after the lease changed hands.
 */
import pg, { type PoolClient, type QueryResultRow } from "pg";
import { LeaseLostError, type Fence } from "../cluster-port.ts";

/**
 * The statement that reads (and locks FOR SHARE) the lease rows of `fences`, with the names
 * written in as literals so that it can travel with BEGIN in one round trip. Undefined when there
 * is nothing to check.
 */
export function leaseTokensStatement(schema: string, fences: readonly Fence[]): string | undefined {
  if (fences.length === 0) return undefined;
  const names = [...new Set(fences.map((f) => f.lease))].sort().map((name) => pg.escapeLiteral(name));
  return `SELECT name, token FROM ${schema}.leases WHERE name IN (${names.join(", ")}) ORDER BY name FOR SHARE`;
}

/**
 * Like `leaseTokensStatement`, for a commit, which must not wait: a lease row locked by another
 * session (an operator's `SELECT … FOR UPDATE`) comes back with a null token instead of holding up
 * the commit, and the writes fenced by it are answered `locked`. A row that can be locked is
 * locked FOR SHARE and its token read as locked (the latest committed one).
 */
export function leaseTokensNoWaitStatement(schema: string, fences: readonly Fence[]): string | undefined {
  if (fences.length === 0) return undefined;
  const names = [...new Set(fences.map((f) => f.lease))].sort().map((name) => pg.escapeLiteral(name));
  return `SELECT l.name, (SELECT x.token FROM ${schema}.leases x WHERE x.name = l.name FOR SHARE SKIP LOCKED) AS token
  FROM ${schema}.leases l WHERE l.name IN (${names.join(", ")}) ORDER BY l.name`;
}

/** The leases among `fences` whose row another session holds locked, from the rows `leaseTokensNoWaitStatement` read. */
export function lockedAmong(rows: readonly QueryResultRow[]): Set<string> {
  return new Set(rows.filter((r) => r["token"] === null).map((r) => String(r["name"])));
}

/** The leases among `fences` still at their token, from the rows `leaseTokensStatement` read. */
export function heldAmong(fences: readonly Fence[], rows: readonly QueryResultRow[]): Set<string> {
  const tokens = new Map(rows.filter((r) => r["token"] !== null).map((r) => [String(r["name"]), Number(r["token"])]));
  return new Set(fences.filter((f) => tokens.get(f.lease) === f.token).map((f) => f.lease));
}

/** The leases among `fences` still at their token (each checked once). Call inside a transaction. */
export async function fencesHeld(client: Pick<PoolClient, "query">, schema: string, fences: readonly Fence[]): Promise<Set<string>> {
  const statement = leaseTokensStatement(schema, fences);
  if (statement === undefined) return new Set();
  return heldAmong(fences, (await client.query(statement)).rows);
}

/** Throws LeaseLostError unless `fence` (if given) is still held. Call inside a transaction. */
export async function checkFence(client: Pick<PoolClient, "query">, schema: string, fence: Fence | undefined): Promise<void> {
  if (fence === undefined) return;
  const held = await fencesHeld(client, schema, [fence]);
  if (!held.has(fence.lease)) throw new LeaseLostError(fence.lease);
}
