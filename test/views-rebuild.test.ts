import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, describe, it } from "node:test";
import {
  adminUrlOf, adminViews, allRows, commandStream, readShopRows, sendUntilAnswered, ShopModel, userIds, waitUntilCaughtUp,
  type AdminView, type CartLine, type ShopRows,
} from "./fixtures/views-support/shop-model.ts";
import { getJson, postJson } from "./support/http.ts";
import { seededRandom, seedFrom } from "./support/random.ts";
import { repoRoot, sagaflowBin, SagaflowProcess, sleep } from "./support/server-process.ts";

/**
 * Rebuilding a view gives the same rows, and queries are served all along (real process, SQLite).
 *
 * A seeded stream of shop commands writes over 20,000 feed entries into `sagaflow serve
 * examples/shop`. Then:
 * 1. the rows every query answers (byUser for every user, open, products top) equal an independent
 *    model's; these are the "old rows";
 * 2. POST /views/carts/rebuild (admin): while the new generation is filled from position 0,
 *    queries keep coming, four at a time; every one must answer 200 with the old rows, none may
 *    wait for the rebuild (503 view_building) — and some must be answered while the admin API
 *    shows the rebuild in progress. After the switch the rows are the same;
 * 3. `sagaflow views rebuild products` (the CLI) does the same for products;
 * 4. the process is stopped and started with test/fixtures/views-shop-v2 (the same views at
 *    version 2): both views rebuild at start, queries answer the old rows meanwhile, and end with
 *    the same rows at version 2; a restart with the same version does not rebuild again.
 *
 * Replay with the seed it prints: VIEWS_REBUILD_SEED=<seed> node scripts/run-tests.mjs views-rebuild
 */

const carts = 2_800;
const users = 40;
const minFeedEntries = 20_000;
const queryWorkers = 4;

interface QueryRun {
  /** Queries answered after the rebuild began and before the admin API last showed it unfinished. */
  duringRebuild: number;
  total: number;
  /** Admin polls that saw the new generation part-built (offset > 0, not yet active). */
  partBuiltSeen: number;
}

describe("view rebuilds (real process, SQLite)", () => {
  let server: SagaflowProcess | undefined;
  let first: SagaflowProcess | undefined;
  after(async () => {
    await server?.cleanup();
    await first?.cleanup(); // it owns the data folder
  });

  it(`gives identical rows, by admin API, CLI and definition version, and serves queries throughout (≥ ${minFeedEntries} feed entries)`, async (t) => {
    const seed = seedFrom("VIEWS_REBUILD_SEED");
    const label = `(seed ${seed})`;
    const stream = commandStream(seededRandom(seed), { carts, users, products: 60, items: [3, 7] });
    const model = new ShopModel();
    for (const commands of stream) for (const command of commands) model.apply(command);
    const allUsers = userIds(users);

    server = first = await SagaflowProcess.start({ target: "examples/shop" });
    let admin = await adminUrlOf(server);
    const fillStart = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < stream.length) for (const command of stream[next++]!) await sendUntilAnswered(async () => server!.url, command);
      }),
    );
    const fillMs = performance.now() - fillStart;
    const filled = await waitUntilCaughtUp(admin);
    assert.ok(filled.head >= minFeedEntries, `only ${filled.head} feed entries ${label}`);
    t.diagnostic(`${label} ${filled.head} feed entries written in ${Math.round(fillMs)} ms`);

    // 1. The old rows, checked against the model.
    const old = await readShopRows(server.url, allUsers);
    const expected = model.rows(allUsers);
    for (const user of allUsers) assert.deepEqual(old.byUser[user], expected.byUser[user], `byUser ${user} ${label}`);
    assert.deepEqual(old.open, expected.open, `open ${label}`);
    assert.deepEqual(old.top, expected.top, `top ${label}`);
    assert.ok(old.open.length > 1_000, "open spans more than a page, so that page tokens are used during the rebuild too");

    // 2. Rebuild carts through the admin API, with queries all along.
    const cartsBefore = (await adminViews(admin)).views.find((v) => v.name === "carts")!;
    const newer = (v: AdminView) => v.active !== null && v.active.generation > cartsBefore.active!.generation;
    const run = await queryThroughRebuild(server.url, admin, old, allUsers, ["carts"], newer, async () => {
      const res = await postJson(`${admin}/views/carts/rebuild`, {});
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.rebuilding.generation, cartsBefore.active!.generation + 1);
    });
    t.diagnostic(`admin rebuild of carts: ${run.total} queries, ${run.duringRebuild} during the rebuild; ${run.partBuiltSeen} polls saw it part-built`);
    assert.ok(run.duringRebuild >= 10, `only ${run.duringRebuild} queries were answered during the rebuild ${label}`);
    assert.ok(run.partBuiltSeen > 0, "the rebuild was never seen in progress");
    const cartsAfter = (await adminViews(admin)).views.find((v) => v.name === "carts")!;
    assert.equal(cartsAfter.active!.generation, cartsBefore.active!.generation + 1);
    assert.deepEqual(await readShopRows(server.url, allUsers), old, `rows after the admin rebuild ${label}`);

    // 3. Rebuild products with the CLI (it prints progress and returns once the new generation serves).
    const cli = spawnSync(process.execPath, [sagaflowBin, "views", "rebuild", "products", "--admin", admin], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(cli.status, 0, `sagaflow views rebuild products: ${cli.stdout}\n${cli.stderr}`);
    assert.match(cli.stdout, /view products rebuilt \(generation \d+\)/);
    assert.deepEqual(await readShopRows(server.url, allUsers), old, `rows after the CLI rebuild ${label}`);

    // 4. Version 2 of both views: rebuilt at start, old rows served meanwhile, same rows in the end.
    const generations = Object.fromEntries((await adminViews(admin)).views.map((v) => [v.name, v.active!.generation]));
    const stopped = await server.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, server.output());
    const v2 = SagaflowProcess.create({ target: "test/fixtures/views-shop-v2", dataDir: server.dataDir });
    server = v2;
    await v2.start();
    admin = await adminUrlOf(v2);
    const atVersion2 = (v: AdminView) => v.active !== null && v.active.version === 2;
    const bumped = await queryThroughRebuild(v2.url, admin, old, allUsers, ["carts", "products"], atVersion2, async () => {});
    t.diagnostic(`version 2 at start: ${bumped.total} queries, ${bumped.duringRebuild} during the rebuild`);
    const afterBump = await waitUntilCaughtUp(admin, 60_000, { carts: 2, products: 2 });
    for (const v of afterBump.views) {
      assert.equal(v.active!.version, 2, `${v.name} is not at version 2`);
      assert.ok(v.active!.generation > generations[v.name]!, `${v.name} was not rebuilt`);
    }
    assert.deepEqual(await readShopRows(v2.url, allUsers), old, `rows at version 2 ${label}`);

    // The same version again: nothing to rebuild.
    await v2.restart("SIGKILL");
    admin = await adminUrlOf(v2);
    const again = await waitUntilCaughtUp(admin);
    for (const v of again.views) {
      assert.equal(v.active!.generation, afterBump.views.find((w) => w.name === v.name)!.active!.generation, `${v.name} was rebuilt again`);
    }
    assert.deepEqual(await readShopRows(v2.url, allUsers), old, `rows after a restart at version 2 ${label}`);
  });
});

