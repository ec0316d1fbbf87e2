import type { Pool, PoolClient } from "pg";
import { COUNT_COLUMN, ROW_COLUMN, type Query } from "../../views/query/index.ts";
import type { Fence } from "../cluster-port.ts";
import type {
  ParkedViewEntry, PhysicalTable, ViewGeneration, ViewMeta, ViewPage, ViewParkedChange, ViewQueryResult, ViewRowUpdate, ViewStore,
} from "../view-port.ts";
import { quoteIdent } from "./migrations.ts";
import { checkFence } from "./postgres-fence.ts";
import { compilePostgres } from "./postgres-query-compiler.ts";
import { createPostgresIndexSql, createPostgresTableSql } from "./postgres-query-tables.ts";
import type { RunInTransaction, Transaction } from "./transaction.ts";
import { postgresName } from "./postgres-views-names.ts";
import { translatingErrors } from "./postgres-errors.ts";

export interface PostgresViewsOptions {
  pool: Pool;
  /** The store's schema (a checked identifier), holding the `views` table and every view table. */
  schema: string;
  /** Resolves once the schema is at the version this code knows; throws otherwise. */
  ready: () => Promise<void>;
  /** BEGIN, `fn`, COMMIT on a connection of its own; ROLLBACK if anything fails. */
  transaction: RunInTransaction;
  /** The statement that tells the other nodes (serving queries of this view) that it moved. */
  notify?: (view: string) => string | undefined;
}

const generationSql = (prefix: string) =>
  `CASE WHEN ${prefix}_generation IS NULL THEN NULL ELSE json_build_object('generation', ${prefix}_generation, ` +
  `'version', ${prefix}_version, 'offset', ${prefix}_offset) END AS ${prefix}`;

/** A `views` row as a ViewMeta, built by PostgreSQL. */
const META = `name, ${generationSql("active")}, ${generationSql("building")}`;

/** A `views_parked` row as a ParkedViewEntry, built by PostgreSQL. */
const PARKED =
  `view, position::float8 AS position, generation, component, id, type, error::json AS error, attempts, parked_at::float8 AS "parkedAt"`;

/** U+0000 as JSON.stringify writes it: `\u0000` after an even number of backslashes. */
const NUL_ESCAPE = /(?<!\\)(?:\\\\)*\\u0000/;

/**
 * The final state of each row of each table (a later update of a row replaces an earlier one), as
 * JSON; throws, before anything is sent, for a row jsonb cannot hold.
 */
function lastUpdates(updates: readonly ViewRowUpdate[]): Map<string, Map<string, string | null>> {
  const tables = new Map<string, Map<string, string | null>>();
  for (const { table, id, row } of updates) {
    const json = row === null ? null : JSON.stringify(row);
    if (json === undefined) throw new TypeError(`view row ${JSON.stringify(id)} of ${table} is not a JSON value`);
    if (json?.includes("\\u0000") && NUL_ESCAPE.test(json)) {
      throw new TypeError(`view row ${JSON.stringify(id)} of ${table} holds the character U+0000, which PostgreSQL (jsonb) cannot store`);
    }
    const rows = tables.get(table) ?? new Map<string, string | null>();
    tables.set(table, rows.set(id, json));
  }
  return tables;
}

/**
 * View storage in the PostgreSQL store's schema: the `views` table (migration 3) and a table per
 * view table and generation, `(id, row JSONB)`, with the indexes its queries need. Queries are
 * compiled by compilePostgres and run entirely inside PostgreSQL.
 *
 * Every write takes the view's `views` row lock first (then the tables), so writes to one view
 * never deadlock; with a `fence`, the lease is checked before anything else in the transaction.
 */
export class PostgresViews implements ViewStore {
  readonly #pool: Pool;
  readonly #schemaName: string;
  readonly #schema: string;
  readonly #views: string;
  readonly #ready: () => Promise<void>;
  readonly #transaction: PostgresViewsOptions["transaction"];
  readonly #notify: PostgresViewsOptions["notify"];

