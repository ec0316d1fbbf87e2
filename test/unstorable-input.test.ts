import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { assertErrorBody, getJson, postJson, requestJson } from "./support/http.ts";
import { SagaflowProcess } from "./support/server-process.ts";
import { serveStores } from "./support/postgres-schema.ts";

/**
 * Input one store cannot hold is refused at the edge, the same way on every store: the shop's
 * `addItem` with U+0000 (or an unpaired surrogate) in a name is a 400 naming the field, on SQLite
 * and on PostgreSQL (whose jsonb view rows cannot hold either), and the carts view keeps answering
 * read-your-writes queries afterwards. PostgreSQL runs with SAGAFLOW_POSTGRES_URL set.
 */

const stores = serveStores("unstorable input test", "unstorable");

for (const [name, args] of stores) {
  describe(`unstorable input on ${name} (real process)`, () => {
    let server: SagaflowProcess | undefined;
    after(async () => {
      await server?.cleanup();
    });

    it("U+0000 and unpaired surrogates are 400 invalid_input naming the field; the carts view keeps serving", { timeout: 60_000 }, async () => {
      server = await SagaflowProcess.start({ target: "examples/shop", args: await args() });
      const base = server.url;
      const item = { userId: "u1", productId: "p1", quantity: 1, price: 2 };
      for (const bad of ["Pen\u0000", "\ud800Pen", "Pen\udfff"]) {
        const error = assertErrorBody(await postJson(`${base}/cart/c1/addItem`, { ...item, name: bad }), 400, "invalid_input");
        assert.match(error.message, /\bname\b/);
        assert.deepEqual(error.details?.path, ["name"]);
      }
      const added = await postJson(`${base}/cart/c1/addItem`, { ...item, name: "Pen \u{1F58A}" });
      assert.equal(added.status, 200, added.text);
      const position = added.headers.get("sagaflow-position");
      assert.ok(position, "a write gives its feed position");
      const read = await requestJson(`${base}/views/carts/byUser?userId=%22u1%22&waitForPosition=${position}`);
      assert.equal(read.status, 200, read.text);
      assert.deepEqual(read.body.carts.map((c: { cartId: string; itemCount: number }) => [c.cartId, c.itemCount]), [["c1", 1]]);
      // View query parameters are checked the same way.
      assertErrorBody(await getJson(`${base}/views/carts/byUser`, { userId: '"u\\u0000"' }), 400, "invalid_input");
    });
  });
}
