/**
 * Which store a bench runs on (BENCH_STORE=sqlite|postgres) and, on PostgreSQL, a fresh schema
 * for each run, dropped afterwards (however the program ends).
 *
 * The stores under test connect with an application_name of their own (a connection string
 * parameter wins over the store's default), so that their backends can be told apart from
 * everyone else's in pg_stat_activity: see ./postgres-usage.ts.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { BenchProgram } from "./program.ts";

export type StoreKind = "sqlite" | "postgres";

/** BENCH_STORE: sqlite (the default) or postgres. */
export function storeKindEnv(): StoreKind {
  const raw = process.env["BENCH_STORE"] ?? "sqlite";
  if (raw === "sqlite" || raw === "postgres") return raw;
  throw new Error(`BENCH_STORE must be sqlite or postgres, not ${raw}`);
}

/** BENCH_POSTGRES_URL, by default the local test database. */
export const postgresUrlEnv = (): string => process.env["BENCH_POSTGRES_URL"] || "postgres://postgres@127.0.0.1:5432/test";

export interface BenchSchema {
  /** The server, as BENCH_POSTGRES_URL names it. */
  url: string;
  /** A new schema name (the stores' migrate creates it). */
  name: string;
  /** What the stores under test connect with: `url` with this run's application_name. */
  storeUrl: string;
  appName: string;
  /** Drops the schema (once; also done when the program ends). */
  drop(): Promise<void>;
}

/** The application_name of the bench's own connections, never of a store under test. */
export const benchOwnAppName = "sagaflow-bench-own";

/** A connection of the bench's own, outside any store. */
export const benchClient = (url: string): pg.Client =>
  new pg.Client({ connectionString: url, application_name: benchOwnAppName, connectionTimeoutMillis: 10_000 });

/** One connection of the bench's own; closed after `fn`. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = benchClient(url);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A fresh schema for one run on BENCH_POSTGRES_URL; fails at once if the server does not answer. */
export async function freshSchema(program: BenchProgram, label: string): Promise<BenchSchema> {
  const url = postgresUrlEnv();
  const run = randomBytes(4).toString("hex");
  const name = `sagaflow_bench_${label.replace(/[^a-z0-9]/gi, "_").toLowerCase()}_${run}`;
  const appName = `sagaflow-bench-${run}`;
  try {
    await withClient(url, (client) => client.query("SELECT 1"));
  } catch (error) {
    throw new Error(`PostgreSQL at ${url} does not answer (set BENCH_POSTGRES_URL): ${String(error)}`);
  }
  const storeUrl = new URL(url);
  storeUrl.searchParams.set("application_name", appName);
  const drop = program.defer(() => withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`)).then(() => {}));
  return { url, name, storeUrl: storeUrl.href, appName, drop };
}
