/**
 * Fresh statistics for tables that grow fast from empty. PostgreSQL plans a prepared statement
 * from the statistics it has, and plans it again only once they are renewed; autovacuum renews
 * them at most once a minute per database and after 10% growth. A new schema's tables go from
 * empty to tens of thousands of rows within that minute, so statements planned at start (when
 * an index scan and a whole-table scan cost the same) kept plans that read whole tables as they
 * grew. The store renews the statistics itself, each time the rows it has written double, from
 * FIRST_MARK to LAST_MARK; past that, autovacuum's 10% keeps up.
 */

/** Rows written before the first renewal: below it any plan is cheap. */
export const FIRST_MARK = 1_000;
/** Rows written at the last renewal the store makes. */
export const LAST_MARK = 1_024_000;

/** The tables whose rows a commit inserts or updates (the feed lives in `events`). */
export const GROWING_TABLES = ["events", "snapshots", "kv", "dedup", "workflows", "workflow_history"] as const;

/** Counts written rows and runs `analyze` at each mark, one at a time and not awaited by the writer. */
export class GrowthAnalyzer {
  #written = 0;
  #mark = FIRST_MARK;
  #running = false;

  constructor(
    private readonly analyze: () => Promise<unknown>,
    /** Told when a renewal fails (it is skipped: the plans stay as they were). */
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  wrote(rows: number): void {
    this.#written += rows;
    if (this.#running || this.#mark > LAST_MARK || this.#written < this.#mark) return;
    while (this.#mark <= this.#written) this.#mark *= 2;
    this.#running = true;
    void this.analyze()
      .catch(this.onError)
      .finally(() => (this.#running = false));
  }
}

/** `ANALYZE` of the growing tables of `schema` (an identifier already quoted). */
export function analyzeStatement(quotedSchema: string): string {
  return `ANALYZE ${GROWING_TABLES.map((t) => `${quotedSchema}.${t}`).join(", ")}`;
}
