import { SignJWT } from "jose";
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import pg from "pg";
import bank from "../examples/bank/index.ts";
import { serve, type RunningService } from "../src/cli/serve.ts";
import { getJson, postJson, type JsonResponse } from "./support/http.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";

/**
 * A row lock held by a session outside Sagaflow (an operator's psql with `SELECT … FOR UPDATE` in
 * an open transaction) must hold up only the instance whose row it is: the node's other writes
 * keep being answered, and the blocked command gets a 503 `store_unavailable` with Retry-After once
 * the store's lockTimeoutMs (default 2 s) has passed. Before the fix every write of the node waited
 * for as long as the lock was held (issue 19, item 3).
 *
 * The bank served in process (`serve()`) on a fresh PostgreSQL schema per test. Runs only with
 * SAGAFLOW_POSTGRES_URL set.
 */

const url = postgresUrlOrSay("PostgreSQL row-lock test");
if (url) registerTests(url);

/** The bound on the unrelated writes while the lock is held (the lock itself is held longer). */
const unrelatedWithinMs = 3_000;
const holdMs = 6_000;

function registerTests(connectionString: string): void {
  describe("a row lock held by another session (PostgreSQL)", () => {
    const schemas = new SchemaPool(connectionString);
    const running: RunningService[] = [];
    const clients: pg.Client[] = [];
    after(async () => {
      for (const client of clients.splice(0)) await client.end().catch(() => {});
      for (const service of running.splice(0)) await service.close();
      await schemas.dropAll();
    });

    // The bank's customer routes take a bank-example token: these calls are an admin's.
    const secret = "row-lock-test-secret-0123456789abcdef";
    process.env.BANK_JWT_SECRET = secret;
    const adminAuth = async () => ({
      authorization: `Bearer ${await new SignJWT({ roles: ["admin"] }).setProtectedHeader({ alg: "HS256" }).setIssuer("bank-example").setSubject("root").setExpirationTime("5m").sign(new TextEncoder().encode(secret))}`,
    });

    async function start(): Promise<{ base: string; schema: string; lockSession: pg.Client }> {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh("rowlock");
      const service = await serve({ service: bank, port: 0, adminPort: -1, postgres: connectionString, postgresSchema: schema, log: () => {} });
      running.push(service);
      const lockSession = new pg.Client({ connectionString });
      await lockSession.connect();
      clients.push(lockSession);
      return { base: service.url, schema, lockSession };
    }

    async function createWallets(base: string, ids: string[]): Promise<void> {
      for (const id of ids) assert.equal((await postJson(`${base}/wallet/${id}/create`, { initialBalance: 0 })).status, 200);
    }

    /** Deposits 1 into each wallet at once; the responses, and how long the slowest took. */
    async function depositAll(base: string, ids: string[]): Promise<{ responses: JsonResponse[]; tookMs: number }> {
      const began = performance.now();
      const responses = await Promise.all(ids.map((id) => postJson(`${base}/wallet/${id}/deposit`, { amount: 1 }, {}, 20_000)));
      return { responses, tookMs: performance.now() - began };
    }

    it("another session holding one customer's kv row FOR UPDATE: unrelated deposits answer, that customer's command gets 503", { timeout: 60_000 }, async () => {
      const { base, schema, lockSession } = await start();
      const wallets = Array.from({ length: 20 }, (_, i) => `w${i}`);
      await createWallets(base, wallets);
      assert.equal((await postJson(`${base}/customer/c1/register`, { name: "Ann", email: "ann@example.com" }, await adminAuth())).status, 200);

      await lockSession.query("BEGIN");
      const locked = await lockSession.query(`SELECT * FROM "${schema}".kv WHERE component = 'customer' AND id = 'c1' FOR UPDATE`);
      assert.equal(locked.rowCount, 1, "the customer's row is locked by the other session");
      const release = setTimeout(() => void lockSession.query("ROLLBACK"), holdMs);
      try {
        const blockedAt = performance.now();
        const blocked = postJson(`${base}/customer/c1/addWallet`, { walletId: "w0" }, await adminAuth(), 20_000).then((res) => ({ res, tookMs: performance.now() - blockedAt }));
        const { responses, tookMs } = await depositAll(base, wallets);
        for (const res of responses) assert.equal(res.status, 200, res.text);
        assert.ok(tookMs < unrelatedWithinMs, `20 unrelated deposits answered in ${Math.round(tookMs)} ms while the row was locked (bound ${unrelatedWithinMs} ms)`);

        const { res, tookMs: blockedMs } = await blocked;
        assert.equal(res.status, 503, res.text);
        assert.equal(res.body?.error?.code, "store_unavailable", res.text);
        assert.equal(res.body?.error?.details?.reason, "lock_timeout", res.text);
        assert.match(res.headers.get("retry-after") ?? "", /^\d+$/, "Retry-After is given");
        assert.ok(blockedMs < holdMs, `the blocked command was answered (${Math.round(blockedMs)} ms) before the lock went`);
      } finally {
        clearTimeout(release);
        await lockSession.query("ROLLBACK");
      }

      // The lock gone: the customer's command works, and nothing of the refused one was kept.
      const after = await postJson(`${base}/customer/c1/addWallet`, { walletId: "w1" }, await adminAuth());
      assert.equal(after.status, 200, after.text);
      assert.deepEqual(after.body.wallets, ["w1"], "the command answered 503 changed nothing");
      for (const id of wallets) assert.deepEqual((await getJson(`${base}/wallet/${id}/balance`)).body, { balance: 1 });
    });

    it("another session holding the workflow lease rows FOR UPDATE: deposits answer while transfers wait, and the transfers end once it lets go", { timeout: 60_000 }, async () => {
      const { base, schema, lockSession } = await start();
      const wallets = Array.from({ length: 20 }, (_, i) => `w${i}`);
      await createWallets(base, [...wallets, "from", "to"]);
      assert.equal((await postJson(`${base}/wallet/from/deposit`, { amount: 100 })).status, 200);

      await lockSession.query("BEGIN");
      const locked = await lockSession.query(`SELECT * FROM "${schema}".leases WHERE name LIKE 'workflows/%' FOR UPDATE`);
      assert.ok((locked.rowCount ?? 0) > 0, "the workflow lease rows are locked by the other session");
      const release = setTimeout(() => void lockSession.query("ROLLBACK"), holdMs);
      let transferStarts: Array<Promise<JsonResponse>> = [];
      try {
        transferStarts = [1, 2, 3].map((n) => postJson(`${base}/transfer/t${n}/start`, { from: "from", to: "to", amount: 10 }, {}, 20_000));
        const { responses, tookMs } = await depositAll(base, wallets);
        for (const res of responses) assert.equal(res.status, 200, res.text);
        assert.ok(tookMs < unrelatedWithinMs, `20 unrelated deposits answered in ${Math.round(tookMs)} ms while the lease rows were locked (bound ${unrelatedWithinMs} ms)`);
      } finally {
        clearTimeout(release);
        await lockSession.query("ROLLBACK");
      }

      // Each start was answered (started, or 503 to be sent again); sent again now, each is started once.
      for (const [i, start] of transferStarts.entries()) {
        const res = await start;
        if (res.status === 503) assert.match(res.headers.get("retry-after") ?? "", /^\d+$/, res.text);
        else assert.equal(res.status, 200, res.text);
        const again = await postJson(`${base}/transfer/t${i + 1}/start`, { from: "from", to: "to", amount: 10 });
        assert.equal(again.status, 200, again.text);
      }
      for (const n of [1, 2, 3]) {
        const result = await getJson(`${base}/transfer/t${n}`, { wait: 20 });
        assert.equal(result.body?.status, "ended", result.text);
      }
      assert.deepEqual((await getJson(`${base}/wallet/from/balance`)).body, { balance: 70 });
      assert.deepEqual((await getJson(`${base}/wallet/to/balance`)).body, { balance: 30 });
      for (const id of wallets) assert.deepEqual((await getJson(`${base}/wallet/${id}/balance`)).body, { balance: 1 });
    });
  });
}
