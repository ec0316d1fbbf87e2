import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { serve, type RunningService } from "../../src/cli/serve.ts";
import { assertErrorBody, getJson, postJson, requestJson } from "../../test/support/http.ts";
import { tempDir } from "../../test/support/server-process.ts";
import { SignJWT } from "jose";
import bank from "./index.ts";

/**
 * The bank's HTTP contract, end to end: real HTTP against `serve()` on SQLite (in process).
 * Domain refusals (`fx.error`) are 400 with the handler's code; idempotency conflicts are 409.
 */

const dataDir = tempDir("sagaflow-bank-http-");
// Customer routes take a bank-example HS256 token signed with this secret.
const secret = "bank-http-test-secret-0123456789abcdef";
process.env.BANK_JWT_SECRET = secret;

/** The `Authorization` header of a token whose `sub` is `subject` (`roles` when given). */
async function authFor(subject: string, roles?: string[]): Promise<Record<string, string>> {
  const token = await new SignJWT(roles ? { roles } : {})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("bank-example")
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(secret));
  return { authorization: `Bearer ${token}` };
}
let running: RunningService;
let base: string;
let serial = 0;
/** A wallet or customer id no other test uses. */
const fresh = (prefix: string) => `${prefix}-${++serial}`;

const startServer = async () => {
  running = await serve({ service: bank, port: 0, adminPort: -1, dataDir, log: () => {} });
  base = running.url;
};

