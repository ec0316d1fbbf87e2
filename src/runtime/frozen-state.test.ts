import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createSagaflow, entity, keyValue, service, sqlite } from "../index.ts";
import { testEntity, testKeyValue } from "../testkit/index.ts";

/**
 * A handler that changes its state in place fails at once, naming itself, and changes nothing —
 * rather than be acknowledged and lost (a key-value `fx.update(s)` of the same object was taken
 * for no change and never stored; a change without update lived in memory until a restart).
 */

const counter = keyValue("counter", {
  initial: () => ({ n: 0 }),
  commands: {
    bumpInPlace: (s: { n: number }, _c: {}, fx) => {
      s.n++;
      return fx.update(s).reply(s.n);
    },
    bump: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply(s.n + 1),
    set: (_s, c: { n: number }, fx) => fx.update(c).reply(c.n),
  },
  queries: { get: (s, _q: {}, fx) => fx.reply(s) },
});

const tally = entity(
  "tally",
  {
    initial: () => ({ total: 0 }),
    events: {
      added: (s: { total: number }, e: { by: number }) => {
        s.total += e.by; // in place: not allowed
        return s;
      },
    },
  },
  { commands: { add: (_s, c: { by: number }, fx) => fx.emit("added", c).reply((after) => after.total) } },
);

const changedInPlace = (where: string) => (error: Error & { code?: string }) => {
  assert.equal(error.code, "internal");
  assert.match(String((error.cause as Error | undefined)?.message), new RegExp(`${where} changed its state \\(or an object in it\\) in place`));
  return true;
};

describe("state changed in place", () => {
  it("fails-the-command-naming-the-handler-and-nothing-is-kept-in-memory-or-stored", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-frozen-"));
    const open = () => createSagaflow(service("frozen", [counter, tally]), { store: sqlite(join(dir, "db")), log: () => {} });
    try {
      let app = open();
      await app.start();
      await app.client.call(counter, "c").bump({});
      await assert.rejects(app.client.call(counter, "c").bumpInPlace({}), changedInPlace("counter\\.bumpInPlace"));
      await assert.rejects(app.client.call(counter, "fresh").bumpInPlace({}), changedInPlace("counter\\.bumpInPlace"));
      await assert.rejects(app.client.call(tally, "t").add({ by: 2 }), changedInPlace("tally\\.add"));
      assert.deepEqual([await app.client.call(counter, "c").get({}), await app.client.call(counter, "fresh").get({})], [{ n: 1 }, { n: 0 }]);
      await app.stop();
      app = open();
      await app.start();
      assert.deepEqual([await app.client.call(counter, "c").get({}), await app.client.call(counter, "fresh").get({})], [{ n: 1 }, { n: 0 }], "the same after a restart");
      await app.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fails-in-the-testkit-as-in-the-runtime", () => {
    const t = testKeyValue(counter);
    assert.throws(() => t.command("bumpInPlace"), /counter\.bumpInPlace changed its state \(or an object in it\) in place/);
    assert.deepEqual(t.command("bump").state, { n: 1 });
    assert.throws(() => testEntity(tally).command("add", { by: 1 }), /tally\.add changed its state \(or an object in it\) in place/);
    // The test's own objects are handed over as copies: the state is frozen, they are not.
    const input = { n: 5 };
    assert.deepEqual(t.command("set", input).state, { n: 5 });
    input.n = 6;
    assert.deepEqual(t.state, { n: 5 });
    const given = { n: 7 };
    t.givenState(given);
    given.n = 8;
    assert.deepEqual(t.state, { n: 7 });
  });
});

describe("a state JSON cannot keep as it is", () => {
  const tags = keyValue("tags", {
    initial: () => ({ tags: [] as string[] }),
    commands: {
      addSet: (_s, c: { tag: string }, fx) => fx.update({ tags: new Set([c.tag]) as unknown as string[] }).reply({}),
      stamp: (s, _c: {}, fx) => fx.update({ tags: [...s.tags], at: new Date(0) } as { tags: string[] }).reply({}),
      add: (s, c: { tag: string }, fx) => fx.update({ tags: [...s.tags, c.tag] }).reply(s.tags.length + 1),
    },
    queries: { get: (s, _q: {}, fx) => fx.reply(s) },
  });
  const sums = entity(
    "sums",
    {
      initial: () => ({ n: 0 }),
      events: {
        addedLater: (async (s: { n: number }, e: { by: number }) => ({ n: s.n + e.by })) as unknown as (s: { n: number }, e: { by: number }) => { n: number },
        addedBig: (s: { n: number }, e: { by: number }) => ({ n: (BigInt(s.n) + BigInt(e.by)) as unknown as number }),
        added: (s: { n: number }, e: { by: number }) => ({ n: s.n + e.by }),
      },
    },
    {
      commands: {
        addLater: (_s, c: { by: number }, fx) => fx.emit("addedLater", c).reply({}),
        addBig: (_s, c: { by: number }, fx) => fx.emit("addedBig", c).reply({}),
        add: (_s, c: { by: number }, fx) => fx.emit("added", c).reply((s) => s.n),
      },
    },
  );

  it("fails-the-command-that-made-it-naming-the-handler-and-what-it-holds-and-keeps-nothing", { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-not-json-state-"));
    const app = createSagaflow(service("states", [tags, sums]), { store: sqlite(join(dir, "db")), log: () => {} });
    await app.start();
    try {
      const refused = (where: string, what: RegExp) => (error: Error & { code?: string }) => {
        assert.equal(error.code, "internal");
        const message = String((error.cause as Error | undefined)?.message);
        assert.match(message, new RegExp(`${where} made a state that holds`));
        assert.match(message, what);
        return true;
      };
      await assert.rejects(app.client.call(tags, "t").addSet({ tag: "a" }), refused("tags\\.addSet", /a Set/));
      await assert.rejects(app.client.call(tags, "t").stamp({}), refused("tags\\.stamp", /a Date/));
      await assert.rejects(app.client.call(sums, "s").addLater({ by: 1 }), refused("sums\\.addLater", /a Promise \(is a handler async/));
      await assert.rejects(app.client.call(sums, "s").addBig({ by: 1 }), refused("sums\\.addBig", /a BigInt/));
      // Nothing was kept: both instances carry on from where they were.
      assert.equal(await app.client.call(tags, "t").add({ tag: "a" }), 1);
      assert.equal(await app.client.call(sums, "s").add({ by: 2 }), 2);
    } finally {
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

