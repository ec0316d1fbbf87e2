/**
 * The change feed, consumer offsets and parked messages of the PostgreSQL store. The feed is the
 * `events` table (every kind of row, written by commits: ./postgres-commit.ts); offsets and parked
 * messages have tables of their own.
 */
import type { FeedEntry, ParkedMessage } from "../port.ts";
import { checkParkedConsumer } from "../checks.ts";
import type { Fence } from "../cluster-port.ts";
import { encode, toFeedEntry, toParked, type FeedRow, type ParkedRow } from "../rows.ts";
import type { PostgresConnections } from "./postgres-connections.ts";
import type { Statements } from "./postgres-statements.ts";

export class PostgresFeed {
  readonly #db: PostgresConnections;
  readonly #sql: Statements;

  constructor(db: PostgresConnections, sql: Statements) {
    this.#db = db;
    this.#sql = sql;
  }

  /**
   * A plain ordered read: the commit protocol (FEED_LOCK_CLASS in ./postgres-locks.ts) makes
   * every committed position visible before any higher one, so no lower position can show up
   * after this read has returned a higher one.
   */
  async readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    await this.#db.ready();
    if (limit <= 0) return [];
    if (components === undefined) return (await this.#db.rows<FeedRow>(this.#sql.feedAll, [afterPosition, limit])).map(toFeedEntry);
    const unique = [...new Set(components)];
    if (unique.length === 0) return [];
    return (await this.#db.rows<FeedRow>(this.#sql.feedOf, [unique, afterPosition, limit])).map(toFeedEntry);
  }

  async feedHead(): Promise<number> {
    const [row] = await this.#db.rows<{ head: number }>(this.#sql.feedHead, []);
    return row?.head ?? 0;
  }

  async loadOffset(consumer: string): Promise<number> {
    const [row] = await this.#db.rows<{ position: number }>(this.#sql.loadOffset, [consumer]);
    return row?.position ?? 0;
  }

  async listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    return (await this.#db.rows<{ consumer: string; position: number }>(this.#sql.listOffsets, [])).map((r) => ({
      consumer: r.consumer,
      position: r.position,
    }));
  }

  async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = [], fence?: Fence): Promise<void> {
    await this.#db.ready();
    checkParkedConsumer(consumer, park);
    // One row per position, the last given winning (as one upsert after another would leave it).
    const byPosition = new Map<number, ParkedMessage>();
    for (const p of park) byPosition.set(p.entry.position, p);
    const rows = [...byPosition.values()].map((p) => ({
      p,
      payload: encode(p.entry.payload),
      error: JSON.stringify(p.error),
    }));
    const col = <R>(f: (x: (typeof rows)[number]) => R): R[] => rows.map(f);
    await this.#db.fenced(fence, this.#sql.commitConsumer, [
      consumer,
      remove.filter((position) => !byPosition.has(position)),
      col((r) => r.p.entry.position), col((r) => r.p.entry.component), col((r) => r.p.entry.id), col((r) => r.p.entry.seq),
      col((r) => r.p.entry.type), col((r) => r.payload), col((r) => r.p.entry.at), col((r) => r.error),
      col((r) => r.p.attempts), col((r) => r.p.parkedAt), col((r) => r.p.blockedBy ?? null),
      offset,
    ]);
  }

  async listParked(consumer: string | undefined, limit: number, afterPosition = 0): Promise<ParkedMessage[]> {
    await this.#db.ready();
    if (limit <= 0) return [];
    const rows = consumer === undefined
      ? await this.#db.rows<ParkedRow>(this.#sql.listParkedAll, [limit])
      : await this.#db.rows<ParkedRow>(this.#sql.listParkedOf, [consumer, limit, afterPosition]);
    return rows.map(toParked);
  }

  async removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    await this.#db.ready();
    if (positions.length > 0) await this.#db.rows(this.#sql.removeParked, [consumer, [...positions]]);
  }
}
