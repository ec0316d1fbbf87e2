import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { until, type Polled } from "../../src/runtime/test-support.ts";
import { requestJson, serveChild, sleep, type ServedChild } from "./workflow-child.ts";

/**
 * Helpers for the consumer, timer and registry tests that run `sagaflow serve` as a real child:
 * the admin API's URL, environment variables for the child, polling, and a read-only look at the
 * SQLite file once the child is gone.
 */

export interface FeedChild extends ServedChild {
  /** The admin API, printed as "sagaflow: admin API on http://127.0.0.1:PORT". */
  readonly adminUrl: string;
}

export interface FeedChildOptions {
  dataDir: string;
  /** Variables added to the child's environment (the test's own environment is left as it was). */
  env?: Record<string, string>;
  args?: string[];
  readyTimeoutMs?: number;
}

/**
 * Runs `sagaflow serve <target>` (through `serveChild`) with extra environment variables and
 * resolves once both the ingress and the admin API are up.
 */
export async function serveWithAdmin(target: string, options: FeedChildOptions): Promise<FeedChild> {
  // `serveChild` spawns synchronously with the environment of this process: set the variables
  // around the call only.
  const saved = new Map<string, string | undefined>();
  for (const [name, value] of Object.entries(options.env ?? {})) {
    saved.set(name, process.env[name]);
    process.env[name] = value;
  }
  let started: Promise<ServedChild>;
  try {
    started = serveChild(target, {
      dataDir: options.dataDir,
      ...(options.args ? { args: options.args } : {}),
      ...(options.readyTimeoutMs ? { readyTimeoutMs: options.readyTimeoutMs } : {}),
    });
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  const served = await started;
  const deadline = Date.now() + 5_000;
  for (;;) {
    const match = /admin API on (http:\/\/\S+)/.exec(served.output());
    if (match) return { ...served, adminUrl: match[1]! };
    if (Date.now() > deadline) {
      await served.kill();
      throw new Error(`sagaflow serve printed no admin API URL:\n${served.output()}`);
    }
    await sleep(10);
  }
}

/**
 * `until` for a child process: polls `probe` until it returns something other than undefined or
 * false, taking a probe that throws (the child starting or restarting) as "not yet"; fails after `timeoutMs`.
 */
export function waitFor<T>(what: string, probe: () => Polled<T> | Promise<Polled<T>>, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  return until(what, probe, timeoutMs, { everyMs, retryErrors: true });
}

export interface ConsumerLag {
  name: string;
  source: string;
  offset: number;
  head: number;
  lag: number;
}

/** GET /consumers on the admin API. */
export async function consumerLags(adminUrl: string): Promise<ConsumerLag[]> {
  const res = await requestJson(`${adminUrl}/consumers`);
  if (res.status !== 200) throw new Error(`GET /consumers: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.consumers as ConsumerLag[];
}

/** Waits until every consumer (or the one named) has lag 0. */
export function waitForNoLag(adminUrl: string, consumer?: string, timeoutMs = 20_000): Promise<ConsumerLag[]> {
  return waitFor(
    `consumer${consumer ? ` ${consumer}` : "s"} to reach the head of the feed`,
    async () => {
      const lags = await consumerLags(adminUrl);
      const relevant = lags.filter((c) => consumer === undefined || c.name === consumer);
      if (relevant.length === 0) throw new Error(`no consumer ${consumer}`);
      return relevant.every((c) => c.lag === 0) ? lags : undefined;
    },
    timeoutMs,
  );
}

/** A fresh data folder, removed by `dispose`. */
export function tempDataDir(prefix: string): { path: string; dispose(): void } {
  const path = mkdtempSync(join(tmpdir(), `sagaflow-${prefix}-`));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Opens the service's SQLite file (once no child uses it) for a look at what is stored:
 * `fn` gets the database, which is closed afterwards.
 */
export function inspectDatabase<T>(dataDir: string, fn: (db: Database.Database) => T): T {
  const db = new Database(join(dataDir, "sagaflow.db"));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

export interface StoredRow {
  position: number;
  component: string;
  id: string;
  seq: number;
  type: string;
  payload: any;
  at: number;
}

/** The entity events (kind 0) of one component, in position order, payloads parsed. */
export function storedEvents(db: Database.Database, component: string): StoredRow[] {
  const rows = db
    .prepare("SELECT position, component, id, seq, type, payload, at FROM events WHERE component = ? AND kind = 0 ORDER BY position")
    .all(component) as Array<Omit<StoredRow, "payload"> & { payload: string | null }>;
  return rows.map((r) => ({ ...r, payload: r.payload === null ? null : JSON.parse(r.payload) }));
}
