import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { get as httpGet, type ClientRequest, type IncomingMessage } from "node:http";
import { after, before, describe, it } from "node:test";
import { serve, type RunningService } from "../../src/cli/serve.ts";
import { assertErrorBody, getJson, postJson, requestJson, type JsonResponse } from "../../test/support/http.ts";
import { sleep, tempDir } from "../../test/support/server-process.ts";
import shop from "./index.ts";

/**
 * The shop's HTTP contract, end to end: real HTTP against `serve()` on SQLite (in process).
 *
 * - cart (event-sourced): addItem, removeItem, checkout, get; errors checked_out, empty_cart,
 *   invalid_quantity; the userId is fixed by the first addItem.
 * - the `sales` consumer adds checked-out quantities to product-stats/{productId}.
 * - views: carts/byUser (by cartId), carts/open, products/top (unitsSold descending, LIMIT);
 *   read-your-writes with `?waitForPosition=` (the command's `sagaflow-position`), and a clear
 *   504 view_lagging once the bounded wait (5 s) runs out; streamed results (server-sent events);
 *   page tokens.
 *
 * Every test uses carts, users and products of its own (`fresh`), so tests do not see each
 * other's rows except in the global queries (open, top), where they look only at their own.
 */

const dataDir = tempDir("sagaflow-shop-http-");
let running: RunningService;
let base: string;
let serial = 0;
/** An id no other test uses. Letters first, so the query string never reads it as a JSON number. */
const fresh = (prefix: string) => `${prefix}-${++serial}`;

