import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { after, describe, it } from "node:test";
import { assertErrorBody, getJson, postJson, requestJson } from "./support/http.ts";
import { sagaflowBin, SagaflowProcess } from "./support/server-process.ts";
import { serveStores } from "./support/postgres-schema.ts";

/**
 * A view that cannot apply an entry parks it for that view and keeps serving: later writes are
 * read back with waitForPosition, the admin API and `sagaflow views` count and list it, and an
 * operator retries or skips it. On SQLite and (with SAGAFLOW_POSTGRES_URL) on PostgreSQL, each a
 * real `sagaflow serve` process (test/fixtures/views-parking).
 */

const run = promisify(execFile);
const stores = serveStores("views parking test", "vparked");

for (const [name, args] of stores) {
  describe(`views parking on ${name} (real process)`, () => {
    let server: SagaflowProcess | undefined;
    after(async () => {
      await server?.cleanup();
    });

    it("an entry the view cannot apply is parked; later entries are served; retry and skip work", { timeout: 60_000 }, async () => {
      server = await SagaflowProcess.start({ target: "test/fixtures/views-parking", args: await args() });
      const base = server.url;
      const admin = (await server.waitForOutput(/admin API on (http:\/\/\S+)/, 10_000))[1]!;
      const post = async (board: string, note: string) => {
        const res = await postJson(`${base}/board/${board}/post`, { note });
        assert.equal(res.status, 200, res.text);
        return Number(res.headers.get("sagaflow-position"));
      };
      const rows = async (position: number) => {
        const res = await requestJson(`${base}/views/boards/all?waitForPosition=${position}`, { timeoutMs: 15_000 });
        assert.equal(res.status, 200, `waitForPosition ${position}: ${res.text}`);
        return Object.fromEntries((res.body.rows as Array<{ id: string; notes: number }>).map((r) => [r.id, r.notes]));
      };

      await post("a", "hello");
      const poisonB = await post("b", "poison");
      const poisonC = await post("c", "poison");
      await post("a", "again");
      const last = await post("b", "allow");
      // Every write after the poison entries is read back: the view did not stop.
      assert.deepEqual(await rows(last), { a: 2, b: 1 });

      const listed = await getJson(`${admin}/views`);
      assert.equal(listed.body.views[0].parked, 2, listed.text);
      const parked = (await getJson(`${admin}/views/boards/parked`)).body.parked as Array<Record<string, any>>;
      assert.deepEqual(parked.map((p) => [p.position, p.id, p.type]), [[poisonB, "b", "posted"], [poisonC, "c", "posted"]]);
      assert.match(parked[0]!.error.message, /does not take poison/);
      assert.ok(parked[0]!.attempts >= 3);

      // `sagaflow views` shows the count; `views parked` lists them.
      const table = await run(process.execPath, [sagaflowBin, "views", "--admin", admin]);
      assert.match(table.stdout, /parked/);
      assert.match(table.stdout, /boards\s.*\s2\s/);
      const listing = await run(process.execPath, [sagaflowBin, "views", "parked", "boards", "--admin", admin]);
      assert.match(listing.stdout, new RegExp(`${poisonB}\\s+board\\s+b\\s+posted`));

      // b now allows poison: the retry applies it. c does not: the retry parks it again.
      assert.deepEqual((await postJson(`${admin}/views/boards/parked/${poisonB}/retry`)).body, { applied: 1, parked: 0 });
      assert.deepEqual((await postJson(`${admin}/views/boards/parked/${poisonC}/retry`)).body, { applied: 0, parked: 1 });
      assert.deepEqual(await rows(last), { a: 2, b: 2 });
      assert.deepEqual((await postJson(`${admin}/views/boards/parked/${poisonC}/skip`)).body, { applied: 0, parked: 0 });
      assert.equal((await getJson(`${admin}/views`)).body.views[0].parked, 0);
      assertErrorBody(await postJson(`${admin}/views/boards/parked/${poisonC}/skip`), 404, "not_found");
      assertErrorBody(await postJson(`${admin}/views/nope/parked/1/skip`), 404, "unknown_view");

      // And the view keeps going.
      const next = await post("c", "fine");
      assert.deepEqual(await rows(next), { a: 2, b: 2, c: 1 });
    });
  });
}
