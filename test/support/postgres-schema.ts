import { randomBytes } from "node:crypto";
import { after } from "node:test";
import pg from "pg";

/**
 * Helpers for the tests that run Sagaflow on PostgreSQL (test/postgres-*.test.ts).
 *
 * Those tests run only when SAGAFLOW_POSTGRES_URL names a database, as the store suite does
 * (src/store/postgres/postgres-store.test.ts): unset, a file registers nothing and prints one
 * line to stderr; set but unreachable, the tests fail (never skip). Every test works in a fresh
 * schema of its own (random name), dropped afterwards.
 *
 * @example
 * const url = postgresUrlOrSay("PostgreSQL bank crash test");
 * if (url) describe("…", () => {
 *   const schemas = new SchemaPool(url);
 *   after(() => schemas.dropAll());
 *   it("…", async () => {
 *     await assertPostgresReachable(url);
 *     const schema = schemas.fresh("bank");
 *   });
 * });
 */

/**
 * SAGAFLOW_POSTGRES_URL, or undefined after printing the one line that says how to ask for the
 * tests of `what`.
 */
export function postgresUrlOrSay(what: string): string | undefined {
  const url = process.env["SAGAFLOW_POSTGRES_URL"];
  if (url) return url;
  process.stderr.write(
    `${what} not asked for: set SAGAFLOW_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it\n`,
  );
  return undefined;
}

/** One connection of the test's own, outside any store; `fn` gets it, it is closed afterwards. */
export async function withClient<T>(connectionString: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Fails (with a message saying which URL) unless the server answers: asked-for tests never skip. */
export async function assertPostgresReachable(connectionString: string): Promise<void> {
  try {
    await withClient(connectionString, (client) => client.query("SELECT 1"));
  } catch (error) {
    throw new Error(
      `SAGAFLOW_POSTGRES_URL is set (${connectionString}) but PostgreSQL does not answer: ${String(error)}`,
    );
  }
}

/** Fresh schema names for one test file, each dropped by `dropAll()`. */
export class SchemaPool {
  private readonly names: string[] = [];
  private readonly run = randomBytes(4).toString("hex");
  private counter = 0;

  constructor(private readonly connectionString: string) {}

  /** A new, unused schema name, e.g. `sagaflow_t_bank_1a2b3c4d_1` (created by the store's migrate). */
  fresh(label: string): string {
    const name = `sagaflow_t_${label}_${this.run}_${++this.counter}`;
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a plain schema name: ${name}`);
    this.names.push(name);
    return name;
  }

  async dropAll(): Promise<void> {
    const names = this.names.splice(0);
    if (names.length === 0) return;
    await withClient(this.connectionString, async (client) => {
      for (const name of names) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    });
  }
}

/**
 * The stores a real-process test runs on: SQLite always, PostgreSQL too when SAGAFLOW_POSTGRES_URL
 * is set. Each entry gives the `sagaflow serve` arguments that choose it (a fresh schema each call);
 * the schemas are dropped after the file's tests.
 *
 * @example
 * for (const [name, args] of serveStores("unstorable input test", "unstorable")) {
 *   describe(`… on ${name}`, () => { it("…", async () => { await SagaflowProcess.start({ target, args: await args() }); }); });
 * }
 */
export function serveStores(what: string, label: string): Array<[string, () => Promise<string[]>]> {
  const stores: Array<[string, () => Promise<string[]>]> = [["SQLite", async () => []]];
  const url = postgresUrlOrSay(`PostgreSQL part of the ${what}`);
  if (!url) return stores;
  const schemas = new SchemaPool(url);
  after(async () => {
    await schemas.dropAll();
  });
  stores.push(["PostgreSQL", async () => {
    await assertPostgresReachable(url);
    return ["--postgres", url, "--postgres-schema", schemas.fresh(label)];
  }]);
  return stores;
}
