/**
 * What the registry example's HTTP tests share (test/registry-http.test.ts on SQLite,
 * test/postgres-registry.test.ts on PostgreSQL).
 */
import assert from "node:assert/strict";
import { waitFor } from "./feed-child.ts";
import { requestJson } from "./http.ts";

export interface UserView {
  email: string;
  name: string;
  status: "pending" | "active" | "rejected";
  reason?: string;
}

/** A free address answers 404 with the refusal `not_found` (examples/registry/email.ts). */
export function assertFree(res: { status: number; body: any }): void {
  assert.equal(res.status, 404, `a free address: ${res.status} ${JSON.stringify(res.body)}`);
  assert.equal(res.body.error.code, "not_found");
}

/**
 * Waits until the service lists no timer: a fired timer is marked done in a commit of its own,
 * after its call's effects (the rejection, the freed address) may already be visible. A timer
 * left pending or parked fails this after 15 s, with what is left.
 */
export async function assertNoTimersLeft(adminUrl: string): Promise<void> {
  let left: unknown;
  await waitFor("every timer to be done", async () => {
    const res = await requestJson(`${adminUrl}/timers`);
    left = res.body;
    return JSON.stringify(res.body) === JSON.stringify({ timers: [], next: null }) ? true : undefined;
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}; still listed: ${JSON.stringify(left)}`);
  });
}

export async function getUser(url: string, id: string): Promise<UserView> {
  const res = await requestJson(`${url}/user/${encodeURIComponent(id)}/get`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as UserView;
}

/**
 * Twenty users register the same address (in another case) at once. Every registration must be
 * decided: exactly one user active, the nineteen others rejected with `email_taken`. The winner's id.
 */
export async function raceForOneAddress(url: string): Promise<string> {
  const ids = Array.from({ length: 20 }, (_, i) => `racer-${i}`);
  const replies = await Promise.all(
    ids.map((id) => requestJson(`${url}/user/${id}/register`, { body: { email: "Prize@x.org", name: `Racer ${id}` } })),
  );
  for (const reply of replies) assert.deepEqual([reply.status, reply.body], [200, { status: "pending" }]);

  const users = await waitFor("every registration to be decided", async () => {
    const all = await Promise.all(ids.map((id) => getUser(url, id)));
    return all.every((u) => u.status !== "pending") ? all : undefined;
  });
  const winners = ids.filter((_, i) => users[i]!.status === "active");
  assert.equal(winners.length, 1, `exactly one active owner: ${JSON.stringify(users)}`);
  const winner = winners[0]!;
  for (const [i, u] of users.entries()) {
    const expected: UserView =
      ids[i] === winner
        ? { email: "prize@x.org", name: `Racer ${ids[i]}`, status: "active" }
        : { email: "prize@x.org", name: `Racer ${ids[i]}`, status: "rejected", reason: "email_taken" };
    assert.deepEqual(u, expected);
  }
  return winner;
}
