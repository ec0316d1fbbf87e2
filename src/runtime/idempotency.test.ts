import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { customer } from "../../examples/bank/customer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { entity } from "../define/entity.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { isCode } from "./test-support.ts";

describe("runtime: idempotency keys", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-idempotency-"));
  let n = 0;
  const runtimes: Runtime[] = [];
  after(async () => {
    for (const rt of runtimes) await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A runtime on the SQLite file `path`; a second one on the same path is a restart. */
  async function open(path: string) {
    const store = new SqliteStore({ path });
    const rt = new Runtime({ store, components: [wallet, customer], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    return { rt, store };
  }
  const freshPath = () => join(dir, `i-${++n}.db`);

  it("same-key-sent-100-times-concurrently-changes-state-once-and-gives-one-reply", async () => {
    const { rt, store } = await open(freshPath());
    await rt.call("wallet", "w1", "create", { initialBalance: 100 });
    const replies = await Promise.all(
      Array.from({ length: 100 }, () => rt.call("wallet", "w1", "withdraw", { amount: 30 }, { idempotencyKey: "k1" })),
    );
    for (const reply of replies) assert.deepEqual(reply, { balance: 70 });
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 70 });
    const events = await store.readEvents("wallet", "w1", 0, 1000);
    assert.deepEqual(
      events.map((e) => e.type),
      ["created", "withdrawn"],
    );
  });

  it("same-key-within-one-turn-is-applied-once", async () => {
    // Without a key each of these would withdraw; the first call opens the turn, the rest share the next.
    const { rt, store } = await open(freshPath());
    await rt.call("wallet", "w1", "create", { initialBalance: 10 });
    const calls = [
      rt.call("wallet", "w1", "deposit", { amount: 1 }),
      ...Array.from({ length: 5 }, () => rt.call("wallet", "w1", "withdraw", { amount: 2 }, { idempotencyKey: "t" })),
      rt.call("wallet", "w1", "deposit", { amount: 1 }),
    ];
    assert.deepEqual(await Promise.all(calls), [
      { balance: 11 },
      { balance: 9 },
      { balance: 9 },
      { balance: 9 },
      { balance: 9 },
      { balance: 9 },
      { balance: 10 },
    ]);
    assert.equal((await store.readEvents("wallet", "w1", 0, 100)).length, 4);
  });

  it("a-repeat-after-restart-returns-the-stored-reply-and-adds-no-event", async () => {
    const path = freshPath();
    const first = await open(path);
    await first.rt.call("wallet", "w1", "create", { initialBalance: 100 });
    assert.deepEqual(await first.rt.call("wallet", "w1", "withdraw", { amount: 30 }, { idempotencyKey: "k" }), {
      balance: 70,
    });
    await first.rt.stop();

    const second = await open(path);
    // Change the balance, so that a re-run (rather than the stored reply) would give another answer.
    assert.deepEqual(await second.rt.call("wallet", "w1", "deposit", { amount: 50 }), { balance: 120 });
    assert.deepEqual(await second.rt.call("wallet", "w1", "withdraw", { amount: 30 }, { idempotencyKey: "k" }), {
      balance: 70,
    });
    assert.deepEqual(await second.rt.call("wallet", "w1", "balance", {}), { balance: 120 });
    assert.deepEqual(
      (await second.store.readEvents("wallet", "w1", 0, 100)).map((e) => e.type),
      ["created", "withdrawn", "deposited"],
    );
  });

  it("same-key-with-different-input-is-idempotency_key_reused-and-changes-nothing", async () => {
    const path = freshPath();
    const { rt, store } = await open(path);
    await rt.call("wallet", "w1", "create", { initialBalance: 100 });
    await rt.call("wallet", "w1", "withdraw", { amount: 30 }, { idempotencyKey: "k" });
    await assert.rejects(
      rt.call("wallet", "w1", "withdraw", { amount: 31 }, { idempotencyKey: "k" }),
      isCode("idempotency_key_reused", 409),
    );
    // Another command under the same key is a different request too.
    await assert.rejects(
      rt.call("wallet", "w1", "deposit", { amount: 30 }, { idempotencyKey: "k" }),
      isCode("idempotency_key_reused", 409),
    );
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 70 });
    assert.equal((await store.readEvents("wallet", "w1", 0, 100)).length, 2);
    // The original request under the key is still answered from the record.
    assert.deepEqual(await rt.call("wallet", "w1", "withdraw", { amount: 30 }, { idempotencyKey: "k" }), {
      balance: 70,
    });
  });

  it("a-handler-that-changes-its-input-does-not-change-what-its-key-stands-for", async () => {
    // The request under a key is the input as sent: hashed before any handler can touch it.
    const meter = entity("meter", { initial: () => 0, events: { added: (n: number, e: { by: number }) => n + e.by } }, {
      commands: {
        add: (_n, c: { by: number }, fx) => {
          const by = c.by;
          c.by = 0; // a handler that reuses its input object
          return fx.emit("added", { by }).reply((n) => n);
        },
      },
    });
    const store = new SqliteStore({ path: freshPath() });
    const rt = new Runtime({ store, components: [meter], log: () => {} });
    runtimes.push(rt);
    await rt.start();
    assert.equal(await rt.call("meter", "m1", "add", { by: 5 }, { idempotencyKey: "k" }), 5);
    // A retry of the same request gets the stored reply, not idempotency_key_reused.
    assert.equal(await rt.call("meter", "m1", "add", { by: 5 }, { idempotencyKey: "k" }), 5);
    await assert.rejects(rt.call("meter", "m1", "add", { by: 0 }, { idempotencyKey: "k" }), isCode("idempotency_key_reused", 409));
  });

  it("same-key-with-different-input-in-the-same-turn-is-refused", async () => {
    const { rt, store } = await open(freshPath());
    await rt.call("wallet", "w1", "create", { initialBalance: 100 });
    const results = await Promise.allSettled([
      rt.call("wallet", "w1", "deposit", { amount: 1 }),
      rt.call("wallet", "w1", "withdraw", { amount: 5 }, { idempotencyKey: "same" }),
      rt.call("wallet", "w1", "withdraw", { amount: 6 }, { idempotencyKey: "same" }),
    ]);
    assert.deepEqual(results[1], { status: "fulfilled", value: { balance: 96 } });
    assert.equal(results[2].status, "rejected");
    isCode("idempotency_key_reused", 409)((results[2]).reason);
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 96 });
    assert.equal((await store.readEvents("wallet", "w1", 0, 100)).length, 3);
  });

  it("input-key-order-does-not-make-a-different-request", async () => {
    const { rt } = await open(freshPath());
    await rt.call("customer", "c1", "register", { name: "Ann", email: "ann@example.com" }, { idempotencyKey: "r" });
    assert.deepEqual(
      await rt.call("customer", "c1", "register", { email: "ann@example.com", name: "Ann" }, { idempotencyKey: "r" }),
      { name: "Ann", email: "ann@example.com", wallets: [] },
    );
  });

  it("a-domain-error-reply-is-stored-and-repeated-even-after-the-state-changed", async () => {
    const path = freshPath();
    const first = await open(path);
    await first.rt.call("wallet", "w2", "create", { initialBalance: 10 });
    await assert.rejects(
      first.rt.call("wallet", "w2", "withdraw", { amount: 20 }, { idempotencyKey: "e" }),
      isCode("insufficient_funds"),
    );
    await first.rt.call("wallet", "w2", "deposit", { amount: 100 });
    // Now the withdrawal would succeed if it were run again; the stored refusal is returned instead.
    await assert.rejects(
      first.rt.call("wallet", "w2", "withdraw", { amount: 20 }, { idempotencyKey: "e" }),
      isCode("insufficient_funds"),
    );
    await first.rt.stop();

    const second = await open(path);
    const reply = await second.rt.callForReply("wallet", "w2", "withdraw", { amount: 20 }, { idempotencyKey: "e" });
    assert.equal(reply.ok, false);
    assert.equal(!reply.ok && reply.code, "insufficient_funds");
    assert.deepEqual(await second.rt.call("wallet", "w2", "balance", {}), { balance: 110 });
    assert.deepEqual(
      (await second.store.readEvents("wallet", "w2", 0, 100)).map((e) => e.type),
      ["created", "deposited"],
    );
  });

  it("key-value-entity-same-key-100-times-writes-once-and-survives-restart", async () => {
    const path = freshPath();
    const first = await open(path);
    const input = { name: "Ann", email: "ann@example.com" };
    const expected = { name: "Ann", email: "ann@example.com", wallets: [] };
    const replies = await Promise.all(
      Array.from({ length: 100 }, () => first.rt.call("customer", "c1", "register", input, { idempotencyKey: "reg" })),
    );
    for (const reply of replies) assert.deepEqual(reply, expected);
    assert.deepEqual(await first.store.loadKv("customer", "c1"), { version: 1, state: expected, deleted: false });
    // Without the key, a second register is refused: proof that the repeats above were not re-run.
    await assert.rejects(first.rt.call("customer", "c1", "register", input), isCode("already_exists"));
    await first.rt.stop();

    const second = await open(path);
    assert.deepEqual(await second.rt.call("customer", "c1", "register", input, { idempotencyKey: "reg" }), expected);
    await assert.rejects(
      second.rt.call("customer", "c1", "register", { name: "Bob", email: "bob@example.com" }, { idempotencyKey: "reg" }),
      isCode("idempotency_key_reused", 409),
    );
    assert.deepEqual(await second.store.loadKv("customer", "c1"), { version: 1, state: expected, deleted: false });
  });

  it("key-value-domain-error-is-stored-under-its-key", async () => {
    const { rt, store } = await open(freshPath());
    await assert.rejects(
      rt.call("customer", "c2", "addWallet", { walletId: "w1" }, { idempotencyKey: "add" }),
      isCode("not_found"),
    );
    await rt.call("customer", "c2", "register", { name: "Cy", email: "cy@example.com" });
    await assert.rejects(
      rt.call("customer", "c2", "addWallet", { walletId: "w1" }, { idempotencyKey: "add" }),
      isCode("not_found"),
    );
    assert.deepEqual(((await store.loadKv("customer", "c2"))?.state as { wallets: string[] }).wallets, []);
  });

  it("invalid-idempotency-keys-are-invalid_idempotency_key", async () => {
    const { rt } = await open(freshPath());
    for (const key of ["", "x".repeat(257), "a\nb"]) {
      await assert.rejects(
        rt.call("wallet", "w1", "create", { initialBalance: 1 }, { idempotencyKey: key }),
        isCode("invalid_idempotency_key", 400),
        JSON.stringify(key),
      );
    }
    await assert.rejects(rt.call("wallet", "w1", "balance", {}), isCode("not_found"));
  });

  it("a-caller-key-shaped-like-a-runtime-key-is-refused-and-changes-nothing", async () => {
    const { rt } = await open(freshPath());
    await rt.call("wallet", "w1", "create", { initialBalance: 10 });
    // The key a workflow step's first call would send: a caller must not be able to answer it.
    await assert.rejects(
      rt.call("wallet", "w1", "withdraw", { amount: 1 }, { idempotencyKey: "wf:transfer:t1:1:0" }),
      isCode("invalid_idempotency_key", 400),
    );
    assert.deepEqual(await rt.call("wallet", "w1", "balance", {}), { balance: 10 });
  });
});
