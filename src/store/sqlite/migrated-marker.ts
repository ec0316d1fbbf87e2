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

/**
 * Records that the database at `dbPath` was copied to `schema` of `connectionString`. Called once
 * the copy is committed, so it never throws: a marker that cannot be written is reported through
 * `warn` (the copy stands; the folder must then be kept from being served by hand).
 */
export function markMigrated(dbPath: string, connectionString: string, schema: string, warn: (line: string) => void): void {
  const to: MigratedTo = { database: withoutCredentials(connectionString), schema, at: new Date().toISOString() };
  try {
    writeFileSync(markerOf(dbPath), `${JSON.stringify(to, null, 2)}\n`);
  } catch (error) {
    warn(`sagaflow: WARNING: the copy is committed, but ${markerOf(dbPath)} could not be written (${(error as Error).message}): do not serve ${dbPath} again`);
  }
}

/** Server and database of a connection string, without user or password ("?" where it does not parse as a URL). */
function withoutCredentials(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.host}${url.pathname}`;
  } catch {
    return "?";
  }
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
