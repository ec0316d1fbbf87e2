import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { inspectDatabase, serveWithAdmin, storedEvents, tempDataDir, waitFor, waitForNoLag, type FeedChild } from "./support/feed-child.ts";
import { repoRoot, requestJson } from "./support/workflow-child.ts";

/**
 * Property 3 and 4 with a real process: the fixture's consumer SIGKILLs its own process right
 * after its call to the target entity committed and before the consumer's offset is stored.
 * The restarted process delivers the message again, and the target changes once per event.
 */

const fixture = join(repoRoot, "test/fixtures/consumers-delivery");
const instances = Array.from({ length: 8 }, (_, i) => `s${i}`);
const eventsPerInstance = 25;
const killerEvents = 5;

describe("consumer delivery across a SIGKILL between effect and offset commit", () => {
  const data = tempDataDir("consumer-delivery");
  let child: FeedChild | undefined;
  after(async () => {
    await child?.kill();
    data.dispose();
  });

  it("redelivers-and-the-target-changes-once-per-event", { timeout: 60_000 }, async () => {
    const marker = join(data.path, "killed");
    const deliveryLog = join(data.path, "deliveries.log");
    const env = { CONSUMER_KILL_MARKER: marker, CONSUMER_DELIVERY_LOG: deliveryLog };
    child = await serveWithAdmin(fixture, { dataDir: data.path, env });
    const first = child;

    // 200 events on 8 instances, then 5 on "killer", the last of which kills the process once
    // its call to the counter has succeeded. Some of the posts may race with the kill.
    await Promise.all(instances.map((id) => requestJson(`${first.url}/source/${id}/emit`, { body: { count: eventsPerInstance } })));
    await requestJson(`${first.url}/source/killer/emit`, { body: { count: killerEvents, kill: true } }).catch(() => undefined);
    const code = await waitFor("the fixture to kill itself", () => (first.child.exitCode !== null || first.child.signalCode !== null ? first.exited : undefined), 20_000);
    assert.equal(code, null, "killed by a signal");
    assert.equal(first.child.signalCode, "SIGKILL");
    assert.ok(existsSync(marker), "the marker was written before the kill");
    const killPosition = Number(readFileSync(marker, "utf8"));

    // The kill landed after the effect and before the offset commit.
    inspectDatabase(data.path, (db) => {
      const offset = (db.prepare("SELECT position FROM offsets WHERE consumer = 'counting'").pluck().get() as number | undefined) ?? 0;
      assert.ok(offset < killPosition, `offset ${offset} stays below the killing message ${killPosition}`);
      const keyed = db
        .prepare("SELECT count(*) FROM dedup WHERE component = 'counter' AND id = 'killer' AND key = ?")
        .pluck()
        .get(`consumer:counting:${killPosition}:0`);
      assert.equal(keyed, 1, "the killing message's call to the counter was committed");
      const counted = storedEvents(db, "counter").filter((e) => e.payload.position === killPosition);
      assert.equal(counted.length, 1);
    });
    const deliveriesBefore = readFileSync(deliveryLog, "utf8").trim().split("\n").map(Number);
    assert.equal(deliveriesBefore.filter((p) => p === killPosition).length, 1);

    // Restart with the same environment: the marker keeps the fixture from killing again.
    child = await serveWithAdmin(fixture, { dataDir: data.path, env });
    const second = child;
    const lags = await waitForNoLag(second.adminUrl, "counting");
    const counting = lags.find((c) => c.name === "counting")!;
    assert.equal(counting.lag, 0);

    // Every counter equals the number of events of its source instance.
    const expected = new Map([...instances.map((id) => [id, eventsPerInstance] as const), ["killer", killerEvents] as const]);
    for (const [id, count] of expected) {
      assert.deepEqual((await requestJson(`${second.url}/source/${id}/get`)).body, { emitted: count });
      assert.deepEqual((await requestJson(`${second.url}/counter/${id}/get`)).body, { value: count }, `counter ${id}`);
    }
    const deliveriesAfter = readFileSync(deliveryLog, "utf8").trim().split("\n").map(Number);
    assert.equal(deliveriesAfter.filter((p) => p === killPosition).length, 2, "the killing message was delivered again");
    await second.kill();

    inspectDatabase(data.path, (db) => {
      const sourceEvents = storedEvents(db, "source");
      const counterEvents = storedEvents(db, "counter");
      assert.equal(sourceEvents.length, instances.length * eventsPerInstance + killerEvents);
      // Exactly one increment per source event, on the counter of the event's instance.
      const byPosition = new Map<number, string[]>();
      for (const e of counterEvents) byPosition.set(e.payload.position, [...(byPosition.get(e.payload.position) ?? []), e.id]);
      for (const e of sourceEvents) assert.deepEqual(byPosition.get(e.position), [e.id], `source event at ${e.position}`);
      assert.equal(counterEvents.length, sourceEvents.length);
      const offset = db.prepare("SELECT position FROM offsets WHERE consumer = 'counting'").pluck().get() as number;
      assert.ok(offset >= sourceEvents.at(-1)!.position, "the stored offset covers every source event");
      assert.equal(db.prepare("SELECT count(*) FROM parked").pluck().get(), 0, "nothing parked");
    });
  });
});
