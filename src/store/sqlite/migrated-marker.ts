import { existsSync, readFileSync, writeFileSync } from "node:fs";

/**
 * A SQLite database copied to PostgreSQL (`sagaflow migrate`) must not be served again: both
 * copies would run the same workflows, timers and consumers and drift apart. The migration leaves
 * a file beside the database (`sagaflow.db.migrated`) saying where the data went; opening the
 * database, or migrating it again, refuses while it is there. Deleting it is the way back (to
 * serve the SQLite copy again before anything ran on PostgreSQL).
 */

export interface MigratedTo {
  /** The PostgreSQL server and database, without credentials. */
  database: string;
  schema: string;
  at: string;
}

const markerOf = (dbPath: string) => `${dbPath}.migrated`;

/** Records that the database at `dbPath` was copied to `to`. */
export function markMigrated(dbPath: string, connectionString: string, schema: string): void {
  const url = new URL(connectionString);
  const to: MigratedTo = { database: `${url.host}${url.pathname}`, schema, at: new Date().toISOString() };
  writeFileSync(markerOf(dbPath), `${JSON.stringify(to, null, 2)}\n`);
}

/** Throws, saying where the data went and how to serve this copy anyway, if the database was migrated. */
export function refuseIfMigrated(dbPath: string): void {
  const marker = markerOf(dbPath);
  if (!existsSync(marker)) return;
  let to: Partial<MigratedTo> = {};
  try {
    to = JSON.parse(readFileSync(marker, "utf8")) as Partial<MigratedTo>;
  } catch {
    // An unreadable marker still marks the database.
  }
  throw new Error(
    `${dbPath} was migrated to PostgreSQL (${to.database ?? "?"}, schema ${to.schema ?? "?"}) at ${to.at ?? "?"}: ` +
      `serve that with --postgres <URL>${to.schema ? ` --postgres-schema ${to.schema}` : ""}. Serving this copy too would run its work twice and diverge; ` +
      `to serve it anyway (nothing ran on PostgreSQL yet), delete ${marker}`,
  );
}
