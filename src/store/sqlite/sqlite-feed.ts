/**
 * The change feed, consumer offsets and parked messages of the SQLite store. The feed is the
 * `events` table (every kind of row); offsets and parked messages have tables of their own.
 */
import type Database from "better-sqlite3";
import { checkParkedConsumer } from "../checks.ts";
import type { FeedEntry, ParkedMessage } from "../port.ts";
import { toFeedEntry, toParked, type FeedRow, type ParkedRow } from "../rows.ts";
import { encode } from "../rows.ts";

const FEED_COLUMNS = "position, component, id, seq, type, payload, at";
/** Parked copies keep no trace: a retry is an operator's act, not the producing command's. */
const PARKED_COLUMNS = `consumer, ${FEED_COLUMNS}, error, attempts, parked_at, blocked_by`;

/**
 * The feed queries. Each reads a range of an index: `ofComponent` uses events_feed (the planner
 * is told so: without statistics it might take the primary key and filter, reading every other
 * component's rows).
 */
export const feedSql = {
  all: `SELECT ${FEED_COLUMNS}, trace FROM events WHERE position > ? ORDER BY position LIMIT ?`,
  ofComponent: `SELECT ${FEED_COLUMNS}, trace FROM events INDEXED BY events_feed WHERE component = ? AND position > ? ORDER BY position LIMIT ?`,
} as const;

/** The feed and consumer part of the port on `db`, whose tables must exist. */
export function prepareFeed(db: Database.Database) {
  const feedAll = db.prepare(feedSql.all);
  const feedOfComponent = db.prepare(feedSql.ofComponent);
  /**
   * The first `limit` entries after `after` of each component, merged: the first `limit` of
   * them all are among these. One read transaction, so that the ranges come from the same
   * state of the file: an entry committed between two reads could otherwise be passed over
   * by a reader whose offset moves past it.
   */
  const feedOf = db.transaction((components: string[], after: number, limit: number): FeedRow[] => {
    if (components.length === 1) return feedOfComponent.all(components[0], after, limit) as FeedRow[];
    const rows: FeedRow[] = [];
    for (const c of components) rows.push(...(feedOfComponent.all(c, after, limit) as FeedRow[]));
    return rows.sort((a, b) => a.position - b.position).slice(0, limit);
  });
  const feedHead = db.prepare("SELECT max(position) FROM events").pluck();

  const loadOffset = db.prepare("SELECT position FROM offsets WHERE consumer = ?").pluck();
  const listOffsets = db.prepare("SELECT consumer, position FROM offsets ORDER BY consumer");
  const deleteParked = db.prepare("DELETE FROM parked WHERE consumer = ? AND position = ?");
  // Parking a position parked before replaces it (a message that failed again, say).
  const upsertParked = db.prepare(
    `INSERT INTO parked (${PARKED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (consumer, position) DO UPDATE SET
       component = excluded.component, id = excluded.id, seq = excluded.seq, type = excluded.type,
       payload = excluded.payload, at = excluded.at, error = excluded.error, attempts = excluded.attempts,
       parked_at = excluded.parked_at, blocked_by = excluded.blocked_by`,
  );
  const raiseOffset = db.prepare(
    `INSERT INTO offsets (consumer, position) VALUES (?, ?)
     ON CONFLICT (consumer) DO UPDATE SET position = max(position, excluded.position)`,
  );
  const commitConsumer = db.transaction((consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[]) => {
    for (const position of remove) deleteParked.run(consumer, position);
    for (const p of park) {
      const e = p.entry;
      upsertParked.run(
        consumer, e.position, e.component, e.id, e.seq, e.type, encode(e.payload), e.at,
        JSON.stringify(p.error), p.attempts, p.parkedAt, p.blockedBy ?? null,
      );
    }
    raiseOffset.run(consumer, offset);
  });
  const listParkedAll = db.prepare(`SELECT ${PARKED_COLUMNS} FROM parked ORDER BY consumer, position LIMIT ?`);
  const listParkedOf = db.prepare(`SELECT ${PARKED_COLUMNS} FROM parked WHERE consumer = ? AND position > ? ORDER BY position LIMIT ?`);
  const removeParked = db.transaction((consumer: string, positions: readonly number[]) => {
    for (const position of positions) deleteParked.run(consumer, position);
  });

  return {
    read(afterPosition: number, limit: number, components?: readonly string[]): FeedEntry[] {
      // SQLite reads a negative LIMIT as "no limit".
      if (limit <= 0) return [];
      if (components === undefined) return (feedAll.all(afterPosition, limit) as FeedRow[]).map(toFeedEntry);
      return feedOf([...new Set(components)], afterPosition, limit).map(toFeedEntry);
    },

    head(): number {
      return (feedHead.get() as number | null) ?? 0;
    },

    loadOffset(consumer: string): number {
      return (loadOffset.get(consumer) as number | undefined) ?? 0;
    },

    listOffsets(): Array<{ consumer: string; position: number }> {
      return listOffsets.all() as Array<{ consumer: string; position: number }>;
    },

    commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[]): void {
      checkParkedConsumer(consumer, park);
      commitConsumer.immediate(consumer, offset, park, remove);
    },

    listParked(consumer: string | undefined, limit: number, afterPosition = 0): ParkedMessage[] {
      if (limit <= 0) return [];
      const rows = consumer === undefined ? listParkedAll.all(limit) : listParkedOf.all(consumer, afterPosition, limit);
      return (rows as ParkedRow[]).map(toParked);
    },

    removeParked(consumer: string, positions: readonly number[]): void {
      if (positions.length > 0) removeParked.immediate(consumer, positions);
    },
  };
}
