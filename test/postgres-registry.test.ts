import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { waitFor, waitForNoLag } from "./support/feed-child.ts";
import { requestJson } from "./support/http.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";
import { SagaflowProcess } from "./support/server-process.ts";
import { assertFree, assertNoTimersLeft, getUser, raceForOneAddress } from "./support/registry.ts";

/**
 * The registry example (unique e-mail addresses by choreography: consumers and a timer) over HTTP
 * against a real `sagaflow serve --postgres … --postgres-schema <fresh>` process: the PostgreSQL
 * twin of test/registry-http.test.ts (SQLite). One node per schema.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts).
 */

interface TimerView {
  name: string;
  dueAt: number;
  createdAt: number;
  component: string;
  handler: string;
}

const url = postgresUrlOrSay("PostgreSQL registry test");
if (url) registerTests(url);

function registerTests(connectionString: string): void {
  describe("registry over HTTP on PostgreSQL (real process)", () => {
    const schemas = new SchemaPool(connectionString);
    const servers: SagaflowProcess[] = [];
    after(async () => {
      for (const server of servers.splice(0)) await server.cleanup();
      await schemas.dropAll();
    });

    /** Serves `target` on a fresh schema; resolves with the process and its admin API's URL. */
    async function serveOnPostgres(target: string, label: string, env: Record<string, string>) {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh(label);
      const server = SagaflowProcess.create({ target, args: ["--postgres", connectionString, "--postgres-schema", schema], env });
      servers.push(server);
      await server.start();
      return { server, schema, ...(await urls(server, schema)) };
    }

    /** The current run's URLs, once it said it keeps its data in the schema and where its admin API is. */
    async function urls(server: SagaflowProcess, schema: string): Promise<{ url: string; adminUrl: string }> {
      await server.waitForOutput(new RegExp(`data in PostgreSQL \\(schema ${schema}\\)`), 5_000);
      const admin = await server.waitForOutput(/admin API on (http:\/\/\S+)/, 5_000);
      return { url: server.url, adminUrl: admin[1]! };
    }

    it("twenty-concurrent-registrations-for-one-address-leave-one-owner-and-no-reservation", { timeout: 60_000 }, async () => {
      // A long timeout: a reservation left behind would still be there at the end.
      const { server, schema, url, adminUrl } = await serveOnPostgres("examples/registry", "race", {
        REGISTRY_RESERVATION_TIMEOUT_MS: "60000",
      });
      const winner = await raceForOneAddress(url);

      await waitForNoLag(adminUrl);
      assert.deepEqual((await requestJson(`${url}/email/prize@x.org/get`)).body, { owner: winner, status: "confirmed" });
      // The winner's reservation timer is cancelled once the address is confirmed; the others never had one.
      await waitFor("no reservation timer left", async () => {
        const res = await requestJson(`${adminUrl}/timers`);
        return res.body.timers.length === 0 ? true : undefined;
      }, 5_000);
      for (const name of ["reservations", "confirmations"]) {
        assert.deepEqual((await requestJson(`${adminUrl}/consumers/${name}/parked`)).body, { parked: [], next: null }, `${name}: nothing parked`);
      }
      assertFree(await requestJson(`${url}/email/nobody@x.org/get`));

      // What the schema holds, seen from outside: the address changed hands exactly twice
      // (reserved by the winner, then confirmed: no loser ever held it), each consumer has handled
      // everything of its source, and no timer is left.
      const exit = await server.stop();
      assert.deepEqual(exit, { code: 0, signal: null });
      const store = new PostgresStore({ connectionString, schema, poolSize: 1 });
      try {
        const claims = (await store.readFeed(0, 1000, ["email"])).filter((e) => e.id === "prize@x.org");
        assert.deepEqual(
          claims.map((e) => [e.seq, e.payload]),
          [
            [1, { owner: winner, status: "reserved" }],
            [2, { owner: winner, status: "confirmed" }],
          ],
        );
        const offsets = new Map((await store.listOffsets()).map((o) => [o.consumer, o.position]));
        for (const [consumer, source] of [["reservations", "user"], ["confirmations", "email"]] as const) {
          assert.ok(offsets.has(consumer), `${consumer} stored its offset`);
          assert.deepEqual(await store.readFeed(offsets.get(consumer)!, 10, [source]), [], `${consumer} left nothing of ${source} unhandled`);
        }
        assert.deepEqual(await store.listTimers(undefined, 10), []);
      } finally {
        await store.close();
      }
    });

    it("a-reservation-never-confirmed-is-released-by-the-timer", { timeout: 60_000 }, async () => {
      const timeoutMs = 500;
      const { url, adminUrl } = await serveOnPostgres("test/fixtures/consumers-registry-no-confirmations", "timeout", {
        REGISTRY_RESERVATION_TIMEOUT_MS: String(timeoutMs),
      });
      const registeredAt = Date.now();
      const reply = await requestJson(`${url}/user/slow/register`, { body: { email: "late@x.org", name: "Slow" } });
      assert.deepEqual([reply.status, reply.body], [200, { status: "pending" }]);

      // The reservation and its timer are visible while they wait.
      const timer = await waitFor("the reservation timer", async () => {
        const res = await requestJson(`${adminUrl}/timers`);
        return res.body.timers[0] as TimerView | undefined;
      });
      assert.equal(timer.name, "reservation:late@x.org:slow");
      assert.equal(timer.dueAt - timer.createdAt, timeoutMs);
      assert.deepEqual([timer.component, timer.handler], ["user", "refuseEmail"]);

      const rejected = await waitFor("the timeout", async () => {
        const u = await getUser(url, "slow");
        return u.status === "pending" ? undefined : { user: u, seenAt: Date.now() };
      });
      assert.deepEqual(rejected.user, { email: "late@x.org", name: "Slow", status: "rejected", reason: "timeout" });
      assert.ok(rejected.seenAt - registeredAt >= timeoutMs, `rejected ${rejected.seenAt - registeredAt} ms after registering, not before ${timeoutMs}`);

      // The reservations consumer gives the address back.
      const gone = await waitFor("the address to be free", async () => {
        const res = await requestJson(`${url}/email/late@x.org/get`);
        return res.status === 200 ? undefined : res;
      });
      assertFree(gone);
      await assertNoTimersLeft(adminUrl);
      await waitForNoLag(adminUrl);
      assert.deepEqual((await requestJson(`${adminUrl}/consumers/reservations/parked`)).body, { parked: [], next: null });

      // Someone else can now reserve it.
      await requestJson(`${url}/user/next/register`, { body: { email: "late@x.org", name: "Next" } });
      const claim = await waitFor("the address to be reserved again", async () => {
        const res = await requestJson(`${url}/email/late@x.org/get`);
        return res.status === 200 ? res.body : undefined;
      });
      assert.deepEqual(claim, { owner: "next", status: "reserved" });
    });

    it("a-reservation-timer-pending-when-the-process-is-killed-fires-after-the-restart", { timeout: 60_000 }, async () => {
      const timeoutMs = 1_500;
      const { server, schema, url, adminUrl } = await serveOnPostgres("test/fixtures/consumers-registry-no-confirmations", "killed", {
        REGISTRY_RESERVATION_TIMEOUT_MS: String(timeoutMs),
      });
      const reply = await requestJson(`${url}/user/gone/register`, { body: { email: "kept@x.org", name: "Gone" } });
      assert.deepEqual([reply.status, reply.body], [200, { status: "pending" }]);
      const timer = await waitFor("the reservation timer", async () => {
        const res = await requestJson(`${adminUrl}/timers`);
        return res.body.timers[0] as TimerView | undefined;
      });
      assert.equal(timer.name, "reservation:kept@x.org:gone");
      assert.ok(Date.now() < timer.dueAt, "killed before the timer is due");

      const exit = await server.restart("SIGKILL");
      assert.equal(exit.signal, "SIGKILL");
      const again = await urls(server, schema);
      // The timer is still there after the restart (unless it fired already), and it fires.
      const rejected = await waitFor("the timeout after the restart", async () => {
        const u = await getUser(again.url, "gone");
        return u.status === "pending" ? undefined : u;
      });
      assert.deepEqual(rejected, { email: "kept@x.org", name: "Gone", status: "rejected", reason: "timeout" });
      assertFree(
        await waitFor("the address to be free", async () => {
          const res = await requestJson(`${again.url}/email/kept@x.org/get`);
          return res.status === 200 ? undefined : res;
        }),
      );
      await assertNoTimersLeft(again.adminUrl);
      await waitForNoLag(again.adminUrl);
      assert.deepEqual((await requestJson(`${again.adminUrl}/consumers/reservations/parked`)).body, { parked: [], next: null });
      const internalErrors = server.allOutput().split("\n").filter((line) => /internal error|TypeError|ReferenceError/.test(line));
      assert.deepEqual(internalErrors, []);
    });
  });
}
