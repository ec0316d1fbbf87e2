import assert from "node:assert/strict";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cli } from "./support/cli.ts";
import { getJson, postJson, requestJson } from "./support/http.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool, withClient } from "./support/postgres-schema.ts";
import { SagaflowProcess, sleep, tempDir } from "./support/server-process.ts";

/**
 * `sagaflow migrate` end to end (test/fixtures/bank-states): a SQLite service with transfers in
 * every state (ended, failed, paused with a timer, paused for a command, running a step that
 * keeps being retried), a consumer with a parked message and a view is stopped with SIGTERM,
 * copied into a fresh PostgreSQL schema by the CLI, and served there: every transfer continues
 * and ends as it should, balances are exact, the consumer delivers each wallet event exactly once
 * over both runs (its delivery log has no position twice and misses none), the parked message is
 * still parked and can be retried, and the view is rebuilt to the same rows.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts).
 */

const fixture = "test/fixtures/bank-states";
const wallets = 6;
const initialBalance = 1_000;
const url = postgresUrlOrSay("SQLite → PostgreSQL migration test");
if (url) registerTests(url);

interface Planned {
  id: string;
  input: { from: string; to: string; amount: number; mode: "now" | "hold" | "stuck" | "fail"; holdMs?: number };
  before: "ended" | "failed" | "paused" | "running";
  after: "ended" | "failed";
}

function plan(): Planned[] {
  const transfers: Planned[] = [];
  const add = (id: string, i: number, mode: Planned["input"]["mode"], before: Planned["before"], holdMs?: number) =>
    transfers.push({
      id,
      input: { from: `w${i % wallets}`, to: `w${(i + 1) % wallets}`, amount: 10 + i, mode, ...(holdMs === undefined ? {} : { holdMs }) },
      before,
      after: mode === "fail" ? "failed" : "ended",
    });
  for (let i = 0; i < 6; i++) add(`ended${i}`, i, "now", "ended");
  for (let i = 0; i < 2; i++) add(`failed${i}`, i, "fail", "failed");
  for (let i = 0; i < 3; i++) add(`timer${i}`, i, "hold", "paused", 15_000);
  for (let i = 0; i < 3; i++) add(`command${i}`, i + 2, "hold", "paused", 3_600_000);
  for (let i = 0; i < 3; i++) add(`stuck${i}`, i + 3, "stuck", "running");
  return transfers;
}

