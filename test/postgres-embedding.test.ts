import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { createSagaflow, postgres } from "../src/index.ts";
import bank from "../examples/bank/index.ts";
import { wallet } from "../examples/bank/wallet.ts";
import { getJson, postJson } from "./support/http.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";

/**
 * The embedding API on PostgreSQL: `postgres(url, { schema })` opens the store on start, the
 * handler serves from a host's server, and what one app wrote another finds after stop.
 * Runs only with SAGAFLOW_POSTGRES_URL set.
 */
const url = postgresUrlOrSay("PostgreSQL embedding test");
if (url) {
  describe("embedding API on PostgreSQL", () => {
    const schemas = new SchemaPool(url);
    after(() => schemas.dropAll());

    it("postgres-store-descriptor-serves-and-keeps-the-data", { timeout: 60_000 }, async () => {
      await assertPostgresReachable(url);
      const schema = schemas.fresh("embed");
      const app = createSagaflow(bank, { store: postgres(url, { schema }), log: () => {}, nodeName: "embedded" });
      const host = createServer(app.handler);
      try {
        await app.start();
        await new Promise<void>((ready) => host.listen(0, "127.0.0.1", ready));
        const base = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
        assert.deepEqual((await postJson(`${base}/wallet/p/create`, { initialBalance: 7 })).body, { balance: 7 });
        assert.deepEqual(await app.client.call(wallet, "p").withdraw({ amount: 2 }), { balance: 5 });
        assert.deepEqual((await getJson(`${base}/wallet/p/balance`)).body, { balance: 5 });
      } finally {
        host.closeAllConnections();
        host.close();
        await app.stop();
      }
      const again = createSagaflow(bank, { store: postgres(url, { schema }), log: () => {} });
      await again.start();
      try {
        assert.deepEqual(await again.client.call(wallet, "p").balance({}), { balance: 5 });
      } finally {
        await again.stop();
      }
    });
  });
}
