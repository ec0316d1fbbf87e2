import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { testService } from "sagaflow/testkit";
import { confirmations, reservationTimeoutMs, reservations } from "./consumers.ts";
import { email } from "./email.ts";
import { user } from "./user.ts";

const all = [user, email, reservations, confirmations];

describe("registry (in process, virtual time)", () => {
  it("a-registration-reserves-then-confirms-the-address", async () => {
    const t = await testService(all);
    assert.deepEqual(await t.client.call(user, "u1").register({ email: "A@x.org", name: "A" }), { status: "pending" });
    await t.settle();
    assert.deepEqual(await t.client.call(user, "u1").get(), { email: "a@x.org", name: "A", status: "active" });
    assert.deepEqual(await t.client.call(email, "a@x.org").get(), { owner: "u1", status: "confirmed" });
    assert.deepEqual(await t.admin.timers(undefined, 10), [], "the reservation timer was cancelled");
    await t.stop();
  });

  it("twenty-racing-registrations-leave-one-owner", async () => {
    const t = await testService(all);
    const ids = Array.from({ length: 20 }, (_, i) => `racer-${i}`);
    await Promise.all(ids.map((id) => t.client.call(user, id).register({ email: "prize@x.org", name: id })));
    await t.settle();
    const users = await Promise.all(ids.map((id) => t.client.call(user, id).get()));
    const active = ids.filter((_, i) => users[i]!.status === "active");
    assert.equal(active.length, 1);
    for (const [i, u] of users.entries()) {
      if (ids[i] !== active[0]) assert.deepEqual([u.status, u.reason], ["rejected", "email_taken"]);
    }
    assert.deepEqual(await t.client.call(email, "prize@x.org").get(), { owner: active[0], status: "confirmed" });
    await t.advance(reservationTimeoutMs * 2);
    assert.equal((await t.client.call(user, active[0]!).get()).status, "active", "no timer undoes the winner");
    await t.stop();
  });

  it("a-reservation-never-confirmed-is-released-by-the-timer", async () => {
    // Without the confirmations consumer, nothing confirms: the timer must clean up.
    const t = await testService([user, email, reservations]);
    await t.client.call(user, "slow").register({ email: "late@x.org", name: "Slow" });
    await t.settle();
    assert.deepEqual(await t.client.call(email, "late@x.org").get(), { owner: "slow", status: "reserved" });
    await t.advance(reservationTimeoutMs - 1);
    assert.equal((await t.client.call(user, "slow").get()).status, "pending", "not before it is due");
    await t.advance(1);
    assert.deepEqual(await t.client.call(user, "slow").get(), { email: "late@x.org", name: "Slow", status: "rejected", reason: "timeout" });
    await assert.rejects(t.client.call(email, "late@x.org").get(), { code: "not_found" });
    await t.stop();
  });

  it("change-email-moves-the-claim-and-keeps-the-old-one-when-taken", async () => {
    const t = await testService(all);
    await t.client.call(user, "a").register({ email: "a@x.org", name: "A" });
    await t.client.call(user, "b").register({ email: "b@x.org", name: "B" });
    await t.settle();
    await t.client.call(user, "a").changeEmail({ email: "b@x.org" });
    await t.settle();
    assert.equal((await t.client.call(user, "a").get()).email, "a@x.org", "b@x.org is taken: a keeps its address");
    await t.client.call(user, "a").changeEmail({ email: "new@x.org" });
    await t.settle();
    assert.equal((await t.client.call(user, "a").get()).email, "new@x.org");
    assert.deepEqual(await t.client.call(email, "new@x.org").get(), { owner: "a", status: "confirmed" });
    await assert.rejects(t.client.call(email, "a@x.org").get(), { code: "not_found" }, "the old address is free again");
    await t.stop();
  });
});