/**
 * Sends queries (byUser for random users, all pages of open, products top), `queryWorkers` at a
 * time, from before `start()` until every view in `views` is `rebuilt` and not rebuilding, and a
 * little longer. Every answer must be 200 and equal to
 * `old`. Meanwhile the admin API is polled to tell which answers came during the rebuild.
 */
async function queryThroughRebuild(
  base: string,
  admin: string,
  old: ShopRows,
  users: readonly string[],
  views: readonly string[],
  rebuilt: (view: AdminView) => boolean,
  start: () => Promise<void>,
): Promise<QueryRun> {
  let rebuilding = true;
  let switchedAt = Infinity;
  let partBuiltSeen = 0;
  /** When the latest admin poll that still found the rebuild unfinished was sent. */
  let lastSeenUnfinished = -Infinity;
  const poll = (async () => {
    while (rebuilding) {
      const sentAt = performance.now();
      const { views: now } = await adminViews(admin);
      const mine = now.filter((v) => views.includes(v.name));
      if (mine.some((v) => v.rebuilding !== null && v.rebuilding.offset > 0)) partBuiltSeen++;
      if (mine.every((v) => v.rebuilding === null && rebuilt(v))) {
        switchedAt = performance.now();
        rebuilding = false;
      } else {
        lastSeenUnfinished = sentAt;
        await sleep(2);
      }
    }
  })();
  const answeredAt: number[] = [];
  let stop = false;
  const failures: string[] = [];
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const kind = (i + w) % 6;
      try {
        if (kind === 0) {
          const rows = await allRows<CartLine>(base, "/views/carts/open", "carts");
          assert.deepEqual(rows, old.open, "open");
        } else if (kind === 1) {
          const res = await getJson(`${base}/views/products/top`, { limit: 10 });
          assert.equal(res.status, 200, `top: ${res.status} ${res.text}`);
          assert.deepEqual(res.body.products, old.top.slice(0, 10), "top");
        } else {
          const user = users[(i * 7 + w * 13) % users.length]!;
          const res = await getJson(`${base}/views/carts/byUser`, { userId: user });
          assert.equal(res.status, 200, `byUser ${user}: ${res.status} ${res.text}`);
          assert.deepEqual(res.body.carts, old.byUser[user], `byUser ${user}`);
        }
      } catch (error) {
        if (failures.length < 5) failures.push((error as Error).message.slice(0, 500));
      }
      answeredAt.push(performance.now());
    }
  };
  const workers = Array.from({ length: queryWorkers }, (_, w) => worker(w));
  await start();
  const startedAt = performance.now();
  const deadline = Date.now() + 60_000;
  while (rebuilding && Date.now() < deadline) await sleep(10);
  await sleep(100); // and a little past the switch
  stop = true;
  rebuilding = false;
  await Promise.all([...workers, poll]);
  assert.deepEqual(failures, [], "queries during the rebuild must answer 200 with the old rows");
  assert.ok(switchedAt < Infinity, `the rebuild of ${views.join(", ")} did not finish within 60 s`);
  // Answered after the rebuild had begun and before a poll that still found it unfinished was sent.
  const duringRebuild = answeredAt.filter((at) => at >= startedAt && at <= lastSeenUnfinished).length;
  const total = answeredAt.length;
  return { duringRebuild, total, partBuiltSeen };
}
