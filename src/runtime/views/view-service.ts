import { createHash } from "node:crypto";
import type { ViewDefinition } from "../../define/view.ts";
import { SagaflowError } from "../../define/errors.ts";
import type { Store } from "../../store/port.ts";
import type { ViewStore } from "../../store/view-port.ts";
import { checkQuery, indexesFor, parseQuery, queryParams, QueryError, type Query } from "../../views/query/index.ts";
import { ViewRunner } from "./view-runner.ts";
import type { Observer } from "../../observe/observer.ts";

/** Query-string names the runtime reads itself; a view query may not use them as parameters. */
export const reservedParams = ["pageToken", "waitForPosition"] as const;

const maxPageSize = 1_000;
/** How long a query waits for its `waitForPosition` (sagaflow/client's viewPositionWaitMs says the same). */
export const defaultWaitForPositionMs = 5_000;

interface Served {
  runner: ViewRunner;
  queries: Map<string, { query: Query; params: string[] }>;
}

export interface ViewQueryOptions {
  /** Opaque token from a previous page's `nextPageToken`. */
  pageToken?: string;
  /** Wait until the view has applied this feed position (read-your-writes). */
  waitForPosition?: number;
  waitMs?: number;
}

/** All views of a service: their runners, their checked queries, and query execution. */
export class ViewService {
  private readonly served = new Map<string, Served>();

  constructor(
    definitions: readonly ViewDefinition[],
    private readonly store: Store,
    log: (line: string) => void,
    /** Traces view updates and queries. */
    private readonly observer?: Observer,
  ) {
    if (definitions.length === 0) return;
    const views = store.views;
    if (!views) throw new Error("this store does not serve views: use the SQLite or PostgreSQL store");
    for (const definition of definitions) this.served.set(definition.name, this.prepare(definition, views, log));
  }

  /** Parses and checks every query (failing start-up with the position of an error) and plans indexes. */
  private prepare(definition: ViewDefinition, views: ViewStore, log: (line: string) => void): Served {
    const queries = new Map<string, { query: Query; params: string[] }>();
    const indexes = new Map<string, string[][]>();
    for (const [name, text] of Object.entries(definition.queries)) {
      let query: Query;
      try {
        query = parseQuery(text);
        checkQuery(query, Object.keys(definition.tables));
      } catch (error) {
        if (error instanceof QueryError) {
          // The query, with a caret under the error's column, right below the error's line.
          const lines = text.split("\n");
          const shown = [...lines.slice(0, error.line), `${" ".repeat(error.column - 1)}^`, ...lines.slice(error.line)];
          throw new Error(`view "${definition.name}", query "${name}": ${error.message}\n${shown.map((l) => `  ${l}`).join("\n")}`);
        }
        throw error;
      }
      const params = queryParams(query);
      const clash = params.find((p) => (reservedParams as readonly string[]).includes(p));
      if (clash) throw new Error(`view "${definition.name}", query "${name}": ":${clash}" is reserved; name the parameter otherwise`);
      queries.set(name, { query, params });
      for (const fields of indexesFor(query)) {
        const list = indexes.get(query.from) ?? [];
        if (!list.some((f) => f.join() === fields.join())) list.push(fields);
        indexes.set(query.from, list);
      }
    }
    return { runner: new ViewRunner(definition, { store: this.store, views, log, indexes, ...(this.observer ? { observer: this.observer } : {}) }), queries };
  }

  /** Follows where each view stands in the store, so queries are served before (or without) this node projecting it. */
  async follow(): Promise<void> {
    for (const { runner } of this.served.values()) await runner.follow();
  }

  /** The names of the views (each one a lease: the node holding it projects the view). */
  names(): string[] {
    return [...this.served.keys()];
  }

  /** Stops every view for good (a lease given up afterwards does not start one again). */
  async stop(): Promise<void> {
    await Promise.all([...this.served.values()].map(({ runner }) => runner.close()));
  }

  wake(): void {
    for (const { runner } of this.served.values()) runner.wake();
  }

  runner(view: string): ViewRunner {
    const served = this.served.get(view);
    if (!served) throw new SagaflowError("unknown_view", `no view named "${view}"`, { status: 404 });
    return served.runner;
  }

  runners(): ViewRunner[] {
    return [...this.served.values()].map((s) => s.runner);
  }