function registerTests(connectionString: string): void {
  describe("sagaflow migrate: SQLite to PostgreSQL", () => {
    const schemas = new SchemaPool(connectionString);
    const work = tempDir("sagaflow-migrate-");
    const env = { BANK_CURE_FILE: join(work, "cure"), BANK_DELIVERY_LOG: join(work, "deliveries") };
    let sqlite: SagaflowProcess | undefined;
    let pg: SagaflowProcess | undefined;
    after(async () => {
      await sqlite?.cleanup();
      await pg?.cleanup();
      await schemas.dropAll();
      rmSync(work, { recursive: true, force: true });
    });

    it("continues every transfer, keeps balances exact and delivers nothing twice", { timeout: 150_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh("migrate");
      sqlite = await SagaflowProcess.start({ target: fixture, env });
      const base = sqlite.url;
      for (let i = 0; i < wallets; i++) assert.equal((await postJson(`${base}/wallet/w${i}/create`, { initialBalance })).status, 200);
      assert.equal((await postJson(`${base}/wallet/poison/create`, { initialBalance: 5 })).status, 200);
      const transfers = plan();
      for (const t of transfers) assert.equal((await postJson(`${base}/held-transfer/${t.id}/start`, t.input)).status, 200);

      // Each transfer reaches the state it should be copied in; the stuck ones have retried.
      for (const t of transfers) {
        for (let tries = 0; ; tries++) {
          const res = await getJson(`${base}/held-transfer/${t.id}`);
          if (res.body.status === t.before && (t.before !== "running" || res.body.step === "deposit")) break;
          assert.ok(tries < 200, `${t.id} reached ${t.before} (is ${JSON.stringify(res.body)})`);
          await sleep(50);
        }
      }
      const admin = await sqlite.admin();
      // The poison wallet's event parks; every other wallet event is delivered.
      for (let tries = 0; ; tries++) {
        const parked = await getJson(`${admin}/consumers/audit/parked`);
        if (parked.body.parked?.length === 1) break;
        assert.ok(tries < 200, "the poison event was parked");
        await sleep(50);
      }
      const viewBefore = (await getJson(`${base}/views/balances/all`)).body.rows;

      // A live service's folder is refused.
      const live = await cli(["migrate", "--data", sqlite.dataDir, "--to-postgres", connectionString, "--postgres-schema", schema]);
      assert.equal(live.code, 1);
      assert.match(live.stderr, /in use by another live process/);
      assert.doesNotMatch(live.stdout, /copying/, "nothing said to be copied before the refusal");

      const stopped = await sqlite.stop();
      assert.deepEqual(stopped, { code: 0, signal: null }, "SIGTERM stops the SQLite service gracefully");
      const deliveredBefore = readFileSync(env.BANK_DELIVERY_LOG, "utf8").trim().split("\n").map(Number);

      const run = await cli(["migrate", "--data", sqlite.dataDir, "--to-postgres", connectionString, "--postgres-schema", schema]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /copying .*sagaflow\.db into PostgreSQL schema/);
      assert.match(run.stdout, /counts verified/);
      assert.match(run.stdout, /views rebuild from the feed .*balances/);
      const { head, parkedRows } = await withClient(connectionString, async (client) => ({
        head: Number((await client.query(`SELECT max(position) AS m FROM "${schema}".events`)).rows[0].m),
        parkedRows: Number((await client.query(`SELECT count(*) AS n FROM "${schema}".parked`)).rows[0].n),
      }));
      assert.equal(parkedRows, 1);

      // The SQLite folder is marked: migrating or serving it again is refused, naming where the data went.
      const again = await cli(["migrate", "--data", sqlite.dataDir, "--to-postgres", connectionString, "--postgres-schema", schema]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`sagaflow\\.db was migrated to PostgreSQL \\(127\\.0\\.0\\.1:5432/\\w+, schema ${schema}\\)`));
      const served = await cli(["serve", fixture, "--port", "0", "--data", sqlite.dataDir], env);
      assert.equal(served.code, 1, served.stdout);
      assert.match(served.stderr, /was migrated to PostgreSQL .*delete .*sagaflow\.db\.migrated/);
      // Without the mark, into the same schema: refused, nothing changed.
      const marker = join(sqlite.dataDir, "sagaflow.db.migrated");
      renameSync(marker, `${marker}.aside`);
      const into = await cli(["migrate", "--data", sqlite.dataDir, "--to-postgres", connectionString, "--postgres-schema", schema]);
      renameSync(`${marker}.aside`, marker);
      assert.equal(into.code, 1);
      assert.match(into.stderr, /is not empty/);
      assert.doesNotMatch(into.stdout, /copying/);

      // On PostgreSQL, with the cure in place: everything continues.
      writeFileSync(env.BANK_CURE_FILE, "");
      pg = await SagaflowProcess.start({ target: fixture, env, args: ["--postgres", connectionString, "--postgres-schema", schema] });
      const pgBase = pg.url;
      const pgAdmin = await pg.admin();
      for (const t of transfers.filter((t) => t.id.startsWith("command"))) {
        assert.equal((await postJson(`${pgBase}/held-transfer/${t.id}/release`, {})).status, 200);
      }
      const expected = new Map<string, number>(Array.from({ length: wallets }, (_, i) => [`w${i}`, initialBalance]));
      for (const t of transfers) {
        // The timers still have up to 15 s to run: the request outlives the server's wait.
        const wait = t.after === "ended" ? 40 : 0;
        const res = await requestJson(`${pgBase}/held-transfer/${t.id}?wait=${wait}`, { timeoutMs: (wait + 10) * 1000 });
        assert.equal(res.body.status, t.after, `${t.id}: ${JSON.stringify(res.body)}`);
        if (t.after === "ended") {
          assert.equal(res.body.state.status, "completed", t.id);
          expected.set(t.input.from, expected.get(t.input.from)! - t.input.amount);
          expected.set(t.input.to, expected.get(t.input.to)! + t.input.amount);
        }
      }
      for (const [id, balance] of expected) {
        assert.equal((await getJson(`${pgBase}/wallet/${id}/balance`)).body.balance, balance, `wallet ${id}`);
      }

      // The parked message came along; retried now, it is delivered (once).
      const parked = await getJson(`${pgAdmin}/consumers/audit/parked`);
      assert.equal(parked.body.parked.length, 1);
      const position = parked.body.parked[0].entry.position as number;
      assert.equal((await postJson(`${pgAdmin}/consumers/audit/parked/${position}/retry`, {})).status, 200);

      // New wallet events continue the feed past the SQLite head; the consumer reaches them.
      assert.equal((await postJson(`${pgBase}/wallet/w0/deposit`, { amount: 1 })).status, 200);
      const walletPositions = await withClient(connectionString, async (client) =>
        (await client.query(`SELECT position FROM "${schema}".events WHERE component = 'wallet' AND kind = 0 ORDER BY position`)).rows.map((r) => Number(r.position)),
      );
      assert.ok(walletPositions.at(-1)! > head, "a new event's position is past the copied head");
      let delivered: number[] = [];
      for (let tries = 0; ; tries++) {
        delivered = readFileSync(env.BANK_DELIVERY_LOG, "utf8").trim().split("\n").map(Number);
        if (delivered.length >= walletPositions.length) break;
        assert.ok(tries < 300, `the consumer delivered every wallet event (${delivered.length} of ${walletPositions.length})`);
        await sleep(50);
      }
      await sleep(500); // room for a (wrong) repeat delivery to show up
      delivered = readFileSync(env.BANK_DELIVERY_LOG, "utf8").trim().split("\n").map(Number);
      assert.deepEqual([...delivered].sort((a, b) => a - b), walletPositions, "every wallet event delivered exactly once over both runs");
      assert.ok(deliveredBefore.length > 0 && deliveredBefore.every((p) => p <= head));

      // The view was rebuilt from the copied feed: the rows it had, plus the changes since.
      for (let tries = 0; ; tries++) {
        const rows = (await getJson(`${pgBase}/views/balances/all`)).body.rows as Array<{ id: string; balance: number }> | undefined;
        const want = [...expected].map(([id, balance]) => ({ id, balance: id === "w0" ? balance + 1 : balance }));
        const got = rows?.filter((r) => r.id !== "poison");
        if (JSON.stringify(got) === JSON.stringify(want)) break;
        assert.ok(tries < 200, `the view was rebuilt: ${JSON.stringify(rows)} (before: ${JSON.stringify(viewBefore)})`);
        await sleep(50);
      }
      assert.equal((await pg.stop()).code, 0);
    });
  });
}
