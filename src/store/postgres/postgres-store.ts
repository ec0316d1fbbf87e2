import { Pool, type PoolClient, type QueryConfig, type QueryResult, type QueryResultRow } from "pg";
import type { Transaction } from "./transaction.ts";
import type {
  DedupRecord,
  EntityHistory,
  FeedEntry,
  InstanceWrite,
  KvRecord,
  NewTimer,
  ParkedMessage,
  StoredEvent,
  StoredReply,
  StepsToRun,
  DueWorkflowsOf,
  StoredWorkflow,
  WorkflowCount,
  PoolStats,
  Store,
  TimerChange,
  TimerRecord,
  WorkflowFilter,
  WorkflowStateAt,
  WorkflowTransition,
  WriteOutcome,
} from "../port.ts";
import { checkDueAt, checkParkedConsumer, checkTimerStatus } from "../checks.ts";
import { checkBuckets, timerBucket } from "../buckets.ts";
import type { Fence } from "../cluster-port.ts";
import { PostgresCluster } from "./postgres-cluster.ts";
import { checkFence, fencesHeld } from "./postgres-fence.ts";
import { applyMigrations, checkSchemaName, LATEST_SCHEMA_VERSION, quoteIdent, schemaVersionOf } from "./migrations.ts";
import { asResults, beginCommit, checksFailed, encodeWrites, oneTripCommit, timeoutStatements, writeBatch, type BeforeCommitHook, type CommitTimeouts } from "./postgres-commit.ts";
import type { CommitSql } from "./postgres-commit-sql.ts";
import { toStoreError } from "./postgres-errors.ts";
import { StoreUnavailableError } from "../../define/errors.ts";
import { OutageTracker, type StoreStatus } from "../outage.ts";
import { statements, workflowListQuery, type Statement, type Statements } from "./postgres-statements.ts";
import { PostgresViews } from "./postgres-views.ts";
import { PostgresRetention } from "./postgres-retention.ts";
import { pointReads } from "./postgres-point-reads.ts";
import { analyzeStatement, GrowthAnalyzer } from "./postgres-analyze.ts";
import type { ViewStore } from "../view-port.ts";
import {
  CONNECT_TIMEOUT_MS,
  CONNECTION_LIFETIME_S,
  DEFAULT_POOL_SIZE,
  DEFAULT_SCHEMA,
  IDLE_IN_TRANSACTION_TIMEOUT_MS,
  LOCK_TIMEOUT_MS,
  positiveMs,
  STATEMENT_TIMEOUT_MS,
  TYPES,
  type PostgresSettings,
  type PostgresStoreOptions,
} from "./postgres-options.ts";
import {
  decode,
  encode,
  toEvent,
  toFeedEntry,
  toParked,
  toTimer,
  toTransition,
  toWorkflow,
  toWorkflowState,
  type EventRow,
  type FeedRow,
  type ParkedRow,
  type TimerRow,
  type TransitionRow,
  type WorkflowRow,
} from "../rows.ts";


interface HistoryRow extends EventRow {
  is_snapshot: boolean;
}

/**
 * The store on PostgreSQL, for one or several Sagaflow nodes sharing one database. Every table
 * lives in one schema (option `schema`). Durable as the server is configured: with PostgreSQL's
 * default synchronous_commit=on, a commit is acknowledged once its WAL is flushed.
 *
 * Commits: see ./postgres-commit.ts (locks, checks, one statement per kind of row), and
 * ./postgres-locks.ts for the locks and how the feed stays gap-free for readers (Property 4).
 *
 * @example
 * const store = new PostgresStore({ connectionString: "postgres://sagaflow@127.0.0.1:5432/sagaflow" });
 * await store.migrate();
 */
export class PostgresStore implements Store {
  readonly #pool: Pool;
  readonly #schema: string;
  readonly #sql: Statements;
  readonly #beforeCommit: BeforeCommitHook | undefined;
  #closed = false;
  readonly #timeouts: CommitTimeouts;
  /** BEGIN with the bounds every transaction of this store runs with. */
  readonly #begin: string;
  readonly #outage = new OutageTracker();
  /** View storage: the `views` table and the views' own tables, in this schema. */
  readonly views: ViewStore;
  /** Retention's removals (./postgres-retention.ts). */
  readonly retention: PostgresRetention;
  /** Heartbeats, leases and signals: several nodes on this schema. */
  readonly cluster: PostgresCluster;
  /** A write's `together` writes are decided and written in its transaction: all or none (./postgres-commit.ts). */
  readonly commitsTogether = true;

