/**
 * Storage for views (the query side), apart from the core port: an adapter that serves views
 * implements it and exposes it as `store.views`. Each view has generations: the active one
 * answers queries; a rebuild fills the next one from the feed and then takes its place.
 */
import type { Query } from "../views/query/index.ts";
import type { Fence } from "./cluster-port.ts";

export interface ViewGeneration {
  generation: number;
  /** The definition version it was built for. */
  version: number;
  /** Every feed entry at or below this position is applied. */
  offset: number;
}

export interface ViewMeta {
  name: string;
  active: ViewGeneration | null;
  building: ViewGeneration | null;
}

/** A table of one generation, and the field paths to index (from the view's queries). */
export interface PhysicalTable {
  table: string;
  indexes: string[][];
}

export interface ViewRowUpdate {
  table: string;
  id: string;
  /** The new row; null deletes it. */
  row: unknown;
}

/**
 * A feed entry a view could not apply (its updater threw, or the store refused the row it made)
 * after several attempts: the view moved past it and keeps it here until an operator retries or
 * skips it. Recorded for the generation that failed; a rebuild replays it (and may park it again).
 */
export interface ParkedViewEntry {
  view: string;
  /** Feed position of the entry. */
  position: number;
  generation: number;
  component: string;
  id: string;
  type: string;
  error: { code: string; message: string };
  attempts: number;
  parkedAt: number;
}

/** Parked entries to record (a row for the same position is replaced) or remove, with a commit. */
export interface ViewParkedChange {
  park?: readonly ParkedViewEntry[];
  remove?: readonly number[];
}

export interface ViewPage {
  /** Rows to skip (from a page token). */
  offset: number;
  /** Rows to return at most, when the query has no LIMIT of its own (or a smaller one). */
  limit: number | undefined;
}

export type ViewQueryResult =
  | { kind: "count"; count: number }
  | { kind: "rows"; rows: unknown[]; /** More rows follow this page. */ hasMore: boolean };

/**
 * A `fence` (given on a store shared by several nodes) makes the write happen only while that
 * lease is held with that token; else it fails with LeaseLostError and changes nothing.
 */
export interface ViewStore {
  viewMeta(name: string): Promise<ViewMeta | undefined>;
  listViews(): Promise<ViewMeta[]>;
  /** Creates the tables of a new generation and records it as building, at offset 0. */
  beginBuild(name: string, version: number, tables: (generation: number) => PhysicalTable[], fence?: Fence): Promise<ViewGeneration>;
  /**
   * Applies row updates and moves the generation's offset (never back), in one transaction; with
   * `parked`, records or removes parked entries of the view in the same transaction.
   */
  commitView(name: string, generation: number, offset: number, updates: ViewRowUpdate[], fence?: Fence, parked?: ViewParkedChange): Promise<void>;
  /** The view's parked entries by position (every generation), at most `limit`. */
  listViewParked(name: string, limit: number): Promise<ParkedViewEntry[]>;
  /** How many entries the view has parked (every generation). */
  countViewParked(name: string): Promise<number>;
  /**
   * The building generation becomes the active one; the old one's tables are dropped, and parked
   * entries of any other generation than the new active one are forgotten (a rebuild replayed them).
   */
  finishBuild(name: string, tables: (generation: number) => string[], fence?: Fence): Promise<void>;
  getRows(table: string, ids: readonly string[]): Promise<Map<string, unknown>>;
  /** Runs a checked query inside the database: at most `page.limit` rows, from `page.offset`. */
  query(table: string, query: Query, params: Record<string, unknown>, page: ViewPage): Promise<ViewQueryResult>;
}

/** The physical table name of a view's table in one generation (names are checked identifiers). */
export function physicalTable(view: string, table: string, generation: number): string {
  return `view_${view.replaceAll("-", "_")}__${table}__g${generation}`;
}
