/**
 * Several nodes on one PostgreSQL schema: node heartbeats, leases with fencing tokens, and
 * signals between nodes (LISTEN/NOTIFY). PostgreSQL is the only source of truth: times are the
 * server's clock, a lease is a row, and no node decides anything from what another node says
 * without the database agreeing (see ./postgres-fence.ts for the writes' side).
 */
import { createHash } from "node:crypto";
import pg, { type Pool } from "pg";
import type { ClusterSignal, ClusterStore, LeaseRecord, NodeRecord, SignalledEvent, SignalledInstance, SignalledWorkflow } from "../cluster-port.ts";
import { finalStatuses, isLasting } from "../port.ts";
import type { EncodedWorkflowRecord } from "../rows.ts";
import type { RunInTransaction } from "./transaction.ts";
import { translatingErrors } from "./postgres-errors.ts";

/** The server's clock in epoch ms (clock_timestamp: the time now, not the transaction's start). */
const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
/** NOTIFY payloads must stay under 8,000 bytes; signals are split into parts below this. */
const MAX_PAYLOAD = 7_000;
const RECONNECT_MS = [100, 250, 500, 1_000, 2_000];

/** What a store hands the cluster: its pool, its quoted schema, and how to open a listening connection. */
export interface ClusterHost {
  pool: Pool;
  schema: string;
  /** The schema's name unquoted (the channel name is derived from it). */
  schemaName: string;
  connectionString: string;
  transaction: RunInTransaction;
}

/** The wire form of a signal: short keys, for NOTIFY's 8,000-byte payloads. */
interface WireSignal {
  n: string;
  p?: number;
  w?: SignalledWorkflow[];
  e?: SignalledInstance[];
  t?: number;
  /** The started timer's bucket. */
  b?: number;
  v?: string;
}

export class PostgresCluster implements ClusterStore {
  readonly #host: ClusterHost;
  readonly #channel: string;
  /** Set while listening: commits then signal the other nodes as this node. */
  #node: string | undefined;

  constructor(host: ClusterHost) {
    this.#host = host;
    // One channel per schema: nodes of other schemas on the same server never hear each other.
    this.#channel = `sagaflow_${createHash("sha256").update(host.schemaName).digest("hex").slice(0, 24)}`;
  }

  /** The node this store signals as, once `listen` was called. */
  get signallingAs(): string | undefined {
    return this.#node;
  }

