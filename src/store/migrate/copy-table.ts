import type Database from "better-sqlite3";
import type pg from "pg";
import { quoteIdent } from "../postgres/migrations.ts";

/** A column both tables have, with its PostgreSQL type (information_schema's udt_name: int8, text, bool, …). */
export interface ColumnPair {
  name: string;
  pgType: string;
}

/** One table to copy: the columns both sides have, and how many rows SQLite holds. */
export interface TableCopy {
  table: string;
  columns: ColumnPair[];
  sourceRows: number;
}

/**
 * Copies one table's rows from SQLite into the PostgreSQL table of the same name, `batchRows` at
 * a time. Each batch is one INSERT … SELECT FROM unnest($1::type[], $2::type[], …): one array
 * parameter per column rather than one parameter per value, so a batch is not bounded by the
 * protocol's 65,535 parameters and PostgreSQL parses one statement per batch. SQLite's 0/1
 * integers become booleans where PostgreSQL has a boolean column; every other value (JSON text,
 * integers, REAL due times) is sent as it is stored. Returns the number of rows copied.
 */
export async function copyTable(db: Database.Database, client: pg.PoolClient, schema: string, copy: TableCopy, batchRows: number): Promise<number> {
  const names = copy.columns.map((c) => quoteIdent(c.name)).join(", ");
  const arrays = copy.columns.map((c, i) => `$${i + 1}::${c.pgType}[]`).join(", ");
  const insert = `INSERT INTO ${quoteIdent(schema)}.${quoteIdent(copy.table)} (${names}) SELECT * FROM unnest(${arrays})`;
  const convert = copy.columns.map((c) => (c.pgType === "bool" ? toBoolean : same));
  // rowid order where there is one (the feed's positions), else the primary key's.
  const rows = db.prepare(`SELECT ${names} FROM ${quoteIdent(copy.table)}`).raw().iterate() as IterableIterator<unknown[]>;
  let columns: unknown[][] = copy.columns.map(() => []);
  let inBatch = 0;
  let copied = 0;
  const flush = async () => {
    if (inBatch === 0) return;
    await client.query(insert, columns);
    copied += inBatch;
    columns = copy.columns.map(() => []);
    inBatch = 0;
  };
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) columns[i]!.push(convert[i]!(row[i]));
    if (++inBatch >= batchRows) await flush();
  }
  await flush();
  return copied;
}

const same = (value: unknown) => value;
const toBoolean = (value: unknown) => (value === null ? null : value !== 0);
