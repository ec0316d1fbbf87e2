/**
 * Test data for the query tests: rows with mixed types, missing fields, nulls, nested objects and
 * booleans, and a reference ordering written independently of the compiler (plain JavaScript).
 */
import Database from "better-sqlite3";

export type Row = Record<string, unknown>;
export interface Stored {
  id: string;
  row: Row;
}

/** A small deterministic PRNG (mulberry32), so every run sees the same rows. */
export function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ["alpha-1", "alpha-2", "alpha-10", "Alpha-3", "al_x", "alx", "beta-1", "beta-2", "beta", "gamma", "", "b", "o'brien"];
const CITIES = ["Oslo", "Bergen", "Paris", "Lyon"];

/** `count` rows with ids r000… inserted in shuffled order. */
export function generateRows(count: number, seed = 7): Stored[] {
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const rows: Stored[] = [];
  for (let i = 0; i < count; i++) {
    const row: Row = { group: i % 5 };
    const n = rnd();
    if (n < 0.6) row.n = Math.floor(rnd() * 30) - 5;
    else if (n < 0.7) row.n = Math.floor(rnd() * 20) + 0.5;
    else if (n < 0.78) row.n = String(Math.floor(rnd() * 10));
    else if (n < 0.84) row.n = rnd() < 0.5;
    else if (n < 0.92) row.n = null;
    if (rnd() < 0.85) row.name = rnd() < 0.9 ? pick(NAMES) : 42;
    const f = rnd();
    if (f < 0.35) row.flag = true;
    else if (f < 0.7) row.flag = false;
    else if (f < 0.78) row.flag = f < 0.74 ? 0 : 1;
    else if (f < 0.86) row.flag = null;
    const a = rnd();
    if (a < 0.7) {
      const address: Row = { zip: Math.floor(rnd() * 90000) + 10000 };
      if (rnd() < 0.8) address.city = rnd() < 0.9 ? pick(CITIES) : null;
      row.address = address;
    } else if (a < 0.8) row.address = null;
    if (rnd() < 0.3) row.tags = [pick(CITIES), i];
    rows.push({ id: `r${String(i).padStart(3, "0")}`, row });
  }
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [rows[i], rows[j]] = [rows[j]!, rows[i]!];
  }
  return rows;
}

/** Creates the view table `table` (SQLite layout) in `db`, holding `rows`. */
export function createSqliteTable(db: Database.Database, table: string, rows: readonly Stored[]): void {
  db.exec(`CREATE TABLE "${table}" (id TEXT PRIMARY KEY, row TEXT NOT NULL)`);
  const insert = db.prepare(`INSERT INTO "${table}" (id, row) VALUES (?, ?)`);
  db.transaction(() => rows.forEach((r) => insert.run(r.id, JSON.stringify(r.row))))();
}

/** An in-memory database with the view table `t` holding `rows`. */
export function openTable(rows: readonly Stored[], table = "t"): Database.Database {
  const db = new Database(":memory:");
  createSqliteTable(db, table, rows);
  return db;
}

/** The value at a dotted path, undefined if any step is missing. */
export function get(row: Row, path: string): unknown {
  let value: unknown = row;
  for (const segment of path.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    value = (value as Row)[segment];
  }
  return value;
}

/** SQLite's order of json_extract values: null/missing, then numbers (booleans as 0/1), then text. */
export function compareValues(a: unknown, b: unknown): number {
  const rank = (v: unknown) => (v === null || v === undefined ? 0 : typeof v === "number" || typeof v === "boolean" ? 1 : 2);
  const key = (v: unknown) => (typeof v === "boolean" ? Number(v) : typeof v === "object" ? JSON.stringify(v) : v);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  const ka = key(a) as number | string;
  const kb = key(b) as number | string;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Sorts by the keys, then by id in the direction of the last key (ascending without keys). */
export function sortRows(rows: Stored[], keys: readonly [string, "asc" | "desc"][]): Stored[] {
  const idDirection = keys.at(-1)?.[1] === "desc" ? -1 : 1;
  return [...rows].sort((x, y) => {
    for (const [path, direction] of keys) {
      const c = compareValues(get(x.row, path), get(y.row, path));
      if (c !== 0) return direction === "desc" ? -c : c;
    }
    return x.id < y.id ? -idDirection : x.id > y.id ? idDirection : 0;
  });
}

export const isNumber = (v: unknown): v is number => typeof v === "number";
export const isString = (v: unknown): v is string => typeof v === "string";
export const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";