  constructor(options: PostgresViewsOptions) {
    this.#pool = options.pool;
    this.#schemaName = options.schema;
    this.#schema = quoteIdent(options.schema);
    this.#views = `${this.#schema}.views`;
    this.#ready = options.ready;
    this.#transaction = options.transaction;
    this.#notify = options.notify;
  }

  async viewMeta(name: string): Promise<ViewMeta | undefined> {
    await this.#ready();
    return (await translatingErrors(() => this.#pool.query<ViewMeta>(`SELECT ${META} FROM ${this.#views} WHERE name = $1`, [name]))).rows[0];
  }

  async listViews(): Promise<ViewMeta[]> {
    await this.#ready();
    return (await translatingErrors(() => this.#pool.query<ViewMeta>(`SELECT ${META} FROM ${this.#views} ORDER BY name`))).rows;
  }

  async beginBuild(name: string, version: number, tables: (generation: number) => PhysicalTable[], fence?: Fence): Promise<ViewGeneration> {
    await this.#ready();
    return this.#write(fence, async (client) => {
      await client.query(`INSERT INTO ${this.#views} (name, last_generation) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, [name]);
      const { rows } = await client.query<{ last_generation: number; building_generation: number | null }>(
        `SELECT last_generation, building_generation FROM ${this.#views} WHERE name = $1 FOR UPDATE`,
        [name],
      );
      const row = rows[0]!;
      const generation = row.last_generation + 1;
      // A rebuild that was itself being built is abandoned: drop its tables.
      if (row.building_generation !== null) await this.#drop(client, tables(row.building_generation).map((t) => t.table));
      for (const { table, indexes } of tables(generation)) {
        // A new generation starts empty, whatever a name clash might have left.
        await this.#drop(client, [table]);
        await client.query(createPostgresTableSql(this.#schemaName, postgresName(table)));
        for (const [i, fields] of indexes.entries()) {
          await client.query(createPostgresIndexSql(this.#schemaName, postgresName(table), postgresName(`${table}__i${i}`), fields));
        }
      }
      await client.query(
        `UPDATE ${this.#views} SET building_generation = $2, building_version = $3, building_offset = 0, last_generation = $2
         WHERE name = $1`,
        [name, generation, version],
      );
      return { generation, version, offset: 0 };
    });
  }

  async commitView(name: string, generation: number, offset: number, updates: ViewRowUpdate[], fence?: Fence, parked?: ViewParkedChange): Promise<void> {
    await this.#ready();
    // Encoded before the transaction: a value JSON cannot hold rejects the call, nothing sent.
    const tables = lastUpdates(updates);
    await this.#write(fence, async (client, { sendWithCommit }) => {
      if (parked?.remove?.length) {
        await client.query(`DELETE FROM ${this.#schema}.views_parked WHERE view = $1 AND position = ANY($2::bigint[])`, [name, parked.remove]);
      }
      for (const p of parked?.park ?? []) {
        await client.query(
          `INSERT INTO ${this.#schema}.views_parked (view, position, generation, component, id, type, error, attempts, parked_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (view, position) DO UPDATE SET generation = excluded.generation, error = excluded.error,
             attempts = excluded.attempts, parked_at = excluded.parked_at`,
          [name, p.position, p.generation, p.component, p.id, p.type, JSON.stringify(p.error), p.attempts, p.parkedAt],
        );
      }
      await client.query(
        `UPDATE ${this.#views} SET
           active_offset   = CASE WHEN active_generation = $2 THEN GREATEST(active_offset, $3) ELSE active_offset END,
           building_offset = CASE WHEN building_generation = $2 THEN GREATEST(building_offset, $3) ELSE building_offset END
         WHERE name = $1`,
        [name, generation, offset],
      );
      for (const [table, rows] of tables) {
        const target = this.#table(table);
        const gone = [...rows].filter(([, json]) => json === null).map(([id]) => id);
        const kept = [...rows].filter((entry): entry is [string, string] => entry[1] !== null);
        if (gone.length > 0) await client.query(`DELETE FROM ${target} WHERE id = ANY($1::text[])`, [gone]);
        if (kept.length === 0) continue;
        await client.query(
          `INSERT INTO ${target} (id, row) SELECT * FROM unnest($1::text[], $2::jsonb[])
           ON CONFLICT (id) DO UPDATE SET row = excluded.row`,
          [kept.map(([id]) => id), kept.map(([, json]) => json)],
        );
      }
      sendWithCommit(this.#notify?.(name));
    });
  }

  async finishBuild(name: string, tables: (generation: number) => string[], fence?: Fence): Promise<void> {
    await this.#ready();
    await this.#write(fence, async (client) => {
      const { rows } = await client.query<{ active_generation: number | null; building_generation: number | null }>(
        `SELECT active_generation, building_generation FROM ${this.#views} WHERE name = $1 FOR UPDATE`,
        [name],
      );
      const row = rows[0];
      if (!row || row.building_generation === null) return;
      if (row.active_generation !== null) await this.#drop(client, tables(row.active_generation));
      await client.query(
        `UPDATE ${this.#views} SET active_generation = building_generation, active_version = building_version,
           active_offset = building_offset, building_generation = NULL, building_version = NULL, building_offset = NULL
         WHERE name = $1`,
        [name],
      );
      await client.query(`DELETE FROM ${this.#schema}.views_parked WHERE view = $1 AND generation <> $2`, [name, row.building_generation]);
    });
  }

  async listViewParked(name: string, limit: number): Promise<ParkedViewEntry[]> {
    await this.#ready();
    return (await this.#pool.query<ParkedViewEntry>(`SELECT ${PARKED} FROM ${this.#schema}.views_parked WHERE view = $1 ORDER BY position LIMIT $2`, [name, limit])).rows;
  }

  async countViewParked(name: string): Promise<number> {
    await this.#ready();
    const { rows } = await this.#pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${this.#schema}.views_parked WHERE view = $1`, [name]);
    return rows[0]?.n ?? 0;
  }

  async getRows(table: string, ids: readonly string[]): Promise<Map<string, unknown>> {
    await this.#ready();
    if (ids.length === 0) return new Map();
    const { rows } = await translatingErrors(() => this.#pool.query<{ id: string; row: unknown }>(
      `SELECT id, row FROM ${this.#table(table)} WHERE id = ANY($1::text[])`,
      [[...ids]],
    ));
    return new Map(rows.map((r) => [r.id, r.row]));
  }

  async query(table: string, query: Query, params: Record<string, unknown>, page: ViewPage): Promise<ViewQueryResult> {
    await this.#ready();
    // One row more than the page: its presence says a next page exists.
    const compiled = compilePostgres(query, postgresName(table), { schema: this.#schemaName, offset: page.offset, limit: page.limit, extra: 1 });
    const { rows } = await translatingErrors(() => this.#pool.query<Record<string, unknown>>(compiled.sql, compiled.bind(params)));
    if (compiled.shape.kind === "count") return { kind: "count", count: Number(rows[0]?.[COUNT_COLUMN] ?? 0) };
    const limit = compiled.pageLimit(params);
    const shown = limit === undefined ? rows : rows.slice(0, limit);
    // pg has parsed the jsonb (or json) column into the row's value already.
    return { kind: "rows", rows: shown.map((r) => r[ROW_COLUMN]), hasMore: shown.length < rows.length };
  }

  /** `fn` in a transaction; with a fence, only while the lease is held (else LeaseLostError, nothing kept). */
  #write<T>(fence: Fence | undefined, fn: (client: PoolClient, transaction: Transaction) => Promise<T>): Promise<T> {
    return this.#transaction(async (client, transaction) => {
      await checkFence(client, this.#schema, fence);
      return fn(client, transaction);
    });
  }

  #table(table: string): string {
    return `${this.#schema}.${quoteIdent(postgresName(table))}`;
  }

  async #drop(client: PoolClient, tables: readonly string[]): Promise<void> {
    for (const table of tables) await client.query(`DROP TABLE IF EXISTS ${this.#table(table)}`);
  }
}
