import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { customer } from "../../examples/bank/customer.ts";
import { wallet } from "../../examples/bank/wallet.ts";
import { z } from "zod";
import { entity } from "../define/entity.ts";
import { keyValue } from "../define/key-value.ts";
import { SagaflowError } from "../define/errors.ts";
import { SqliteStore } from "../store/sqlite/sqlite-store.ts";
import { Runtime } from "./runtime.ts";
import { isCode } from "./test-support.ts";

/** An entity with broken handlers, to see that user bugs are contained. */
const fragile = entity(
  "fragile",
  {
    initial: () => ({ n: 0 }),
    events: { bumped: (s: { n: number }, _e: {}) => ({ n: s.n + 1 }) },
  },
  {
    commands: {
      bump: (_s, _c: {}, fx) => fx.emit("bumped", {}).reply((s) => s.n),
      explode: (_s, _c: {}, _fx) => {
        throw new Error("handler bug");
      },
      notAnEffect: (_s, _c: {}, _fx) => ({ events: [], reply: 1 }) as never,
    },
    queries: { n: (s, _: {}, fx) => fx.reply(s.n) },
  },
);

/** Stores its input as given to the handler: shows what validation hands on. */
const profile = keyValue("profile", {
  initial: () => ({ name: "", age: 0 }),
  inputs: { set: z.object({ name: z.string().trim().min(1), age: z.coerce.number().int() }) },
  commands: { set: (_s, c: { name: string; age: number }, fx) => fx.update(c).reply((s) => s) },
});

describe("runtime: bad input gets a clear error and changes nothing", () => {
  const dir = mkdtempSync(join(tmpdir(), "sagaflow-validation-"));
  const logged: string[] = [];
  let store: SqliteStore;
  let rt: Runtime;
  before(async () => {
    store = new SqliteStore({ path: join(dir, "v.db") });
    rt = new Runtime({ store, components: [wallet, customer, fragile, profile], log: (line) => logged.push(line) });
    await rt.start();
  });
  after(async () => {
    await rt.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("invalid-email-is-invalid_input-with-issues-and-nothing-is-stored", async () => {
    await assert.rejects(rt.call("customer", "c1", "register", { name: "Ann", email: "not-an-email" }), (error) => {
      isCode("invalid_input", 400)(error);
      const details = (error as SagaflowError).details as { issues: Array<{ message: string; path: string[] }> };
      assert.ok(Array.isArray(details.issues) && details.issues.length >= 1);
      assert.deepEqual(details.issues[0]!.path, ["email"]);
      assert.match((error as SagaflowError).message, /customer\.register at email/);
      return true;
    });
    assert.equal(await store.loadKv("customer", "c1"), undefined);
    // The same customer can then register with valid input: the refusal left nothing behind.
    assert.deepEqual(await rt.call("customer", "c1", "register", { name: "Ann", email: "ann@example.com" }), {
      name: "Ann",
      email: "ann@example.com",
      wallets: [],
    });
  });

  it("wrong-types-and-missing-fields-are-invalid_input", async () => {
    for (const input of [{ name: 5, email: "a@example.com" }, { email: "a@example.com" }, "text", null, [1]]) {
      await assert.rejects(rt.call("customer", "c9", "register", input), isCode("invalid_input", 400), JSON.stringify(input));
    }
    assert.equal(await store.loadKv("customer", "c9"), undefined);
  });

  it("validated-input-is-what-the-handler-sees", async () => {
    // The schema trims, coerces and strips unknown keys: the handler must get its output, not the raw input.
    const reply = await rt.call("profile", "p1", "set", { name: "  Ann  ", age: "42", admin: true });
    assert.deepEqual(reply, { name: "Ann", age: 42 });
    assert.deepEqual((await store.loadKv("profile", "p1"))?.state, { name: "Ann", age: 42 });
    await assert.rejects(rt.call("profile", "p1", "set", { name: "   ", age: 1 }), isCode("invalid_input", 400));
    assert.equal((await store.loadKv("profile", "p1"))?.version, 1);
  });

  it("unknown-component-is-404", async () => {
    await assert.rejects(rt.call("nope", "x", "get", {}), isCode("unknown_component", 404));
  });

  it("unknown-command-is-404-including-inherited-property-names", async () => {
    for (const name of ["nope", "toString", "constructor", "__proto__", "hasOwnProperty"]) {
      await assert.rejects(rt.call("wallet", "w1", name, {}), isCode("unknown_command", 404), name);
    }
  });

  it("bad-ids-are-invalid_id", async () => {
    for (const id of ["", "a/b", "..", ".", "x".repeat(1000), "a\u0000b", "a b", "a\nb"]) {
      await assert.rejects(rt.call("wallet", id, "create", { initialBalance: 1 }), isCode("invalid_id", 400), JSON.stringify(id));
    }
    // A missing field used as an id (`ctx.call(wallet, input.to)`) says so, not "invalid id \"undefined\"".
    await assert.rejects(rt.call("wallet", undefined as unknown as string, "create", {}), { code: "invalid_id", message: "an instance id must be a string, got undefined (a missing field?)" });
    // Nothing was written for any of them: a good id still starts from scratch.
    assert.deepEqual(await rt.call("wallet", "x".repeat(256), "create", { initialBalance: 1 }), { balance: 1 });
  });

  it("a-command-called-query-only-is-405-and-does-not-run", async () => {
    await rt.call("wallet", "w2", "create", { initialBalance: 10 });
    await assert.rejects(
      rt.call("wallet", "w2", "withdraw", { amount: 5 }, { queryOnly: true }),
      isCode("method_not_allowed", 405),
    );
    assert.deepEqual(await rt.call("wallet", "w2", "balance", {}, { queryOnly: true }), { balance: 10 });
  });

  it("a-throwing-handler-is-internal-500-and-the-runtime-keeps-working", async () => {
    logged.length = 0;
    assert.equal(await rt.call("fragile", "f1", "bump", {}), 1);
    await assert.rejects(rt.call("fragile", "f1", "explode", {}), (error) => {
      isCode("internal", 500)(error);
      const e = error as SagaflowError;
      assert.doesNotMatch(e.message, /handler bug/, "the cause stays in the log, not in the reply");
      const { correlationId } = e.details as { correlationId: string };
      assert.ok(logged.some((line) => line.includes(correlationId) && line.includes("handler bug")));
      return true;
    });
    assert.equal(await rt.call("fragile", "f1", "bump", {}), 2);
    assert.equal(await rt.call("fragile", "f1", "n", {}), 2);
  });

  it("a-throwing-handler-fails-only-its-own-command-in-a-turn", async () => {
    const results = await Promise.allSettled([
      rt.call("fragile", "f2", "bump", {}),
      rt.call("fragile", "f2", "bump", {}),
      rt.call("fragile", "f2", "explode", {}),
      rt.call("fragile", "f2", "bump", {}),
    ]);
    assert.deepEqual(
      results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as SagaflowError).code)),
      [1, 2, "internal", 3],
    );
    assert.equal((await store.readEvents("fragile", "f2", 0, 10)).length, 3);
  });

  it("a-handler-returning-a-non-effect-is-internal", async () => {
    await assert.rejects(rt.call("fragile", "f3", "notAnEffect", {}), isCode("internal", 500));
    assert.equal(await rt.call("fragile", "f3", "bump", {}), 1);
    assert.equal((await store.readEvents("fragile", "f3", 0, 10)).length, 1);
  });
});
