/**
 * The PostgreSQL store's way to its database: its pool of connections, the schema's version
 * (checked once before any work; `migrate` brings it up), and how statements and transactions run,
 * each on a connection of its own with the store's bounds. An outage is turned into
 * StoreUnavailableError and remembered for the store's `status()`; the commit's statements are
 * prepared once on each connection.
 */
import { Pool, type PoolClient, type QueryConfig, type QueryResult, type QueryResultRow } from "pg";
import type { Transaction } from "./transaction.ts";
import type { Fence } from "../cluster-port.ts";
import { checkFence } from "./postgres-fence.ts";
import { applyMigrations, LATEST_SCHEMA_VERSION, quoteIdent, schemaVersionOf } from "./migrations.ts";
import { asResults, checksFailed } from "./postgres-commit.ts";
import { toStoreError } from "./postgres-errors.ts";
import { StoreUnavailableError } from "../../define/errors.ts";
import type { OutageTracker } from "../outage.ts";
import type { Statement } from "./postgres-statements.ts";
import { CONNECT_TIMEOUT_MS, CONNECTION_LIFETIME_S, TYPES } from "./postgres-options.ts";

export interface PostgresConnectionsOptions {
  connectionString: string;
  /** The schema's name, as given (checked). */
  schema: string;
  /** Connections kept (checked). */
  poolSize: number;
  /** The server's idle_in_transaction_session_timeout for these connections (checked). */
  idleInTransactionTimeoutMs: number;
  /** BEGIN with the bounds every transaction of the store runs with. */
  begin: string;
  /** Remembers the outages seen, for the store's `status()`. */
  outage: OutageTracker;
}

export class PostgresConnections {
  readonly pool: Pool;
  readonly #schema: string;
  /** BEGIN with the bounds every transaction of this store runs with. */
  readonly #begin: string;
  readonly #outage: OutageTracker;
  #closed = false;
  /** Set once the schema was seen at the latest version: no need to look again. */
  #checked = false;

  constructor(options: PostgresConnectionsOptions) {
    this.#schema = options.schema;
    this.#begin = options.begin;
    this.#outage = options.outage;
    this.pool = new Pool({
      connectionString: options.connectionString,
      max: options.poolSize,
      types: TYPES,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
      keepAlive: true,
      maxLifetimeSeconds: CONNECTION_LIFETIME_S,
      application_name: "sagaflow",
    });
    // An idle connection that breaks (server restart, network) is dropped by the pool, and the
    // next query opens a new one; without a listener the error would end the process.
    this.pool.on("error", () => {});
    // Every connection, from its first moment: one the server ends (restart, pg_terminate_backend)
    // between the pool's own listeners would otherwise end the process with an unhandled 'error'.
    this.pool.on("connect", (client) => client.on("error", () => {}));
  }

  async migrate(): Promise<void> {
    this.checkOpen();
    await this.#withClient((client) => applyMigrations(client, this.#schema));
    this.#checked = true;
  }

  async schemaVersion(): Promise<number> {
    this.checkOpen();
    return this.#withClient((client) => schemaVersionOf(client, this.#schema));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.pool.end();
  }

  checkOpen(): void {
    if (this.#closed) throw new Error("the store is closed");
  }

  /** Refuses work on a closed store, or on a schema not migrated to the version this code knows. */
  async ready(): Promise<void> {
    this.checkOpen();
    if (this.#checked) return;
    const version = await this.#withClient((client) => schemaVersionOf(client, this.#schema));
    if (version !== LATEST_SCHEMA_VERSION) {
      throw new Error(
        `PostgreSQL schema "${this.#schema}" is at version ${version}, expected ${LATEST_SCHEMA_VERSION}: call migrate() first`,
      );
    }
    this.#checked = true;
  }

  async query<R extends QueryResultRow>(statement: Statement, values: unknown[]) {
    await this.ready();
    const config: QueryConfig = { name: statement.name, text: statement.text, values };
    return this.pool.query<R>(config).catch((error: unknown) => {
      throw this.translate(error);
    });
  }

  /** An outage as StoreUnavailableError (remembered for `status()`); any other error as it is. */
  translate(error: unknown): unknown {
    const translated = toStoreError(error);
    if (translated instanceof StoreUnavailableError) this.#outage.failed(translated);
    return translated;
  }

  async rows<R extends QueryResultRow>(statement: Statement, values: unknown[]): Promise<R[]> {
    return (await this.query<R>(statement, values)).rows;
  }

  /** Runs `statement` alone, or with a fence: in a transaction that first checks the lease. */
  async fenced(fence: Fence | undefined, statement: Statement, values: unknown[]): Promise<void> {
    if (fence === undefined) {
      await this.query(statement, values);
      return;
    }
    await this.ready();
    await this.transaction(async (client) => {
      await checkFence(client, quoteIdent(this.#schema), fence);
      await client.query({ name: statement.name, text: statement.text, values });
    });
  }

  /**
   * Runs `fn` on a connection of its own, then gives it back to the pool. `fn` may mark it broken
   * (a failed ROLLBACK: its state is unknown), and the pool then drops it; the pool drops one
   * whose connection failed by itself.
   */
  async #withClient<T>(fn: (client: PoolClient, markBroken: (err: Error) => void) => Promise<T>): Promise<T> {
    // A connection that breaks while checked out fails the query in flight; its error event is
    // heard by the listener every connection gets on "connect" (see the constructor).
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.translate(error);
    }
    let broken: Error | undefined;
    try {
      return await fn(client, (err) => {
        broken = err;
      });
    } catch (error) {
      throw this.translate(error);
    } finally {
      client.release(broken);
    }
  }

  /**
   * `begin` (BEGIN and what goes with it, in one round trip; `fn` gets their results), `fn`, then
   * what `fn` gave to `sendWithCommit` and COMMIT, in one round trip (unless `fn` committed with
   * `commitWith`); ROLLBACK if anything fails. `prepare` (SQL PREPAREs) is run once on each
   * connection before its first such transaction.
   */
  async transaction<T>(fn: (client: PoolClient, transaction: Transaction) => Promise<T>, begin = this.#begin, prepare?: string): Promise<T> {
    return this.#withClient(async (client, markBroken) => {
      if (prepare !== undefined) await this.#prepareOn(client, prepare, markBroken);
      return this.#transactionOn(client, markBroken, fn, begin);
    });
  }