before(async () => {
  running = await serve({ service: shop, port: 0, adminPort: -1, dataDir, log: () => {} });
  base = running.url;
});
after(async () => {
  await running?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface ItemInput {
  productId: string;
  name?: string;
  quantity: number;
  price: number;
}

interface CartLine {
  cartId: string;
  userId: string;
  itemCount: number;
  total: number;
  checkedOut: boolean;
}

const cartUrl = (id: string, command: string) => `${base}/cart/${encodeURIComponent(id)}/${command}`;

/** The feed position a command reply carries (`sagaflow-position`), checked to be a whole number. */
function positionOf(res: JsonResponse): number {
  const raw = res.headers.get("sagaflow-position");
  assert.ok(raw !== null && /^\d+$/.test(raw), `no sagaflow-position header on ${res.status} ${res.text}`);
  return Number(raw);
}

async function addItem(cartId: string, userId: string, item: ItemInput): Promise<{ body: any; position: number }> {
  const res = await postJson(cartUrl(cartId, "addItem"), { userId, name: `name of ${item.productId}`, ...item });
  assert.equal(res.status, 200, res.text);
  return { body: res.body, position: positionOf(res) };
}

async function checkout(cartId: string): Promise<{ body: any; position: number }> {
  const res = await postJson(cartUrl(cartId, "checkout"), {});
  assert.equal(res.status, 200, res.text);
  return { body: res.body, position: positionOf(res) };
}

async function removeItem(cartId: string, productId: string): Promise<{ body: any; position: number }> {
  const res = await postJson(cartUrl(cartId, "removeItem"), { productId });
  assert.equal(res.status, 200, res.text);
  return { body: res.body, position: positionOf(res) };
}

async function getCart(cartId: string): Promise<JsonResponse> {
  return getJson(cartUrl(cartId, "get"));
}

/** GET a view query; `query` values are sent as given. Asserts 200. */
async function viewQuery(view: string, query: string, params: Record<string, string | number> = {}): Promise<any> {
  const res = await getJson(`${base}/views/${view}/${query}`, params);
  assert.equal(res.status, 200, `${view}/${query} ${JSON.stringify(params)}: ${res.status} ${res.text}`);
  return res.body;
}

async function byUser(userId: string, waitForPosition?: number): Promise<CartLine[]> {
  const body = await viewQuery("carts", "byUser", { userId, ...(waitForPosition === undefined ? {} : { waitForPosition }) });
  assert.deepEqual(Object.keys(body), ["carts"], `a single page is expected: ${JSON.stringify(body).slice(0, 200)}`);
  return body.carts;
}

/** Every row of a query, following `nextPageToken` to the end; checks that no row comes twice. */
async function allPages(view: string, query: string, key: string, params: Record<string, string | number> = {}): Promise<{ rows: any[]; pages: number }> {
  const rows: any[] = [];
  let pages = 0;
  let token: string | undefined;
  do {
    const body = await viewQuery(view, query, { ...params, ...(token === undefined ? {} : { pageToken: token }) });
    pages++;
    assert.ok(Array.isArray(body[key]), JSON.stringify(body).slice(0, 200));
    rows.push(...body[key]);
    token = body.nextPageToken;
    if (token !== undefined) {
      assert.equal(typeof token, "string");
      assert.ok(body[key].length > 0, "a page with a next page token must not be empty");
    }
    assert.ok(pages < 10_000, "page tokens do not come to an end");
  } while (token !== undefined);
  return { rows, pages };
}

/** Polls `read` until `done(value)`, for what is eventually consistent (the consumer). */
async function eventually<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T = await read();
  while (!done(last)) {
    if (Date.now() > end) assert.fail(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(last).slice(0, 500)}`);
    await sleep(20);
    last = await read();
  }
  return last;
}

const unitsSold = async (productId: string): Promise<number> => {
  const res = await getJson(`${base}/product-stats/${encodeURIComponent(productId)}/get`);
  assert.equal(res.status, 200, res.text);
  return res.body.unitsSold;
};

describe("shop over HTTP: the cart", () => {
  it("addItem replies with the cart, get reads it back, and the same product adds up", async () => {
    const id = fresh("cart");
    const user = fresh("user");
    const first = await addItem(id, user, { productId: "apple", name: "Apple", quantity: 2, price: 1.5 });
    assert.deepEqual(first.body, {
      userId: user,
      items: [{ productId: "apple", name: "Apple", quantity: 2, price: 1.5 }],
      checkedOut: false,
    });
    await addItem(id, user, { productId: "pear", name: "Pear", quantity: 1, price: 4 });
    const third = await addItem(id, user, { productId: "apple", name: "Apple", quantity: 3, price: 1.5 });
    const expected = {
      userId: user,
      items: [
        { productId: "apple", name: "Apple", quantity: 5, price: 1.5 },
        { productId: "pear", name: "Pear", quantity: 1, price: 4 },
      ],
      checkedOut: false,
    };
    assert.deepEqual(third.body, expected);
    assert.ok(third.position > first.position, "positions grow with each write");
    const got = await getCart(id);
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.body, expected);
    assert.deepEqual(Object.keys(got.body), ["userId", "items", "checkedOut"]);
  });

  it("removeItem removes the product; checkout marks the cart checked out", async () => {
    const id = fresh("cart");
    const user = fresh("user");
    await addItem(id, user, { productId: "a", name: "A", quantity: 1, price: 2 });
    await addItem(id, user, { productId: "b", name: "B", quantity: 2, price: 3 });
    const removed = await removeItem(id, "a");
    assert.deepEqual(removed.body, { userId: user, items: [{ productId: "b", name: "B", quantity: 2, price: 3 }], checkedOut: false });
    const done = await checkout(id);
    assert.deepEqual(done.body, { userId: user, items: [{ productId: "b", name: "B", quantity: 2, price: 3 }], checkedOut: true });
    assert.deepEqual((await getCart(id)).body, done.body);
  });

  it("the userId is fixed by the first addItem", async () => {
    const id = fresh("cart");
    const owner = fresh("user");
    const other = fresh("user");
    await addItem(id, owner, { productId: "a", quantity: 1, price: 1 });
    const second = await addItem(id, other, { productId: "b", quantity: 1, price: 1 });
    assert.equal(second.body.userId, owner);
    assert.equal((await getCart(id)).body.userId, owner);
    // The view agrees: the cart is the owner's, not the other user's.
    const mine = await byUser(owner, second.position);
    assert.deepEqual(mine.map((c) => [c.cartId, c.userId, c.itemCount]), [[id, owner, 2]]);
    assert.deepEqual(await byUser(other, second.position), []);
  });

  it("a quantity below 1 (or not a whole number) is 400 invalid_quantity and changes nothing", async () => {
    const id = fresh("cart");
    const user = fresh("user");
    for (const quantity of [0, -1, 1.5, "2", null]) {
      assertErrorBody(
        await postJson(cartUrl(id, "addItem"), { userId: user, productId: "a", name: "A", quantity, price: 1 }),
        400,
        "invalid_quantity",
      );
    }
    assertErrorBody(await postJson(cartUrl(id, "addItem"), { userId: user, productId: "a", name: "A", price: 1 }), 400, "invalid_quantity");
    // Nothing happened: the cart does not exist.
    const res = await getCart(id);
    assert.ok(res.status >= 400 && res.status < 500, res.text);
    // And on an existing cart, the contents stay as they were.
    await addItem(id, user, { productId: "a", name: "A", quantity: 1, price: 1 });
    assertErrorBody(await postJson(cartUrl(id, "addItem"), { userId: user, productId: "a", name: "A", quantity: 0, price: 1 }), 400, "invalid_quantity");
    assert.deepEqual((await getCart(id)).body.items, [{ productId: "a", name: "A", quantity: 1, price: 1 }]);
  });

  it("checking out nothing is 400 empty_cart: a new cart, and a cart whose items were all removed", async () => {
    assertErrorBody(await postJson(cartUrl(fresh("cart"), "checkout"), {}), 400, "empty_cart");
    const id = fresh("cart");
    await addItem(id, fresh("user"), { productId: "a", quantity: 1, price: 1 });
    await removeItem(id, "a");
    assertErrorBody(await postJson(cartUrl(id, "checkout"), {}), 400, "empty_cart");
    assert.equal((await getCart(id)).body.checkedOut, false);
  });

  it("changing a checked-out cart is 400 checked_out and changes nothing", async () => {
    const id = fresh("cart");
    const user = fresh("user");
    await addItem(id, user, { productId: "a", name: "A", quantity: 2, price: 5 });
    const done = await checkout(id);
    assertErrorBody(await postJson(cartUrl(id, "addItem"), { userId: user, productId: "b", name: "B", quantity: 1, price: 1 }), 400, "checked_out");
    assertErrorBody(await postJson(cartUrl(id, "removeItem"), { productId: "a" }), 400, "checked_out");
    assertErrorBody(await postJson(cartUrl(id, "checkout"), {}), 400, "checked_out");
    // checked_out comes before the input checks.
    assertErrorBody(await postJson(cartUrl(id, "addItem"), { userId: user, productId: "b", name: "B", quantity: 0, price: 1 }), 400, "checked_out");
    assert.deepEqual((await getCart(id)).body, done.body);
  });

  it("a refused command carries no position, and a refusal is not a write", async () => {
    const id = fresh("cart");
    const refused = await postJson(cartUrl(id, "checkout"), {});
    assertErrorBody(refused, 400, "empty_cart");
    assert.equal(refused.headers.get("sagaflow-position"), null);
  });
});

describe("shop over HTTP: the sales consumer", () => {
  it("checked-out quantities are added to product-stats/{productId}; open carts count for nothing", async () => {
    const [p1, p2, p3] = [fresh("prod"), fresh("prod"), fresh("prod")];
    const user = fresh("user");
    const c1 = fresh("cart");
    const c2 = fresh("cart");
    const c3 = fresh("cart");
    await addItem(c1, user, { productId: p1, quantity: 2, price: 1 });
    await addItem(c1, user, { productId: p2, quantity: 5, price: 1 });
    await addItem(c1, user, { productId: p1, quantity: 1, price: 1 });
    await checkout(c1);
    await addItem(c2, user, { productId: p1, quantity: 4, price: 1 });
    await checkout(c2);
    await addItem(c3, user, { productId: p3, quantity: 7, price: 1 }); // never checked out
    await eventually(`units sold of ${p1}`, () => unitsSold(p1), (n) => n === 7);
    await eventually(`units sold of ${p2}`, () => unitsSold(p2), (n) => n === 5);
    // Everything the consumer had to do is done once p1 and p2 are; p3 was never sold.
    assert.equal(await unitsSold(p3), 0);
    // Exactly once: the numbers stay.
    await sleep(200);
    assert.equal(await unitsSold(p1), 7);
    assert.equal(await unitsSold(p2), 5);
  });
});

describe("shop over HTTP: the carts view", () => {
  it("byUser lists the user's carts ordered by cartId, with itemCount, total and checkedOut", async () => {
    const user = fresh("user");
    const other = fresh("user");
    const stem = fresh("bu");
    // Written out of order; ids chosen so that string order differs from creation order.
    const ids = [`${stem}-b`, `${stem}-a10`, `${stem}-a2`, `${stem}-A`, `${stem}-c`];
    let position = 0;
    for (const [i, id] of ids.entries()) {
      position = (await addItem(id, user, { productId: "x", quantity: i + 1, price: 2.5 })).position;
    }
    position = (await addItem(ids[0]!, user, { productId: "y", quantity: 3, price: 10 })).position;
    position = (await checkout(ids[1]!)).position;
    position = (await addItem(fresh("cart"), other, { productId: "x", quantity: 1, price: 1 })).position;
    const carts = await byUser(user, position);
    const sorted = [...ids].sort();
    assert.deepEqual(sorted, [`${stem}-A`, `${stem}-a10`, `${stem}-a2`, `${stem}-b`, `${stem}-c`]);
    assert.deepEqual(
      carts.map((c) => c.cartId),
      sorted,
    );
    const line = (id: string) => carts.find((c) => c.cartId === id);
    assert.deepEqual(line(ids[0]!), { cartId: ids[0], userId: user, itemCount: 4, total: 1 * 2.5 + 3 * 10, checkedOut: false });
    assert.deepEqual(line(ids[1]!), { cartId: ids[1], userId: user, itemCount: 2, total: 5, checkedOut: true });
    assert.deepEqual(line(ids[4]!), { cartId: ids[4], userId: user, itemCount: 5, total: 12.5, checkedOut: false });
    for (const c of carts) assert.deepEqual(Object.keys(c), ["cartId", "userId", "itemCount", "total", "checkedOut"]);
    assert.deepEqual(await byUser(fresh("nobody"), position), []);
  });

  it("byUser follows removals: a cart emptied by removeItem stays listed with itemCount 0", async () => {
    const user = fresh("user");
    const id = fresh("cart");
    await addItem(id, user, { productId: "a", quantity: 3, price: 2 });
    const { position } = await removeItem(id, "a");
    assert.deepEqual(await byUser(user, position), [{ cartId: id, userId: user, itemCount: 0, total: 0, checkedOut: false }]);
  });

  it("open lists the carts not checked out, ordered by cartId", async () => {
    const user = fresh("user");
    const stem = fresh("open");
    const open1 = `${stem}-2`;
    const open2 = `${stem}-1`;
    const closed = `${stem}-0`;
    await addItem(open1, user, { productId: "a", quantity: 1, price: 1 });
    await addItem(open2, user, { productId: "a", quantity: 1, price: 1 });
    await addItem(closed, user, { productId: "a", quantity: 1, price: 1 });
    const { position } = await checkout(closed);
    const body = await viewQuery("carts", "open", { waitForPosition: position });
    assert.ok(Array.isArray(body.carts));
    // Other tests' carts are there too (possibly more than a page); read them all.
    const { rows } = await allPages("carts", "open", "carts");
    assert.ok(rows.every((c: CartLine) => c.checkedOut === false), "open lists only carts not checked out");
    const ids = rows.map((c: CartLine) => c.cartId);
    assert.deepEqual(ids, [...ids].sort(), "open is ordered by cartId");
    assert.ok(ids.includes(open1) && ids.includes(open2));
    assert.ok(!ids.includes(closed), "a checked-out cart is not open");
    assert.deepEqual(rows.find((c: CartLine) => c.cartId === open1), { cartId: open1, userId: user, itemCount: 1, total: 1, checkedOut: false });
  });

  it("more than a page: byUser gives 1,000 rows and a nextPageToken, which leads to the rest without gaps or repeats", async () => {
    const user = fresh("bulk");
    const total = 1_005;
    const ids = Array.from({ length: total }, (_, i) => `${user}-cart-${i}`);
    let next = 0;
    let position = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < ids.length) {
          const id = ids[next++]!;
          const { position: p } = await addItem(id, user, { productId: "a", quantity: 1, price: 1 });
          position = Math.max(position, p);
        }
      }),
    );
    const first = await viewQuery("carts", "byUser", { userId: user, waitForPosition: position });
    assert.equal(first.carts.length, 1_000);
    assert.equal(typeof first.nextPageToken, "string");
    const second = await viewQuery("carts", "byUser", { userId: user, pageToken: first.nextPageToken });
    assert.equal(second.carts.length, 5);
    assert.equal(second.nextPageToken, undefined, "the last page has no token");
    const got = [...first.carts, ...second.carts].map((c: CartLine) => c.cartId);
    assert.deepEqual(got, [...ids].sort(), "every cart once, in cartId order");
  });

  it("a page token that this service did not give out is 400 invalid_page_token", async () => {
    const res = await getJson(`${base}/views/carts/byUser`, { userId: "u", pageToken: "not-a-token" });
    assertErrorBody(res, 400, "invalid_page_token");
  });

  it("bad view requests are clear 4xx errors", async () => {
    assertErrorBody(await getJson(`${base}/views/nope/byUser`, { userId: "u" }), 404, "unknown_view");
    assertErrorBody(await getJson(`${base}/views/carts/nope`), 404, "unknown_query");
    assertErrorBody(await getJson(`${base}/views/carts/byUser`), 400, "invalid_input");
    assertErrorBody(await getJson(`${base}/views/carts/byUser`, { userId: "u", color: "red" }), 400, "invalid_input");
    assertErrorBody(await getJson(`${base}/views/carts/byUser`, { userId: "u", waitForPosition: "soon" }), 400, "invalid_position");
    assertErrorBody(await getJson(`${base}/views/carts/byUser`, { userId: "u", waitForPosition: -1 }), 400, "invalid_position");
  });

  it("a user id that reads as JSON (a number) must be sent JSON-quoted", async () => {
    // Query-string values are read as JSON when they parse: ?userId=42 is the number 42, which
    // never equals the string "42" (types never cross). ?userId="42" is the string.
    const user = `${100_000 + ++serial}`;
    const id = fresh("cart");
    const { position } = await addItem(id, user, { productId: "a", quantity: 1, price: 1 });
    const quoted = await viewQuery("carts", "byUser", { userId: JSON.stringify(user), waitForPosition: position });
    assert.deepEqual(quoted.carts.map((c: CartLine) => c.cartId), [id]);
    const bare = await viewQuery("carts", "byUser", { userId: user });
    assert.deepEqual(bare.carts, []);
  });
});

describe("shop over HTTP: read-your-writes", () => {
  it("byUser with waitForPosition from the last command shows that command's effect, 50 times in a row", async (t) => {
    const lagging = (async () => {
      // Meanwhile: a position far in the future is a 504 view_lagging after the bounded wait.
      const t0 = performance.now();
      const res = await requestJson(`${base}/views/carts/byUser?userId=u&waitForPosition=${Number.MAX_SAFE_INTEGER}`, { timeoutMs: 15_000 });
      return { res, ms: performance.now() - t0 };
    })();
    // The view is slowed down (each of its commits waits 20 ms first), so that it is behind when
    // the query arrives: without the wait, reads miss the write just made.
    const views = running.runtime.store.views!;
    const commitView = views.commitView;
    views.commitView = async (...args) => {
      await sleep(20);
      return commitView.apply(views, args);
    };
    t.after(() => {
      views.commitView = commitView;
    });
    const user = fresh("ryw");
    const expected: CartLine[] = [];
    let stale = 0;
    for (let i = 0; i < 50; i++) {
      const id = `${user}-${String(i).padStart(2, "0")}`;
      const added = await addItem(id, user, { productId: "a", quantity: i + 1, price: 2 });
      expected.push({ cartId: id, userId: user, itemCount: i + 1, total: 2 * (i + 1), checkedOut: false });
      const [unwaited, waited] = await Promise.all([byUser(user), byUser(user, added.position)]);
      if (JSON.stringify(unwaited) !== JSON.stringify(expected)) stale++;
      assert.deepEqual(waited, expected, `after addItem #${i}`);
      if (i % 5 === 0) {
        const done = await checkout(id);
        expected[i] = { ...expected[i]!, checkedOut: true };
        assert.deepEqual(await byUser(user, done.position), expected, `after checkout #${i}`);
      }
    }
    views.commitView = commitView;
    t.diagnostic(`without waitForPosition, ${stale} of 50 reads missed the write just made`);
    assert.ok(stale > 0, "the view was never behind: this test would not notice a broken waitForPosition");
    // The header form of the same wait.
    const last = await addItem(`${user}-99`, user, { productId: "a", quantity: 1, price: 1 });
    const viaHeader = await requestJson(`${base}/views/carts/byUser?userId=${user}`, {
      headers: { "sagaflow-wait-for-position": String(last.position) },
    });
    assert.equal(viaHeader.status, 200, viaHeader.text);
    assert.equal(viaHeader.body.carts.length, 51);

    const { res, ms } = await lagging;
    const error = assertErrorBody(res, 504, "view_lagging");
    assert.match(error.message, /carts/);
    assert.match(error.message, new RegExp(String(Number.MAX_SAFE_INTEGER)));
    // The wait is bounded (5 s by default), not cut short and not open-ended.
    assert.ok(ms >= 4_900 && ms < 9_000, `the lagging answer came after ${Math.round(ms)} ms`);
  });

  it("a position already reached answers at once", async () => {
    const t0 = performance.now();
    await byUser(fresh("user"), 1);
    assert.ok(performance.now() - t0 < 1_000);
  });
});