  /** Set once the schema was seen at the latest version: no need to look again. */
  #checked = false;
  /** Renews the statistics of tables growing from empty, so that their statements are planned again (./postgres-analyze.ts). */
  readonly #analyzer: GrowthAnalyzer;

  constructor(options: PostgresStoreOptions) {
    const schema = options.schema ?? DEFAULT_SCHEMA;
    checkSchemaName(schema);
    const poolSize = options.poolSize ?? DEFAULT_POOL_SIZE;
    if (!Number.isInteger(poolSize) || poolSize < 1) throw new TypeError(`PostgresStore: poolSize must be a positive integer, got ${poolSize}`);
    const idleMs = options.idleInTransactionTimeoutMs ?? IDLE_IN_TRANSACTION_TIMEOUT_MS;
    if (!Number.isInteger(idleMs) || idleMs < 1) {
      throw new TypeError(`PostgresStore: idleInTransactionTimeoutMs must be a positive integer, got ${idleMs}`);
    }
    this.#timeouts = {
      lockTimeoutMs: positiveMs("lockTimeoutMs", options.lockTimeoutMs ?? LOCK_TIMEOUT_MS),
      statementTimeoutMs: positiveMs("statementTimeoutMs", options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS),
    };
    this.#begin = ["BEGIN", ...timeoutStatements(this.#timeouts)].join("; ");
    this.#schema = schema;
    this.#sql = statements(quoteIdent(schema), schema);
    const analyze = analyzeStatement(quoteIdent(schema));
    this.#analyzer = new GrowthAnalyzer(() => this.#pool.query(analyze));
    this.#beforeCommit = options.testHooks?.beforeCommit;
    this.#pool = new Pool({
      connectionString: options.connectionString,
      max: poolSize,
      types: TYPES,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      idle_in_transaction_session_timeout: idleMs,
      keepAlive: true,
      maxLifetimeSeconds: CONNECTION_LIFETIME_S,
      application_name: "sagaflow",
    });
    // An idle connection that breaks (server restart, network) is dropped by the pool, and the
    // next query opens a new one; without a listener the error would end the process.
    this.#pool.on("error", () => {});
    // Every connection, from its first moment: one the server ends (restart, pg_terminate_backend)
    // between the pool's own listeners would otherwise end the process with an unhandled 'error'.
    this.#pool.on("connect", (client) => client.on("error", () => {}));
    this.views = new PostgresViews({ pool: this.#pool, schema, ready: () => this.#ready(), transaction: (fn) => this.#transaction(fn),
      notify: (view) => this.cluster.notifyStatement({ view }),
    });
    this.retention = new PostgresRetention({
      schema: quoteIdent(schema),
      query: async (text, values) => {
        await this.#ready();
        return (await this.#pool.query(text, values).catch((error: unknown) => {
          throw this.#translate(error);
        })).rows;
      },
    });
    this.cluster = new PostgresCluster({
      pool: this.#pool,
      schema: quoteIdent(schema),
      schemaName: schema,
      connectionString: options.connectionString,
      transaction: (fn) => this.#transaction(fn),
    });
  }

  readonly #notify = (positionSql: string, workflows: Array<[string, string]>): string | undefined =>
    this.cluster.notifyOfPositionStatement(positionSql, workflows);

  /** See PostgresStoreOptions.lockTimeoutMs: how long a write answered `locked` is tried again. */
  get lockTimeoutMs(): number {
    return this.#timeouts.lockTimeoutMs;
  }

  /** Ok, or the outage seen last (cleared by the next successful commit). */
  status(): StoreStatus {
    return this.#outage.status();
  }

  /** The schema this store's tables live in. */
  get schema(): string {
    return this.#schema;
  }

  async migrate(): Promise<void> {
    this.#checkOpen();
    await this.#withClient((client) => applyMigrations(client, this.#schema));
    this.#checked = true;
  }

  async schemaVersion(): Promise<number> {
    this.#checkOpen();
    return this.#withClient((client) => schemaVersionOf(client, this.#schema));
  }

  /** The server settings in force for this store's connections, for tests and the admin API. */
  async settings(): Promise<PostgresSettings> {
    this.#checkOpen();
    const { rows } = await this.#pool.query<{ sc: string; fsync: string; version: string }>(
      "SELECT current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync, current_setting('server_version') AS version",
    );
    const row = rows[0]!;
    return { schema: this.#schema, synchronousCommit: row.sc, fsync: row.fsync, serverVersion: row.version };
  }

  async loadHistory(component: string, id: string): Promise<EntityHistory> {
    const rows = await this.#rows<HistoryRow>(this.#sql.loadHistory, [component, id]);
    const first = rows[0];
    const snapshot = first?.is_snapshot ? { seq: first.seq, state: decode(first.payload) } : undefined;
    return { snapshot, events: (snapshot ? rows.slice(1) : rows).map(toEvent) };
  }

  async readEvents(component: string, id: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    await this.#ready();
    if (limit <= 0) return [];
    return (await this.#reads.events.read({ component, id, afterSeq, limit })).map(toEvent);
  }

  async loadKv(component: string, id: string): Promise<KvRecord | undefined> {
    await this.#ready();
    const row = await this.#reads.kv.read({ component, id });
    return row && { version: row.version, state: decode(row.state), deleted: row.deleted };
  }

  async listKv(component: string, afterId: string, limit: number): Promise<Array<KvRecord & { id: string }>> {
    await this.#ready();
    if (limit <= 0) return [];
    const rows = await this.#rows<{ id: string; version: number; state: string | null; deleted: boolean }>(this.#sql.listKv, [component, afterId, limit]);
    return rows.map((row) => ({ id: row.id, version: row.version, state: decode(row.state), deleted: row.deleted }));
  }

  async findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined> {
    await this.#ready();
    const row = await this.#reads.dedup.read({ component, id, key });
    return row && { key: row.key, requestHash: row.request_hash, reply: JSON.parse(row.reply) as StoredReply, at: row.at };
  }

  async listDedup(component: string, id: string, afterKey: string, limit: number): Promise<DedupRecord[]> {
    await this.#ready();
    if (limit <= 0) return [];
    const rows = await this.#rows<{ key: string; request_hash: string; reply: string; at: number }>(this.#sql.listDedup, [component, id, afterKey, limit]);
    return rows.map((row) => ({ key: row.key, requestHash: row.request_hash, reply: JSON.parse(row.reply) as StoredReply, at: row.at }));
  }

  async workflowStates(name: string, id: string, afterVersion: number, limit: number): Promise<WorkflowStateAt[]> {
    await this.#ready();
    if (limit <= 0) return [];
    return (await this.#rows<{ seq: number; at: number; payload: string | null }>(this.#sql.workflowStates, [name, id, afterVersion, limit])).map(toWorkflowState);
  }

  async loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined> {
    await this.#ready();
    const row = await this.#reads.workflow.read({ component: name, id });
    return row && toWorkflow(row);
  }

  /** The point reads of every command turn and step call, batched under load (./postgres-point-reads.ts). */
  readonly #reads = pointReads(() => this.#sql, (statement, values) => this.#rows(statement, values));

  async dueWorkflows(now: number, limit: number, { buckets, names }: DueWorkflowsOf): Promise<Array<{ name: string; id: string }>> {
    checkBuckets(buckets);
    if (limit <= 0 || buckets.length === 0 || names.length === 0) return [];
    return this.#rows<{ name: string; id: string }>(this.#sql.dueWorkflows, [now, limit, buckets, names]);
  }

  async nextWorkflowDue(now: number, buckets: readonly number[]): Promise<number | undefined> {
    checkBuckets(buckets);
    if (buckets.length === 0) return undefined;
    const [row] = await this.#rows<{ next: number | null }>(this.#sql.nextWorkflowDue, [now, buckets]);
    return row?.next ?? undefined;
  }

  async stepsToRun(name: string): Promise<StepsToRun[]> {
    await this.#ready();
    const rows = await this.#rows<{ step: string; count: number; first: string; last: string }>(this.#sql.stepsToRun, [name]);
    return rows.map(({ step, count, first, last }) => ({ step, count, examples: first === last ? [first] : [first, last] }));
  }

  async workflowCounts(): Promise<WorkflowCount[]> {
    await this.#ready();
    const text = `SELECT name, status, step, COUNT(*)::int AS count FROM ${quoteIdent(this.#schema)}.workflows GROUP BY name, status, step`;
    return this.#rows<WorkflowCount & QueryResultRow>({ name: "sagaflow_workflow_counts", text }, []);
  }

  poolStats(): PoolStats {
    return { total: this.#pool.totalCount, idle: this.#pool.idleCount, waiting: this.#pool.waitingCount };
  }

  async listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]> {
    await this.#ready();
    const query = workflowListQuery(quoteIdent(this.#schema), filter);
    if (!query) return [];
    return (await this.#rows<WorkflowRow>(query.statement, query.params)).map(toWorkflow);
  }

  async workflowHistory(name: string, id: string, limit: number): Promise<Array<WorkflowTransition & { version: number }>> {
    await this.#ready();
    if (limit <= 0) return [];
    return (await this.#rows<TransitionRow>(this.#sql.workflowHistory, [name, id, limit])).map(toTransition);
  }

  async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    await this.#ready();
    if (writes.length === 0) return [];
    // Encoded before the transaction: a value JSON cannot hold rejects the call, nothing sent.
    const encoded = encodeWrites(writes);
    const at = Date.now();
    const sql: CommitSql = this.#sql.commit;
    const hooks = { beforeCommit: this.#beforeCommit, notify: this.cluster.signallingAs === undefined ? undefined : this.#notify };
    const plan = beginCommit(this.#schema, sql, encoded, this.#timeouts);
    // One round trip when the writes can be checked as they are written (tests holding a commit
    // open before its COMMIT take the two-trip way, where their hook runs).
    const oneTrip = this.#beforeCommit === undefined ? oneTripCommit(sql, plan, encoded, at, hooks) : undefined;
    if (oneTrip) {
      const results = await this.#oneTrip(oneTrip.text, sql.prepare);
      if (results) {
        this.#committed(writes);
        return oneTrip.outcomes(results);
      }
    }
    const outcomes = await this.#transaction(
      (client, transaction) => writeBatch(client, sql, plan, encoded, at, hooks, transaction),
      plan.text,
      sql.prepare,
    );
    this.#committed(writes);
    return outcomes;
  }

  #committed(writes: InstanceWrite[]): void {
    this.#outage.succeeded();
    this.#analyzer.wrote(writes.reduce((rows, w) => rows + 1 + (w.together?.length ?? 0), 0));
  }

  /**
   * A plain ordered read: the commit protocol (FEED_LOCK_CLASS in ./postgres-locks.ts) makes
   * every committed position visible before any higher one, so no lower position can show up
   * after this read has returned a higher one.
   */
  async readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    await this.#ready();
    if (limit <= 0) return [];
    if (components === undefined) return (await this.#rows<FeedRow>(this.#sql.feedAll, [afterPosition, limit])).map(toFeedEntry);
    const unique = [...new Set(components)];
    if (unique.length === 0) return [];
    return (await this.#rows<FeedRow>(this.#sql.feedOf, [unique, afterPosition, limit])).map(toFeedEntry);
  }

  async feedHead(): Promise<number> {
    const [row] = await this.#rows<{ head: number }>(this.#sql.feedHead, []);
    return row?.head ?? 0;
  }

  async loadOffset(consumer: string): Promise<number> {
    const [row] = await this.#rows<{ position: number }>(this.#sql.loadOffset, [consumer]);
    return row?.position ?? 0;
  }

  async listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    return (await this.#rows<{ consumer: string; position: number }>(this.#sql.listOffsets, [])).map((r) => ({
      consumer: r.consumer,
      position: r.position,
    }));
  }

  async commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove: readonly number[] = [], fence?: Fence): Promise<void> {
    await this.#ready();
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
    await this.#fenced(fence, this.#sql.commitConsumer, [
      consumer,
      remove.filter((position) => !byPosition.has(position)),
      col((r) => r.p.entry.position), col((r) => r.p.entry.component), col((r) => r.p.entry.id), col((r) => r.p.entry.seq),
      col((r) => r.p.entry.type), col((r) => r.payload), col((r) => r.p.entry.at), col((r) => r.error),
      col((r) => r.p.attempts), col((r) => r.p.parkedAt), col((r) => r.p.blockedBy ?? null),
      offset,
    ]);
  }

  async listParked(consumer: string | undefined, limit: number): Promise<ParkedMessage[]> {
    await this.#ready();
    if (limit <= 0) return [];
    const rows = consumer === undefined
      ? await this.#rows<ParkedRow>(this.#sql.listParkedAll, [limit])
      : await this.#rows<ParkedRow>(this.#sql.listParkedOf, [consumer, limit]);
    return rows.map(toParked);
  }

  async removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    await this.#ready();
    if (positions.length > 0) await this.#rows(this.#sql.removeParked, [consumer, [...positions]]);
  }

  async putTimer(timer: NewTimer): Promise<TimerRecord> {
    await this.#ready();
    checkDueAt(timer.dueAt);
    const { name, dueAt, component, id, handler, input, createdAt } = timer;
    const bucket = timerBucket(name);
    const values = [name, dueAt, component, id, handler, encode(input), createdAt, timer.trace ?? null, bucket];
    if (this.cluster.signallingAs === undefined) return toTimer((await this.#rows<TimerRow>(this.#sql.putTimer, values))[0]!);
    // Several nodes: the holder of the timer's bucket may be another node; tell it, in the same transaction.
    return this.#transaction(async (client, { sendWithCommit }) => {
      const { rows } = await client.query<TimerRow>({ ...this.#sql.putTimer, values });
      sendWithCommit(this.cluster.notifyStatement({ timerDue: dueAt, timerBucket: bucket }));
      return toTimer(rows[0]!);
    });
  }

  async cancelTimer(name: string): Promise<boolean> {
    return (await this.#query(this.#sql.cancelTimer, [name])).rowCount! > 0;
  }

  async dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]> {
    checkBuckets(buckets);
    await this.#ready();
    if (limit <= 0 || buckets.length === 0) return [];
    return (await this.#rows<TimerRow>(this.#sql.dueTimers, [now, limit, buckets])).map(toTimer);
  }

  async nextTimerDue(buckets: readonly number[]): Promise<number | undefined> {
    checkBuckets(buckets);
    if (buckets.length === 0) return undefined;
    const [row] = await this.#rows<{ due: number | null }>(this.#sql.nextTimerDue, [buckets]);
    return row?.due ?? undefined;
  }

  async finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>, fences?: ReadonlyMap<number, Fence>): Promise<number[]> {
    await this.#ready();
    if (fired.length === 0) return [];
    const columns = (list: ReadonlyArray<{ name: string; generation: number }>) => [list.map((f) => f.name), list.map((f) => f.generation)];
    const fenceOf = (name: string) => fences?.get(timerBucket(name));
    const checked = [...new Set(fired.map((f) => fenceOf(f.name)).filter((f) => f !== undefined))];
    if (checked.length === 0) {
      await this.#query(this.#sql.finishTimers, columns(fired));
      return [];
    }
    // One transaction: each bucket's lease checked (and held FOR SHARE), then the timers of the
    // buckets still held removed; a lost bucket's timers stay for its new holder to fire.
    return this.#transaction(async (client) => {
      const held = await fencesHeld(client, quoteIdent(this.#schema), checked);
      const lost = new Set<number>();
      const kept = fired.filter((f) => {
        const fence = fenceOf(f.name);
        if (fence === undefined || held.has(fence.lease)) return true;
        lost.add(timerBucket(f.name));
        return false;
      });
      if (kept.length > 0) await client.query({ name: this.#sql.finishTimers.name, text: this.#sql.finishTimers.text, values: columns(kept) });
      return [...lost].sort((a, b) => a - b);
    });
  }

  async retryTimer(name: string, generation: number, change: TimerChange, fence?: Fence): Promise<void> {
    await this.#ready();
    checkDueAt(change.dueAt);
    checkTimerStatus(change.status);
    const { dueAt, attempts, status, lastError } = change;
    await this.#fenced(fence, this.#sql.retryTimer, [dueAt, attempts, status, JSON.stringify(lastError), name, generation]);
  }

  async listTimers(status: "pending" | "parked" | undefined, limit: number): Promise<TimerRecord[]> {
    await this.#ready();
    if (status !== undefined) checkTimerStatus(status);
    if (limit <= 0) return [];
    const rows = status === undefined
      ? await this.#rows<TimerRow>(this.#sql.allTimers, [limit])
      : await this.#rows<TimerRow>(this.#sql.timersOfStatus, [status, limit]);
    return rows.map(toTimer);
  }

  async pruneDedup(before: number): Promise<number> {
    return (await this.#query(this.#sql.pruneDedup, [before])).rowCount ?? 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("the store is closed");
  }

  /** Refuses work on a closed store, or on a schema not migrated to the version this code knows. */
  async #ready(): Promise<void> {
    this.#checkOpen();
    if (this.#checked) return;
    const version = await this.#withClient((client) => schemaVersionOf(client, this.#schema));
    if (version !== LATEST_SCHEMA_VERSION) {
      throw new Error(
        `PostgreSQL schema "${this.#schema}" is at version ${version}, expected ${LATEST_SCHEMA_VERSION}: call migrate() first`,
      );
    }
    this.#checked = true;
  }

  async #query<R extends QueryResultRow>(statement: Statement, values: unknown[]) {
    await this.#ready();
    const config: QueryConfig = { name: statement.name, text: statement.text, values };
    return this.#pool.query<R>(config).catch((error: unknown) => {
      throw this.#translate(error);
    });
  }

  /** An outage as StoreUnavailableError (remembered for `status()`); any other error as it is. */
  #translate(error: unknown): unknown {
    const translated = toStoreError(error);
    if (translated instanceof StoreUnavailableError) this.#outage.failed(translated);
    return translated;
  }

  async #rows<R extends QueryResultRow>(statement: Statement, values: unknown[]): Promise<R[]> {
    return (await this.#query<R>(statement, values)).rows;
  }

  /** Runs `statement` alone, or with a fence: in a transaction that first checks the lease. */
  async #fenced(fence: Fence | undefined, statement: Statement, values: unknown[]): Promise<void> {
    if (fence === undefined) {
      await this.#query(statement, values);
      return;
    }
    await this.#ready();
    await this.#transaction(async (client) => {
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
      client = await this.#pool.connect();
    } catch (error) {
      throw this.#translate(error);
    }
    let broken: Error | undefined;
    try {
      return await fn(client, (err) => {
        broken = err;
      });
    } catch (error) {
      throw this.#translate(error);
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
  async #transaction<T>(fn: (client: PoolClient, transaction: Transaction) => Promise<T>, begin = this.#begin, prepare?: string): Promise<T> {
    return this.#withClient(async (client, markBroken) => {
      if (prepare !== undefined) await this.#prepareOn(client, prepare, markBroken);
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
    });
  }

  /**
   * Runs `text` (BEGIN to COMMIT, see oneTripCommit) on a connection of its own; undefined when the
   * commit's checks failed: nothing was kept, and the commit must be made in two round trips.
   */
  async #oneTrip(text: string, prepare: string): Promise<QueryResult[] | undefined> {
    return this.#withClient(async (client, markBroken) => {
      await this.#prepareOn(client, prepare, markBroken);
      try {
        return asResults(await client.query(text));
      } catch (error) {
        // A statement failed: the rest of the text was skipped and the transaction is aborted.
        await client.query("ROLLBACK").catch((rollbackError: unknown) => {
          markBroken(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError)));
        });
        if (checksFailed(error)) return undefined;
        throw error;
      }
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
