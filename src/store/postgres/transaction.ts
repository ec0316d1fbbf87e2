import type { PoolClient, QueryResult } from "pg";

/** What a transaction of the PostgreSQL store gives the work done in it (see PostgresConnections' transaction, ./postgres-connections.ts). */
export interface Transaction {
  /** The results of the statements sent with BEGIN, BEGIN's own first. */
  begun: QueryResult[];
  /** Sends a statement in the round trip of COMMIT (a signal, above all; none when undefined); it must take no parameters. */
  sendWithCommit(statement: string | undefined): void;
  /**
   * Sends `statements` (no parameters), then what was given to `sendWithCommit`, then COMMIT, in
   * one round trip, and gives the results of `statements`; the transaction is then over. A statement
   * that fails rejects the call, and COMMIT is not run.
   */
  commitWith(statements: readonly string[]): Promise<QueryResult[]>;
}

/** Runs `fn` in a transaction; `begin` is BEGIN, and whatever statements should travel with it. */
export type RunInTransaction = <T>(fn: (client: PoolClient, transaction: Transaction) => Promise<T>, begin?: string) => Promise<T>;
