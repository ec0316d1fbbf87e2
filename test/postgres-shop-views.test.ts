import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { after, describe, it } from "node:test";
import { Client } from "../src/client/client.ts";
import { TIMER_BUCKETS } from "../src/runtime/cluster/leases.ts";
import { Runtime } from "../src/runtime/runtime.ts";
import { PostgresStore } from "../src/store/postgres/postgres-store.ts";
import { cart } from "../examples/shop/cart.ts";
import { productStats, sales } from "../examples/shop/product-stats.ts";
import { carts, products } from "../examples/shop/views.ts";
import { waitFor } from "./support/feed-child.ts";
import { assertPostgresReachable, postgresUrlOrSay, SchemaPool } from "./support/postgres-schema.ts";

/**
 * The shop example (examples/shop: a cart entity, a consumer, two views) in process on a
 * PostgresStore: the view queries answer, from PostgreSQL, the rows the commands imply; a new
 * version of a view is rebuilt from the feed and answers the same.
 *
 * Runs only with SAGAFLOW_POSTGRES_URL set (see test/support/postgres-schema.ts).
 */

const url = postgresUrlOrSay("PostgreSQL shop views test");
if (url) registerTests(url);

const cartRow = (cartId: string, userId: string, itemCount: number, checkedOut: boolean) =>
  ({ cartId, userId, itemCount, total: itemCount * 2, checkedOut });

