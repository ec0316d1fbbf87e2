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