  /** Runs a named query of a view; the result is `{ <name>: rows }`, `{ rows }` or `{ count }`, plus `nextPageToken`. */
  async query(view: string, name: string, params: Record<string, unknown>, options: ViewQueryOptions = {}): Promise<unknown> {
    const served = this.served.get(view);
    if (!served) throw new SagaflowError("unknown_view", `no view named "${view}"`, { status: 404 });
    const entry = served.queries.get(name);
    if (!entry) throw new SagaflowError("unknown_query", `view "${view}" has no query "${name}"`, { status: 404 });
    const unknown = Object.keys(params).filter((p) => !entry.params.includes(p));
    if (unknown.length > 0) throw new SagaflowError("invalid_input", `unknown parameter(s) ${unknown.join(", ")}; this query takes ${entry.params.map((p) => `:${p}`).join(", ") || "none"}`);
    const missing = entry.params.filter((p) => params[p] === undefined);
    if (missing.length > 0) throw new SagaflowError("invalid_input", `missing parameter(s) ${missing.map((p) => `:${p}`).join(", ")}`);
    if (options.waitForPosition !== undefined) await this.waitFor(served.runner, options.waitForPosition, options.waitMs ?? defaultWaitForPositionMs);
    const table = served.runner.tableFor(entry.query.from);
    if (!table) throw new SagaflowError("view_building", `view "${view}" is being built; try again shortly`, { status: 503, retryable: true });
    // Hashed only where a token is read or given: most queries need neither.
    const asked = () => pageFingerprint(view, name, params);
    const offset = options.pageToken === undefined ? 0 : decodePageToken(options.pageToken, asked());
    const run = () => this.store.views!.query(table, entry.query, params, { offset, limit: maxPageSize });
    const result = await (this.observer ? this.observer.viewQuery(view, name, run) : run());
    const key = entry.query.select.name;
    if (result.kind === "count") return { [key ?? "count"]: result.count };
    return {
      [key ?? "rows"]: result.rows,
      // A page of none (a query's LIMIT 0) has no next: its token would give the same page again.
      ...(result.hasMore && result.rows.length > 0 ? { nextPageToken: encodePageToken(offset + result.rows.length, asked()) } : {}),
    };
  }

  private async waitFor(runner: ViewRunner, position: number, waitMs: number): Promise<void> {
    if (!Number.isSafeInteger(position) || position < 0) throw new SagaflowError("invalid_position", "waitForPosition must be a whole number ≥ 0");
    if ((runner.serving?.offset ?? 0) >= position) return;
    await new Promise<void>((resolve, reject) => {
      // Where another node projects the view, look at its offset often while someone waits.
      const poll = runner.projecting ? undefined : setInterval(() => runner.wake(), 20);
      const timer = setTimeout(() => {
        clearInterval(poll);
        stopListening();
        reject(new SagaflowError("view_lagging", `view "${runner.definition.name}" has not reached position ${position} within ${waitMs} ms`, { status: 504, retryable: true }));
      }, waitMs);
      const stopListening = runner.onChange(() => {
        if ((runner.serving?.offset ?? 0) >= position) {
          clearTimeout(timer);
          clearInterval(poll);
          stopListening();
          resolve();
        }
      });
      runner.wake();
    });
  }
}

/** What a page token belongs to: the view, the query and its parameters (a token of another would skip rows). */
function pageFingerprint(view: string, query: string, params: Record<string, unknown>): string {
  const sorted = Object.keys(params).sort().map((k) => [k, params[k]]);
  return createHash("sha256").update(JSON.stringify([view, query, sorted])).digest("base64url").slice(0, 12);
}

/** The next page starts at `offset` of the query `fingerprint` names. */
function encodePageToken(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, q: fingerprint })).toString("base64url");
}

function decodePageToken(token: string, fingerprint: string): number {
  let decoded: { o?: unknown; q?: unknown } | undefined;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { o?: unknown; q?: unknown };
  } catch {
    // refused below
  }
  const { o, q } = decoded ?? {};
  if (typeof o !== "number" || !Number.isSafeInteger(o) || o < 0) throw new SagaflowError("invalid_page_token", "pageToken is not one this service gave out");
  if (q !== fingerprint) throw new SagaflowError("invalid_page_token", "pageToken belongs to another query, or to other parameters: page on with the same ones");
  return o;
}
