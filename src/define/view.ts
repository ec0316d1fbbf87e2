import { checkComponentName, checkDefinitionPart, checkSourceHandlers, described } from "./component.ts";
import { checkExposure, type Exposure } from "./exposure.ts";
import type { EntityDefinition, EventsOf } from "./entity.ts";
import type { KeyValueDefinition } from "./key-value.ts";
import type { Component } from "./service.ts";
import type { WorkflowDefinition, WorkflowView } from "./workflow.ts";

/** What an updater sees besides the row and the message. */
export interface UpdateContext {
  /** The source instance's id: the row's key. */
  readonly id: string;
  readonly position: number;
}

/** An updater returns the new row, `null` to delete it, or `undefined` to leave it as it is. */
type Updater<Row, T> = (row: Row | undefined, message: T, ctx: UpdateContext) => Row | null | undefined;

export type TableUpdaters<Src, Row> = Src extends EntityDefinition<any, infer EH>
  ? { events: { [K in keyof EventsOf<EH>]?: Updater<Row, EventsOf<EH>[K]> } }
  : Src extends KeyValueDefinition<infer S>
    ? { state: Updater<Row, S | null> }
    : Src extends WorkflowDefinition<infer S>
      ? { state: Updater<Row, Omit<WorkflowView<S>, "id">> }
      : never;

/** One table of a view: rows keyed by source instance, kept up to date from the source. */
export interface ViewTable<Row = unknown> {
  readonly source: Component;
  readonly events?: Record<string, Updater<Row, unknown> | undefined>;
  readonly state?: Updater<Row, unknown>;
}

/**
 * A table of a view, fed by one source: an entity's events (an updater per event type; other
 * types leave the row alone) or a key-value entity's or workflow's state changes.
 */
export function table<Src extends Component, Row>(source: Src, updaters: TableUpdaters<Src, Row>): ViewTable<Row> {
  return { source, ...(updaters as object) };
}

/** A view's options; `Q` keeps the query names, so clients can check them. */
export interface ViewOptions<Q extends Record<string, string> = Record<string, string>> {
  /** Bump it when the tables' updaters change: the view is rebuilt from the feed. */
  version: number;
  tables: Record<string, ViewTable<any>>;
  /** Named queries in the view query language, checked at start-up. */
  queries: Q;
  /**
   * What HTTP may query at `GET /views/{view}/{query}` (nothing by default): `access.anyone` for
   * every query, or `{ byUser: rule }` for those only. Endpoints may query any view in process.
   */
  expose?: NoInfer<Exposure<keyof Q & string>>;
}

export interface ViewDefinition<Q extends Record<string, string> = Record<string, string>> extends ViewOptions<Q> {
  readonly kind: "view";
  readonly name: string;
  readonly commands: {};
  readonly queries: Q;
}

/**
 * Defines a view: tables kept up to date from entities' events or state changes, and named
 * queries over them, served at `GET /views/{view}/{query}?param=…`. Views are eventually
 * consistent; a caller can wait for its own write (read-your-writes) by passing the position
 * from its command's `Sagaflow-Position` header as `?waitForPosition=`.
 *
 * @example
 * const carts = view("carts", {
 *   version: 1,
 *   tables: { carts: table(cart, { events: { itemAdded: (row, e, { id }) => ({ cartId: id, userId: e.userId }) } }) },
 *   queries: { byUser: "SELECT * AS carts FROM carts WHERE userId = :userId ORDER BY cartId" },
 * });
 */
export function view<Q extends Record<string, string>>(name: string, options: ViewOptions<Q>): ViewDefinition<Q> {
  checkComponentName(name);
  checkDefinitionPart(name, "the second argument ({ version, tables, queries })", options);
  if (!Number.isInteger(options.version) || options.version < 1) throw new TypeError(`view "${name}": version must be a whole number ≥ 1`);
  checkDefinitionPart(name, "its tables", options.tables);
  checkDefinitionPart(name, "its queries", options.queries);
  for (const [query, text] of Object.entries(options.queries)) {
    if (typeof text !== "string") throw new TypeError(`component "${name}": its queries.${query} must be a query string, got ${described(text)}`);
  }
  for (const [tableName, t] of Object.entries(options.tables)) {
    if (!/^[A-Za-z][A-Za-z0-9_]{0,62}$/.test(tableName)) throw new TypeError(`view "${name}": invalid table name "${tableName}"`);
    checkDefinitionPart(name, `its tables.${tableName}`, t);
    checkSourceHandlers(`view "${name}", table "${tableName}"`, t);
  }
  // A view's routes (GET /views/{view}/{query}) have no path parameters.
  checkExposure(name, options.expose, Object.keys(options.queries), []);
  return { ...options, kind: "view", name, commands: {} };
}
