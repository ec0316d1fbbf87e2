import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSagaflow, keyValue, memoryStore, service, workflow } from "../index.ts";

/** In-process calls hand over and get copies: no caller can change an instance's state by reference. */

const box = keyValue("box", {
  initial: (): { items: string[] } => ({ items: [] }),
  commands: {
    put: (s, c: { item: string }, fx) => fx.update({ items: [...s.items, c.item] }).reply((after) => after),
    replace: (_s, c: { items: string[] }, fx) => fx.update(c).reply(true),
  },
  queries: { get: (s, _q: {}, fx) => fx.reply(s) },
});

const emptier = workflow("emptier", {
  start: (_input: {}) => ({}),
  steps: {
    first: async (_s, _input, ctx) => {
      const seen = await ctx.call(box, "b").get({});
      seen.items.length = 0; // the step's copy only
      return ctx.end();
    },
  },
});

describe("in-process calls copy what they carry", () => {
  it("a-reply-an-input-or-a-steps-reply-changed-by-its-caller-leaves-the-instances-state-as-it-was", async () => {
    const app = createSagaflow(service("copies", [box, emptier]), { store: memoryStore(), log: () => {} });
    await app.start();
    try {
      const reply = await app.client.call(box, "b").put({ item: "a" });
      reply.items.push("injected by the caller");
      (await app.client.call(box, "b").get({})).items.reverse();
      assert.deepEqual(await app.client.call(box, "b").get({}), { items: ["a"] });

      const input = { items: ["x"] };
      await app.client.call(box, "c").replace(input);
      input.items.push("changed after the call");
      assert.deepEqual(await app.client.call(box, "c").get({}), { items: ["x"] });

      await app.client.call(emptier, "e1").start({});
      assert.equal((await app.client.result(emptier, "e1", 10)).status, "ended");
      assert.deepEqual(await app.client.call(box, "b").get({}), { items: ["a"] });
    } finally {
      await app.stop();
    }
  });

  it("an-input-json-cannot-carry-is-refused-as-invalid_input-naming-the-handler-and-changes-nothing", async () => {
    const app = createSagaflow(service("copies", [box, emptier]), { store: memoryStore(), log: () => {} });
    await app.start();
    try {
      await assert.rejects(app.client.call(box, "d").put({ item: 1n as unknown as string }), (error: { code?: string; message?: string }) => {
        assert.equal(error.code, "invalid_input");
        assert.match(error.message ?? "", /the input of box\.put is not JSON: .*BigInt/);
        return true;
      });
      assert.deepEqual(await app.client.call(box, "d").get({}), { items: [] });
    } finally {
      await app.stop();
    }
  });
});
