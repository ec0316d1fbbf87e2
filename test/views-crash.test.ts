import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  adminUrlOf, adminViews, assertOutcome, commandStream, readShopRows, sendUntilAnswered, ShopModel, userIds, waitUntilCaughtUp,
  type ShopCommand,
} from "./fixtures/views-support/shop-model.ts";
import { getJson, postJson, type JsonResponse } from "./support/http.ts";
import { between, seededRandom, seedFrom } from "./support/random.ts";
import { describeExit, SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * Views reach the same rows after SIGKILLs as without them (property 4 for views, and the view
 * commit: rows and offset in one transaction). A deterministic stream of shop commands (seeded)
 * goes into a real `sagaflow serve examples/shop` (SQLite, synchronous=FULL), 32 at a time, each
 * cart's commands one after the other, each with an idempotency key and retried until answered.
 * The process is SIGKILLed several times: under load, and right after a rebuild of a view was
 * started (so that the rebuild is cut off half-way and resumed by the next start), once more after
 * the load. Then, once the admin API says every view and consumer is at lag 0, every row the
 * views answer (byUser for all users, open, products top) must equal the rows of an independent
 * model of the shop fed the same command stream; so must each cart and each product's stats.
 *
 * Replay a failure with the seed it prints: VIEWS_CRASH_SEED=<seed> node scripts/run-tests.mjs views-crash
 */

const carts = 1_200;
const users = 16;
const products = 40;
const inFlight = 32;
const killsUnderLoad = 10;

/** Where the current incarnation listens; requests wait while the child is down. */
class Gate {
  private url: string | undefined;
  private waiters: Array<{ wake: (url: string) => void; fail: (error: Error) => void }> = [];
  private ended = false;

  open(url: string): void {
    this.url = url;
    for (const waiter of this.waiters.splice(0)) waiter.wake(url);
  }

  close(): void {
    this.url = undefined;
  }

  /** For good (the test is over): whoever waits, or asks later, gets an error. */
  end(): void {
    this.ended = true;
    this.url = undefined;
    for (const waiter of this.waiters.splice(0)) waiter.fail(new Error("the test is over"));
  }

  get(): Promise<string> {
    if (this.ended) return Promise.reject(new Error("the test is over"));
    return this.url !== undefined ? Promise.resolve(this.url) : new Promise((wake, fail) => this.waiters.push({ wake, fail }));
  }
}

describe("views after SIGKILL (real process, SQLite)", () => {
  let server: SagaflowProcess | undefined;
  const gate = new Gate();
  after(async () => {
    gate.end();
    await server?.cleanup();
  });

  it(`the views hold exactly the rows of the command stream after ${killsUnderLoad + 1} SIGKILLs, some mid-rebuild`, async (t) => {
    const seed = seedFrom("VIEWS_CRASH_SEED");
    const label = `(seed ${seed})`;
    const random = seededRandom(seed);
    const stream = commandStream(random, { carts, users, products, items: [1, 6] });
    const total = stream.reduce((n, c) => n + c.length, 0);
    const model = new ShopModel();
    const expectedOutcome = new Map<ShopCommand, ReturnType<ShopModel["apply"]>>();
    for (const commands of stream) for (const command of commands) expectedOutcome.set(command, model.apply(command));
    const allUsers = userIds(users);
    const expected = model.rows(allUsers);
    t.diagnostic(`${label} ${carts} carts, ${total} commands, ${expected.top.length} products sold`);

    server = await SagaflowProcess.start({ target: "examples/shop" });
    let admin = await adminUrlOf(server);
    gate.open(server.url);

    let answered = 0;
    const mismatches: string[] = [];
    let nextCart = 0;
    const worker = async () => {
      while (nextCart < stream.length) {
        for (const command of stream[nextCart++]!) {
          const res = await sendUntilAnswered(() => gate.get(), command);
          try {
            assertOutcome(res, expectedOutcome.get(command)!, `${command.command} ${command.key}`);
          } catch (error) {
            if (mismatches.length < 10) mismatches.push((error as Error).message);
          }
          answered++;
        }
      }
    };
    const load = Promise.all(Array.from({ length: inFlight }, () => worker()));

    /** Where the views stood right before each kill (admin API), for the report and the check below. */
    const standing: string[] = [];
    let midStream = 0;
    const killAndRestart = async (what: string) => {
      try {
        const { head, views } = await adminViews(admin);
        const behind = views.filter((v) => v.rebuilding !== null || (v.lag ?? 1) > 0);
        if (behind.length > 0) midStream++;
        standing.push(
          `${what}: head ${head}; ` +
            views.map((v) => `${v.name} at ${v.active?.offset ?? "-"}${v.rebuilding ? ` (rebuild at ${v.rebuilding.offset})` : ""}`).join(", "),
        );
      } catch (error) {
        standing.push(`${what}: admin API did not answer (${String(error)})`);
      }
      gate.close();
      const exit = await server!.kill("SIGKILL");
      assert.equal(exit.signal, "SIGKILL", `${what} ${label}: the child ended by itself (${describeExit(exit)}):\n${server!.output()}`);
      await server!.start();
      admin = await adminUrlOf(server!);
      gate.open(server!.url);
    };
    /** Starts a rebuild of `view` and kills the process a moment later, while it is being built. */
    const rebuildThenKill = async (view: string, what: string) => {
      const res = await postJson(`${admin}/views/${view}/rebuild`, {});
      assert.equal(res.status, 200, res.text);
      await sleep(between(random, 0, 15));
      await killAndRestart(`${what} (rebuilding ${view})`);
    };

    for (let k = 0; k < killsUnderLoad; k++) {
      const threshold = Math.floor((total * (k + 1)) / (killsUnderLoad + 1));
      while (answered < threshold) await sleep(5);
      if (k % 2 === 1) await rebuildThenKill(k % 4 === 1 ? "carts" : "products", `kill ${k + 1} at ${answered}/${total}`);
      else {
        await sleep(between(random, 0, 30));
        await killAndRestart(`kill ${k + 1} at ${answered}/${total}`);
      }
    }
    await load;
    assert.deepEqual(mismatches, [], `replies that differ from the model ${label}`);
    await rebuildThenKill("carts", `kill ${killsUnderLoad + 1} after the load`);
    for (const line of standing) t.diagnostic(line);
    assert.ok(midStream > 0, `no kill found a view behind the feed ${label}:\n${standing.join("\n")}`);

    const caughtUp = await waitUntilCaughtUp(admin);
    for (const v of caughtUp.views) assert.equal(v.lastError, null, `view ${v.name}: ${v.lastError}`);
    const rows = await readShopRows(server.url, allUsers);
    for (const user of allUsers) assert.deepEqual(rows.byUser[user], expected.byUser[user], `byUser ${user} ${label}`);
    assert.deepEqual(rows.open, expected.open, `open ${label}`);
    assert.deepEqual(rows.top, expected.top, `products top ${label}`);
    const rowCount = Object.values(rows.byUser).reduce((n, l) => n + l.length, 0);
    assert.equal(rowCount, [...model.carts.values()].filter((c) => c.userId !== null).length, "every cart with an item has a row");

    // The sources agree too: each cart, and each product's units sold (the consumer, exactly once).
    for (const [cartId, cart] of model.carts) {
      const res: JsonResponse = await getJson(`${server.url}/cart/${cartId}/get`);
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { userId: cart.userId, items: cart.items, checkedOut: cart.checkedOut }, `cart ${cartId} ${label}`);
    }
    for (const { productId, unitsSold } of expected.top) {
      const res: JsonResponse = await getJson(`${server.url}/product-stats/${productId}/get`);
      assert.deepEqual(res.body, { unitsSold }, `product-stats ${productId} ${label}`);
    }

    const stopped = await server.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, `graceful stop ${label}:\n${server.output()}`);
    t.diagnostic(`${label} ${server.starts} starts, ${midStream} kills with a view behind, ${rowCount} cart rows, ${rows.top.length} product rows`);
  });
});
