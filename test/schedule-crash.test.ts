import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { until } from "../src/runtime/test-support.ts";
import { getJson, postJson } from "./support/http.ts";
import { SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * Cron ticks across a SIGKILL (issue 16), with a real process: a schedule every 6 s records each
 * tick. Right after a tick T fired the process is killed, and started again 13.5 s later: the
 * ticks T+6 and T+12 passed while it was down. With `skip` neither fires; with `catch-up` only
 * the latest (T+12) fires, once. Either way T+18 fires on time and no tick fires twice. Pausing
 * stops the firing and shows in `GET /schedules`.
 */

async function ticks(server: SagaflowProcess): Promise<number[]> {
  const reply = await getJson(`${server.url}/ticks/all/list`);
  return reply.status === 200 ? (reply.body as number[]) : [];
}

// The two policies run side by side: each test mostly waits for the clock, in a process of its own.
describe("cron schedules across a SIGKILL (real process)", { concurrency: true }, () => {
  const servers: SagaflowProcess[] = [];
  after(async () => {
    for (const server of servers) await server.cleanup();
  });

  for (const missed of ["skip", "catch-up"] as const) {
    it(`missed ticks: ${missed}`, { timeout: 90_000 }, async () => {
      const server = await SagaflowProcess.start({ target: "test/fixtures/schedules", env: { MISSED: missed } });
      servers.push(server);
      let first = 0;
      await until("the first tick", async () => ((first = (await ticks(server))[0] ?? 0) > 0), 20_000, { everyMs: 50 });
      await server.kill("SIGKILL");
      await sleep(Math.max(0, first + 13_500 - Date.now()));
      await server.start();
      await until("the tick at T+18", async () => (await ticks(server)).includes(first + 18_000), 20_000, { everyMs: 50 });
      const fired = await ticks(server);
      assert.equal(new Set(fired).size, fired.length, `no tick twice: ${fired.join(", ")}`);
      assert.equal(fired.includes(first + 6_000), false, "T+6 passed while down and is not the latest");
      assert.equal(fired.includes(first + 12_000), missed === "catch-up", `T+12 fired only to catch up (${missed})`);

      const admin = await server.admin();
      const listed = await getJson(`${admin}/schedules`);
      assert.equal(listed.body.schedules[0].name, "tick");
      assert.equal(listed.body.schedules[0].missed, missed);
      assert.equal(listed.body.schedules[0].paused, false);
      const paused = await postJson(`${admin}/schedules/tick/pause`, {});
      assert.equal(paused.body.paused, true);
      const count = (await ticks(server)).length;
      await sleep(7_000); // more than a tick's interval
      assert.equal((await ticks(server)).length, count, "nothing fires while paused");
      assert.equal((await postJson(`${admin}/schedules/tick/resume`, {})).body.paused, false);
      assert.equal((await postJson(`${admin}/schedules/nope/pause`, {})).status, 404);
      await server.stop();
    });
  }
});