  /** `transaction` on a connection already taken (and prepared). */
  async #transactionOn<T>(client: PoolClient, markBroken: (err: Error) => void, fn: (client: PoolClient, transaction: Transaction) => Promise<T>, begin: string): Promise<T> {
    try {
      // Inside the try: a statement sent with BEGIN may fail and leave the transaction open.
      const begun = asResults(await client.query(begin));
      const withCommit: string[] = [];
      let committed = false;
      const commitWith = async (statements: readonly string[]): Promise<QueryResult[]> => {
        if (committed) throw new Error("the transaction is already committed");
        committed = true;
        // A statement that fails rejects the query; COMMIT is then not run.
        const results = asResults(await client.query([...statements, ...withCommit, "COMMIT"].join(";\n")));
        return results.slice(0, statements.length);
      };
      const result = await fn(client, {
        begun,
        sendWithCommit: (statement) => {
          if (statement !== undefined) withCommit.push(statement);
        },
        commitWith,
      });
      if (!committed) await commitWith([]);
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        markBroken(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError)));
      });
      throw err;
    }
  }

  /**
   * Runs `text` (BEGIN to COMMIT, see oneTripCommit) on a connection of its own, and gives its
   * results to `done`. When the commit's checks failed (nothing was kept), the commit is made in
   * two round trips instead: `fallback`, as `transaction` would run it (`begin` is its first trip),
   * on the same connection, with the aborted transaction's ROLLBACK sent ahead of its BEGIN: the
   * fallback costs no round trip of its own.
   */
  async oneTrip<T>(
    text: string,
    prepare: string,
    done: (results: QueryResult[]) => T,
    fallback: { begin: string; fn: (client: PoolClient, transaction: Transaction) => Promise<T> },
  ): Promise<T> {
    return this.#withClient(async (client, markBroken) => {
      await this.#prepareOn(client, prepare, markBroken);
      let results: QueryResult[];
      try {
        results = asResults(await client.query(text));
      } catch (error) {
        // A statement failed: the rest of the text was skipped and the transaction is aborted.
        if (checksFailed(error)) return this.#transactionOn(client, markBroken, fallback.fn, `ROLLBACK;\n${fallback.begin}`);
        await client.query("ROLLBACK").catch((rollbackError: unknown) => {
          markBroken(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError)));
        });
        throw error;
      }
      return done(results);
    });
  }

  /** Prepares `prepare` (SQL PREPAREs) on `client`, once per connection. */
  async #prepareOn(client: PoolClient, prepare: string, markBroken: (err: Error) => void): Promise<void> {
    if (this.#prepared.has(client)) return;
    // With the transaction's bounds: preparing reads the tables' definitions, and a table
    // locked elsewhere must not stall it for longer than lockTimeoutMs. Prepared statements
    // outlive a rollback, so after a failure the connection's are unknown: it is dropped.
    try {
      await client.query(`${this.#begin}; ${prepare}; COMMIT`);
    } catch (error) {
      markBroken(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    this.#prepared.add(client);
  }

  /** The connections the commit's statements are prepared on (SQL PREPARE: they last as long as the session). */
  readonly #prepared = new WeakSet<PoolClient>();
}
