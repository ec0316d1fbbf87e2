import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSagaflow, env, memoryStore, service } from "../src/index.ts";
import { wallet } from "../examples/bank/wallet.ts";

/** Issue 12, point 4: the service definition carries its issuers; environment values are read at start. */
describe("auth configuration of a running service", () => {
  it("a missing environment variable: the service starts and the log says which issuer is disabled and why", async () => {
    const lines: string[] = [];
    const bank = service("bank", [wallet], { auth: { issuers: [{ issuer: "bank-example", algorithms: ["HS256"], secret: env("SAGAFLOW_TEST_SURELY_UNSET_SECRET") }] } });
    const app = createSagaflow(bank, { store: memoryStore(), log: (line) => lines.push(line) });
    try {
      await app.start();
      assert.match(lines.join("\n"), /auth issuer "bank-example" is disabled \(environment variable SAGAFLOW_TEST_SURELY_UNSET_SECRET not set\)/);
    } finally {
      await app.stop();
    }
  });

  it("options.auth (what the --jwt-… flags produce) replaces the service's, and a bad key fails the start before the store opens", async () => {
    const lines: string[] = [];
    const app = createSagaflow(service("bank", [wallet]), {
      store: memoryStore(),
      log: (line) => lines.push(line),
      auth: { issuers: [{ issuer: "dev", algorithms: ["HS256"], secret: "s" }] },
    });
    await app.start();
    await app.stop();
    assert.match(lines.join("\n"), /accepting tokens of issuer "dev" \(HS256\)/);
    const broken = createSagaflow(service("bank", [wallet]), { store: memoryStore(), log: () => {}, auth: { issuers: [{ issuer: "x", algorithms: ["RS256"], publicKeys: ["nope"] }] } });
    await assert.rejects(broken.start(), /publicKeys\[0\] is not a PEM public key/);
  });
});