before(startServer);
after(async () => {
  await running?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const wallet = (id: string, command: string) => `${base}/wallet/${id}/${command}`;
const customer = (id: string, command: string) => `${base}/customer/${id}/${command}`;
/** GET as the customer `id`. */
const getAs = async (url: string, id: string) => requestJson(url, { headers: await authFor(id) });
const balanceOf = async (id: string) => {
  const res = await getJson(wallet(id, "balance"));
  assert.equal(res.status, 200, res.text);
  return res.body.balance as number;
};
const createWallet = async (id: string, initialBalance: number) => {
  const res = await postJson(wallet(id, "create"), { initialBalance });
  assert.equal(res.status, 200, res.text);
};

describe("bank over HTTP: wallet", () => {
  it("create replies with the initial balance, and balance reads it back", async () => {
    const id = fresh("w");
    const created = await postJson(wallet(id, "create"), { initialBalance: 100 });
    assert.equal(created.status, 200, created.text);
    assert.deepEqual(created.body, { balance: 100 });
    assert.match(created.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual((await getJson(wallet(id, "balance"))).body, { balance: 100 });
  });

  it("a wallet may be created with balance 0", async () => {
    const id = fresh("w");
    assert.deepEqual((await postJson(wallet(id, "create"), { initialBalance: 0 })).body, { balance: 0 });
    assert.equal(await balanceOf(id), 0);
  });

  it("creating the same wallet twice is 400 already_exists and keeps the first balance", async () => {
    const id = fresh("w");
    await createWallet(id, 10);
    assertErrorBody(await postJson(wallet(id, "create"), { initialBalance: 99 }), 400, "already_exists");
    assert.equal(await balanceOf(id), 10);
  });

  it("withdraw replies with the new balance", async () => {
    const id = fresh("w");
    await createWallet(id, 50);
    const res = await postJson(wallet(id, "withdraw"), { amount: 20 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { balance: 30 });
    assert.equal(await balanceOf(id), 30);
  });

  it("withdrawing more than the balance is 400 insufficient_funds and changes nothing", async () => {
    const id = fresh("w");
    await createWallet(id, 50);
    assertErrorBody(await postJson(wallet(id, "withdraw"), { amount: 51 }), 400, "insufficient_funds");
    assert.equal(await balanceOf(id), 50);
    // The whole balance can go.
    assert.deepEqual((await postJson(wallet(id, "withdraw"), { amount: 50 })).body, { balance: 0 });
  });

  it("deposit replies with the new balance", async () => {
    const id = fresh("w");
    await createWallet(id, 5);
    const res = await postJson(wallet(id, "deposit"), { amount: 7 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { balance: 12 });
    assert.equal(await balanceOf(id), 12);
  });

  it("withdraw, deposit and balance on a wallet never created are not_found, and do not create it", async () => {
    const id = fresh("never");
    assertErrorBody(await postJson(wallet(id, "withdraw"), { amount: 1 }), 400, "not_found");
    assertErrorBody(await postJson(wallet(id, "deposit"), { amount: 1 }), 400, "not_found");
    assertErrorBody(await getJson(wallet(id, "balance")), 400, "not_found");
    // It can still be created afterwards, with exactly its initial balance.
    await createWallet(id, 3);
    assert.equal(await balanceOf(id), 3);
  });

  it("amounts that are not whole numbers above 0 are 400 invalid_amount and change nothing", async () => {
    const id = fresh("w");
    await createWallet(id, 100);
    const bad: Array<[string, unknown]> = [
      ["0", { amount: 0 }],
      ["-1", { amount: -1 }],
      ["1.5", { amount: 1.5 }],
      ['"5"', { amount: "5" }],
      ["null", { amount: null }],
      ["missing", {}],
      ["too large", { amount: 2 ** 53 }],
    ];
    for (const command of ["withdraw", "deposit"]) {
      for (const [label, body] of bad) {
        assertErrorBody(await postJson(wallet(id, command), body), 400, "invalid_amount");
        assert.equal(await balanceOf(id), 100, `${command} with amount ${label} changed the balance`);
      }
    }
  });

  it("create with an invalid initial balance is 400 invalid_amount and creates nothing", async () => {
    for (const body of [{ initialBalance: -1 }, { initialBalance: 1.5 }, { initialBalance: "5" }, {}]) {
      const id = fresh("w");
      assertErrorBody(await postJson(wallet(id, "create"), body), 400, "invalid_amount");
      assertErrorBody(await getJson(wallet(id, "balance")), 400, "not_found");
    }
  });
});

describe("bank over HTTP: Idempotency-Key", () => {
  it("a repeated deposit with the same key returns the first reply and adds the amount once", async () => {
    const id = fresh("w");
    await createWallet(id, 10);
    const key = { "idempotency-key": `dep-${id}` };
    const first = await postJson(wallet(id, "deposit"), { amount: 5 }, key);
    assert.deepEqual(first.body, { balance: 15 });
    // The wallet moves on in between: a repeat still answers what the first call answered.
    await postJson(wallet(id, "deposit"), { amount: 100 });
    const second = await postJson(wallet(id, "deposit"), { amount: 5 }, key);
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.body, { balance: 15 });
    assert.equal(await balanceOf(id), 115);
  });

  it("concurrent repeats with one key apply the command once and all get the same reply", async () => {
    const id = fresh("w");
    await createWallet(id, 0);
    const key = { "idempotency-key": `burst-${id}` };
    const replies = await Promise.all(Array.from({ length: 10 }, () => postJson(wallet(id, "deposit"), { amount: 7 }, key)));
    for (const reply of replies) {
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(reply.body, { balance: 7 });
    }
    assert.equal(await balanceOf(id), 7);
  });

  it("the same key with a different body is 409 idempotency_key_reused and changes nothing", async () => {
    const id = fresh("w");
    await createWallet(id, 10);
    const key = { "idempotency-key": `reuse-${id}` };
    assert.equal((await postJson(wallet(id, "deposit"), { amount: 5 }, key)).status, 200);
    assertErrorBody(await postJson(wallet(id, "deposit"), { amount: 6 }, key), 409, "idempotency_key_reused");
    assertErrorBody(await postJson(wallet(id, "withdraw"), { amount: 5 }, key), 409, "idempotency_key_reused");
    assert.equal(await balanceOf(id), 15);
  });

  it("the same body with keys in another order is the same request, not a reuse", async () => {
    const id = fresh("c");
    const key = { "idempotency-key": `order-${id}` };
    const first = await postJson(customer(id, "register"), { name: "Ada", email: "ada@example.com" }, { ...key, ...(await authFor(id)) });
    assert.equal(first.status, 200, first.text);
    const again = await requestJson(customer(id, "register"), {
      method: "POST",
      rawBody: '{"email":"ada@example.com","name":"Ada"}',
      headers: { "content-type": "application/json", ...key, ...(await authFor(id)) },
    });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body, first.body);
  });

  it("a refusal is remembered under its key: the repeat is refused again even once it could succeed", async () => {
    const id = fresh("w");
    await createWallet(id, 1);
    const key = { "idempotency-key": `refused-${id}` };
    assertErrorBody(await postJson(wallet(id, "withdraw"), { amount: 5 }, key), 400, "insufficient_funds");
    await postJson(wallet(id, "deposit"), { amount: 10 });
    assertErrorBody(await postJson(wallet(id, "withdraw"), { amount: 5 }, key), 400, "insufficient_funds");
    assert.equal(await balanceOf(id), 11);
  });

  it("a key belongs to one wallet: the same key on another wallet is a separate command", async () => {
    const a = fresh("w");
    const b = fresh("w");
    await createWallet(a, 0);
    await createWallet(b, 0);
    const key = { "idempotency-key": `shared-${a}` };
    assert.deepEqual((await postJson(wallet(a, "deposit"), { amount: 3 }, key)).body, { balance: 3 });
    assert.deepEqual((await postJson(wallet(b, "deposit"), { amount: 4 }, key)).body, { balance: 4 });
    assert.equal(await balanceOf(a), 3);
    assert.equal(await balanceOf(b), 4);
  });

  it("an empty or 300-character key is 400 invalid_idempotency_key and changes nothing", async () => {
    const id = fresh("w");
    await createWallet(id, 0);
    for (const key of ["", "k".repeat(300)]) {
      assertErrorBody(await postJson(wallet(id, "deposit"), { amount: 1 }, { "idempotency-key": key }), 400, "invalid_idempotency_key");
    }
    assert.equal(await balanceOf(id), 0);
  });

  it("keys survive a restart: a repeat after the server restarts changes nothing", async () => {
    const id = fresh("w");
    await createWallet(id, 10);
    const key = { "idempotency-key": `restart-${id}` };
    assert.deepEqual((await postJson(wallet(id, "withdraw"), { amount: 4 }, key)).body, { balance: 6 });
    await running.close();
    await startServer();
    const again = await postJson(wallet(id, "withdraw"), { amount: 4 }, key);
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.body, { balance: 6 });
    assert.equal(await balanceOf(id), 6);
    assertErrorBody(await postJson(wallet(id, "withdraw"), { amount: 5 }, key), 409, "idempotency_key_reused");
  });
});

describe("bank over HTTP: customer (key-value, input checked with zod)", () => {
  it("register replies with the new profile, and get reads it back", async () => {
    const id = fresh("c");
    const res = await postJson(customer(id, "register"), { name: "Grace", email: "grace@example.com" }, await authFor(id));
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { name: "Grace", email: "grace@example.com", wallets: [] });
    assert.deepEqual((await getAs(customer(id, "get"), id)).body, res.body);
  });

  it("an invalid email is 400 invalid_input naming the field, and registers nothing", async () => {
    const id = fresh("c");
    const error = assertErrorBody(await postJson(customer(id, "register"), { name: "Bob", email: "not-an-email" }, await authFor(id)), 400, "invalid_input");
    assert.match(error.message, /email/);
    assert.deepEqual(
      error.details?.issues?.map((issue: { path: string[] }) => issue.path),
      [["email"]],
    );
    assertErrorBody(await getAs(customer(id, "get"), id), 400, "not_found");
  });

  it("missing or mistyped fields are 400 invalid_input", async () => {
    const id = fresh("c");
    for (const body of [{}, { name: "Bob" }, { name: 5, email: "bob@example.com" }, { name: "", email: "bob@example.com" }]) {
      assertErrorBody(await postJson(customer(id, "register"), body, await authFor(id)), 400, "invalid_input");
    }
    assertErrorBody(await getAs(customer(id, "get"), id), 400, "not_found");
  });

  it("registering twice is already_exists and keeps the first profile", async () => {
    const id = fresh("c");
    await postJson(customer(id, "register"), { name: "Ann", email: "ann@example.com" }, await authFor(id));
    assertErrorBody(await postJson(customer(id, "register"), { name: "Other", email: "other@example.com" }, await authFor(id)), 400, "already_exists");
    assert.equal((await getAs(customer(id, "get"), id)).body.name, "Ann");
  });

  it("addWallet adds a wallet id once", async () => {
    const id = fresh("c");
    await postJson(customer(id, "register"), { name: "Ann", email: "ann@example.com" }, await authFor(id));
    await postJson(customer(id, "addWallet"), { walletId: "w-1" }, await authFor(id));
    const res = await postJson(customer(id, "addWallet"), { walletId: "w-1" }, await authFor(id));
    assert.deepEqual(res.body.wallets, ["w-1"]);
    const stranger = fresh("c");
    assertErrorBody(await postJson(customer(stranger, "addWallet"), { walletId: "w-1" }, await authFor(stranger)), 400, "not_found");
  });
});

describe("bank over HTTP: who may call customer routes", () => {
  it("without a token: 401 with WWW-Authenticate: Bearer, and nothing registered", async () => {
    const id = fresh("c");
    const res = await postJson(customer(id, "register"), { name: "Eve", email: "eve@example.com" });
    assertErrorBody(res, 401, "missing_token");
    assert.equal(res.headers.get("www-authenticate"), "Bearer");
    assertErrorBody(await getAs(customer(id, "get"), id), 400, "not_found");
  });

  it("another customer's token: 403 forbidden; an admin's token passes", async () => {
    const id = fresh("c");
    assertErrorBody(await postJson(customer(id, "register"), { name: "Eve", email: "eve@example.com" }, await authFor("someone-else")), 403, "forbidden");
    const admin = await authFor("root", ["admin"]);
    const res = await postJson(customer(id, "register"), { name: "Ann", email: "ann@example.com" }, admin);
    assert.equal(res.status, 200, res.text);
    assert.equal((await requestJson(customer(id, "get"), { headers: admin })).body.name, "Ann");
  });

  it("wallets and transfers stay public", async () => {
    const id = fresh("w");
    assert.deepEqual((await postJson(wallet(id, "create"), { initialBalance: 1 })).body, { balance: 1 });
  });
});

describe("bank over HTTP: GET /customers/{id}/overview", () => {
  it("answers the profile, each wallet's balance and the total", async () => {
    const id = fresh("c");
    const [a, b] = [fresh("w"), fresh("w")];
    await createWallet(a, 30);
    await createWallet(b, 12);
    const auth = await authFor(id);
    await postJson(customer(id, "register"), { name: "Ada", email: "ada@example.com" }, auth);
    await postJson(customer(id, "addWallet"), { walletId: a }, auth);
    await postJson(customer(id, "addWallet"), { walletId: b }, auth);
    const res = await requestJson(`${base}/customers/${id}/overview`, { headers: auth });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { name: "Ada", email: "ada@example.com", wallets: [{ id: a, balance: 30 }, { id: b, balance: 12 }], total: 42 });
  });

  it("an unknown customer is 404 not_found; another customer's token 403; none 401", async () => {
    const id = fresh("c");
    assertErrorBody(await requestJson(`${base}/customers/${id}/overview`, { headers: await authFor(id) }), 404, "not_found");
    assertErrorBody(await requestJson(`${base}/customers/${id}/overview`, { headers: await authFor("other") }), 403, "forbidden");
    const none = await requestJson(`${base}/customers/${id}/overview`);
    assertErrorBody(none, 401, "missing_token");
    assert.equal(none.headers.get("www-authenticate"), "Bearer");
  });
});
