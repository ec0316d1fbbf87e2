import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Store } from "../../store/port.ts";
import { testbed } from "../../store/postgres/postgres-test-support.ts";
import { SqliteStore } from "../../store/sqlite/sqlite-store.ts";

/** A store for retention's tests, with a way to count its rows in SQL. */
export interface Backend {
  name: string;
  open(): Store;
  /** Runs one SQL count on the store's tables (`kind` etc. as the adapters have them). */
  count(table: string, where?: string): Promise<number>;
  cleanup(): Promise<void>;
}

export function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-retention-"));
  const path = join(dir, "sagaflow.db");
  return {
    name: "SQLite",
    open: () => new SqliteStore({ path }),
    async count(table, where = "1 = 1") {
      const db = new Database(path, { readonly: true });
      try {
        return (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`).get() as { n: number }).n;
      } finally {
        db.close();
      }
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function postgresBackend(url: string): Backend {
  const bed = testbed(url);
  const schema = bed.freshSchema();
  return {
    name: "PostgreSQL",
    open: () => bed.newStore({ schema }),
    async count(table, where = "1 = 1") {
      const client = await bed.rawClient();
      try {
        return Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".${table} WHERE ${where}`)).rows[0]!.n);
      } finally {
        await client.end();
      }
    },
    cleanup: () => bed.dropSchemas(),
  };
}