  async heartbeat(node: string, startedAt: number, info: Record<string, unknown>): Promise<number> {
    const s = this.#host.schema;
    const { rows } = await translatingErrors(() => this.#host.pool.query<{ heartbeat_at: string }>(
      `INSERT INTO ${s}.nodes (id, started_at, heartbeat_at, info) VALUES ($1, $2, ${NOW_MS}, $3)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = ${NOW_MS}, info = excluded.info
       RETURNING heartbeat_at`,
      [node, startedAt, JSON.stringify(info)],
    ));
    return Number(rows[0]!.heartbeat_at);
  }

  async forgetNodes(node: string | undefined, forgetAfterMs: number): Promise<void> {
    const s = this.#host.schema;
    await translatingErrors(() => this.#host.pool.query(`DELETE FROM ${s}.nodes WHERE id = $1 OR heartbeat_at < ${NOW_MS} - $2`, [node ?? null, forgetAfterMs]));
  }

  async listNodes(): Promise<NodeRecord[]> {
    const s = this.#host.schema;
    const { rows } = await translatingErrors(() => this.#host.pool.query<{ id: string; started_at: number; heartbeat_at: number; info: string; age: number }>(
      `SELECT id, started_at, heartbeat_at, info, ${NOW_MS} - heartbeat_at AS age FROM ${s}.nodes ORDER BY id`,
    ));
    return rows.map((r) => ({
      id: r.id,
      startedAt: Number(r.started_at),
      heartbeatAt: Number(r.heartbeat_at),
      ageMs: Number(r.age),
      info: JSON.parse(r.info) as Record<string, unknown>,
    }));
  }

  async listLeases(): Promise<LeaseRecord[]> {
    const s = this.#host.schema;
    const { rows } = await translatingErrors(() => this.#host.pool.query<{ name: string; holder: string | null; token: number; remaining: number }>(
      `SELECT name, holder, token, expires_at - ${NOW_MS} AS remaining FROM ${s}.leases ORDER BY name`,
    ));
    return rows.map((r) => ({ name: r.name, holder: r.holder, token: Number(r.token), remainingMs: Number(r.remaining) }));
  }

  async acquireLeases(node: string, names: readonly string[], ttlMs: number): Promise<Map<string, number>> {
    const held = new Map<string, number>();
    if (names.length === 0) return held;
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`a lease's time must be a positive whole number of ms, got ${ttlMs}`);
    const s = this.#host.schema;
    const sorted = [...new Set(names)].sort();
    return this.#host.transaction(async (client) => {
      await client.query(
        `INSERT INTO ${s}.leases (name, holder, token, expires_at) SELECT n, NULL, 0, 0 FROM unnest($1::text[]) AS n
         ON CONFLICT (name) DO NOTHING`,
        [sorted],
      );
      // Row locks in name order, as fenced writes take theirs (FOR SHARE): no deadlock between them.
      await client.query(`SELECT name FROM ${s}.leases WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE`, [sorted]);
      const { rows } = await client.query<{ name: string; token: number }>(
        `UPDATE ${s}.leases SET
           token = CASE WHEN holder = $2 THEN token ELSE token + 1 END,
           holder = $2,
           expires_at = ${NOW_MS} + $3
         WHERE name = ANY($1::text[]) AND (holder = $2 OR holder IS NULL OR expires_at <= ${NOW_MS})
         RETURNING name, token`,
        [sorted, node, ttlMs],
      );
      for (const row of rows) held.set(row.name, Number(row.token));
      return held;
    });
  }

  async releaseLeases(node: string, names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    const s = this.#host.schema;
    const sorted = [...new Set(names)].sort();
    await this.#host.transaction(async (client) => {
      await client.query(`SELECT name FROM ${s}.leases WHERE name = ANY($1::text[]) AND holder = $2 ORDER BY name FOR UPDATE`, [sorted, node]);
      // The token moves on: a fenced write still in flight on this node now fails.
      await client.query(
        `UPDATE ${s}.leases SET holder = NULL, token = token + 1, expires_at = 0 WHERE name = ANY($1::text[]) AND holder = $2`,
        [sorted, node],
      );
    });
  }

  /**
   * The statement that sends `signal` (nothing when this store does not signal), with its values
   * written in as literals so that it travels in one round trip with COMMIT: PostgreSQL delivers
   * it at COMMIT, or never.
   */
  notifyStatement(signal: Omit<ClusterSignal, "node">): string | undefined {
    if (this.#node === undefined) return undefined;
    const channel = pg.escapeLiteral(this.#channel);
    return encodeSignal({ node: this.#node, ...signal })
      .map((payload) => `SELECT pg_notify(${channel}, ${pg.escapeLiteral(payload)})`)
      .join("; ");
  }

  /**
   * Like `notifyStatement`, for a commit whose feed position is not known when the statement is
   * written: `positionSql` (an SQL expression) gives it when the statement runs, so the statement
   * can be sent in the same round trip as the writes that draw the position.
   */
  notifyOfPositionStatement(positionSql: string, workflows: SignalledWorkflow[] | undefined, instances?: SignalledInstance[]): string | undefined {
    if (this.#node === undefined) return undefined;
    const channel = pg.escapeLiteral(this.#channel);
    // Each payload begins {"n":…,"p":0 (encodeSignal writes n, then p): the 0 is replaced by the position.
    const head = JSON.stringify({ n: this.#node, p: 0 }).slice(0, -2);
    return encodeSignal({
      node: this.#node,
      position: 0,
      ...(workflows && workflows.length > 0 ? { workflows } : {}),
      ...(instances && instances.length > 0 ? { instances } : {}),
    })
      .map((payload) => {
        if (!payload.startsWith(`${head}0`)) throw new Error(`unexpected signal encoding: ${payload.slice(0, 80)}`);
        const tail = payload.slice(head.length + 1);
        return `SELECT pg_notify(${channel}, ${pg.escapeLiteral(head)} || (${positionSql})::text || ${pg.escapeLiteral(tail)})`;
      })
      .join("; ");
  }

  async listen(node: string, onSignal: (signal: ClusterSignal) => void, onReconnect: () => void): Promise<() => Promise<void>> {
    let client: pg.Client | undefined;
    let stopped = false;
    let attempt = 0;
    const connect = async (): Promise<void> => {
      const next = new pg.Client({ connectionString: this.#host.connectionString, application_name: "sagaflow-listen", keepAlive: true });
      next.on("notification", (message) => {
        if (message.channel !== this.#channel || message.payload === undefined || isOwnSignal(message.payload, node)) return;
        const signal = decodeSignal(message.payload);
        if (signal && signal.node !== node) onSignal(signal);
      });
      next.on("error", () => {
        // 'end' follows; reconnection happens there.
      });
      next.on("end", () => {
        if (stopped || client !== next) return;
        client = undefined;
        void reconnect();
      });
      await next.connect();
      await next.query(`LISTEN "${this.#channel}"`);
      client = next;
    };
    const reconnect = async (): Promise<void> => {
      while (!stopped) {
        await new Promise((r) => setTimeout(r, RECONNECT_MS[Math.min(attempt++, RECONNECT_MS.length - 1)]));
        if (stopped) return;
        try {
          await connect();
          attempt = 0;
          onReconnect();
          return;
        } catch {
          // The server is still away: try again after a longer pause.
        }
      }
    };
    await connect();
    this.#node = node;
    return async () => {
      stopped = true;
      this.#node = undefined;
      await client?.end().catch(() => {});
    };
  }
}

/** A state (or an instance's events) longer than this (bytes of JSON) is not sent in a signal: the node that needs it reads it. */
const MAX_SIGNALLED_STATE_BYTES = 1024;

/**
 * The signal's entry for an entity or key-value entity a write of the commit changed, given the
 * entry of the commit's earlier writes of it (a transfer from a wallet to itself writes it twice):
 * the version the write leaves, and while small, an entity's events from the commit's first write
 * on (while they follow each other) or a key-value entity's new state.
 */
export function signalledInstance(
  earlier: SignalledInstance | undefined,
  component: string,
  id: string,
  write: {
    events?: { expectedSeq: number; append: ReadonlyArray<{ type: string; payload: string | null }> };
    kv?: { expectedVersion: number; state: string | null; deleted: boolean };
  },
): SignalledInstance {
  let version: number;
  let changes: SignalledEvent[] | undefined;
  if (write.kv) {
    version = write.kv.expectedVersion + 1;
    changes = [write.kv.deleted ? ["$deleted", null] : ["$state", write.kv.state]];
  } else {
    const { expectedSeq, append } = write.events!;
    version = expectedSeq + append.length;
    const before = earlier === undefined ? [] : earlier[2] === expectedSeq ? earlier[3] : undefined;
    changes = before && [...before, ...append.map((e): SignalledEvent => [e.type, e.payload])];
  }
  const small = changes !== undefined && Buffer.byteLength(JSON.stringify(changes)) <= MAX_SIGNALLED_STATE_BYTES;
  return small ? [component, id, version, changes!] : [component, id, version];
}

/** An entry of a signal's instance list as received: what is well formed of it, or undefined. */
function receivedInstance(entry: unknown): SignalledInstance | undefined {
  if (!Array.isArray(entry) || typeof entry[0] !== "string" || typeof entry[1] !== "string") return undefined;
  const [component, id, version, events] = entry as unknown[];
  if (!Number.isSafeInteger(version) || (version as number) < 0) return [component as string, id as string];
  const wellFormed = Array.isArray(events) && events.every((e) => Array.isArray(e) && typeof e[0] === "string" && (typeof e[1] === "string" || e[1] === null));
  return wellFormed ? [component as string, id as string, version as number, events as SignalledEvent[]] : [component as string, id as string, version as number];
}

/** The signal's entry for a workflow as a commit leaves it (its end too, when small and lasting). */
export function signalledWorkflow(name: string, id: string, record: Pick<EncodedWorkflowRecord, "status" | "step" | "state">): SignalledWorkflow {
  const { status, step, state } = record;
  if (!isLasting(status) || (state !== null && Buffer.byteLength(state) > MAX_SIGNALLED_STATE_BYTES)) return [name, id, finalStatuses.has(status) ? 1 : 0];
  return [name, id, 1, [status, step, state]];
}

/** A signal as one or more NOTIFY payloads (workflow lists split so each part stays small). */
export function encodeSignal(signal: ClusterSignal): string[] {
  const base: WireSignal = { n: signal.node };
  if (signal.position !== undefined) base.p = signal.position;
  if (signal.timerDue !== undefined) base.t = signal.timerDue;
  if (signal.timerBucket !== undefined) base.b = signal.timerBucket;
  if (signal.view !== undefined) base.v = signal.view;
  const entries = [
    ...(signal.workflows ?? []).map((entry) => ({ key: "w" as const, entry })),
    ...(signal.instances ?? []).map((entry) => ({ key: "e" as const, entry })),
  ];
  if (entries.length === 0) return [JSON.stringify(base)];
  // Long lists go in several payloads, each with the base (the position first: see
  // notifyOfPositionStatement). NOTIFY's limit is in bytes: an id may be all 3-byte characters.
  const baseSize = Buffer.byteLength(JSON.stringify(base));
  const parts: string[] = [];
  let part: WireSignal = { ...base };
  let size = baseSize;
  for (const { key, entry } of entries) {
    const entrySize = Buffer.byteLength(JSON.stringify(entry)) + 8; // its comma, and room for the list's key
    if (size > baseSize && size + entrySize > MAX_PAYLOAD) {
      parts.push(JSON.stringify(part));
      part = { ...base };
      size = baseSize;
    }
    ((part[key] ??= []) as unknown[]).push(entry);
    size += entrySize;
  }
  parts.push(JSON.stringify(part));
  return parts;
}

/**
 * Whether `payload` is one of `node`'s own signals, told without parsing it (encodeSignal writes
 * the node first): a node hears every commit of its own, and alone on a schema nothing else.
 */
export function isOwnSignal(payload: string, node: string): boolean {
  return payload.startsWith(`{"n":${JSON.stringify(node)}`);
}

export function decodeSignal(payload: string): ClusterSignal | undefined {
  try {
    const wire = JSON.parse(payload) as WireSignal;
    if (typeof wire.n !== "string") return undefined;
    return {
      node: wire.n,
      ...(typeof wire.p === "number" ? { position: wire.p } : {}),
      ...(Array.isArray(wire.w) ? { workflows: wire.w } : {}),
      ...(Array.isArray(wire.e) ? { instances: wire.e.map(receivedInstance).filter((entry) => entry !== undefined) } : {}),
      ...(typeof wire.t === "number" ? { timerDue: wire.t } : {}),
      ...(typeof wire.b === "number" ? { timerBucket: wire.b } : {}),
      ...(typeof wire.v === "string" ? { view: wire.v } : {}),
    };
  } catch {
    return undefined;
  }
}
