import type { PoolClient, QueryResultRow } from "pg";
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
  TimerCursor,
  TimerRecord,
  WorkflowFilter,
  WorkflowStateAt,
  WorkflowTransition,
  WriteOutcome,
} from "../port.ts";
import { checkBuckets } from "../buckets.ts";
import type { Fence, SignalledInstance, SignalledWorkflow } from "../cluster-port.ts";
import { PostgresCluster } from "./postgres-cluster.ts";
import { checkSchemaName, quoteIdent } from "./migrations.ts";
import { oneTripCommit, writeBatch, type BeforeCommitHook } from "./postgres-commit.ts";
import { beginCommit, timeoutStatements, type CommitTimeouts } from "./postgres-commit-plan.ts";
import { encodeWrites } from "./postgres-commit-encode.ts";
import type { CommitSql } from "./postgres-commit-sql.ts";
import { OutageTracker, type StoreStatus } from "../outage.ts";
import { statements, workflowListQuery, type Statements } from "./postgres-statements.ts";
import { PostgresConnections } from "./postgres-connections.ts";
import { PostgresFeed } from "./postgres-feed.ts";
import { PostgresTimers } from "./postgres-timers.ts";
import { PostgresViews } from "./postgres-views.ts";
import { PostgresRetention } from "./postgres-retention.ts";
import { pointReads } from "./postgres-point-reads.ts";
import { analyzeStatement, GrowthAnalyzer } from "./postgres-analyze.ts";
import type { Transaction } from "./transaction.ts";
import type { ViewStore } from "../view-port.ts";
import {
  DEFAULT_POOL_SIZE,
  DEFAULT_SCHEMA,
  IDLE_IN_TRANSACTION_TIMEOUT_MS,
  LOCK_TIMEOUT_MS,
  positiveMs,
  STATEMENT_TIMEOUT_MS,
  type PostgresSettings,
  type PostgresStoreOptions,
} from "./postgres-options.ts";
import {
  decode,
  toEvent,
  toTransition,
  toWorkflow,
  toWorkflowState,
  type EventRow,
  type TransitionRow,
  type WorkflowRow,
} from "../rows.ts";


