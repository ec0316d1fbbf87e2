/**
 * What PostgreSQL did during a measured window, from PostgreSQL and /proc, where it can be told
 * exactly and at once:
 *
 * - write transactions: the transaction-id counter (pg_current_snapshot's xmax), which only
 *   transactions that write advance; read-only ones need no WAL flush and are not counted;
 * - WAL bytes: pg_current_wal_lsn() before and after (what pg_stat_wal's wal_bytes adds up);
 * - WAL flushes: fsync + fdatasync calls of the stores' backends and the WAL writer, counted with
 *   `perf stat` where it is permitted (as the SQLite benches count theirs), of the backends open
 *   when the window starts (one that replaces them meanwhile is not counted);
 * - CPU: of the stores' backends (found by their application_name) and of PostgreSQL's
 *   background processes (WAL writer, checkpointer, autovacuum, …), from /proc.
 *
 * Not used: pg_stat_database (xact_commit) and pg_stat_wal (wal_sync). Backends add their counts
 * to those at most once a second while busy and up to 10 s later when idle, so a few seconds'
 * difference between two readings is off by an unknown part.
 *
 * The first two are of the whole server: other clients' writes meanwhile are counted too
 * (otherCpuPct tells whether something else was busy).
 */
import type pg from "pg";
import { cpuMs, fsyncsCounted, fsyncWindow, round } from "./load.ts";
import { benchClient, freshSchema, type BenchSchema } from "./postgres-schema.ts";
import type { BenchProgram } from "./program.ts";

export interface PostgresUsage {
  writeXacts: number;
  walBytes: number;
  /** null without perf. */
  walSyncs: number | null;
  backendCpuMs: number;
  backgroundCpuMs: number;
  /** The stores' connections (backends) at the end of the window. */
  backends: number;
}

type Role = "store" | "background" | "walwriter";

interface Mark {
  xid: string;
  lsn: string;
  cpu: Map<number, { role: Role; ms: number; ended?: boolean }>;
}

/** Watches one PostgreSQL server for the stores that connect as `appName`. */
export class PostgresWatch {
  private constructor(
    private readonly client: pg.Client,
    private readonly appName: string,
  ) {}

  static async open(url: string, appName: string): Promise<PostgresWatch> {
    const client = benchClient(url);
    await client.connect();
    return new PostgresWatch(client, appName);
  }