describe("shop over HTTP: the products view", () => {
  it("top lists products by unitsSold descending (ties by productId, descending), at most :limit of them", async () => {
    // Far more units than any other test sells, so these four are the top four.
    const stem = fresh("best");
    const [pa, pb, pc, pd] = ["a", "b", "c", "d"].map((s) => `${stem}-${s}`) as [string, string, string, string];
    const user = fresh("user");
    const c1 = fresh("cart");
    const c2 = fresh("cart");
    await addItem(c1, user, { productId: pb, quantity: 900_002, price: 0 });
    await addItem(c1, user, { productId: pd, quantity: 900_001, price: 0 });
    await addItem(c1, user, { productId: pa, quantity: 900_000, price: 0 });
    await checkout(c1);
    await addItem(c2, user, { productId: pa, quantity: 3, price: 0 });
    await addItem(c2, user, { productId: pc, quantity: 900_002, price: 0 });
    await checkout(c2);
    const expected = [
      { productId: pa, unitsSold: 900_003 },
      { productId: pc, unitsSold: 900_002 },
      { productId: pb, unitsSold: 900_002 },
      { productId: pd, unitsSold: 900_001 },
    ];
    const top4 = await eventually(
      "the products view",
      async () => (await viewQuery("products", "top", { limit: 4 })).products as unknown[],
      (rows) => JSON.stringify(rows) === JSON.stringify(expected),
    );
    assert.deepEqual(top4, expected);
    assert.deepEqual((await viewQuery("products", "top", { limit: 1 })).products, expected.slice(0, 1));
    assert.deepEqual((await viewQuery("products", "top", { limit: 3 })).products, expected.slice(0, 3));
    // The view agrees with product-stats.
    for (const p of expected) assert.equal(await unitsSold(p.productId), p.unitsSold);
  });

  it("the whole list is in order and matches product-stats; paging with a small LIMIT gives the same list", async () => {
    const full = (await viewQuery("products", "top", { limit: 1_000 })) as { products: Array<{ productId: string; unitsSold: number }>; nextPageToken?: string };
    assert.equal(full.nextPageToken, undefined);
    const rows = full.products;
    assert.ok(rows.length >= 8, `expected the products of earlier tests, got ${rows.length}`);
    for (let i = 1; i < rows.length; i++) {
      const [a, b] = [rows[i - 1]!, rows[i]!];
      assert.ok(a.unitsSold > b.unitsSold || (a.unitsSold === b.unitsSold && a.productId > b.productId), `out of order at ${i}: ${JSON.stringify([a, b])}`);
    }
    for (const p of rows) assert.equal(await unitsSold(p.productId), p.unitsSold, p.productId);
    const paged = await allPages("products", "top", "products", { limit: 3 });
    assert.equal(paged.pages, Math.ceil(rows.length / 3));
    assert.deepEqual(paged.rows, rows, "pages of 3 add up to the whole list: no gaps, no repeats");
    assert.equal(new Set(paged.rows.map((p) => p.productId)).size, rows.length);
  });
});

