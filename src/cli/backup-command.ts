import { resolve } from "node:path";
import type { BackupReport } from "../store/port.ts";
import { adminRequest, adminTarget } from "./admin-client.ts";
import { parseArgs } from "./args.ts";

export const backupUsage = `  sagaflow backup <file> [--admin URL] [--admin-token T] an online backup of a running SQLite service into one new file
                                               (restore: put it as sagaflow.db in a folder, serve --data that folder)`;

/**
 * `sagaflow backup <file>`: asks the running service (its admin API) to copy its SQLite store
 * into `<file>` while it goes on serving. The path is made absolute here: the server writes it.
 */
export async function backupCommand(argv: string[]): Promise<void> {
  const { positionals, flags } = parseArgs(argv, { values: ["admin", "admin-token"] }, "backup");
  const [file, ...extra] = positionals;
  if (file === undefined) throw new Error("backup needs the file to write, e.g. sagaflow backup backups/sagaflow-2024-06-01.db");
  if (extra.length > 0) throw new Error(`backup takes one file, got ${positionals.length}: ${positionals.join(" ")}`);
  const path = resolve(file);
  const report = (await adminRequest(adminTarget(flags), "POST", "/backup", { path })) as BackupReport;
  const mb = (report.bytes / (1024 * 1024)).toFixed(1);
  console.log(`sagaflow: backed up to ${report.path} (${mb} MB, ${report.pages} pages in ${report.steps} steps, ${report.durationMs} ms)`);
}
