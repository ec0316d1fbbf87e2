import { parseArgs, postgresFlag } from "./args.ts";

export const migrateUsage = `  sagaflow migrate --data DIR --to-postgres URL [--postgres-schema S]
                                               copies a STOPPED SQLite service's whole store into an empty
                                               PostgreSQL schema (default sagaflow); then serve with --postgres URL`;

/**
 * `sagaflow migrate`: SQLite → PostgreSQL for a stopped service (src/store/migrate). Loads the
 * drivers only when run, like `serve`.
 */
export async function migrateCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, { values: ["data", "to-postgres", "postgres-schema"] }, "migrate");
  if (positionals.length > 0) throw new Error(`migrate takes no positional arguments (got ${positionals.join(" ")}); sagaflow migrate --help`);
  const url = postgresFlag(flags.get("to-postgres"), "--to-postgres");
  if (url === undefined) throw new Error("migrate needs --to-postgres URL, e.g. postgres://sagaflow@db:5432/sagaflow");
  const dataDir = flags.get("data") ?? ".sagaflow";
  const schema = flags.get("postgres-schema") ?? "sagaflow";
  const { migrateSqliteToPostgres } = await import("../store/migrate/sqlite-to-postgres.ts");
  const report = await migrateSqliteToPostgres({ dataDir, connectionString: url, schema, log: (line) => console.log(line) });
  const rows = report.tables.reduce((sum, t) => sum + t.rows, 0);
  console.log(`sagaflow: copied ${rows} rows in ${report.tables.length} tables in ${report.durationMs} ms; counts verified`);
  console.log(`sagaflow: feed head ${report.feedHead}; new positions continue after ${report.nextPositionAfter}`);
  if (report.viewsToRebuild.length > 0) {
    console.log(`sagaflow: views rebuild from the feed on the first start on PostgreSQL: ${report.viewsToRebuild.join(", ")}`);
  }
  console.log(`sagaflow: now serve with --postgres <URL> --postgres-schema ${schema}; ${dataDir} is marked migrated (${dataDir}/sagaflow.db.migrated) and refuses to be served again`);
}