/**
 * Server-sent events from a GET with `Accept: text/event-stream`, on a connection of its own
 * (node:http, no pooling: `close()` really closes it), read one event at a time within a limit.
 */
class EventStream {
  private buffer = "";
  private done = false;
  private wake: (() => void) | undefined;

  private constructor(
    private readonly req: ClientRequest,
    readonly res: IncomingMessage,
  ) {
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      this.buffer += chunk;
      this.wake?.();
    });
    const end = () => {
      this.done = true;
      this.wake?.();
    };
    res.on("end", end);
    res.on("close", end);
    res.on("error", end);
  }

  static open(url: string): Promise<EventStream> {
    return new Promise((resolve, reject) => {
      const req = httpGet(url, { headers: { accept: "text/event-stream" }, agent: false }, (res) => resolve(new EventStream(req, res)));
      req.on("error", reject);
      req.setTimeout(10_000, () => req.destroy(new Error("no response within 10 s")));
    });
  }

  /** Waits for more data or the end, at most until `deadline`; false on time-out. */
  private async more(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, left);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  async next(timeoutMs = 5_000): Promise<{ event: string; data: any }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const lines = block.split("\n").filter((l) => !l.startsWith(":"));
        if (lines.length === 0) continue; // a keep-alive comment
        const event = lines.find((l) => l.startsWith("event: "))?.slice(7) ?? "message";
        const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
        return { event, data: JSON.parse(data) };
      }
      if (this.done) throw new Error("the stream ended");
      if (!(await this.more(deadline))) throw new Error(`no event within ${timeoutMs} ms`);
    }
  }

  /** True once the server has ended the stream, waiting up to `timeoutMs` for it. */
  async ended(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.done) if (!(await this.more(deadline))) return false;
    return true;
  }

  close(): void {
    this.req.destroy();
  }
}