interface HistoryRow extends EventRow {
  is_snapshot: boolean;
  state_version: number | null;
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
  /** The pool, the schema's version check, and how statements and transactions run (./postgres-connections.ts). */
  readonly #db: PostgresConnections;
  readonly #schema: string;
  readonly #sql: Statements;
  readonly #beforeCommit: BeforeCommitHook | undefined;
  readonly #timeouts: CommitTimeouts;
  readonly #outage = new OutageTracker();
  /** View storage: the `views` table and the views' own tables, in this schema. */
  readonly views: ViewStore;
  /** Retention's removals (./postgres-retention.ts). */
  readonly retention: PostgresRetention;
  /** Heartbeats, leases and signals: several nodes on this schema. */
  readonly cluster: PostgresCluster;
  /** A write's `together` writes are decided and written in its transaction: all or none (./postgres-commit.ts). */
  readonly commitsTogether = true;
  /** The feed, consumer offsets and parked messages (./postgres-feed.ts). */
  readonly #feed: PostgresFeed;
  /** The timers (./postgres-timers.ts). */
  readonly #timers: PostgresTimers;

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
    this.#schema = schema;
    this.#sql = statements(quoteIdent(schema), schema);
    const analyze = analyzeStatement(quoteIdent(schema));
    this.#analyzer = new GrowthAnalyzer(() => this.#db.pool.query(analyze));
    this.#beforeCommit = options.testHooks?.beforeCommit;
    this.#db = new PostgresConnections({
      connectionString: options.connectionString,
      schema,
      poolSize,
      idleInTransactionTimeoutMs: idleMs,
      begin: ["BEGIN", ...timeoutStatements(this.#timeouts)].join("; "),
      outage: this.#outage,
    });
    this.views = new PostgresViews({ pool: this.#db.pool, schema, ready: () => this.#db.ready(), transaction: (fn) => this.#db.transaction(fn),
      notify: (view) => this.cluster.notifyStatement({ view }),
    });
    this.retention = new PostgresRetention({
      schema: quoteIdent(schema),
      query: async (text, values) => {
        await this.#db.ready();
        return (await this.#db.pool.query(text, values).catch((error: unknown) => {
          throw this.#db.translate(error);
        })).rows;
      },
    });
    this.cluster = new PostgresCluster({
      pool: this.#db.pool,
      schema: quoteIdent(schema),
      schemaName: schema,
      connectionString: options.connectionString,
      transaction: (fn) => this.#db.transaction(fn),
    });
    this.#feed = new PostgresFeed(this.#db, this.#sql);
    this.#timers = new PostgresTimers({ db: this.#db, sql: this.#sql, schema: quoteIdent(schema), cluster: this.cluster });
  }

  readonly #notify = (positionSql: string, workflows: SignalledWorkflow[], instances: SignalledInstance[]): string | undefined =>
    this.cluster.notifyOfPositionStatement(positionSql, workflows, instances);

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

  migrate(): Promise<void> {
    return this.#db.migrate();
  }

  schemaVersion(): Promise<number> {
    return this.#db.schemaVersion();
  }

  /** The server settings in force for this store's connections, for tests and the admin API. */
  async settings(): Promise<PostgresSettings> {
    this.#db.checkOpen();
    const { rows } = await this.#db.pool.query<{ sc: string; fsync: string; version: string }>(
      "SELECT current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync, current_setting('server_version') AS version",
    );
    const row = rows[0]!;
    return { schema: this.#schema, synchronousCommit: row.sc, fsync: row.fsync, serverVersion: row.version };
  }

  async loadHistory(component: string, id: string): Promise<EntityHistory> {
    const rows = await this.#db.rows<HistoryRow>(this.#sql.loadHistory, [component, id]);
    const first = rows[0];
    const snapshot = first?.is_snapshot ? { seq: first.seq, state: decode(first.payload), stateVersion: first.state_version ?? 0 } : undefined;
    return { snapshot, events: (snapshot ? rows.slice(1) : rows).map(toEvent) };
  }

  async readEvents(component: string, id: string, afterSeq: number, limit: number): Promise<StoredEvent[]> {
    await this.#db.ready();
    if (limit <= 0) return [];
    return (await this.#reads.events.read({ component, id, afterSeq, limit })).map(toEvent);
  }

  async loadKv(component: string, id: string): Promise<KvRecord | undefined> {
    await this.#db.ready();
    const row = await this.#reads.kv.read({ component, id });
    return row && { version: row.version, state: decode(row.state), deleted: row.deleted };
  }

  async listKv(component: string, afterId: string, limit: number): Promise<Array<KvRecord & { id: string }>> {
    await this.#db.ready();
    if (limit <= 0) return [];
    const rows = await this.#db.rows<{ id: string; version: number; state: string | null; deleted: boolean }>(this.#sql.listKv, [component, afterId, limit]);
    return rows.map((row) => ({ id: row.id, version: row.version, state: decode(row.state), deleted: row.deleted }));
  }

  async findDedup(component: string, id: string, key: string): Promise<DedupRecord | undefined> {
    await this.#db.ready();
    const row = await this.#reads.dedup.read({ component, id, key });
    return row && { key: row.key, requestHash: row.request_hash, reply: JSON.parse(row.reply) as StoredReply, at: row.at };
  }

  async listDedup(component: string, id: string, afterKey: string, limit: number): Promise<DedupRecord[]> {
    await this.#db.ready();
    if (limit <= 0) return [];
    const rows = await this.#db.rows<{ key: string; request_hash: string; reply: string; at: number }>(this.#sql.listDedup, [component, id, afterKey, limit]);
    return rows.map((row) => ({ key: row.key, requestHash: row.request_hash, reply: JSON.parse(row.reply) as StoredReply, at: row.at }));
  }

  async workflowStates(name: string, id: string, afterVersion: number, limit: number): Promise<WorkflowStateAt[]> {
    await this.#db.ready();
    if (limit <= 0) return [];
    return (await this.#db.rows<{ seq: number; at: number; payload: string | null }>(this.#sql.workflowStates, [name, id, afterVersion, limit])).map(toWorkflowState);
  }

  async loadWorkflow(name: string, id: string): Promise<StoredWorkflow | undefined> {
    await this.#db.ready();
    const row = await this.#reads.workflow.read({ component: name, id });
    return row && toWorkflow(row);
  }

  /** The point reads of every command turn and step call, batched under load (./postgres-point-reads.ts). */
  readonly #reads = pointReads(() => this.#sql, (statement, values) => this.#db.rows(statement, values));

  async dueWorkflows(now: number, limit: number, { buckets, names }: DueWorkflowsOf): Promise<Array<{ name: string; id: string }>> {
    checkBuckets(buckets);
    if (limit <= 0 || buckets.length === 0 || names.length === 0) return [];
    return this.#db.rows<{ name: string; id: string }>(this.#sql.dueWorkflows, [now, limit, buckets, names]);
  }

  async nextWorkflowDue(now: number, buckets: readonly number[]): Promise<number | undefined> {
    checkBuckets(buckets);
    if (buckets.length === 0) return undefined;
    const [row] = await this.#db.rows<{ next: number | null }>(this.#sql.nextWorkflowDue, [now, buckets]);
    return row?.next ?? undefined;
  }

  async stepsToRun(name: string): Promise<StepsToRun[]> {
    await this.#db.ready();
    const rows = await this.#db.rows<{ step: string; count: number; first: string; last: string }>(this.#sql.stepsToRun, [name]);
    return rows.map(({ step, count, first, last }) => ({ step, count, examples: first === last ? [first] : [first, last] }));
  }

  async workflowCounts(): Promise<WorkflowCount[]> {
    await this.#db.ready();
    const text = `SELECT name, status, step, COUNT(*)::int AS count FROM ${quoteIdent(this.#schema)}.workflows GROUP BY name, status, step`;
    return this.#db.rows<WorkflowCount & QueryResultRow>({ name: "sagaflow_workflow_counts", text }, []);
  }

  poolStats(): PoolStats {
    return { total: this.#db.pool.totalCount, idle: this.#db.pool.idleCount, waiting: this.#db.pool.waitingCount };
  }

  async listWorkflows(filter: WorkflowFilter): Promise<StoredWorkflow[]> {
    await this.#db.ready();
    const query = workflowListQuery(quoteIdent(this.#schema), filter);
    if (!query) return [];
    return (await this.#db.rows<WorkflowRow>(query.statement, query.params)).map(toWorkflow);
  }

  async workflowHistory(name: string, id: string, limit: number, afterVersion = 0): Promise<Array<WorkflowTransition & { version: number }>> {
    await this.#db.ready();
    if (limit <= 0) return [];
    return (await this.#db.rows<TransitionRow>(this.#sql.workflowHistory, [name, id, limit, afterVersion])).map(toTransition);
  }

  async commit(writes: InstanceWrite[]): Promise<WriteOutcome[]> {
    await this.#db.ready();
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
    const inTwoTrips = (client: PoolClient, transaction: Transaction) => writeBatch(client, sql, plan, encoded, at, hooks, transaction);
    const outcomes = oneTrip
      ? await this.#db.oneTrip(oneTrip.text, sql.prepare, oneTrip.outcomes, { begin: plan.text, fn: inTwoTrips })
      : await this.#db.transaction(inTwoTrips, plan.text, sql.prepare);
    this.#committed(writes);
    return outcomes;
  }

  #committed(writes: InstanceWrite[]): void {
    this.#outage.succeeded();
    this.#analyzer.wrote(writes.reduce((rows, w) => rows + 1 + (w.together?.length ?? 0), 0));
  }

  readFeed(afterPosition: number, limit: number, components?: readonly string[]): Promise<FeedEntry[]> {
    return this.#feed.readFeed(afterPosition, limit, components);
  }

  feedHead(): Promise<number> {
    return this.#feed.feedHead();
  }

  loadOffset(consumer: string): Promise<number> {
    return this.#feed.loadOffset(consumer);
  }

  listOffsets(): Promise<Array<{ consumer: string; position: number }>> {
    return this.#feed.listOffsets();
  }

  commitConsumer(consumer: string, offset: number, park: ParkedMessage[], remove?: readonly number[], fence?: Fence): Promise<void> {
    return this.#feed.commitConsumer(consumer, offset, park, remove, fence);
  }

  listParked(consumer: string | undefined, limit: number, afterPosition = 0): Promise<ParkedMessage[]> {
    return this.#feed.listParked(consumer, limit, afterPosition);
  }

  removeParked(consumer: string, positions: readonly number[]): Promise<void> {
    return this.#feed.removeParked(consumer, positions);
  }

  putTimer(timer: NewTimer): Promise<TimerRecord> {
    return this.#timers.putTimer(timer);
  }

  cancelTimer(name: string): Promise<boolean> {
    return this.#timers.cancelTimer(name);
  }

  dueTimers(now: number, limit: number, buckets: readonly number[]): Promise<TimerRecord[]> {
    return this.#timers.dueTimers(now, limit, buckets);
  }

  nextTimerDue(buckets: readonly number[]): Promise<number | undefined> {
    return this.#timers.nextTimerDue(buckets);
  }

  finishTimers(fired: ReadonlyArray<{ name: string; generation: number }>, fences?: ReadonlyMap<number, Fence>): Promise<number[]> {
    return this.#timers.finishTimers(fired, fences);
  }

  retryTimer(name: string, generation: number, change: TimerChange, fence?: Fence): Promise<void> {
    return this.#timers.retryTimer(name, generation, change, fence);
  }

  unparkTimer(name: string, dueAt: number): Promise<TimerRecord | undefined> {
    return this.#timers.unparkTimer(name, dueAt);
  }

  listTimers(status: "pending" | "parked" | undefined, limit: number, after?: TimerCursor): Promise<TimerRecord[]> {
    return this.#timers.listTimers(status, limit, after);
  }

  async pruneDedup(before: number): Promise<number> {
    return (await this.#db.query(this.#sql.pruneDedup, [before])).rowCount ?? 0;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}