function registerTests(connectionString: string): void {
  describe("shop views on PostgreSQL (in process)", () => {
    const schemas = new SchemaPool(connectionString);
    const runtimes: Runtime[] = [];
    after(async () => {
      for (const runtime of runtimes.splice(0)) await runtime.stop();
      await schemas.dropAll();
    });

    async function start(schema: string, views = [carts, products], leaseMs?: number): Promise<{ runtime: Runtime; client: Client }> {
      const store = new PostgresStore({ connectionString, schema, poolSize: 4 });
      const runtime = new Runtime({ store, components: [cart, productStats, sales, ...views], log: process.env.DEBUG_LOG ? (l) => console.error(l) : () => {}, ...(leaseMs ? { leaseMs } : {}) });
      runtimes.push(runtime);
      await runtime.start();
      return { runtime, client: new Client(runtime.dispatcher) };
    }

    /** The query's result once it equals `expected` (views are eventually consistent). */
    const answers = (runtime: Runtime, view: string, query: string, params: Record<string, unknown>, expected: unknown) =>
      waitFor(`${view}/${query} to answer ${JSON.stringify(expected)}`, async () => {
        const result = await runtime.views.query(view, query, params);
        return isDeepStrictEqual(result, expected) ? result : undefined;
      }, 10_000);

    it("view-queries-answer-what-the-commands-imply-and-a-rebuild-answers-the-same", { timeout: 60_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh("shop");
      const { runtime, client } = await start(schema);
      const add = (id: string, userId: string, productId: string, quantity: number) =>
        client.call(cart, id).addItem({ userId, productId, name: productId, quantity, price: 2 });
      await add("c1", "u1", "pen", 3);
      await add("c1", "u1", "ink", 1);
      await add("c2", "u1", "pen", 1);
      await add("c3", "u2", "paper", 5);
      await client.call(cart, "c1").checkout();
      await client.call(cart, "c3").checkout();

      const u1 = { carts: [cartRow("c1", "u1", 4, true), cartRow("c2", "u1", 1, false)] };
      await answers(runtime, "carts", "byUser", { userId: "u1" }, u1);
      await answers(runtime, "carts", "open", {}, { carts: [cartRow("c2", "u1", 1, false)] });
      const top = [{ productId: "paper", unitsSold: 5 }, { productId: "pen", unitsSold: 3 }, { productId: "ink", unitsSold: 1 }];
      await answers(runtime, "products", "top", { limit: 5 }, { products: top });

      // Pages: LIMIT 2 is the page size, the token carries on from there.
      const first = (await runtime.views.query("products", "top", { limit: 2 })) as { products: unknown[]; nextPageToken?: string };
      assert.deepEqual(first.products, top.slice(0, 2));
      assert.ok(first.nextPageToken, "a next page");
      assert.deepEqual(await runtime.views.query("products", "top", { limit: 2 }, { pageToken: first.nextPageToken }), { products: top.slice(2) });

      // A new version of the carts view is built from the feed in new tables (the old ones answer
      // meanwhile), then served.
      await runtime.stop();
      runtimes.splice(runtimes.indexOf(runtime), 1);
      const next = await start(schema, [{ ...carts, version: 2 }, products]);
      await waitFor("generation 2 of carts to be served", () => (next.runtime.views.runner("carts").serving?.generation === 2 ? true : undefined));
      await answers(next.runtime, "carts", "byUser", { userId: "u1" }, u1);
      assert.deepEqual(await next.runtime.views.query("carts", "byUser", { userId: "nobody" }), { carts: [] });
    });

    it("on-two-nodes-one-projects-each-view-both-answer-their-writes-and-the-other-takes-over-when-it-stops", { timeout: 60_000 }, async () => {
      await assertPostgresReachable(connectionString);
      const schema = schemas.fresh("shop2");
      const nodes = [await start(schema, [carts, products], 600), await start(schema, [carts, products], 600)];
      const projector = () => nodes.filter((n) => n.runtime.views.runner("carts").projecting);
      // The leases (the timer buckets, retention, the consumer, two views): settled once each node holds about half.
      const leases = TIMER_BUCKETS + 4;
      const held = () => nodes.map((n) => n.runtime.membership.heldLeases().length);
      await waitFor("the leases to be shared out", () => (held().every((n) => n >= Math.floor(leases / 2)) && held().reduce((a, b) => a + b) === leases ? true : undefined));
      // A won lease starts its runner a moment later (it reads the view's generations first).
      await waitFor("a node to project carts", () => (projector().length > 0 ? true : undefined));
      assert.equal(projector().length, 1, "one node projects carts");
      const [leader] = projector();
      const follower = nodes.find((n) => n !== leader)!;

      // Read-your-writes across nodes: a write on either node, then the follower's query waits
      // for the write's position (the leader projects it, the follower hears of it).
      for (let i = 0; i < 20; i++) {
        const writer = i % 2 === 0 ? leader! : follower;
        const reply = await writer.runtime.callForReply("cart", `c${i}`, "addItem", { userId: "u1", productId: "pen", name: "pen", quantity: i + 1, price: 2 });
        assert.ok(reply.ok && reply.position !== undefined, JSON.stringify(reply));
        const result = (await follower.runtime.views.query("carts", "byUser", { userId: "u1" }, { waitForPosition: reply.position })) as { carts: Array<{ cartId: string; itemCount: number }> };
        assert.equal(result.carts.length, i + 1, `write ${i} seen by the follower: ${JSON.stringify(result)}`);
        assert.equal(result.carts.find((c) => c.cartId === `c${i}`)?.itemCount, i + 1);
      }
      // Both nodes report where the consumer stands: the one delivering it, and the other from the stored offset (it said 0, with a false lag).
      const report = async (n: { runtime: Runtime }) => (await n.runtime.admin.consumers()).consumers.find((c) => c.name === "sales")!;
      await waitFor("both nodes to report the consumer caught up", async () => {
        const reports = await Promise.all(nodes.map(report));
        return reports.every((r) => r.offset > 0 && r.lag === 0 && r.offset === reports[0]!.offset) ? true : undefined;
      });

      // Only the projecting node rebuilds (the other says where to go).
      await assert.rejects(follower.runtime.views.runner("carts").rebuild(), (error: { code?: string }) => error.code === "not_here");

      // The leader stops: the follower projects from then on.
      await leader!.runtime.stop();
      runtimes.splice(runtimes.indexOf(leader!.runtime), 1);
      await waitFor("the follower to project carts", () => (follower.runtime.views.runner("carts").projecting ? true : undefined));
      const reply = await follower.runtime.callForReply("cart", "c-last", "addItem", { userId: "u2", productId: "ink", name: "ink", quantity: 7, price: 2 });
      assert.deepEqual(
        await follower.runtime.views.query("carts", "byUser", { userId: "u2" }, { waitForPosition: reply.position! }),
        { carts: [cartRow("c-last", "u2", 7, false)] },
      );
    });
  });
}
