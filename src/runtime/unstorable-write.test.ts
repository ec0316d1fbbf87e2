import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createSagaflow, entity, keyValue, memoryStore, postgres, service, sqlite, workflow } from "../index.ts";
import { testbed, whenPostgresAsked } from "../store/postgres/postgres-test-support.ts";

/**
 * A handler's value JSON cannot hold (a BigInt, a cycle) fails that handler's command alone and
 * keeps nothing of it. Group commit puts the writes of concurrent commands in one transaction:
 * one such value used to fail every command of its group, innocent ones included; and a reply
 * JSON cannot carry was kept (with its change) and only then failed to reach its caller.
 */

const big = 1n as unknown as number;

const box = keyValue("box", {
  initial: () => ({ n: 0 }),
  commands: {
    bump: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply(s.n + 1),
    storeBigInt: (_s, _c: {}, fx) => fx.update({ n: big }).reply(0),
    replyBigInt: (s: { n: number }, _c: {}, fx) => fx.update({ n: s.n + 1 }).reply({ n: big }),
  },
  queries: { get: (s, _q: {}, fx) => fx.reply(s) },
});

const ledger = entity(
  "ledger",
  { initial: () => ({ count: 0 }), events: { added: (s: { count: number }, _e: { amount: number }) => ({ count: s.count + 1 }) } },
  {
    commands: { addBigInt: (_s, _c: {}, fx) => fx.emit("added", { amount: big }).reply(true) },
    queries: { get: (s, _q: {}, fx) => fx.reply(s) },
  },
);

let priceRuns = 0;
const order = workflow("order", {
  start: (_input: {}) => ({ total: 0 }),
  defaults: { retry: { maxAttempts: 2, initialBackoffMs: 10, maxBackoffMs: 10 } },
  steps: {
    price: async (s, _input, ctx) => {
      priceRuns++;
      return ctx.update({ ...s, total: big }).end();
    },
  },
});

const stores: Record<string, () => { store: ReturnType<typeof sqlite>; done: () => void }> = {
  memory: () => ({ store: memoryStore(), done: () => {} }),
  sqlite: () => {
    const dir = mkdtempSync(join(tmpdir(), "sagaflow-unstorable-"));
    return { store: sqlite(join(dir, "db")), done: () => rmSync(dir, { recursive: true, force: true }) };
  },
};
whenPostgresAsked((url) => {
  const bed = testbed(url);
  stores["postgres"] = () => ({ store: postgres(url, { schema: bed.freshSchema() }), done: () => {} });
  after(() => bed.dropSchemas());
});

for (const [name, open] of Object.entries(stores)) {
  describe(`a value JSON cannot hold, on ${name}`, () => {
    it("fails-its-own-command-naming-the-instance-while-the-commands-committed-in-the-same-group-keep-their-changes", { timeout: 30_000 }, async () => {
      const { store, done } = open();
      const app = createSagaflow(service("unstorable", [box, ledger]), { store, log: () => {} });
      await app.start();
      try {
        // A state is checked as the handler makes it (../frozen-state.ts); an event's payload only as
        // the store encodes it, in the group's transaction.
        const bads: Array<[() => Promise<unknown>, RegExp]> = [
          [() => app.client.call(box, "bad").storeBigInt({}), /box\.storeBigInt made a state that holds a BigInt/],
          [() => app.client.call(ledger, "bad").addBigInt({}), /nothing was kept: ledger "bad" made a value that is not JSON: .*BigInt/],
        ];
        for (const [round, [bad, refusal]] of bads.entries()) {
          // Started in one turn of the event loop: one group commit.
          const goods = Array.from({ length: 6 }, (_, i) => app.client.call(box, `good${round}.${i}`).bump({}));
          const failed = bad();
          const later = Array.from({ length: 6 }, (_, i) => app.client.call(box, `later${round}.${i}`).bump({}));
          await assert.rejects(failed, (error: Error) => {
            assert.match(`${error.message} ${String((error.cause as Error | undefined)?.message)}`, refusal);
            return true;
          });
          assert.deepEqual(await Promise.all([...goods, ...later]), Array.from({ length: 12 }, () => 1));
          assert.deepEqual(await app.client.call(box, `later${round}.5`).get({}), { n: 1 });
        }
        assert.deepEqual(await app.client.call(box, "bad").get({}), { n: 0 });
        assert.deepEqual(await app.client.call(ledger, "bad").get({}), { count: 0 });
      } finally {
        await app.stop();
        done();
      }
    });

    it("a-reply-json-cannot-carry-fails-its-command-naming-the-handler-and-nothing-is-kept-with-or-without-an-idempotency-key", { timeout: 30_000 }, async () => {
      const { store, done } = open();
      const app = createSagaflow(service("unstorable", [box, ledger, order]), { store, log: () => {} });
      await app.start();
      try {
        for (const options of [undefined, { idempotencyKey: "k1" }]) {
          await assert.rejects(app.client.call(box, "r").replyBigInt({}, options), (error: Error & { code?: string }) => {
            assert.equal(error.code, "internal");
            assert.match(String((error.cause as Error | undefined)?.message), /box\.replyBigInt replied with a value that is not JSON, so nothing of it was kept/);
            return true;
          });
        }
        assert.deepEqual(await app.client.call(box, "r").get({}), { n: 0 });
        // The key was not used up: the same key works for a command that can reply.
        assert.equal(await app.client.call(box, "r").bump({}, { idempotencyKey: "k1" }), 1);
      } finally {
        await app.stop();
        done();
      }
    });

    it("a-workflow-step-whose-state-json-cannot-hold-fails-its-attempts-and-the-workflow-instead-of-running-for-ever", { timeout: 30_000 }, async () => {
      const { store, done } = open();
      const lines: string[] = [];
      const app = createSagaflow(service("unstorable", [box, ledger, order]), { store, log: (line) => lines.push(line) });
      await app.start();
      try {
        priceRuns = 0;
        await app.client.call(order, "o1").start({});
        const result = await app.client.result(order, "o1", 10);
        assert.equal(result.status, "failed");
        assert.ok(lines.some((line) => /step order\.price made a state that is not JSON: .*BigInt/.test(line)), lines.join("\n"));
        assert.equal(priceRuns, 2, "its two attempts, no more");
      } finally {
        await app.stop();
        done();
      }
    });
  });
}
