import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { inspectDatabase, serveWithAdmin, storedEvents, tempDataDir, waitFor, waitForNoLag, type FeedChild } from "./support/feed-child.ts";
import { repoRoot, requestJson } from "./support/workflow-child.ts";

/**
 * Durable timers with a real process: 1,000 timers are stored, the process is SIGKILLed while the
 * first of them fire, and after a restart every one of them fires exactly once (one `fired`
 * event each, thanks to the timers' idempotency keys) and none is committed before it is due.
 * A replaced timer fires only as its replacement and a cancelled one never, whether replaced or
 * cancelled before the kill or after the restart.
 */

const fixture = join(repoRoot, "test/fixtures/consumers-timers");
const timerCount = 1_000;
const plans = 10;
// Room to store all 1,000 before the first is due, on a loaded machine too.
const firstDueMs = 6_000;
const spreadMs = 2;
/** The timers replaced or cancelled after the restart are due this long after the first. */
const lateDueMs = 40_000;

interface Scheduled {
  name: string;
  target: string;
  dueIn: number;
}

describe("timers across a SIGKILL and restart", () => {
  const data = tempDataDir("timer-crash");
  let child: FeedChild | undefined;
  after(async () => {
    await child?.kill();
    data.dispose();
  });

  it("1000-timers-fire-exactly-once-none-before-due-replaced-and-cancelled-ones-never", { timeout: 60_000 }, async () => {
    child = await serveWithAdmin(fixture, { dataDir: data.path });
    const first = child;
    const schedule = async (url: string, planId: string, timers: Scheduled[]) => {
      const res = await requestJson(`${url}/plan/${planId}/schedule`, { body: { timers } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    const cancel = async (url: string, planId: string, name: string) => {
      const res = await requestJson(`${url}/plan/${planId}/cancel`, { body: { name } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };

    const perPlan = timerCount / plans;
    await Promise.all(
      Array.from({ length: plans }, (_, p) =>
        schedule(
          first.url,
          `p${p}`,
          Array.from({ length: perPlan }, (_, k) => {
            const i = p * perPlan + k;
            return { name: `t${i}`, target: `t${i}`, dueIn: firstDueMs + i * spreadMs };
          }),
        ),
      ),
    );
    // In order on one plan instance: started, replaced, cancelled.
    await schedule(first.url, "extras", [
      { name: "replace-me", target: "replaced-old", dueIn: firstDueMs },
      { name: "cancel-me", target: "cancelled", dueIn: firstDueMs },
      // Due long after the restart that replaces or cancels them (a loaded machine took more than
      // 2.5 s to restart, and cancel-late fired first).
      { name: "replace-late", target: "late-old", dueIn: firstDueMs + lateDueMs },
      { name: "cancel-late", target: "cancelled-late", dueIn: firstDueMs + lateDueMs },
      { name: "replace-me", target: "replaced-new", dueIn: firstDueMs + 100 },
    ]);
    await cancel(first.url, "extras", "cancel-me");
    await waitForNoLag(first.adminUrl, "scheduler");
    const pendingTimers = async (url: string) => {
      const res = await requestJson(`${url}/timers?status=pending&limit=1000`);
      assert.equal(res.status, 200);
      return res.body.timers as Array<{ name: string }>;
    };
    const stored = timerCount + 3; // replace-me, replace-late and cancel-late besides t0…t999
    // A page holds 1,000 at most; `next` reads on from the last one (due time, then name).
    const page = await requestJson(`${first.adminUrl}/timers?status=pending&limit=1000`);
    assert.equal(page.body.timers.length, 1_000);
    assert.equal(typeof page.body.next, "string");
    const rest = await requestJson(`${first.adminUrl}/timers?status=pending&limit=1000&after=${encodeURIComponent(page.body.next as string)}`);
    assert.equal(rest.status, 200, JSON.stringify(rest.body));
    const names = [...page.body.timers, ...rest.body.timers].map((t: { name: string }) => t.name);
    assert.equal(rest.body.next, null, "the last page says nothing more");
    assert.equal(new Set(names).size, stored, "all timers stored before the first is due, each listed once");
    const badCursor = await requestJson(`${first.adminUrl}/timers?after=soon`);
    assert.deepEqual([badCursor.status, badCursor.body.error.code], [400, "invalid_input"]);

    // Kill while the first ones fire: at least 30 gone, well before most are due.
    await waitFor("the first timers to fire", async () => ((await pendingTimers(first.adminUrl)).length <= stored - 30 ? true : undefined), 20_000, 5);
    await first.kill("SIGKILL");

    const firedBeforeKill = inspectDatabase(data.path, (db) => {
      const fired = storedEvents(db, "sink");
      const timers = db.prepare("SELECT count(*) FROM timers").pluck().get() as number;
      assert.ok(fired.length >= 30 && fired.length < timerCount / 2, `fired before the kill: ${fired.length}`);
      assert.ok(timers > timerCount / 2, `timers still stored: ${timers}`);
      return fired.length;
    });

    child = await serveWithAdmin(fixture, { dataDir: data.path });
    const second = child;
    // After the restart: replace one stored timer and cancel another.
    await schedule(second.url, "extras", [{ name: "replace-late", target: "late-new", dueIn: 300 }]);
    await cancel(second.url, "extras", "cancel-late");
    await waitFor("every timer to fire", async () => ((await pendingTimers(second.adminUrl)).length === 0 ? true : undefined), 30_000, 50);
    assert.deepEqual((await requestJson(`${second.adminUrl}/timers`)).body, { timers: [], next: null }, "none left, none parked");
    assert.deepEqual((await requestJson(`${second.url}/sink/t999/get`)).body, { fired: 1 });
    await second.kill("SIGKILL");

    inspectDatabase(data.path, (db) => {
      const fired = storedEvents(db, "sink");
      assert.ok(fired.length > firedBeforeKill);
      const byTarget = new Map<string, typeof fired>();
      for (const event of fired) byTarget.set(event.id, [...(byTarget.get(event.id) ?? []), event]);
      for (let i = 0; i < timerCount; i++) assert.equal(byTarget.get(`t${i}`)?.length, 1, `timer t${i} fired exactly once`);
      assert.equal(byTarget.get("replaced-new")?.length, 1, "the replacement fired");
      assert.equal(byTarget.get("late-new")?.length, 1, "the replacement made after the restart fired");
      for (const never of ["replaced-old", "cancelled", "late-old", "cancelled-late"]) {
        assert.equal(byTarget.get(never), undefined, `${never} never fired`);
      }
      assert.equal(fired.length, timerCount + 2);
      const early = fired.filter((event) => event.at < event.payload.dueAt);
      assert.deepEqual(early.map((e) => `${e.id}: committed ${e.payload.dueAt - e.at} ms early`), [], "none fired before it was due");
      assert.equal(db.prepare("SELECT count(*) FROM timers").pluck().get(), 0);
    });
  });
});
