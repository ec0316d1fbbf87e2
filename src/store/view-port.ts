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
  /** Applies row updates and moves the generation's offset, in one transaction. */
  commitView(name: string, generation: number, offset: number, updates: ViewRowUpdate[], fence?: Fence): Promise<void>;
  /** The building generation becomes the active one; the old one's tables are dropped. */
  finishBuild(name: string, tables: (generation: number) => string[], fence?: Fence): Promise<void>;
  getRows(table: string, ids: readonly string[]): Promise<Map<string, unknown>>;
  /** Runs a checked query inside the database: at most `page.limit` rows, from `page.offset`. */
  query(table: string, query: Query, params: Record<string, unknown>, page: ViewPage): Promise<ViewQueryResult>;
}

/** The physical table name of a view's table in one generation (names are checked identifiers). */
export function physicalTable(view: string, table: string, generation: number): string {
  return `view_${view.replaceAll("-", "_")}__${table}__g${generation}`;
}