describe("shop over HTTP: streamed queries", () => {
  it("with Accept: text/event-stream the first event is the current result, and each change of it follows", async () => {
    const user = fresh("sse");
    const c1 = `${user}-1`;
    const c2 = `${user}-2`;
    const { position } = await addItem(c1, user, { productId: "a", quantity: 1, price: 3 });
    const events = await EventStream.open(`${base}/views/carts/byUser?userId=${user}&waitForPosition=${position}`);
    try {
      assert.equal(events.res.statusCode, 200);
      assert.match(events.res.headers["content-type"] ?? "", /^text\/event-stream/);
      const line1 = { cartId: c1, userId: user, itemCount: 1, total: 3, checkedOut: false };
      const first = await events.next();
      assert.equal(first.event, "result");
      assert.deepEqual(first.data, { carts: [line1] });
      assert.deepEqual(first.data, { carts: await byUser(user) }, "the first event is what a plain GET answers");

      await addItem(c2, user, { productId: "b", quantity: 2, price: 5 });
      const second = await events.next();
      assert.equal(second.event, "result");
      const line2 = { cartId: c2, userId: user, itemCount: 2, total: 10, checkedOut: false };
      assert.deepEqual(second.data, { carts: [line1, line2] });

      // Changes to other users' carts move the view but not this result: no event for them.
      for (let i = 0; i < 5; i++) await addItem(fresh("cart"), fresh("user"), { productId: "a", quantity: 1, price: 1 });
      await checkout(c1);
      const third = await events.next();
      assert.deepEqual(third.data, { carts: [{ ...line1, checkedOut: true }, line2] });
    } finally {
      events.close();
    }
  });

  it("a streamed query with a bad parameter is refused before the stream starts", async () => {
    const res = await requestJson(`${base}/views/carts/byUser`, { headers: { accept: "text/event-stream" } });
    assertErrorBody(res, 400, "invalid_input");
  });

  it("shutting down ends open streams instead of waiting for them forever", async () => {
    const dir = tempDir("sagaflow-shop-sse-");
    const other = await serve({ service: shop, port: 0, adminPort: -1, dataDir: dir, log: () => {} });
    const events = await EventStream.open(`${other.url}/views/carts/open`);
    try {
      assert.deepEqual((await events.next()).data, { carts: [] });
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<string>((done) => (timer = setTimeout(() => done("hung"), 5_000)));
      const closed = await Promise.race([other.close().then(() => "closed"), hung]);
      clearTimeout(timer);
      assert.equal(closed, "closed", "close() did not finish with a stream open");
      assert.ok(performance.now() - t0 < 5_000);
      assert.ok(await events.ended(2_000), "the stream was not ended");
    } finally {
      events.close();
      await other.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