  /** Starts a window; start it after the warm-up, so that the stores' connections are open. */
  async start(): Promise<{ stop(): Promise<PostgresUsage> }> {
    const before = await this.mark(new Map());
    const syncers = [...before.cpu].filter(([, p]) => p.role !== "background").map(([pid]) => pid);
    const syncs = fsyncsCounted() && syncers.length > 0 ? await fsyncWindow(syncers) : undefined;
    // The store replaces its connections now and then (CONNECTION_LIFETIME_S): a backend that ends
    // during the window counts with what it had used when last seen (sampled every 250 ms).
    const seen = new Map<number, { role: Role; ms: number }>();
    let sampling = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = sampling.then(async () => {
        for (const [pid, p] of (await this.mark(before.cpu)).cpu) seen.set(pid, p);
      }).catch(() => {});
    }, 250);
    return {
      stop: async () => {
        clearInterval(sampler);
        await sampling;
        const walSyncs = (await syncs?.stop()) ?? null;
        const after = await this.mark(before.cpu);
        for (const [pid, p] of seen) if (!after.cpu.has(pid)) after.cpu.set(pid, { ...p, ended: true });
        const { rows } = await this.client.query<{ xacts: string; wal: string }>(
          "SELECT $1::bigint - $2::bigint AS xacts, pg_wal_lsn_diff($3::pg_lsn, $4::pg_lsn) AS wal",
          [after.xid, before.xid, after.lsn, before.lsn],
        );
        let backendCpuMs = 0;
        let backgroundCpuMs = 0;
        let backends = 0;
        for (const [pid, { role, ms, ended }] of after.cpu) {
          // A process that started during the window counts from 0; one that ended, up to when it was last seen.
          const used = ms - (before.cpu.get(pid)?.ms ?? 0);
          if (role === "store") {
            backendCpuMs += used;
            if (!ended) backends++;
          } else backgroundCpuMs += used;
        }
        return { writeXacts: Number(rows[0]!.xacts), walBytes: Number(rows[0]!.wal), walSyncs, backendCpuMs, backgroundCpuMs, backends };
      },
    };
  }

  /** How durable a commit is on this server, e.g. "synchronous_commit=on, fsync=on". */
  async durability(): Promise<string> {
    const { rows } = await this.client.query<{ sc: string; fsync: string }>(
      "SELECT current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync",
    );
    return `synchronous_commit=${rows[0]!.sc}, fsync=${rows[0]!.fsync}`;
  }

  async close(): Promise<void> {
    await this.client.end();
  }

  /** The counters now, and the CPU time of each backend of the stores and of each background process. */
  private async mark(known: Map<number, { role: Role; ms: number }>): Promise<Mark> {
    const { rows } = await this.client.query<{ xid: string; lsn: string; pid: number; backend_type: string; application_name: string }>(
      `SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xid, pg_current_wal_lsn()::text AS lsn, pid, backend_type, application_name
       FROM pg_stat_activity`,
    );
    const cpu = new Map<number, { role: Role; ms: number }>();
    for (const row of rows) {
      const role: Role | undefined =
        row.backend_type === "client backend"
          ? row.application_name === this.appName
            ? "store"
            : undefined
          : row.backend_type === "walwriter"
            ? "walwriter"
            : "background";
      const ms = role === undefined ? null : cpuMs(row.pid);
      if (role !== undefined && ms !== null) cpu.set(row.pid, { role: known.get(row.pid)?.role ?? role, ms });
    }
    return { xid: rows[0]!.xid, lsn: rows[0]!.lsn, cpu };
  }
}

/** A fresh schema (see freshSchema) and a watch on its server; `close` ends the watch and drops the schema. */
export async function watchedSchema(program: BenchProgram, label: string): Promise<{ schema: BenchSchema; watch: PostgresWatch; close(): Promise<void> }> {
  const schema = await freshSchema(program, label);
  const watch = await PostgresWatch.open(schema.url, schema.appName);
  const closeWatch = program.defer(() => watch.close());
  return {
    schema,
    watch,
    async close() {
      await closeWatch();
      await schema.drop();
    },
  };
}

/**
 * A window's figures per unit of work (`unit`: "Transfer", "Command"), e.g. pgWriteXactsPerTransfer.
 * CPU percentages: 100 = one core busy during `elapsedMs`.
 */
export function postgresFigures(usage: PostgresUsage, units: number, elapsedMs: number, unit: string): Record<string, number | null> {
  const per = (n: number, digits: number) => (units === 0 ? null : round(n / units, digits));
  const pct = (ms: number) => round((100 * ms) / elapsedMs, 0);
  return {
    // Transactions that wrote, whole server: each waits for its WAL flush (synchronous_commit=on).
    [`pgWriteXactsPer${unit}`]: per(usage.writeXacts, 2),
    [`walKbPer${unit}`]: per(usage.walBytes / 1024, 2),
    // fsync/fdatasync of the stores' backends + WAL writer; commits per flush > 1 is PostgreSQL's group commit.
    [`walFlushesPer${unit}`]: usage.walSyncs === null ? null : per(usage.walSyncs, 2),
    writeXactsPerWalFlush: usage.walSyncs ? round(usage.writeXacts / usage.walSyncs, 2) : null,
    pgBackendCpuPct: pct(usage.backendCpuMs),
    pgBackgroundCpuPct: pct(usage.backgroundCpuMs),
    [`pgCpuMsPer${unit}`]: per(usage.backendCpuMs + usage.backgroundCpuMs, 3),
    pgBackends: usage.backends,
  };
}
