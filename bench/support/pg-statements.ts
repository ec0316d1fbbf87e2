/**
 * Counts the SQL statements this process sends to PostgreSQL: every pg client's query() (the
 * stores' pools, BEGIN and COMMIT included, and their LISTEN connection). At low concurrency a
 * unit of work costs about one round trip per statement, so this says where its latency goes
 * besides the WAL flush. In-process only: the counter lives in the process that runs the store.
 */
import pg from "pg";
import { benchOwnAppName } from "./postgres-schema.ts";

let sent = 0;
let installed = false;

/** Statements sent so far; the first call starts counting (call it before the store connects). */
export function pgStatementsSent(): number {
  if (!installed) {
    installed = true;
    const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
    pg.Client.prototype.query = function (this: pg.Client & { connectionParameters?: { application_name?: string } }, ...args: unknown[]) {
      // The bench's own connections (the watch, schema clean-up) are not the store's work.
      if (this.connectionParameters?.application_name !== benchOwnAppName) sent++;
      return query.apply(this, args);
    } as typeof pg.Client.prototype.query;
  }
  return sent;
}
