import type Database from "better-sqlite3";
import { COUNT_COLUMN, ROW_COLUMN, type Query } from "../../views/query/index.ts";
import { compileSqlite } from "./sqlite-query-compiler.ts";
import { createSqliteIndexSql } from "./sqlite-query-tables.ts";
import type {
  ParkedViewEntry, PhysicalTable, ViewGeneration, ViewMeta, ViewPage, ViewParkedChange, ViewQueryResult, ViewRowUpdate, ViewStore,
} from "../view-port.ts";

interface MetaRow {
  name: string;
  active_generation: number | null;
  active_version: number | null;
  active_offset: number | null;
  building_generation: number | null;
  building_version: number | null;
  building_offset: number | null;
  last_generation: number;
}

const generationOf = (g: number | null, v: number | null, o: number | null): ViewGeneration | null =>
  g === null ? null : { generation: g, version: v!, offset: o! };

const toMeta = (row: MetaRow): ViewMeta => ({
  name: row.name,
  active: generationOf(row.active_generation, row.active_version, row.active_offset),
  building: generationOf(row.building_generation, row.building_version, row.building_offset),
});

interface ParkedRow {
  view: string;
  position: number;
  generation: number;
  component: string;
  id: string;
  type: string;
  error: string;
  attempts: number;
  parked_at: number;
}

const toParked = (row: ParkedRow): ParkedViewEntry => ({
  view: row.view,
  position: row.position,
  generation: row.generation,
  component: row.component,
  id: row.id,
  type: row.type,
  error: JSON.parse(row.error) as ParkedViewEntry["error"],
  attempts: row.attempts,
  parkedAt: row.parked_at,
});

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** View storage on the same SQLite file: a table per view table and generation, rows as JSON. */
export class SqliteViews implements ViewStore {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  private prepared(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async viewMeta(name: string): Promise<ViewMeta | undefined> {
    const row = this.prepared("SELECT * FROM views WHERE name = ?").get(name) as MetaRow | undefined;
    return row && toMeta(row);
  }

  async listViews(): Promise<ViewMeta[]> {
    return (this.prepared("SELECT * FROM views ORDER BY name").all() as MetaRow[]).map(toMeta);
  }

  async beginBuild(name: string, version: number, tables: (generation: number) => PhysicalTable[]): Promise<ViewGeneration> {
    return this.db.transaction(() => {
      const row = this.prepared("SELECT * FROM views WHERE name = ?").get(name) as MetaRow | undefined;
      const generation = (row?.last_generation ?? 0) + 1;
      // A rebuild that was itself being built is abandoned: drop its tables.
      if (row?.building_generation != null) this.dropTables(tables(row.building_generation).map((t) => t.table));
      for (const { table, indexes } of tables(generation)) {
        this.db.exec(`CREATE TABLE IF NOT EXISTS ${quote(table)} (id TEXT PRIMARY KEY, row TEXT NOT NULL) STRICT, WITHOUT ROWID`);
        indexes.forEach((fields, i) => this.db.exec(createSqliteIndexSql(table, `${table}__i${i}`, fields)));
      }
      this.prepared(
        `INSERT INTO views (name, building_generation, building_version, building_offset, last_generation)
         VALUES (?, ?, ?, 0, ?)
         ON CONFLICT (name) DO UPDATE SET building_generation = excluded.building_generation,
           building_version = excluded.building_version, building_offset = 0, last_generation = excluded.last_generation`,
      ).run(name, generation, version, generation);
      this.statements.clear(); // tables came and went: prepared statements may point at old ones
      return { generation, version, offset: 0 };
    }).immediate();
  }

  async commitView(name: string, generation: number, offset: number, updates: ViewRowUpdate[], _fence?: unknown, parked?: ViewParkedChange): Promise<void> {
    this.db.transaction(() => {
      for (const position of parked?.remove ?? []) this.prepared("DELETE FROM views_parked WHERE view = ? AND position = ?").run(name, position);
      for (const p of parked?.park ?? []) {
        this.prepared(
          `INSERT INTO views_parked (view, position, generation, component, id, type, error, attempts, parked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (view, position) DO UPDATE SET generation = excluded.generation, error = excluded.error,
             attempts = excluded.attempts, parked_at = excluded.parked_at`,
        ).run(name, p.position, p.generation, p.component, p.id, p.type, JSON.stringify(p.error), p.attempts, p.parkedAt);
      }
      for (const update of updates) {
        if (update.row === null) this.prepared(`DELETE FROM ${quote(update.table)} WHERE id = ?`).run(update.id);
        else {
          this.prepared(`INSERT INTO ${quote(update.table)} (id, row) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET row = excluded.row`).run(
            update.id,
            JSON.stringify(update.row),
          );
        }
      }
      this.prepared(
        `UPDATE views SET
           active_offset   = CASE WHEN active_generation = @generation THEN max(active_offset, @offset) ELSE active_offset END,
           building_offset = CASE WHEN building_generation = @generation THEN max(building_offset, @offset) ELSE building_offset END
         WHERE name = @name`,
      ).run({ generation, offset, name });
    }).immediate();
  }

  async finishBuild(name: string, tables: (generation: number) => string[]): Promise<void> {
    this.db.transaction(() => {
      const row = this.prepared("SELECT * FROM views WHERE name = ?").get(name) as MetaRow | undefined;
      if (!row || row.building_generation === null) return;
      if (row.active_generation !== null) this.dropTables(tables(row.active_generation));
      this.prepared(
        `UPDATE views SET active_generation = building_generation, active_version = building_version,
           active_offset = building_offset, building_generation = NULL, building_version = NULL, building_offset = NULL
         WHERE name = ?`,
      ).run(name);
      this.prepared("DELETE FROM views_parked WHERE view = ? AND generation <> ?").run(name, row.building_generation);
      this.statements.clear();
    }).immediate();
  }

  async listViewParked(name: string, limit: number): Promise<ParkedViewEntry[]> {
    return (this.prepared("SELECT * FROM views_parked WHERE view = ? ORDER BY position LIMIT ?").all(name, limit) as ParkedRow[]).map(toParked);
  }

  async countViewParked(name: string): Promise<number> {
    return (this.prepared("SELECT count(*) AS n FROM views_parked WHERE view = ?").get(name) as { n: number }).n;
  }

  async getRows(table: string, ids: readonly string[]): Promise<Map<string, unknown>> {
    const found = new Map<string, unknown>();
    const select = this.prepared(`SELECT row FROM ${quote(table)} WHERE id = ?`);
    for (const id of ids) {
      const hit = select.get(id) as { row: string } | undefined;
      if (hit) found.set(id, JSON.parse(hit.row));
    }
    return found;
  }

  async query(table: string, query: Query, params: Record<string, unknown>, page: ViewPage): Promise<ViewQueryResult> {
    // One row more than the page: its presence says a next page exists.
    const compiled = compileSqlite(query, table, { offset: page.offset, limit: page.limit, extra: 1 });
    const rows = this.prepared(compiled.sql).all(...compiled.bind(params)) as Array<Record<string, unknown>>;
    if (compiled.shape.kind === "count") return { kind: "count", count: Number(rows[0]?.[COUNT_COLUMN] ?? 0) };
    const limit = compiled.pageLimit(params);
    const page_ = limit === undefined ? rows : rows.slice(0, limit);
    return { kind: "rows", rows: page_.map((r) => JSON.parse(r[ROW_COLUMN] as string)), hasMore: page_.length < rows.length };
  }

  private dropTables(tables: string[]): void {
    for (const table of tables) this.db.exec(`DROP TABLE IF EXISTS ${quote(table)}`);
  }
}
