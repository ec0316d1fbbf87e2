import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { serveWithAdmin, tempDataDir, waitFor, waitForNoLag, type FeedChild } from "./support/feed-child.ts";
import { repoRoot, requestJson } from "./support/workflow-child.ts";
import { assertFree, assertNoTimersLeft, getUser, raceForOneAddress } from "./support/registry.ts";

/**
 * The registry example (unique e-mail addresses by choreography: consumers and a timer) over
 * HTTP against a real `sagaflow serve` process on SQLite.
 */

describe("registry over HTTP (real process)", () => {
  const children: FeedChild[] = [];
  const dirs: Array<{ dispose(): void }> = [];
  after(async () => {
    for (const child of children) await child.kill();
    for (const dir of dirs) dir.dispose();
  });

  it("twenty-concurrent-registrations-for-one-address-leave-one-owner-and-no-reservation", { timeout: 60_000 }, async () => {
    const data = tempDataDir("registry-race");
    dirs.push(data);
    // A long timeout: a reservation left behind would still be there at the end.
    const child = await serveWithAdmin(join(repoRoot, "examples/registry"), {
      dataDir: data.path,
      env: { REGISTRY_RESERVATION_TIMEOUT_MS: "60000" },
    });
    children.push(child);
    const winner = await raceForOneAddress(child.url);

    await waitForNoLag(child.adminUrl);
    assert.deepEqual((await requestJson(`${child.url}/email/prize@x.org/get`)).body, { owner: winner, status: "confirmed" });
    // The winner's reservation timer is cancelled once the address is confirmed; the others never had one.
    await waitFor("no reservation timer left", async () => {
      const res = await requestJson(`${child.adminUrl}/timers`);
      return res.body.timers.length === 0 ? true : undefined;
    }, 5_000);
    for (const name of ["reservations", "confirmations"]) {
      assert.deepEqual((await requestJson(`${child.adminUrl}/consumers/${name}/parked`)).body, { parked: [], next: null }, `${name}: nothing parked`);
    }
    assertFree(await requestJson(`${child.url}/email/nobody@x.org/get`));
  });

  it("a-reservation-never-confirmed-is-released-by-the-timer", { timeout: 60_000 }, async () => {
    const data = tempDataDir("registry-timeout");
    dirs.push(data);
    const timeoutMs = 500;
    const child = await serveWithAdmin(join(repoRoot, "test/fixtures/consumers-registry-no-confirmations"), {
      dataDir: data.path,
      env: { REGISTRY_RESERVATION_TIMEOUT_MS: String(timeoutMs) },
    });
    children.push(child);
    const registeredAt = Date.now();
    const reply = await requestJson(`${child.url}/user/slow/register`, { body: { email: "late@x.org", name: "Slow" } });
    assert.deepEqual([reply.status, reply.body], [200, { status: "pending" }]);

    // The reservation and its timer are visible while they wait.
    const timer = await waitFor("the reservation timer", async () => {
      const res = await requestJson(`${child.adminUrl}/timers`);
      return res.body.timers[0] as { name: string; dueAt: number; createdAt: number; component: string; handler: string } | undefined;
    });
    assert.equal(timer.name, "reservation:late@x.org:slow");
    assert.equal(timer.dueAt - timer.createdAt, timeoutMs);
    assert.deepEqual([timer.component, timer.handler], ["user", "refuseEmail"]);

    const rejected = await waitFor("the timeout", async () => {
      const u = await getUser(child.url, "slow");
      return u.status === "pending" ? undefined : { user: u, seenAt: Date.now() };
    });
    assert.deepEqual(rejected.user, { email: "late@x.org", name: "Slow", status: "rejected", reason: "timeout" });
    assert.ok(rejected.seenAt - registeredAt >= timeoutMs, `rejected ${rejected.seenAt - registeredAt} ms after registering, not before ${timeoutMs}`);

    // The reservations consumer gives the address back.
    const gone = await waitFor("the address to be free", async () => {
      const res = await requestJson(`${child.url}/email/late@x.org/get`);
      return res.status === 200 ? undefined : res;
    });
    assertFree(gone);
    await assertNoTimersLeft(child.adminUrl);
    await waitForNoLag(child.adminUrl);
    assert.deepEqual((await requestJson(`${child.adminUrl}/consumers/reservations/parked`)).body, { parked: [], next: null });

    // Someone else can now reserve it.
    await requestJson(`${child.url}/user/next/register`, { body: { email: "late@x.org", name: "Next" } });
    const claim = await waitFor("the address to be reserved again", async () => {
      const res = await requestJson(`${child.url}/email/late@x.org/get`);
      return res.status === 200 ? res.body : undefined;
    });
    assert.deepEqual(claim, { owner: "next", status: "reserved" });
  });
});
