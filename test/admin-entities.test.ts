import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import bank from "../examples/bank/index.ts";
import { serve, type RunningService } from "../src/cli/serve.ts";

describe("admin API: entities and their events are visible", () => {
  let running: RunningService;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "sagaflow-admin-"));
    running = await serve({ service: bank, port: 0, dataDir: dir, log: () => {} });
  });
  after(async () => {
    await running.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const admin = async (path: string) => {
    const res = await fetch(`${running.adminUrl}${path}`);
    return { status: res.status, body: (await res.json()) as any };
  };
  // The bank's customer routes take a bank-example token: these calls are an admin's.
  const secret = "admin-entities-test-secret-0123456789";
  process.env.BANK_JWT_SECRET = secret;
  const token = () => new SignJWT({ roles: ["admin"] }).setProtectedHeader({ alg: "HS256" }).setIssuer("bank-example").setSubject("root").setExpirationTime("5m").sign(new TextEncoder().encode(secret));
  const post = async (path: string, body: unknown) =>
    fetch(`${running.url}${path}`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${await token()}` }, body: JSON.stringify(body) });

  it("lists-an-entitys-events-in-order-and-pages-them", async () => {
    await post("/wallet/w1/create", { initialBalance: 10 });
    await post("/wallet/w1/deposit", { amount: 5 });
    await post("/wallet/w1/withdraw", { amount: 3 });
    const all = await admin("/entities/wallet/w1/events");
    assert.equal(all.status, 200);
    assert.deepEqual(all.body.events.map((e: any) => [e.seq, e.type, e.payload]), [
      [1, "created", { initialBalance: 10 }],
      [2, "deposited", { amount: 5 }],
      [3, "withdrawn", { amount: 3 }],
    ]);
    const page = await admin("/entities/wallet/w1/events?after=1&limit=1");
    assert.deepEqual(page.body.events.map((e: any) => e.seq), [2]);
    const summary = await admin("/entities/wallet/w1");
    assert.equal(summary.body.seq, 3);
    // Its current state, folded: an operator sees the balance without replaying it by hand.
    assert.deepEqual(summary.body.state, { balance: 12, open: true });
  });

  it("shows-a-key-value-record-and-refuses-bad-requests", async () => {
    await post("/customer/c1/register", { name: "Ann", email: "ann@example.com" });
    const record = await admin("/entities/customer/c1");
    assert.equal(record.status, 200);
    assert.equal(record.body.version, 1);
    assert.equal(record.body.state.email, "ann@example.com");
    assert.equal((await admin("/entities/customer/nobody")).status, 404);
    assert.equal((await admin("/entities/nothing/x")).status, 404);
    assert.equal((await admin("/entities/transfer/x")).status, 404, "workflows live under /workflows");
    assert.equal((await admin("/entities/wallet/w1/events?limit=0")).body.error.code, "invalid_input");
  });
});
